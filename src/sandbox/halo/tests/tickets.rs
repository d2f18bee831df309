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
        "third_party_id_string": reference,
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
    assert_eq!(created["third_party_id_string"], "cf|s|a");

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

    let (_, found) = get(&halo, &token, "/Tickets?third_party_id_string=cf%7Cs%7Ca").await;
    assert_eq!(found["record_count"], 1);
    assert_eq!(found["tickets"][0]["id"], a);

    let (_, none) = get(&halo, &token, "/tickets?THIRD_PARTY_ID_STRING=cf%7Cs%7Cz").await;
    assert_eq!(none["record_count"], 0, "names match in any case");

    halo.set_list_shape(ListShape::Bare);
    let (_, bare) = get(&halo, &token, "/Tickets?third_party_id_string=cf%7Cs%7Cab").await;
    assert_eq!(bare.as_array().map(Vec::len), Some(1));
    assert!(halo.undocumented_names().is_empty());
}

#[tokio::test]
async fn a_changed_reference_is_found_under_its_new_value_only() {
    let halo = fake().await;
    let token = token(&halo).await;
    let a = halo.insert_ticket("a", Some("cf|s|old"));
    let b = halo.insert_ticket("b", Some("cf|s|old"));
    let update = json!([{"id": a, "third_party_id_string": "cf|s|new"}]);
    assert_eq!(post(&halo, &token, "/Tickets", update).await.0, 200);
    let lookup = |reference: &str| {
        let path = format!(
            "/Tickets?third_party_id_string={}",
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
async fn an_older_halo_ignores_the_reference_filter_and_answers_every_ticket() {
    let halo = fake().await;
    let token = token(&halo).await;
    halo.insert_ticket("old", Some("cf|s|old"));
    let newest = halo.insert_ticket("new", Some("cf|s|new"));
    halo.set_ignore_reference_filter(true);
    let (_, found) = get(
        &halo,
        &token,
        "/Tickets?third_party_id_string=cf%7Cs%7Cmissing",
    )
    .await;
    assert_eq!(found["tickets"].as_array().map(Vec::len), Some(2));
    assert_eq!(found["tickets"][0]["id"], newest);
}

#[tokio::test]
async fn undocumented_parameters_are_ignored_and_recorded() {
    let halo = fake().await;
    let token = token(&halo).await;
    let a = halo.insert_ticket("a", Some("cf|s|a"));
    halo.insert_ticket("b", Some("cf|s|b"));
    // The samples' lookups: Halo does not know these names, so they filter nothing.
    let (_, samples) = get(&halo, &token, "/Tickets?thirdpartynumber=cf%7Cs%7Ca").await;
    assert_eq!(samples["record_count"], 2);
    halo.set_custom_field(a, 77, json!("cf|s|a"));
    let (_, custom) = get(&halo, &token, "/Tickets?searchcustomfield_77=cf%7Cs%7Ca").await;
    assert_eq!(custom["record_count"], 2);
    assert_eq!(
        halo.undocumented_names(),
        [
            "GET /Tickets ?searchcustomfield_77",
            "GET /Tickets ?thirdpartynumber"
        ]
    );
}

#[tokio::test]
async fn undocumented_body_fields_are_dropped_and_recorded_and_documented_ones_kept() {
    let halo = fake().await;
    let token = token(&halo).await;
    let body = json!([{
        "summary": "s", "tickettype_id": 25, "client_id": 1,
        "thirdpartynumber": "cf|s|a", "impact": 2,
        "customfields": [{"id": 5, "value": "v", "colour": "red"}],
    }]);
    let (status, created) = post(&halo, &token, "/Tickets", body).await;
    assert_eq!(status, 200, "{created}");
    assert!(created.get("thirdpartynumber").is_none(), "{created}");
    assert_eq!(created["impact"], 2, "a documented field is kept");
    let ticket = halo.ticket(created["id"].as_u64().unwrap()).unwrap();
    assert_eq!(ticket.third_party_id_string, None);
    assert_eq!(ticket.customfields, vec![(5, json!("v"))]);
    let note = json!([{"ticket_id": ticket.id, "outcome": "Note", "note_html": "x", "shade": 1}]);
    assert_eq!(post(&halo, &token, "/Actions", note).await.0, 200);
    assert_eq!(
        halo.undocumented_names(),
        [
            "POST /Actions body shade",
            "POST /Tickets body customfields[].colour",
            "POST /Tickets body thirdpartynumber",
        ]
    );
}

#[tokio::test]
async fn list_rows_carry_only_the_custom_fields_asked_for_and_closed_tickets_only_when_asked() {
    let halo = fake().await;
    let token = token(&halo).await;
    let a = halo.insert_ticket("a", None);
    halo.set_custom_field(a, 77, json!("cf|s|a"));
    halo.set_custom_field(a, 78, json!("other"));
    let (_, plain) = get(&halo, &token, "/Tickets").await;
    assert!(plain["tickets"][0].get("customfields").is_none(), "{plain}");
    let (_, asked) = get(&halo, &token, "/Tickets?include_custom_fields=77").await;
    assert_eq!(
        asked["tickets"][0]["customfields"],
        json!([{"id": 77, "name": "CF77", "value": "cf|s|a"}])
    );
    let (_, one) = get(&halo, &token, &format!("/Tickets/{a}")).await;
    assert_eq!(
        one["customfields"].as_array().map(Vec::len),
        Some(2),
        "one ticket has them all"
    );

    halo.close(a);
    let (_, open) = get(&halo, &token, "/Tickets").await;
    assert_eq!(
        open["record_count"], 0,
        "the default list is the open queue"
    );
    let (_, all) = get(&halo, &token, "/Tickets?includeclosed=true").await;
    assert_eq!(all["record_count"], 1);
    let (_, closed) = get(&halo, &token, "/Tickets?closed_only=true").await;
    assert_eq!(closed["record_count"], 1);
}

#[tokio::test]
async fn order_id_lists_oldest_first_and_orderdesc_newest_first() {
    let halo = fake().await;
    let token = token(&halo).await;
    let a = halo.insert_ticket("a", None);
    let b = halo.insert_ticket("b", None);
    let ids = |v: &Value| -> Vec<u64> {
        v["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids(&get(&halo, &token, "/Tickets").await.1), [b, a]);
    assert_eq!(
        ids(&get(&halo, &token, "/Tickets?order=id").await.1),
        [a, b]
    );
    assert_eq!(
        ids(&get(&halo, &token, "/Tickets?order=id&orderdesc=true")
            .await
            .1),
        [b, a]
    );
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
