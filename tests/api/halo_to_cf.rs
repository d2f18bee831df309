//! HaloToCf: notes become comments exactly once, closing is mirrored (CONTRACT §4).

use cf_halo_bridge::sandbox::{Fault, WebhookAuth};
use serde_json::json;

use crate::helpers::*;

const JANE: u64 = 3;

#[tokio::test]
async fn a_wrong_or_missing_secret_is_401_with_no_upstream_call() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(1).await;
    app.sandbox.halo.clear_requests();
    let body = serde_json::to_vec(&json!({"ticket_id": ticket})).unwrap();
    for headers in [
        vec![],
        vec![("X-Halo-Secret", "wrong".to_string())],
        vec![("X-Halo-Secret", String::new())],
    ] {
        let r = app.post_raw("/api/HaloToCf", &headers, body.clone()).await;
        assert_eq!(
            answer(r).await,
            (401, json!({"error": "invalid callback secret"}))
        );
    }
    // Authentication comes before parsing: garbage is 401 too, not 400.
    let r = app
        .post_raw("/api/HaloToCf", &[], b"{garbage".to_vec())
        .await;
    assert_eq!(r.status(), 401);
    assert!(app.sandbox.halo.requests().is_empty());
    assert!(app.sandbox.cf.requests().is_empty());
}

#[tokio::test]
async fn the_previous_shared_secret_works_during_rotation() {
    let app = spawn_app_with(|env| {
        env.insert("HALO_WEBHOOK_SECRET_PREVIOUS".into(), "old-secret".into());
    })
    .await;
    let headers = [("X-Halo-Secret", "old-secret".to_string())];
    let r = app
        .post_raw("/api/HaloToCf", &headers, br#"{"foo":1}"#.to_vec())
        .await;
    assert_eq!(
        answer(r).await,
        (
            200,
            json!({"status": "ignored", "reason": "no ticket id in payload"})
        )
    );
}

#[tokio::test]
async fn hmac_signed_webhooks_are_verified() {
    let app = spawn_app_with(|env| {
        env.remove("HALO_WEBHOOK_SECRET");
        env.insert(
            "HALO_WEBHOOK_SIGNING_SECRET".into(),
            "signing-secret".into(),
        );
    })
    .await;
    let ticket = app.create_ticket(2).await;
    let url = format!("{}/api/HaloToCf", app.address);
    let good = WebhookAuth::Hmac {
        header: "x-signature".into(),
        secret: "signing-secret".into(),
    };
    let r = app
        .sandbox
        .halo
        .send_webhook(&url, ticket, "ticket updated", &good)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let bad = WebhookAuth::Hmac {
        header: "x-signature".into(),
        secret: "other".into(),
    };
    let r = app
        .sandbox
        .halo
        .send_webhook(&url, ticket, "ticket updated", &bad)
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    let shared = WebhookAuth::Header {
        name: "X-Halo-Secret".into(),
        value: HALO_SECRET.into(),
    };
    let r = app
        .sandbox
        .halo
        .send_webhook(&url, ticket, "ticket updated", &shared)
        .await
        .unwrap();
    assert_eq!(r.status, 401, "no shared secret is configured");
}

#[tokio::test]
async fn a_public_agent_note_becomes_exactly_one_comment() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(3).await;
    app.sandbox.halo.add_agent_note(
        ticket,
        "Jane Tech",
        JANE,
        "<p>Reset the user&#39;s password and <b>revoked</b> sessions.</p>",
        false,
    );
    let first = app.halo_webhook(ticket).await;
    assert_eq!(
        first.body,
        json!({"status": "processed", "actionsForwarded": 1, "closed": false})
    );
    let comments = app.sandbox.cf.comments();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].incident_id, "incident-3");
    assert_eq!(
        comments[0].body,
        json!({"incidentId": "incident-3", "source": "sentinel",
               "content": format!("[Halo ticket #{ticket} note by Jane Tech]\n\nReset the user's password and revoked sessions.")})
    );
    // Halo re-sends the same delivery: duplicate.
    let auth = WebhookAuth::Header {
        name: "X-Halo-Secret".into(),
        value: HALO_SECRET.into(),
    };
    let again = app
        .sandbox
        .halo
        .resend_webhook(&format!("{}/api/HaloToCf", app.address), &first, &auth)
        .await
        .unwrap();
    assert_eq!(again.body, json!({"status": "duplicate"}));
    // A new delivery with no new note.
    let next = app.halo_webhook(ticket).await;
    assert_eq!(
        next.body,
        json!({"status": "processed", "actionsForwarded": 0, "closed": false})
    );
    assert_eq!(app.sandbox.cf.comments().len(), 1);
}

