//! The token endpoint and the bearer check.

use super::{client, fake, get, read, token, token_response};

#[tokio::test]
async fn token_endpoint_issues_bearer_tokens_and_rejects_bad_credentials() {
    let halo = fake().await;
    let (status, body) = token_response(&halo, "sandbox-halo-secret").await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert!(body["refresh_token"].is_string() && body["id_token"].is_string());

    let (status, body) = token_response(&halo, "wrong").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");

    let response = client()
        .post(format!("{}/token?tenant=acme", halo.auth_url()))
        .form(&[("client_id", "sandbox-halo-client")])
        .send()
        .await
        .expect("token request");
    let (status, body) = read(response).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "unsupported_grant_type");
    assert_eq!(halo.token_requests(), 3);

    let (status, body) = get(&halo, "not-a-token", "/Status").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let token = token(&halo).await;
    let (status, statuses) = get(&halo, &token, "/Status").await;
    assert_eq!(status, 200);
    assert_eq!(statuses.as_array().map(Vec::len), Some(4));
    assert_eq!(halo.api_requests(), 2);
}

#[tokio::test]
async fn revoked_tokens_are_refused() {
    let halo = fake().await;
    let token = token(&halo).await;
    halo.revoke_tokens();
    let (status, _) = get(&halo, &token, "/Tickets").await;
    assert_eq!(status, 401);
    let fresh = super::token(&halo).await;
    let (status, _) = get(&halo, &fresh, "/Tickets").await;
    assert_eq!(status, 200);
}
