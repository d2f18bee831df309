//! Properties of the pure parts: signatures and payload parsers never panic, and a signature
//! survives no single-byte change of what it covers. (Settings: `properties_settings`.)

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cf_halo_bridge::contraforce::webhook as cf;
use cf_halo_bridge::halo::webhook as halo;
use proptest::prelude::*;
use proptest::sample::Index;
use secrecy::SecretString;
use serde_json::{Map, Value};

pub(crate) fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        // Keep failures in the test output instead of writing regression files into the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// An RFC 3339 text of `unix`, with optional milliseconds and a `Z` or numeric offset.
fn rfc3339(unix: i64, millis: Option<u32>, offset_minutes: Option<i32>) -> String {
    let offset = time::UtcOffset::from_whole_seconds(offset_minutes.unwrap_or(0) * 60).unwrap();
    let at = time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .to_offset(offset);
    let fraction = millis.map_or(String::new(), |m| format!(".{m:03}"));
    let zone = match offset_minutes {
        None => "Z".to_string(),
        Some(m) => format!(
            "{}{:02}:{:02}",
            if m < 0 { '-' } else { '+' },
            m.abs() / 60,
            m.abs() % 60
        ),
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}{zone}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

/// One single-byte change: replace a byte with a different one, insert one, or delete one.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Insert(Index, u8),
    Delete(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Delete),
    ]
}

/// The mutated bytes, or `None` when the mutation cannot change them (deleting from nothing).
fn apply(bytes: &[u8], m: &Mutation) -> Option<Vec<u8>> {
    let mut out = bytes.to_vec();
    match m {
        Mutation::Flip(i, x) => {
            if out.is_empty() {
                return None;
            }
            let at = i.index(out.len());
            out[at] ^= x;
        }
        Mutation::Insert(i, b) => out.insert(i.index(out.len() + 1), *b),
        Mutation::Delete(i) => {
            if out.is_empty() {
                return None;
            }
            out.remove(i.index(out.len()));
        }
    }
    (out != bytes).then_some(out)
}

/// Every single-byte change of `bytes`: each byte replaced by each other value, each byte
/// inserted at each position, each byte deleted.
fn all_mutations(bytes: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let flips = (0..bytes.len()).flat_map(move |i| {
        (1..=255u8).map(move |x| {
            let mut out = bytes.to_vec();
            out[i] ^= x;
            out
        })
    });
    let inserts = (0..=bytes.len()).flat_map(move |i| {
        (0..=255u8).map(move |b| {
            let mut out = bytes.to_vec();
            out.insert(i, b);
            out
        })
    });
    let deletes = (0..bytes.len()).map(move |i| {
        let mut out = bytes.to_vec();
        out.remove(i);
        out
    });
    flips.chain(inserts).chain(deletes)
}

/// Arbitrary JSON of limited depth and size.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        prop_oneof![
            Just("incident.created.v1"),
            Just("3"),
            Just("3.0"),
            Just(""),
            Just(" "),
            Just("cf|sentinel|abc"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// Object keys: mostly the ones the parsers look at, sometimes anything.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "type", "data", "isTest", "incidentId", "source", "title", "severity",
            "incidentNumber", "accountId", "accountName", "description", "sourceDisplayName",
            "createdAt", "owner", "displayName", "email", "alerts", "entities", "productName",
            "ticket_id", "ticket", "object_id", "id", "event",
        ])
        .prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

/// A ContraForce-shaped envelope whose fields hold arbitrary JSON, so parsing gets past the
/// first checks.
fn cf_envelope() -> impl Strategy<Value = Value> {
    let data = prop::collection::vec(
        (
            prop::sample::select(vec![
                "incidentId",
                "source",
                "title",
                "severity",
                "incidentNumber",
                "accountId",
                "description",
                "createdAt",
                "owner",
                "alerts",
                "entities",
            ]),
            json_value(),
        ),
        0..12,
    )
    .prop_map(|pairs| {
        Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<Map<_, _>>(),
        )
    });
    (
        prop_oneof![
            Just(Value::from("incident.created.v1")),
            Just(Value::from("INCIDENT.CREATED.V1")),
            json_value(),
        ],
        prop_oneof![3 => data, 1 => json_value()],
        json_value(),
    )
        .prop_map(
            |(t, data, is_test)| serde_json::json!({"type": t, "data": data, "isTest": is_test}),
        )
}