#[tokio::test]
async fn private_own_system_and_empty_actions_are_never_forwarded() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(4).await;
    let halo = &app.sandbox.halo;
    halo.add_agent_note(ticket, "Jane Tech", JANE, "<p>internal only</p>", true);
    halo.add_agent_note(
        ticket,
        "ContraForce Integration",
        12,
        "<p>our own note</p>",
        false,
    );
    halo.add_system_action(ticket, "Status Change");
    halo.add_agent_note(ticket, "Jane Tech", JANE, "<p> </p><br>", false);
    halo.add_agent_note(
        ticket,
        "Jane Tech",
        JANE,
        "<p>the only public one</p>",
        false,
    );
    let r = app.halo_webhook(ticket).await;
    assert_eq!(r.body["actionsForwarded"], 1);
    let comments = app.sandbox.cf.comments();
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].body["content"]
            .as_str()
            .unwrap()
            .ends_with("\n\nthe only public one")
    );
}

#[tokio::test]
async fn notes_are_forwarded_oldest_first_and_exactly_once_across_a_contraforce_outage() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(5).await;
    let note = |n: u32| {
        app.sandbox.halo.add_agent_note(
            ticket,
            "Jane Tech",
            JANE,
            &format!("<p>note {n}</p>"),
            false,
        )
    };
    note(1);
    note(2);
    app.sandbox.cf.set_down(true);
    let r = app.halo_webhook(ticket).await;
    assert_eq!(
        (r.status, &r.body),
        (503, &json!({"error": "upstream unavailable"}))
    );
    app.sandbox.cf.set_down(false);
    assert_eq!(app.halo_webhook(ticket).await.body["actionsForwarded"], 2);
    // The next post fails after earlier ones went: nothing is posted twice.
    note(3);
    note(4);
    app.sandbox.cf.push_fault(Fault::any(503, "{}"));
    assert_eq!(app.halo_webhook(ticket).await.status, 503);
    assert_eq!(app.halo_webhook(ticket).await.body["actionsForwarded"], 2);
    let texts: Vec<String> = app
        .sandbox
        .cf
        .comments()
        .iter()
        .map(|c| {
            c.body["content"]
                .as_str()
                .unwrap()
                .rsplit("\n\n")
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(texts, vec!["note 1", "note 2", "note 3", "note 4"]);
}

#[tokio::test]
async fn closing_is_mirrored_once_per_closing() {
    let app = spawn_app_with(|env| {
        env.insert("CF_CLOSE_CLASSIFICATION".into(), "FalsePositive".into());
        env.insert(
            "CF_CLOSE_CLASSIFICATION_REASON".into(),
            "InaccurateData".into(),
        );
    })
    .await;
    let ticket = app.create_ticket(6).await;
    app.sandbox.halo.close(ticket);
    let r = app.halo_webhook(ticket).await;
    assert_eq!(
        r.body,
        json!({"status": "processed", "actionsForwarded": 0, "closed": true})
    );
    let closes = app.sandbox.cf.status_updates();
    assert_eq!(closes.len(), 1);
    assert_eq!(
        closes[0].body,
        json!({"incidentId": "incident-6", "source": "sentinel", "status": "Closed",
               "comment": format!("Closed in HaloPSA (ticket #{ticket}, status 'Closed')."),
               "classification": "FalsePositive", "classificationReason": "InaccurateData"})
    );
    assert_eq!(app.halo_webhook(ticket).await.body["closed"], false);
    assert_eq!(app.sandbox.cf.status_updates().len(), 1);
    app.sandbox.halo.reopen(ticket);
    assert_eq!(app.halo_webhook(ticket).await.body["closed"], false);
    app.sandbox.halo.close(ticket);
    assert_eq!(app.halo_webhook(ticket).await.body["closed"], true);
    assert_eq!(app.sandbox.cf.status_updates().len(), 2);
}

#[tokio::test]
async fn any_listed_closed_status_counts_as_closed() {
    let app = spawn_app_with(|env| {
        env.insert("HALO_CLOSED_STATUS_ID".into(), "9,10".into());
    })
    .await;
    let ticket = app.create_ticket(7).await;
    app.sandbox.halo.set_status(ticket, 10, "Resolved");
    let r = app.halo_webhook(ticket).await;
    assert_eq!(r.body["closed"], true);
    assert!(
        app.sandbox.cf.status_updates()[0].body["comment"]
            .as_str()
            .unwrap()
            .contains("status 'Resolved'")
    );
}

#[tokio::test]
async fn tickets_without_a_contraforce_reference_are_ignored() {
    let app = spawn_app().await;
    let plain = app.sandbox.halo.insert_ticket("printer on fire", None);
    let r = app.post_halo(&json!({"ticket_id": plain})).await;
    assert_eq!(
        answer(r).await,
        (
            200,
            json!({"status": "ignored", "reason": "not a CF-linked ticket"})
        )
    );
    let odd = app.sandbox.halo.insert_ticket("odd", Some("CF|x|y"));
    let r = app.post_halo(&json!({"ticket_id": odd})).await;
    assert_eq!(answer(r).await.1["reason"], "not a CF-linked ticket");
}

#[tokio::test]
async fn an_incident_id_with_pipes_and_slashes_is_encoded_in_the_path() {
    let app = spawn_app().await;
    let ticket = app
        .sandbox
        .halo
        .insert_ticket("x", Some("cf|sentinel|a|b/c"));
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", JANE, "hello", false);
    let r = app.post_halo(&json!({"ticket_id": ticket})).await;
    assert_eq!(answer(r).await.1["actionsForwarded"], 1);
    let comment = &app.sandbox.cf.comments()[0];
    assert_eq!(comment.incident_id, "a|b/c");
    assert_eq!(comment.raw_incident_segment, "a%7Cb%2Fc");
}

#[tokio::test]
async fn ticket_ids_are_read_as_strings_and_whole_floats() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(8).await;
    for body in [
        json!({"ticket_id": ticket.to_string()}),
        json!({"ticket_id": ticket as f64}),
        json!({"id": "guid-1", "event": "x", "object_id": ticket as f64}),
    ] {
        let (status, json) = answer(app.post_halo(&body).await).await;
        assert_eq!(
            (status, json["status"].as_str()),
            (200, Some("processed")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn payload_shapes_without_a_ticket_or_not_objects() {
    let app = spawn_app().await;
    let r = app.post_halo(&json!({"id": "guid"})).await;
    assert_eq!(
        answer(r).await,
        (
            200,
            json!({"status": "ignored", "reason": "no ticket id in payload"})
        )
    );
    for body in [b"[{\"ticket_id\":1}]".to_vec(), b"not json".to_vec()] {
        let headers = [("X-Halo-Secret", HALO_SECRET.to_string())];
        let r = app.post_raw("/api/HaloToCf", &headers, body).await;
        assert_eq!(
            answer(r).await,
            (400, json!({"error": "malformed payload"}))
        );
    }
}

#[tokio::test]
async fn a_missing_ticket_is_ignored_but_a_halo_failure_is_503() {
    let app = spawn_app().await;
    let r = app.post_halo(&json!({"ticket_id": 424_242})).await;
    assert_eq!(
        answer(r).await,
        (
            200,
            json!({"status": "ignored", "reason": "ticket not found"})
        )
    );
    let ticket = app.create_ticket(9).await;
    // 500 and 429 are retried (4 attempts in all); 403 is not retried.
    for (status, attempts) in [(500, 4), (429, 4), (403, 1)] {
        for _ in 0..attempts {
            let path = format!("/api/Tickets/{ticket}");
            app.sandbox
                .halo
                .push_fault(Fault::on("GET", &path, status, "{}"));
        }
        let r = app.post_halo(&json!({"ticket_id": ticket})).await;
        assert_eq!(
            r.status(),
            503,
            "Halo {status} must never be swallowed as 200"
        );
        assert!(r.headers().contains_key("retry-after"));
    }
    for _ in 0..4 {
        app.sandbox
            .halo
            .push_fault(Fault::on("GET", "/api/Actions", 502, "{}"));
    }
    assert_eq!(
        app.post_halo(&json!({"ticket_id": ticket})).await.status(),
        503
    );
}

#[tokio::test]
async fn contraforce_rejecting_a_comment_is_502_with_its_message() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(10).await;
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", JANE, "x", false);
    app.sandbox
        .cf
        .push_fault(Fault::any(400, r#"{"message":"incident is locked"}"#));
    let r = app.post_halo(&json!({"ticket_id": ticket})).await;
    assert_eq!(
        answer(r).await,
        (
            502,
            json!({"error": "contraforce rejected the request", "detail": "incident is locked"})
        )
    );
}

#[tokio::test]
async fn a_ticket_linked_by_custom_field_is_mirrored() {
    let app = spawn_app_with(|env| {
        env.insert("HALO_EXTERNAL_REF_FIELD_ID".into(), "251".into());
    })
    .await;
    let ticket = app.create_ticket(11).await;
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", JANE, "from the field", false);
    let r = app.halo_webhook(ticket).await;
    assert_eq!(r.body["actionsForwarded"], 1);
    assert_eq!(app.sandbox.cf.comments()[0].incident_id, "incident-11");
}
