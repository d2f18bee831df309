//! Last update per ticket: stamped on create, bumped by every action, status change and update
//! POST, written as `lastactiondate` / `last_update`, and movable into the past by tests.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::{client, fake, get, post, read, token};
use crate::sandbox::halo::FakeHalo;

/// 2020-01-01T00:00:00Z: before any clock this test suite will run on.
fn long_ago() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_577_836_800)
}

/// Moves the ticket's last update back to [`long_ago`].
fn make_stale(halo: &FakeHalo, id: u64) {
    halo.set_last_update(id, long_ago());
    assert_eq!(halo.last_update(id), Some(long_ago()));
}

fn assert_bumped(halo: &FakeHalo, id: u64, what: &str) {
    let at = halo.last_update(id).expect("ticket exists");
    assert!(at > long_ago(), "{what} must bump the last update");
}

#[tokio::test]
async fn ticket_json_carries_the_last_update_in_halo_format() {
    let halo = fake().await;
    let token = token(&halo).await;
    let body = json!([{"summary": "s", "tickettype_id": 25, "client_id": 1}]);
    let (status, created) = post(&halo, &token, "/Tickets", body).await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_u64().expect("id");
    let stamp = created["lastactiondate"].as_str().expect("lastactiondate");
    assert_eq!(created["last_update"], stamp);
    // Like every other date the fake writes: `YYYY-MM-DDTHH:MM:SS.fffffffZ`.
    assert_eq!(
        (stamp.len(), &stamp[10..11], &stamp[19..20]),
        (28, "T", ".")
    );
    assert!(stamp.ends_with('Z'), "{stamp}");
    assert_eq!(stamp, halo.actions(id)[0].datetime, "create logs action 1");

    halo.set_last_update(id, long_ago() + Duration::new(0, 123_456_789));
    let (_, read_back) = get(&halo, &token, &format!("/Tickets/{id}")).await;
    assert_eq!(read_back["lastactiondate"], "2020-01-01T00:00:00.1234567Z");
    assert_eq!(read_back["last_update"], "2020-01-01T00:00:00.1234567Z");
    assert_eq!(halo.last_update(9999), None);

    let stored = halo.ticket(id).expect("ticket").last_update;
    assert_eq!(stored, long_ago() + Duration::new(0, 123_456_789));
}

#[tokio::test]
async fn every_action_and_status_change_bumps_the_last_update() {
    let halo = fake().await;
    let token = token(&halo).await;
    let id = halo.insert_ticket("t", None);
    assert_bumped(&halo, id, "insert_ticket");

    make_stale(&halo, id);
    let note = json!([{"ticket_id": id, "outcome": "Note", "note": "x"}]);
    let (status, action) = post(&halo, &token, "/Actions", note).await;
    assert_eq!(status, 200, "{action}");
    assert_bumped(&halo, id, "POST /Actions");
    let (_, ticket) = get(&halo, &token, &format!("/Tickets/{id}")).await;
    assert_eq!(ticket["lastactiondate"], action["datetime"]);

    make_stale(&halo, id);
    halo.add_agent_note(id, "Jane Tech", 3, "<p>hi</p>", false);
    assert_bumped(&halo, id, "add_agent_note");

    make_stale(&halo, id);
    halo.add_system_action(id, "SLA Hold");
    assert_bumped(&halo, id, "add_system_action");

    make_stale(&halo, id);
    let url = format!("{}/_sandbox/tickets/{id}/notes", halo.base_url());
    let response = client().post(url).json(&json!({"note": "n"})).send().await;
    assert_eq!(read(response.expect("note")).await.0, 200);
    assert_bumped(&halo, id, "a control note");

    make_stale(&halo, id);
    halo.close(id);
    assert_bumped(&halo, id, "close");

    make_stale(&halo, id);
    halo.reopen(id);
    assert_bumped(&halo, id, "reopen");

    make_stale(&halo, id);
    halo.set_status(id, 28, "On Hold");
    assert_bumped(&halo, id, "set_status");

    make_stale(&halo, id);
    let closing = json!([{"ticket_id": id, "outcome": "Note", "new_status": 9}]);
    assert_eq!(post(&halo, &token, "/Actions", closing).await.0, 200);
    assert_bumped(&halo, id, "new_status on an action");

    // Seeding a custom field is not a change a client could have seen.
    make_stale(&halo, id);
    halo.set_custom_field(id, 42, json!("v"));
    assert_eq!(halo.last_update(id), Some(long_ago()));
}

#[tokio::test]
async fn ticket_updates_close_reprioritise_and_bump_the_last_update() {
    let halo = fake().await;
    let token = token(&halo).await;
    let id = halo.insert_ticket("t", Some("cf|s|a"));
    let actions_before = halo.actions(id).len();

    make_stale(&halo, id);
    let close = json!([{"id": id, "status_id": 9}]);
    let (status, closed) = post(&halo, &token, "/Tickets", close).await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(
        (
            &closed["hasbeenclosed"],
            &closed["status_id"],
            &closed["isnew"]
        ),
        (&json!(true), &json!(9), &json!(false))
    );
    let ticket = halo.ticket(id).expect("ticket");
    assert!(ticket.hasbeenclosed);
    assert_eq!(ticket.status_name, "Closed");
    assert_bumped(&halo, id, "status_id in an update");
    assert_ne!(closed["lastactiondate"], "2020-01-01T00:00:00.0000000Z");

    make_stale(&halo, id);
    let reprioritise = json!([{"id": id, "priority_id": 2}]);
    let (status, updated) = post(&halo, &token, "/Tickets", reprioritise).await;
    assert_eq!((status, &updated["priority_id"]), (200, &json!(2)));
    assert_eq!(halo.ticket(id).expect("ticket").priority_id, Some(2));
    assert!(
        halo.ticket(id).expect("ticket").hasbeenclosed,
        "status kept"
    );
    assert_bumped(&halo, id, "priority_id in an update");

    make_stale(&halo, id);
    let (status, _) = post(
        &halo,
        &token,
        "/Tickets",
        json!({"id": id, "summary": "new"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_bumped(&halo, id, "a field edit");
    assert_eq!(
        halo.actions(id).len(),
        actions_before,
        "updates log no action"
    );

    // A rejected update changes nothing.
    make_stale(&halo, id);
    let bad = json!([{"id": id, "priority_id": "high"}]);
    assert_eq!(post(&halo, &token, "/Tickets", bad).await.0, 400);
    assert_eq!(halo.last_update(id), Some(long_ago()));
}
