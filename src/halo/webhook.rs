//! Halo webhook: authentication before parsing, then the ticket and delivery ids (CONTRACT §4.1–§4.2).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::halo::model::flex_id;

/// Whether `X-Halo-Secret` equals one of the shared secrets, compared in constant time.
pub fn shared_secret_matches(header: Option<&[u8]>, secrets: &[SecretString]) -> bool {
    let Some(header) = header.filter(|h| !h.is_empty()) else {
        return false;
    };
    let mut matched = subtle::Choice::from(0u8);
    for secret in secrets {
        matched |= secret.expose_secret().as_bytes().ct_eq(header);
    }
    bool::from(matched)
}

/// Whether the signature header holds HMAC-SHA256(secret, body): optional `sha256=` prefix,
/// spaces anywhere, base64 or hex.
pub fn signature_matches(header: Option<&[u8]>, body: &[u8], secret: &SecretString) -> bool {
    let Some(text) = header.and_then(|h| std::str::from_utf8(h).ok()) else {
        return false;
    };
    mac_matches(text, body, secret)
}

/// Whether a signature header's text (optional `sha256=` prefix, spaces anywhere, base64 or hex)
/// holds HMAC-SHA256(secret, message).
pub fn mac_matches(header: &str, message: &[u8], secret: &SecretString) -> bool {
    let text = header.trim();
    let text = match text.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("sha256=") => &text[7..],
        _ => text,
    };
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return false;
    }
    // A hex digest is also valid base64 (of the wrong length), so both readings are tried.
    let candidates = [
        hex::decode(&compact).ok(),
        STANDARD
            .decode(&compact)
            .or_else(|_| STANDARD_NO_PAD.decode(&compact))
            .ok(),
    ];
    candidates
        .into_iter()
        .flatten()
        .filter(|d| d.len() == 32)
        .any(|digest| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
                .expect("any key length");
            mac.update(message);
            mac.verify_slice(&digest).is_ok()
        })
}

/// `sha256= <base64>` over the body, as Halo signs (for the sandbox and tests).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256= {}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// What a Halo delivery refers to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delivery {
    /// The ticket, when the payload names one.
    pub ticket_id: Option<u64>,
    /// Halo's per-delivery GUID (a string top-level `id`).
    pub delivery_id: Option<String>,
    /// The event name, for the log.
    pub event: Option<String>,
    /// The `ticket` object the payload carries, as sent.
    pub ticket: Option<serde_json::Map<String, Value>>,
}

/// The body is not a JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("payload is not a JSON object")]
pub struct NotAnObject;

/// Reads an authenticated body.
pub fn parse(body: &[u8]) -> Result<Delivery, NotAnObject> {
    let Ok(Value::Object(root)) = serde_json::from_slice::<Value>(body) else {
        return Err(NotAnObject);
    };
    let envelope = root.contains_key("ticket") || root.contains_key("event");
    let top_id = root.get("id");
    let ticket_id = root
        .get("ticket_id")
        .and_then(flex_id)
        .or_else(|| {
            root.get("ticket")
                .and_then(|t| t.get("id"))
                .and_then(flex_id)
        })
        .or_else(|| {
            envelope
                .then(|| root.get("object_id").and_then(flex_id))
                .flatten()
        })
        .or_else(|| top_id.filter(|v| v.is_number()).and_then(flex_id));
    let delivery_id = top_id
        .and_then(Value::as_str)
        .map(str::to_string)
        .filter(|s| !s.trim().is_empty());
    let event = root
        .get("event")
        .and_then(Value::as_str)
        .map(str::to_string);
    let ticket = root.get("ticket").and_then(Value::as_object).cloned();
    Ok(Delivery {
        ticket_id,
        delivery_id,
        event,
        ticket,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(list: &[&str]) -> Vec<SecretString> {
        list.iter()
            .map(|s| SecretString::from(s.to_string()))
            .collect()
    }

    #[test]
    fn the_shared_secret_accepts_current_and_previous_only() {
        let s = secrets(&["current", "previous"]);
        assert!(shared_secret_matches(Some(b"current"), &s));
        assert!(shared_secret_matches(Some(b"previous"), &s));
        assert!(!shared_secret_matches(Some(b"curren"), &s));
        assert!(!shared_secret_matches(Some(b""), &s));
        assert!(!shared_secret_matches(None, &s));
        assert!(!shared_secret_matches(Some(b"x"), &[]));
    }

    #[test]
    fn the_fixture_signature_verifies_and_mutations_do_not() {
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string("../shared/fixtures/halo-signature-vector.json").unwrap(),
        )
        .unwrap();
        let body = v["body"].as_str().unwrap().as_bytes();
        let header = v["x-signature"].as_str().unwrap();
        let secret = SecretString::from(v["secret"].as_str().unwrap().to_string());
        assert!(signature_matches(Some(header.as_bytes()), body, &secret));
        assert_eq!(sign(v["secret"].as_str().unwrap(), body), header);
        let bare = header.trim_start_matches("sha256=").trim();
        assert!(signature_matches(Some(bare.as_bytes()), body, &secret));
        let hex_form = format!("sha256={}", hex::encode(STANDARD.decode(bare).unwrap()));
        assert!(signature_matches(Some(hex_form.as_bytes()), body, &secret));
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert!(!signature_matches(
            Some(header.as_bytes()),
            &tampered,
            &secret
        ));
        let wrong = SecretString::from("other".to_string());
        assert!(!signature_matches(Some(header.as_bytes()), body, &wrong));
        assert!(!signature_matches(Some(b"sha256="), body, &secret));
        assert!(!signature_matches(None, body, &secret));
    }

    #[test]
    fn ticket_ids_come_from_every_documented_shape() {
        let id = |body: &str| parse(body.as_bytes()).unwrap().ticket_id;
        assert_eq!(id(r#"{"ticket_id": 4242}"#), Some(4242));
        assert_eq!(id(r#"{"ticket_id": "3"}"#), Some(3));
        assert_eq!(id(r#"{"ticket_id": 3.0}"#), Some(3));
        assert_eq!(
            id(r#"{"id":"guid","ticket":{"id":"7"},"object_id":8}"#),
            Some(7)
        );
        assert_eq!(id(r#"{"id":"guid","event":"x","object_id":8.0}"#), Some(8));
        assert_eq!(
            id(r#"{"object_id":8}"#),
            None,
            "object_id alone is not a ticket"
        );
        assert_eq!(id(r#"{"id":12}"#), Some(12));
        assert_eq!(id(r#"{"id":"12"}"#), None, "a string id is the delivery id");
        assert_eq!(id(r#"{"foo":1}"#), None);
        let envelope = std::fs::read("../shared/fixtures/halo-webhook-envelope.json").unwrap();
        let d = parse(&envelope).unwrap();
        assert_eq!(d.ticket_id, Some(4242));
        assert_eq!(
            d.delivery_id.as_deref(),
            Some("8e25bc7b-e07e-4102-9398-5d6647e1e79d")
        );
        assert!(parse(b"[]").is_err());
        assert!(parse(b"nope").is_err());
    }
}
