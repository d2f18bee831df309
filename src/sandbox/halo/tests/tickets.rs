//! `/api/Tickets`: create and update, lookups, and the response-shape knobs.

use serde_json::{Value, json};

use super::{fake, get, post, token};
use crate::sandbox::halo::tickets::NO_TICKET_TYPE;
use crate::sandbox::halo::{IdStyle, ListShape};

fn new_ticket(reference: &str) -> Value {
    json!([{
        "summary": "[CF #1] Suspicious sign-in",
        "details_html": "<p>details</p>",
        "tickettype_id": 25,
        "client_id": 1,
        "priority_id": 2,
        "thirdpartynumber": reference,
    }])
}

#[tokio::test]
async fn creating_a_ticket_answers_one_object_and_logs_action_one() {
    let halo = fake().await;
    let token = token(&halo).await;
    let (status, created) = post(&halo, &token, "/Tickets", new_ticket("cf|s|a")).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["id"], 1000);
    assert_eq!(created["isnew"], true);
    assert_eq!(created["status_id"], 1);
    assert_eq!(created["thirdpartynumber"], "cf|s|a");

    let actions = halo.actions(1000);
    assert_eq!(actions.len(), 1);
    assert_eq!(
        (
            actions[0].id,
            actions[0].outcome.as_str(),
            actions[0].agent_id
        ),
        (1, "Ticket Logged", 12)
    );

    let (_, all) = post(
        &halo,
        &token,
        "/Tickets?returnall=true",
        new_ticket("cf|s|b"),
    )
    .await;
    assert_eq!(all[0]["id"], 1001);

    let (status, updated) = post(
        &halo,
        &token,
        "/Tickets",
        json!([{"id": 1000, "status_id": 9}]),
    )
    .await;
    assert_eq!(
        (status, updated["hasbeenclosed"].as_bool()),
        (200, Some(true))
    );
    assert!(halo.ticket(1000).expect("ticket").hasbeenclosed);

    let (status, _) = post(
        &halo,
        &token,
        "/Tickets",
        json!([{"id": 77, "summary": "x"}]),
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = post(&halo, &token, "/Tickets", json!({"summary": "no type"})).await;
    assert_eq!((status, body), (400, json!(NO_TICKET_TYPE)));

    halo.set_reject_creates(Some("Category is mandatory".to_owned()));
    let (status, body) = post(&halo, &token, "/Tickets", new_ticket("cf|s|c")).await;
    assert_eq!(
        (status, body["Message"].as_str()),
        (400, Some("Category is mandatory"))
    );
    assert_eq!(halo.tickets().len(), 2);
    assert_eq!(halo.count("post", "/api/tickets"), 6);

    let (status, _) = get(&halo, &token, "/Tickets/999").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn lookups_match_the_reference_exactly() {
    let halo = fake().await;
    let token = token(&halo).await;
    let a = halo.insert_ticket("a", Some("cf|s|a"));
    halo.insert_ticket("ab", Some("cf|s|ab"));
    halo.set_custom_field(a, 42, json!("cf|s|a"));

    let (_, found) = get(
        &halo,
        &token,
        "/Tickets?thirdpartynumber=cf%7Cs%7Ca&count=1",
    )
    .await;
    assert_eq!(found["record_count"], 1);
    assert_eq!(found["tickets"][0]["id"], a);

    let (_, by_field) = get(&halo, &token, "/Tickets?searchcustomfield_42=cf%7Cs%7Ca").await;
    assert_eq!(by_field["tickets"][0]["id"], a);
    assert_eq!(by_field["tickets"][0]["customfields"][0]["name"], "CF42");

    let (_, none) = get(
        &halo,
        &token,
        "/tickets?thirdpartynumber=cf%7Cs%7Cz&count=1",
    )
    .await;
    assert_eq!(none["record_count"], 0);

    halo.set_list_shape(ListShape::Bare);
    let (_, bare) = get(&halo, &token, "/Tickets?thirdpartynumber=cf%7Cs%7Cab").await;
    assert_eq!(bare.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_changed_reference_is_found_under_its_new_value_only() {
    let halo = fake().await;
    let token = token(&halo).await;
    let a = halo.insert_ticket("a", Some("cf|s|old"));
    let b = halo.insert_ticket("b", Some("cf|s|old"));
    let update = json!([{"id": a, "thirdpartynumber": "cf|s|new"}]);
    assert_eq!(post(&halo, &token, "/Tickets", update).await.0, 200);
    let lookup = |reference: &str| {
        let path = format!(
            "/Tickets?thirdpartynumber={}",
            reference.replace('|', "%7C")
        );
        let (halo, token) = (&halo, &token);
        async move { get(halo, token, &path).await.1 }
    };
    assert_eq!(lookup("cf|s|new").await["tickets"][0]["id"], a);
    let old = lookup("cf|s|old").await;
    assert_eq!(old["record_count"], 1);
    assert_eq!(old["tickets"][0]["id"], b);
}

#[tokio::test]
async fn ignoring_the_lookup_filter_returns_other_tickets_newest_first() {
    let halo = fake().await;
    let token = token(&halo).await;
    halo.insert_ticket("old", Some("cf|s|old"));
    let newest = halo.insert_ticket("new", Some("cf|s|new"));
    halo.set_ignore_lookup_filter(true);
    let (_, found) = get(
        &halo,
        &token,
        "/Tickets?thirdpartynumber=cf%7Cs%7Cmissing&count=1",
    )
    .await;
    assert_eq!(found["tickets"].as_array().map(Vec::len), Some(1));
    assert_eq!(found["tickets"][0]["id"], newest);
}

#[tokio::test]
async fn id_style_controls_how_ticket_ids_are_written() {
    let halo = fake().await;
    let token = token(&halo).await;
    let id = halo.insert_ticket("t", None);

    halo.set_id_style(IdStyle::Float);
    let (_, ticket) = get(&halo, &token, &format!("/Tickets/{id}")).await;
    assert!(ticket["id"].is_f64());
    assert_eq!(ticket["id"].as_f64(), Some(1000.0));

    halo.set_id_style(IdStyle::Str);
    let (_, ticket) = get(&halo, &token, &format!("/Tickets/{id}")).await;
    assert_eq!(ticket["id"], "1000");
    let (_, actions) = get(&halo, &token, &format!("/Actions?ticket_id={id}")).await;
    assert_eq!(actions["ticket_id"], "1000");
    assert_eq!(actions["actions"][0]["ticket_id"], "1000");
    assert_eq!(actions["actions"][0]["id"], 1);
}
