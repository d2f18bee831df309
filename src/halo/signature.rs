//! Halo's webhook HMAC over signed headers and the body (CONTRACT §11.5): the string each candidate
//! form signs, the check of a live request, and the search over recorded deliveries that tells an
//! operator which form their tenant uses.

use secrecy::SecretString;

use crate::halo::webhook::mac_matches;
use crate::settings::{SignatureForm, SignatureLayout};

/// Headers a proxy may have rewritten, with where their original value may still be found: the
/// Functions front end forwards the caller's host in these.
const HOST_ALIASES: [&str; 4] = [
    "host",
    "x-forwarded-host",
    "disguised-host",
    "x-original-host",
];

/// The string `form` signs, given one value per signed header; `None` when a header is missing.
pub fn signed_message(
    form: &SignatureForm,
    value_of: impl Fn(&str) -> Option<String>,
    body: &[u8],
) -> Option<Vec<u8>> {
    let values: Vec<String> = form
        .headers
        .iter()
        .map(|h| value_of(h))
        .collect::<Option<_>>()?;
    let mut out = Vec::with_capacity(body.len() + 128);
    match form.layout {
        SignatureLayout::Body => {}
        SignatureLayout::Lines | SignatureLayout::SpacedLines => {
            let separator = if form.layout == SignatureLayout::Lines {
                ":"
            } else {
                ": "
            };
            for (name, value) in form.headers.iter().zip(&values) {
                out.extend_from_slice(format!("{name}{separator}{value}\n").as_bytes());
            }
        }
        SignatureLayout::Values => {
            for value in &values {
                out.extend_from_slice(value.as_bytes());
            }
        }
        SignatureLayout::ValueLines => {
            for value in &values {
                out.extend_from_slice(value.as_bytes());
                out.push(b'\n');
            }
        }
        SignatureLayout::Dotted => {
            for value in &values {
                out.extend_from_slice(value.as_bytes());
                out.push(b'.');
            }
        }
    }
    out.extend_from_slice(body);
    Some(out)
}

/// Whether `signature` (the header's text) verifies `body` and the request's headers under `form`.
/// `header` reads a request header by lower-case name. The body's own length stands for
/// `content-length` (a proxy may re-frame the request), and the host may arrive under a
/// forwarding header, so each of those readings is tried.
pub fn request_matches(
    form: &SignatureForm,
    signature: &str,
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
    secret: &SecretString,
) -> bool {
    if form.layout == SignatureLayout::Body {
        return mac_matches(signature, body, secret);
    }
    let hosts: Vec<String> = if form.headers.iter().any(|h| h == "host") {
        HOST_ALIASES.iter().filter_map(|h| header(h)).collect()
    } else {
        vec![String::new()]
    };
    hosts.iter().any(|host| {
        let value_of = |name: &str| match name {
            "content-length" => Some(body.len().to_string()),
            "host" => Some(host.clone()),
            other => header(other),
        };
        signed_message(form, value_of, body).is_some_and(|m| mac_matches(signature, &m, secret))
    })
}

/// A delivery as Halo recorded it (`GET /WebhookEvent`): its headers and body as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedDelivery {
    /// `(lower-case name, value)` of each request header.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: String,
}

impl RecordedDelivery {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    /// Whether the recorded request verifies under `form`, its signature read from `header`.
    /// Recorded headers are exactly what Halo sent, so they are used as they are.
    pub fn verifies(&self, form: &SignatureForm, header: &str, secret: &SecretString) -> bool {
        let Some(signature) = self.header(header) else {
            return false;
        };
        signed_message(form, |name| self.header(name), self.body.as_bytes())
            .is_some_and(|m| mac_matches(&signature, &m, secret))
    }
}

