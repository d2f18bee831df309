//! `/api/Actions`: listing with its flags, and posting notes and status changes.

use serde_json::json;

use super::{fake, get, post, token};
use crate::sandbox::halo::actions::NO_OUTCOME;
use crate::sandbox::halo::state::STATUS_CHANGE;

#[tokio::test]
async fn action_list_honours_includehtmlnote_and_excludesys() {
    let halo = fake().await;
    let token = token(&halo).await;
    let id = halo.insert_ticket("t", Some("cf|s|a"));
    let note = halo.add_agent_note(
        id,
        "Jane Tech",
        3,
        "<p>Reset <b>password</b> &amp; sessions</p>",
        false,
    );
    assert_eq!(note, 2);
    assert_eq!(halo.actions(id)[1].note, "Reset password & sessions");
    halo.close(id);
    assert!(halo.ticket(id).expect("ticket").hasbeenclosed);

    let (_, plain) = get(&halo, &token, &format!("/Actions?ticket_id={id}")).await;
    assert_eq!(plain["record_count"], 3);
    assert!(plain["actions"][1].get("note_html").is_none());
    assert_eq!(plain["actions"][2]["outcome"], STATUS_CHANGE);

    let query = format!("/Actions?ticket_id={id}&excludesys=true&includehtmlnote=true");
    let (_, rich) = get(&halo, &token, &query).await;
    assert_eq!(rich["record_count"], 2);
    assert_eq!(rich["actions"][1]["who_agentid"], 3);
    assert_eq!(
        rich["actions"][1]["note_html"],
        "<p>Reset <b>password</b> &amp; sessions</p>"
    );

    let (status, _) = get(&halo, &token, "/Actions?ticket_id=4242").await;
    assert_eq!(status, 404);
    halo.reopen(id);
    assert_eq!(halo.ticket(id).expect("ticket").status_id, 2);
}

#[tokio::test]
async fn posting_actions_validates_the_outcome_and_applies_new_status() {
    let halo = fake().await;
    let token = token(&halo).await;
    let id = halo.insert_ticket("t", None);
    let (status, body) = post(
        &halo,
        &token,
        "/Actions",
        json!([{"ticket_id": id, "note": "x"}]),
    )
    .await;
    assert_eq!((status, body), (400, json!(NO_OUTCOME)));
    let (status, _) = post(
        &halo,
        &token,
        "/Actions",
        json!([{"ticket_id": 5, "outcome": "Note"}]),
    )
    .await;
    assert_eq!(status, 404);

    let note = json!([{
        "ticket_id": id, "outcome_id": 7, "hiddenfromuser": true,
        "note_html": "<p>private</p>", "new_status": 9,
    }]);
    let (status, action) = post(&halo, &token, "/Actions", note).await;
    assert_eq!(status, 200, "{action}");
    assert_eq!(action["id"], 2);
    assert_eq!(action["outcome"], "Private Note");
    assert_eq!(action["agent_id"], 12);
    assert_eq!(halo.actions(id)[1].note, "private");
    assert!(halo.ticket(id).expect("ticket").hasbeenclosed);
}
