//! The Halo token: one per `expires_in`, fetched by one task, refreshed once after a 401.

use futures_util::future::join_all;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_distinct_incidents_need_one_token_request() {
    let app = spawn_app().await;
    let answers = join_all((0..20).map(|n| {
        let app = &app;
        async move {
            app.post_cf(&format!("evt-{n}"), &incident(n))
                .await
                .status()
                .as_u16()
        }
    }))
    .await;
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
    assert_eq!(app.sandbox.halo.tickets().len(), 20);
    assert_eq!(app.sandbox.halo.token_requests(), 1);
}

#[tokio::test]
async fn a_revoked_token_is_refreshed_once_and_the_call_succeeds() {
    let app = spawn_app().await;
    app.create_ticket(1).await;
    app.sandbox.halo.revoke_tokens();
    let (status, body) = answer(app.post_cf("evt-2", &incident(2)).await).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("created")));
    assert_eq!(app.sandbox.halo.token_requests(), 2);
    let unauthorised = app
        .sandbox
        .halo
        .requests()
        .iter()
        .filter(|r| r.status == 401)
        .count();
    assert_eq!(unauthorised, 1);
}

#[tokio::test]
async fn wrong_halo_credentials_are_503_and_not_retried_in_a_loop() {
    let app = spawn_app_with(|env| {
        env.insert("HALO_CLIENT_SECRET".into(), "wrong".into());
    })
    .await;
    let r = app.post_cf("evt-3", &incident(3)).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(app.sandbox.halo.token_requests(), 1);
    assert_eq!(app.halo_api_calls(), 0);
}

#[tokio::test]
async fn the_tenant_is_sent_in_the_form_and_the_query() {
    let app = spawn_app_with(|env| {
        env.insert("HALO_TENANT".into(), "acme".into());
    })
    .await;
    app.create_ticket(4).await;
    let token = app
        .sandbox
        .halo
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/token"))
        .unwrap();
    assert_eq!(token.query, "tenant=acme");
    assert!(
        token.body.contains("tenant=acme") && token.body.contains("grant_type=client_credentials"),
        "{}",
        token.body
    );
    assert!(!token.body.is_empty());
}
