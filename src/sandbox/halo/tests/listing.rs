//! `GET /api/Tickets`: the last-update window (`lastupdatefromdate` / `lastupdatetodate`) and
//! Halo's paging, alone and combined with the other filters.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::{fake, get, token};
use crate::sandbox::halo::ListShape;

/// 2020-01-01T00:00:00Z plus `hours`.
fn at_hour(hours: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_577_836_800 + hours * 3600)
}

/// The ids of a wrapped list answer, in order.
fn ids(answer: &Value) -> Vec<u64> {
    answer["tickets"]
        .as_array()
        .expect("tickets array")
        .iter()
        .map(|t| t["id"].as_u64().expect("id"))
        .collect()
}

#[tokio::test]
async fn last_update_filters_are_inclusive_utc_bounds() {
    let halo = fake().await;
    let token = token(&halo).await;
    let a = halo.insert_ticket("a", Some("cf|s|a"));
    let b = halo.insert_ticket("b", None);
    let c = halo.insert_ticket("c", Some("cf|s|c"));
    halo.set_last_update(a, at_hour(0));
    halo.set_last_update(b, at_hour(1));
    halo.set_last_update(c, at_hour(2) + Duration::new(0, 123_456_789));

    let list = |query: &str| {
        let path = format!("/Tickets?{query}");
        let (halo, token) = (&halo, &token);
        async move { get(halo, token, &path).await }
    };
    let (status, from) = list("lastupdatefromdate=2020-01-01T01:00:00").await;
    assert_eq!(status, 200, "{from}");
    assert_eq!(
        (ids(&from), &from["record_count"]),
        (vec![c, b], &Value::from(2))
    );
    let (_, to) = list("lastupdatetodate=2020-01-01T01:00:00").await;
    assert_eq!(ids(&to), [b, a]);
    let (_, both) =
        list("lastupdatefromdate=2020-01-01T01:00:00Z&lastupdatetodate=2020-01-01T01:00:00").await;
    assert_eq!(ids(&both), [b], "both ends inclusive");
    let (_, fraction) = list("lastupdatefromdate=2020-01-01T01:00:00.0000001Z").await;
    assert_eq!(ids(&fraction), [c]);

    // The date a ticket shows is a date that finds it, from either end.
    let (_, shown) = get(&halo, &token, &format!("/Tickets/{c}")).await;
    let stamp = shown["lastactiondate"].as_str().expect("stamp");
    assert_eq!(stamp, "2020-01-01T02:00:00.1234567Z");
    let exact = format!("lastupdatefromdate={stamp}&lastupdatetodate={stamp}");
    assert_eq!(ids(&list(&exact).await.1), [c]);

    // Filters combine with the lookups, and fresh changes move a ticket into the window.
    let (_, linked) =
        list("lastupdatefromdate=2020-01-01T00:30:00&third_party_id_string=cf%7Cs%7Ca").await;
    assert_eq!(linked["record_count"], 0);
    halo.add_agent_note(a, "Jane Tech", 3, "update", false);
    let (_, linked) =
        list("lastupdatefromdate=2020-01-01T00:30:00&third_party_id_string=cf%7Cs%7Ca").await;
    assert_eq!(ids(&linked), [a]);

    for (query, key, value) in [
        (
            "lastupdatefromdate=yesterday",
            "lastupdatefromdate",
            "yesterday",
        ),
        (
            "lastupdatetodate=2020-02-30T00:00:00",
            "lastupdatetodate",
            "2020-02-30T00:00:00",
        ),
        ("lastupdatefromdate=", "lastupdatefromdate", ""),
    ] {
        let (status, body) = list(query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["ClassName"], "HaloValidationException");
        assert_eq!(
            body["Message"],
            format!("The value '{value}' is not valid for {key}.")
        );
    }
}

#[tokio::test]
async fn pages_are_capped_at_100_and_stable_newest_first() {
    let halo = fake().await;
    let token = token(&halo).await;
    let all: Vec<u64> = (0..230)
        .map(|i| halo.insert_ticket(&format!("t{i}"), None))
        .collect();
    let newest_first: Vec<u64> = all.iter().rev().copied().collect();

    let page = |query: String| {
        let halo = halo.clone();
        let token = token.clone();
        async move {
            get(&halo, &token, &format!("/Tickets?pageinate=true&{query}"))
                .await
                .1
        }
    };
    let first = page("page_size=500&page_no=1".to_owned()).await;
    assert_eq!(
        (
            &first["record_count"],
            &first["page_no"],
            &first["page_size"]
        ),
        (&Value::from(230), &Value::from(1), &Value::from(100)),
        "page_size is capped at 100"
    );
    assert_eq!(ids(&first), newest_first[..100]);

    let default = page(String::new()).await;
    assert_eq!(
        (&default["page_size"], &default["page_no"]),
        (&Value::from(50), &Value::from(1))
    );
    assert_eq!(ids(&default), newest_first[..50]);

    // The bridge's sweep: page_size=100, page_no 1, 2, … until a short page.
    let mut walked: Vec<u64> = Vec::new();
    for no in 1.. {
        let answer = page(format!("page_size=100&page_no={no}")).await;
        assert_eq!(answer["page_no"], no);
        let got = ids(&answer);
        walked.extend(&got);
        if got.len() < 100 {
            break;
        }
    }
    assert_eq!(walked, newest_first);
    let beyond = page("page_size=100&page_no=4".to_owned()).await;
    assert_eq!(
        (ids(&beyond).len(), &beyond["record_count"]),
        (0, &Value::from(230))
    );

    // Paging counts only what the window lets through.
    for id in &all[..120] {
        halo.set_last_update(*id, at_hour(0));
    }
    let recent =
        page("lastupdatefromdate=2020-01-02T00:00:00&page_size=100&page_no=2".to_owned()).await;
    assert_eq!(recent["record_count"], 110);
    assert_eq!(ids(&recent), newest_first[100..110]);

    // Without `pageinate`, `count` limits as before and no page is named.
    let (_, counted) = get(&halo, &token, "/Tickets?count=5&page_no=2").await;
    assert_eq!(
        (ids(&counted), &counted["record_count"]),
        (newest_first[..5].to_vec(), &Value::from(230))
    );
    assert!(counted.get("page_no").is_none() && counted.get("page_size").is_none());

    halo.set_list_shape(ListShape::Bare);
    let bare = page("page_size=7&page_no=2".to_owned()).await;
    assert_eq!(bare.as_array().map(Vec::len), Some(7));
    assert_eq!(bare[0]["id"], newest_first[7]);
}