/// Reads `requestheaders` as Halo may write it: a JSON object, a JSON list of `{name,value}` (or
/// `{key,value}`) pairs, or `Name: value` lines.
pub fn parse_recorded_headers(text: &str) -> Vec<(String, String)> {
    let pair = |name: &str, value: &serde_json::Value| {
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        };
        (name.trim().to_ascii_lowercase(), value.trim().to_owned())
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => map.iter().map(|(k, v)| pair(k, v)).collect(),
        Ok(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|item| {
                let name = item.get("name").or_else(|| item.get("key"))?.as_str()?;
                Some(pair(name, item.get("value")?))
            })
            .collect(),
        _ => text
            .lines()
            .filter_map(|line| {
                let (name, value) = line.split_once(':')?;
                Some((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            })
            .filter(|(name, _)| !name.is_empty())
            .collect(),
    }
}

/// The forms to try for a tenant: every layout over the headers its webhook says it signs (when
/// Halo shows them), then over the default list, each form once.
pub fn candidate_forms(configured_headers: &[String]) -> Vec<SignatureForm> {
    let default: Vec<String> = crate::settings::DEFAULT_SIGNED_HEADERS
        .iter()
        .map(|h| (*h).to_owned())
        .collect();
    let mut forms: Vec<SignatureForm> = Vec::new();
    for list in [configured_headers, default.as_slice()] {
        if list.is_empty() {
            continue;
        }
        for form in SignatureForm::candidates(list) {
            if !forms.contains(&form) {
                forms.push(form);
            }
        }
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::halo::webhook::sign;

    fn secret() -> SecretString {
        SecretString::from("s3cret".to_owned())
    }

    fn headers() -> Vec<(String, String)> {
        [
            ("content-length", "13"),
            ("content-type", "application/json"),
            ("host", "bridge.example.net"),
            ("x-halo-date", "2026-12-01T19:00:00Z"),
        ]
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
    }

    fn value(name: &str) -> Option<String> {
        headers()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    #[test]
    fn each_layout_lays_out_the_headers_and_the_body_as_documented() {
        let body = br#"{"id":"a-b"}"#;
        let list: Vec<String> = vec!["content-type".into(), "x-halo-date".into()];
        let message = |layout| {
            let form = SignatureForm::new(layout, &list);
            String::from_utf8(signed_message(&form, value, body).unwrap()).unwrap()
        };
        assert_eq!(message(SignatureLayout::Body), r#"{"id":"a-b"}"#);
        assert_eq!(
            message(SignatureLayout::Lines),
            "content-type:application/json\nx-halo-date:2026-12-01T19:00:00Z\n{\"id\":\"a-b\"}"
        );
        assert_eq!(
            message(SignatureLayout::SpacedLines),
            "content-type: application/json\nx-halo-date: 2026-12-01T19:00:00Z\n{\"id\":\"a-b\"}"
        );
        assert_eq!(
            message(SignatureLayout::Values),
            "application/json2026-12-01T19:00:00Z{\"id\":\"a-b\"}"
        );
        assert_eq!(
            message(SignatureLayout::ValueLines),
            "application/json\n2026-12-01T19:00:00Z\n{\"id\":\"a-b\"}"
        );
        assert_eq!(
            message(SignatureLayout::Dotted),
            "application/json.2026-12-01T19:00:00Z.{\"id\":\"a-b\"}"
        );
        let missing = SignatureForm::new(SignatureLayout::Lines, &["x-absent".to_owned()]);
        assert_eq!(signed_message(&missing, value, body), None);
    }

    #[test]
    fn a_request_verifies_only_under_its_own_form_and_survives_a_proxy() {
        let body = br#"{"id":"a-b"}"#;
        let form = SignatureForm::parse("X", "spaced-lines").unwrap();
        let as_sent = |name: &str| match name {
            "content-length" => Some(body.len().to_string()),
            other => value(other),
        };
        let message = signed_message(&form, as_sent, body).unwrap();
        let signature = sign("s3cret", &message);
        // Behind the Functions front end: the host arrives forwarded, the length is the body's.
        let proxied = |name: &str| match name {
            "host" => Some("127.0.0.1:7071".to_owned()),
            "x-forwarded-host" => value("host"),
            "content-length" => None,
            other => value(other),
        };
        assert!(request_matches(&form, &signature, proxied, body, &secret()));
        for other in SignatureForm::candidates(&form.headers) {
            if other != form {
                assert!(
                    !request_matches(&other, &signature, proxied, body, &secret()),
                    "{other}"
                );
            }
        }
        let mut tampered = body.to_vec();
        tampered[2] ^= 1;
        assert!(!request_matches(
            &form,
            &signature,
            proxied,
            &tampered,
            &secret()
        ));
        let later = |name: &str| match name {
            "x-halo-date" => Some("2026-12-01T19:00:01Z".to_owned()),
            other => proxied(other),
        };
        assert!(!request_matches(&form, &signature, later, body, &secret()));
    }

    #[test]
    fn recorded_headers_are_read_as_json_pairs_or_lines() {
        let lines = parse_recorded_headers("Content-Type: application/json\r\nHost: a:1\r\n");
        assert_eq!(
            lines,
            vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                ("host".to_owned(), "a:1".to_owned())
            ]
        );
        let object = parse_recorded_headers(r#"{"Host":"a:1","X-Multi":["x","y"]}"#);
        assert!(object.contains(&("x-multi".to_owned(), "x, y".to_owned())));
        let pairs =
            parse_recorded_headers(r#"[{"name":"Host","value":"a:1"},{"key":"K","value":2}]"#);
        assert_eq!(pairs[1], ("k".to_owned(), "2".to_owned()));
    }

    #[test]
    fn a_recorded_delivery_names_the_form_that_signed_it() {
        let body = r#"{"id":"x"}"#;
        let form = SignatureForm::parse("X", "dotted:x-halo-date").unwrap();
        let mut recorded = RecordedDelivery {
            headers: headers(),
            body: body.to_owned(),
        };
        let message = signed_message(&form, |n| recorded.header(n), body.as_bytes()).unwrap();
        recorded
            .headers
            .push(("x-signature".to_owned(), sign("s3cret", &message)));
        let verifying: Vec<SignatureForm> = candidate_forms(&["x-halo-date".to_owned()])
            .into_iter()
            .filter(|f| recorded.verifies(f, "x-signature", &secret()))
            .collect();
        assert_eq!(verifying, vec![form]);
        assert_eq!(candidate_forms(&[]).len(), SignatureLayout::ALL.len());
    }
}