/// A Halo-shaped delivery whose id fields hold arbitrary JSON.
fn halo_delivery() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["ticket_id", "ticket", "object_id", "id", "event"]),
            json_value(),
        ),
        0..6,
    )
    .prop_map(|pairs| {
        Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<Map<_, _>>(),
        )
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn cf_verify_never_panics_on_arbitrary_bytes(
        signature in prop::option::of(prop::collection::vec(any::<u8>(), 0..100)),
        timestamp in prop::option::of(prop_oneof![
            prop::collection::vec(any::<u8>(), 0..30),
            "[0-9]{0,25}".prop_map(String::into_bytes),
        ]),
        body in prop::collection::vec(any::<u8>(), 0..200),
        secrets in prop::collection::vec(any::<String>(), 0..3),
        now in any::<i64>(),
        max_skew in any::<u64>(),
    ) {
        let secrets: Vec<SecretString> = secrets.iter().map(|s| secret(s)).collect();
        let refs: Vec<&SecretString> = secrets.iter().collect();
        let _ = cf::verify(
            signature.as_deref(),
            timestamp.as_deref(),
            &body,
            &refs,
            now,
            max_skew,
        );
    }

    #[test]
    fn cf_sign_never_panics_and_always_has_the_documented_shape(
        secret_text in any::<String>(),
        timestamp in any::<String>(),
        body in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let sig = cf::sign(&secret_text, &timestamp, &body);
        prop_assert!(sig.starts_with("sha256="), "{}", sig);
        prop_assert_eq!(sig.len(), 7 + 64);
        prop_assert!(sig[7..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn a_correctly_signed_cf_message_verifies_with_either_secret(
        current in any::<String>(),
        previous in any::<String>(),
        use_previous in any::<bool>(),
        ts in 0i64..100_000_000_000,
        skew in 0u64..100_000,
        offset_permille in -1000i64..=1000,
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let signer = if use_previous { &previous } else { &current };
        let ts_text = ts.to_string();
        let sig = cf::sign(signer, &ts_text, &body);
        let now = ts + (skew as i64) * offset_permille / 1000;
        let (c, p) = (secret(&current), secret(&previous));
        prop_assert_eq!(
            cf::verify(Some(sig.as_bytes()), Some(ts_text.as_bytes()), &body, &[&c, &p], now, skew)
                .map(drop),
            Ok(())
        );
    }

    #[test]
    fn every_single_byte_change_of_the_cf_body_is_rejected(
        secret_text in any::<String>(),
        ts in 0i64..100_000_000_000,
        body in prop::collection::vec(any::<u8>(), 0..300),
        m in mutation(),
    ) {
        let ts_text = ts.to_string();
        let sig = cf::sign(&secret_text, &ts_text, &body);
        let s = secret(&secret_text);
        if let Some(changed) = apply(&body, &m) {
            prop_assert!(
                cf::verify(Some(sig.as_bytes()), Some(ts_text.as_bytes()), &changed, &[&s], ts, 300)
                    .is_err(),
                "{:?} accepted", m
            );
        }
    }

    #[test]
    fn a_changed_cf_signature_header_verifies_only_when_it_still_encodes_the_same_mac(
        secret_text in any::<String>(),
        ts in 0i64..100_000_000_000,
        body in prop::collection::vec(any::<u8>(), 0..300),
        base64 in any::<bool>(),
        m in mutation(),
    ) {
        let ts_text = ts.to_string();
        let sig = if base64 {
            cf::sign_base64(&secret_text, &ts_text, &body)
        } else {
            cf::sign(&secret_text, &ts_text, &body)
        };
        let original = cf::decode_signature(sig.as_bytes()).expect("our own signature decodes");
        let s = secret(&secret_text);
        if let Some(changed) = apply(sig.as_bytes(), &m) {
            // Only the prefix's or a hex digit's case, or the base64 padding, may change.
            let verified = cf::verify(Some(&changed), Some(ts_text.as_bytes()), &body, &[&s], ts, 300);
            prop_assert!(
                verified.is_err() || cf::decode_signature(&changed) == Some(original),
                "{:?} accepted", m
            );
        }
    }

    #[test]
    fn every_single_bit_change_of_the_cf_mac_is_rejected_in_hex_and_base64(
        secret_text in any::<String>(),
        ts in 0i64..100_000_000_000,
        body in prop::collection::vec(any::<u8>(), 0..300),
        bit in 0usize..256,
    ) {
        let ts_text = ts.to_string();
        let mut mac = hex::decode(&cf::sign(&secret_text, &ts_text, &body)[7..]).unwrap();
        mac[bit / 8] ^= 1 << (bit % 8);
        let s = secret(&secret_text);
        for changed in [format!("sha256={}", hex::encode(&mac)), BASE64.encode(&mac)] {
            prop_assert_eq!(
                cf::verify(Some(changed.as_bytes()), Some(ts_text.as_bytes()), &body, &[&s], ts, 300),
                Err(cf::SignatureError::Mismatch)
            );
        }
    }

    #[test]
    fn a_base64_signature_over_an_rfc3339_timestamp_verifies_within_the_skew(
        secret_text in any::<String>(),
        unix in 0i64..4_000_000_000,
        millis in prop::option::of(0u32..1000),
        offset_minutes in prop::option::of(-720i32..=720),
        skew in 0u64..100_000,
        offset_permille in -1000i64..=1000,
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let ts_text = rfc3339(unix, millis, offset_minutes);
        let sig = cf::sign_base64(&secret_text, &ts_text, &body);
        prop_assert_eq!(cf::parse_timestamp(ts_text.as_bytes()), Some(unix), "{}", ts_text);
        let now = unix + (skew as i64) * offset_permille / 1000;
        let s = secret(&secret_text);
        prop_assert!(
            cf::verify(Some(sig.as_bytes()), Some(ts_text.as_bytes()), &body, &[&s], now, skew).is_ok(),
            "{}", ts_text
        );
        let late = unix + skew as i64 + 1;
        prop_assert_eq!(
            cf::verify(Some(sig.as_bytes()), Some(ts_text.as_bytes()), &body, &[&s], late, skew),
            Err(cf::SignatureError::Skew)
        );
    }

    #[test]
    fn every_single_byte_change_of_an_rfc3339_timestamp_header_is_rejected(
        secret_text in any::<String>(),
        unix in 0i64..4_000_000_000,
        millis in prop::option::of(0u32..1000),
        body in prop::collection::vec(any::<u8>(), 0..300),
        m in mutation(),
    ) {
        let ts_text = rfc3339(unix, millis, None);
        let sig = cf::sign_base64(&secret_text, &ts_text, &body);
        let s = secret(&secret_text);
        if let Some(changed) = apply(ts_text.as_bytes(), &m) {
            prop_assert!(
                cf::verify(Some(sig.as_bytes()), Some(&changed), &body, &[&s], unix, u64::MAX).is_err(),
                "{:?} accepted", m
            );
        }
    }

    #[test]
    fn cf_timestamp_and_signature_decoding_never_panic(
        text in prop_oneof![
            any::<String>(),
            "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?([Zz]|[+-][0-9]{2}:[0-9]{2})?",
            "(sha256=|SHA256=)?[0-9a-fA-F]{60,68}",
            "[A-Za-z0-9+/]{40,46}={0,3}",
        ],
    ) {
        let _ = cf::parse_timestamp(text.as_bytes());
        let _ = cf::decode_signature(text.as_bytes());
    }

    #[test]
    fn every_single_byte_change_of_the_cf_timestamp_header_is_rejected(
        secret_text in any::<String>(),
        ts in 0i64..100_000_000_000,
        body in prop::collection::vec(any::<u8>(), 0..300),
        m in mutation(),
    ) {
        let ts_text = ts.to_string();
        let sig = cf::sign(&secret_text, &ts_text, &body);
        let s = secret(&secret_text);
        if let Some(changed) = apply(ts_text.as_bytes(), &m) {
            // A skew as large as possible, so only the signature can reject the change.
            prop_assert!(
                cf::verify(Some(sig.as_bytes()), Some(&changed), &body, &[&s], ts, u64::MAX).is_err(),
                "{:?} accepted", m
            );
        }
    }

    #[test]
    fn cf_parse_never_panics_on_arbitrary_bytes(
        body in prop::collection::vec(any::<u8>(), 0..300),
        schema in prop::option::of(any::<String>()),
    ) {
        let _ = cf::parse(&body, schema.as_deref());
    }

    #[test]
    fn cf_parse_never_panics_on_arbitrary_json(
        value in prop_oneof![json_value(), cf_envelope()],
        schema in prop::option::of(prop_oneof![
            Just("incident.created.v1".to_string()),
            any::<String>(),
        ]),
    ) {
        let body = serde_json::to_vec(&value).unwrap();
        let _ = cf::parse(&body, schema.as_deref());
    }

    #[test]
    fn halo_parse_never_panics_on_arbitrary_bytes_or_json(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        value in prop_oneof![json_value(), halo_delivery()],
    ) {
        let _ = halo::parse(&bytes);
        let _ = halo::parse(&serde_json::to_vec(&value).unwrap());
    }

    #[test]
    fn halo_secret_and_signature_checks_never_panic(
        header in prop::option::of(prop_oneof![
            prop::collection::vec(any::<u8>(), 0..120),
            any::<String>().prop_map(|s| format!("sha256={s}").into_bytes()),
            "[ =a-zA-Z0-9+/]{0,90}".prop_map(String::into_bytes),
        ]),
        body in prop::collection::vec(any::<u8>(), 0..200),
        secrets in prop::collection::vec(any::<String>(), 0..3),
    ) {
        let secrets: Vec<SecretString> = secrets.iter().map(|s| secret(s)).collect();
        let _ = halo::shared_secret_matches(header.as_deref(), &secrets);
        for s in &secrets {
            let _ = halo::signature_matches(header.as_deref(), &body, s);
        }
        let _ = halo::signature_matches(header.as_deref(), &body, &secret(""));
    }

    #[test]
    fn a_halo_signature_verifies_and_every_single_byte_change_of_the_body_is_rejected(
        secret_text in any::<String>(),
        body in prop::collection::vec(any::<u8>(), 0..300),
        m in mutation(),
    ) {
        let header = halo::sign(&secret_text, &body);
        let s = secret(&secret_text);
        prop_assert!(halo::signature_matches(Some(header.as_bytes()), &body, &s));
        if let Some(changed) = apply(&body, &m) {
            prop_assert!(
                !halo::signature_matches(Some(header.as_bytes()), &changed, &s),
                "{:?} accepted", m
            );
        }
    }

    #[test]
    fn replacing_one_character_of_a_halo_digest_with_another_base64_character_is_rejected(
        secret_text in any::<String>(),
        body in prop::collection::vec(any::<u8>(), 0..300),
        at in any::<Index>(),
        with in prop::sample::select(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".to_vec()
        ),
    ) {
        let header = halo::sign(&secret_text, &body);
        // "sha256= " then 43 digest characters and one '=' of padding.
        let digest_start = header.len() - 44;
        let i = digest_start + at.index(43);
        let mut changed = header.clone().into_bytes();
        prop_assume!(changed[i] != with);
        changed[i] = with;
        let s = secret(&secret_text);
        prop_assert!(
            !halo::signature_matches(Some(&changed), &body, &s),
            "{} accepted", String::from_utf8_lossy(&changed)
        );
    }
}

const VECTOR_SECRET: &str = "whsec_example_secret";
const VECTOR_TS: &str = "1776870000";
const VECTOR_BODY: &str = r#"{"type":"incident.created.v1","timestamp":"2026-04-22T15:00:00Z","isTest":false,"occurredAt":"2026-04-22T14:55:00Z","data":{"incidentId":"abc","source":"sentinel"}}"#;

#[test]
fn no_single_byte_change_of_the_contract_vector_verifies_exhaustively() {
    let s = secret(VECTOR_SECRET);
    let now: i64 = VECTOR_TS.parse().unwrap();
    let sig = cf::sign(VECTOR_SECRET, VECTOR_TS, VECTOR_BODY.as_bytes());
    let check = |sig: &[u8], ts: &[u8], body: &[u8]| {
        cf::verify(Some(sig), Some(ts), body, &[&s], now, u64::MAX)
    };
    let mac = check(sig.as_bytes(), VECTOR_TS.as_bytes(), VECTOR_BODY.as_bytes())
        .expect("the vector verifies");
    let mut tried = 0usize;
    for changed in all_mutations(sig.as_bytes()) {
        tried += 1;
        // A change of the prefix's or a hex digit's case is the same MAC (CONTRACT §8.1).
        let same_mac = cf::decode_signature(&changed) == Some(mac);
        assert!(
            check(&changed, VECTOR_TS.as_bytes(), VECTOR_BODY.as_bytes()).is_err() || same_mac,
            "signature {:?} accepted",
            String::from_utf8_lossy(&changed)
        );
    }
    for changed in all_mutations(VECTOR_TS.as_bytes()) {
        tried += 1;
        assert!(
            check(sig.as_bytes(), &changed, VECTOR_BODY.as_bytes()).is_err(),
            "timestamp {:?} accepted",
            String::from_utf8_lossy(&changed)
        );
    }
    for changed in all_mutations(VECTOR_BODY.as_bytes()) {
        tried += 1;
        assert!(
            check(sig.as_bytes(), VECTOR_TS.as_bytes(), &changed).is_err(),
            "body {:?} accepted",
            String::from_utf8_lossy(&changed)
        );
    }
    // 71-byte signature, 10-digit timestamp, 172-byte body: 255·n flips, 256·(n+1) inserts, n deletes.
    let expected: usize = [sig.len(), VECTOR_TS.len(), VECTOR_BODY.len()]
        .iter()
        .map(|n| 255 * n + 256 * (n + 1) + n)
        .sum();
    assert_eq!(tried, expected);
}
