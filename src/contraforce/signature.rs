//! The ContraForce webhook signature (CONTRACT §3.2, §8.1): HMAC-SHA256 over
//! `"{X-CF-Timestamp}." ‖ raw body`. Both documented generations verify: `sha256=<hex>` over Unix
//! seconds (the samples) and base64 over an RFC 3339 timestamp (docs.contraforce.com today).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, Mac as _};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Why a signature was not accepted (logged; the caller only ever sees 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// `X-CF-Signature` or `X-CF-Timestamp` absent, empty or repeated.
    #[error("signature or timestamp header missing")]
    MissingHeader,
    /// The timestamp is neither Unix seconds nor an RFC 3339 date-time.
    #[error("timestamp is neither unix seconds nor an RFC 3339 date-time")]
    BadTimestamp,
    /// The timestamp is outside the allowed skew.
    #[error("timestamp outside the allowed skew")]
    Skew,
    /// The signature is not a 32-byte MAC in hex or base64.
    #[error("signature is not a hex or base64 HMAC-SHA256")]
    BadEncoding,
    /// No configured secret produces this signature.
    #[error("signature mismatch")]
    Mismatch,
    /// `CF_WEBHOOK_AUTHORIZATION` is set and the `Authorization` header differs.
    #[error("authorization header mismatch")]
    Authorization,
}

/// A verified HMAC-SHA256: what the replay ledger remembers (CONTRACT §8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mac([u8; 32]);

impl Mac {
    /// Lowercase hex, whatever encoding the header used.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

fn hmac(secret: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// `sha256=` + lowercase hex HMAC-SHA256(secret, "{timestamp}." ‖ body), as the samples sign.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac(secret, timestamp, body)))
}

/// Base64 HMAC-SHA256(secret, "{timestamp}." ‖ body), as docs.contraforce.com signs.
pub fn sign_base64(secret: &str, timestamp: &str, body: &[u8]) -> String {
    STANDARD.encode(hmac(secret, timestamp, body))
}

/// The MAC an `X-CF-Signature` carries: an optional `sha256=` prefix (any case), then 64 hex
/// digits (any case) or base64 (padding optional).
pub fn decode_signature(header: &[u8]) -> Option<Mac> {
    let text = std::str::from_utf8(header).ok()?;
    let text = match text.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("sha256=") => &text[7..],
        _ => text,
    };
    let bytes = if text.len() == 64 {
        hex::decode(text).ok()?
    } else if text.ends_with('=') {
        STANDARD.decode(text).ok()?
    } else {
        STANDARD_NO_PAD.decode(text).ok()?
    };
    bytes.try_into().ok().map(Mac)
}

/// Unix seconds of an `X-CF-Timestamp`: ASCII digits, or an RFC 3339 date-time with `Z` or an
/// offset. Nothing else: the signed text is the header as sent, so `+1` or ` 1` must not
/// verify against a signature made over `1`.
pub fn parse_timestamp(header: &[u8]) -> Option<i64> {
    if header.iter().all(u8::is_ascii_digit) {
        if header.len() > 18 {
            return None;
        }
        return std::str::from_utf8(header).ok()?.parse().ok();
    }
    let text = std::str::from_utf8(header).ok()?;
    let instant =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(instant.unix_timestamp())
}

/// Checks `X-CF-Signature` against every secret (current, then previous) in constant time and
/// returns the MAC that matched.
///
/// `signature` and `timestamp` are the raw header bytes; `now` is Unix seconds.
pub fn verify(
    signature: Option<&[u8]>,
    timestamp: Option<&[u8]>,
    body: &[u8],
    secrets: &[&SecretString],
    now: i64,
    max_skew_seconds: u64,
) -> Result<Mac, SignatureError> {
    let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
        return Err(SignatureError::MissingHeader);
    };
    if signature.is_empty() || timestamp.is_empty() {
        return Err(SignatureError::MissingHeader);
    }
    let ts = parse_timestamp(timestamp).ok_or(SignatureError::BadTimestamp)?;
    if now.abs_diff(ts) > max_skew_seconds {
        return Err(SignatureError::Skew);
    }
    let given = decode_signature(signature).ok_or(SignatureError::BadEncoding)?;
    // parse_timestamp only accepts UTF-8.
    let ts_text = std::str::from_utf8(timestamp).map_err(|_| SignatureError::BadTimestamp)?;
    let mut matched = subtle::Choice::from(0u8);
    for secret in secrets {
        matched |= hmac(secret.expose_secret(), ts_text, body).ct_eq(&given.0);
    }
    if bool::from(matched) {
        Ok(given)
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const VECTOR_BODY: &str = r#"{"type":"incident.created.v1","timestamp":"2026-04-22T15:00:00Z","isTest":false,"occurredAt":"2026-04-22T14:55:00Z","data":{"incidentId":"abc","source":"sentinel"}}"#;
    const VECTOR_SIG: &str =
        "sha256=f0f608dae5d989651fce33dd3a3dc2b6bf6964c11876a5e87f1bd7a38abeefea";
    const VECTOR_TS: i64 = 1_776_870_000;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    fn check(
        sig: &str,
        ts: &str,
        now: i64,
        secrets: &[&SecretString],
    ) -> Result<(), SignatureError> {
        verify(
            Some(sig.as_bytes()),
            Some(ts.as_bytes()),
            VECTOR_BODY.as_bytes(),
            secrets,
            now,
            300,
        )
        .map(drop)
    }

    #[test]
    fn the_contract_test_vector_signs_and_verifies() {
        assert_eq!(
            sign("whsec_example_secret", "1776870000", VECTOR_BODY.as_bytes()),
            VECTOR_SIG
        );
        let s = secret("whsec_example_secret");
        assert_eq!(check(VECTOR_SIG, "1776870000", VECTOR_TS, &[&s]), Ok(()));
    }

    #[test]
    fn skew_of_300_seconds_is_accepted_and_301_rejected_in_both_directions() {
        let s = secret("whsec_example_secret");
        for now in [VECTOR_TS - 300, VECTOR_TS + 300] {
            assert_eq!(check(VECTOR_SIG, "1776870000", now, &[&s]), Ok(()));
        }
        for now in [VECTOR_TS - 301, VECTOR_TS + 301] {
            assert_eq!(
                check(VECTOR_SIG, "1776870000", now, &[&s]),
                Err(SignatureError::Skew)
            );
        }
    }

    #[test]
    fn the_previous_secret_is_accepted_during_rotation() {
        let current = secret("new-secret");
        let previous = secret("whsec_example_secret");
        assert_eq!(
            check(VECTOR_SIG, "1776870000", VECTOR_TS, &[&current, &previous]),
            Ok(())
        );
        assert_eq!(
            check(VECTOR_SIG, "1776870000", VECTOR_TS, &[&current]),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_case_and_no_prefix_verify_but_other_shapes_do_not() {
        let s = secret("whsec_example_secret");
        let accepted = [
            VECTOR_SIG.to_string(),
            VECTOR_SIG.to_uppercase(),
            VECTOR_SIG.to_uppercase().replace("SHA256=", "sha256="),
            VECTOR_SIG[7..].to_string(),
            format!("Sha256={}", &VECTOR_SIG[7..]),
        ];
        for sig in &accepted {
            assert_eq!(check(sig, "1776870000", VECTOR_TS, &[&s]), Ok(()), "{sig}");
        }
        for sig in [
            "sha256=",
            "sha256= f0f608dae5d989651fce33dd3a3dc2b6bf6964c11876a5e87f1bd7a38abeefea",
            "sha256=f0f608dae5d989651fce33dd3a3dc2b6bf6964c11876a5e87f1bd7a38abeefe",
            "sha256=f0f608dae5d989651fce33dd3a3dc2b6bf6964c11876a5e87f1bd7a38abeefeaa",
            "sha1=f0f608dae5d989651fce33dd3a3dc2b6bf6964c11876a5e87f1bd7a38abeefea",
            "w78iyOA62WS9WdVeaGPaInYH8Mt4vtM1rQKHoHbG4v==",
            "w78iyOA62WS9WdVeaGPaInYH8Mt4vtM1rQKHoHbG4vU=x",
            "not a signature",
        ] {
            assert_eq!(
                check(sig, "1776870000", VECTOR_TS, &[&s]),
                Err(SignatureError::BadEncoding),
                "{sig}"
            );
        }
    }

    #[test]
    fn malformed_timestamps_and_missing_headers_are_rejected() {
        let s = secret("whsec_example_secret");
        for ts in [
            "+1776870000",
            " 1776870000",
            "1776870000 ",
            "1776870000.5",
            "2026-04-22",
            "2026-04-22T15:00:00",
            "Wed, 22 Apr 2026 15:00:00 GMT",
            "9999999999999999999",
        ] {
            assert_eq!(
                check(VECTOR_SIG, ts, VECTOR_TS, &[&s]),
                Err(SignatureError::BadTimestamp),
                "{ts}"
            );
        }
        assert_eq!(
            check(VECTOR_SIG, "", VECTOR_TS, &[&s]),
            Err(SignatureError::MissingHeader)
        );
        let none = verify(None, Some(b"1"), b"", &[&s], 1, 300);
        assert_eq!(none, Err(SignatureError::MissingHeader));
    }

    /// `../shared/fixtures/cf-signature-vector-iso.json`: base64 over an ISO 8601 timestamp.
    #[test]
    fn the_iso_base64_test_vector_and_its_hex_form_verify() {
        let vector: Value = serde_json::from_str(
            &std::fs::read_to_string("../shared/fixtures/cf-signature-vector-iso.json").unwrap(),
        )
        .unwrap();
        let field = |k: &str| vector[k].as_str().unwrap().to_string();
        let (ts, body) = (field("timestamp"), field("body"));
        let base64 = field("X-CF-Signature (base64, as docs.contraforce.com documents)");
        let hex = field("X-CF-Signature (the same MAC, hex with prefix)");
        assert_eq!(sign_base64(&field("secret"), &ts, body.as_bytes()), base64);
        assert_eq!(sign(&field("secret"), &ts, body.as_bytes()), hex);
        let s = secret(&field("secret"));
        let now = parse_timestamp(ts.as_bytes()).unwrap();
        assert_eq!(now, 1_776_870_000);
        let unpadded = base64.trim_end_matches('=').to_string();
        for sig in [&base64, &hex, &unpadded, &hex[7..].to_uppercase()] {
            let mac = verify(
                Some(sig.as_bytes()),
                Some(ts.as_bytes()),
                body.as_bytes(),
                &[&s],
                now,
                300,
            );
            assert_eq!(mac.map(|m| m.hex()), Ok(hex[7..].to_string()), "{sig}");
        }
        // The signed text is the header as sent: the same instant written another way fails.
        for other in [
            "2026-04-22T15:00:00.000Z",
            "2026-04-22T15:00:00+00:00",
            "1776870000",
        ] {
            assert_eq!(
                verify(
                    Some(base64.as_bytes()),
                    Some(other.as_bytes()),
                    body.as_bytes(),
                    &[&s],
                    now,
                    300
                ),
                Err(SignatureError::Mismatch),
                "{other}"
            );
        }
    }

    #[test]
    fn rfc3339_timestamps_with_offsets_and_fractions_are_read_as_their_instant() {
        for (text, unix) in [
            ("2026-12-01T19:00:00Z", 1_796_151_600),
            ("2026-12-01T19:00:00.123+00:00", 1_796_151_600),
            ("2026-12-01T20:30:00+01:30", 1_796_151_600),
            ("2026-12-01T14:00:00-05:00", 1_796_151_600),
            ("2026-12-01t19:00:00z", 1_796_151_600),
        ] {
            assert_eq!(parse_timestamp(text.as_bytes()), Some(unix), "{text}");
        }
    }

    #[test]
    fn iso_timestamps_301_seconds_off_are_rejected_in_both_directions() {
        let s = secret("k");
        let ts = "2026-12-01T19:00:00.5Z";
        let body = b"{}";
        let sig = sign_base64("k", ts, body);
        let at = 1_796_151_600;
        for (now, expected) in [
            (at - 300, Ok(())),
            (at + 300, Ok(())),
            (at - 301, Err(SignatureError::Skew)),
            (at + 301, Err(SignatureError::Skew)),
        ] {
            let got = verify(
                Some(sig.as_bytes()),
                Some(ts.as_bytes()),
                body,
                &[&s],
                now,
                300,
            );
            assert_eq!(got.map(drop), expected, "now {now}");
        }
    }
}
