//! Every value parser in one place: each takes the setting's name (for the error) and its
//! trimmed, non-empty value.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::{NoteOutcome, RateLimit, SettingsError};

/// A whole number.
pub(super) fn parse_u64(name: &str, value: &str) -> Result<u64, SettingsError> {
    value
        .parse::<u64>()
        .map_err(|_| SettingsError::new(name, format!("expected a whole number, got {value:?}")))
}

/// A TCP port.
pub(super) fn parse_port(name: &str, value: &str) -> Result<u16, SettingsError> {
    value
        .parse::<u16>()
        .map_err(|_| SettingsError::new(name, format!("expected a port number, got {value:?}")))
}

/// An http(s) URL with a host; the trailing slash is dropped.
pub(super) fn parse_url(name: &str, value: &str) -> Result<String, SettingsError> {
    let lower = value.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(host)
            if !host.is_empty()
                && !host.starts_with('/')
                && !value.contains(char::is_whitespace) =>
        {
            Ok(value.trim_end_matches('/').to_string())
        }
        _ => Err(SettingsError::new(name, "expected an http(s) URL")),
    }
}

/// One of a fixed set of lower-case words, compared case-insensitively.
pub(super) fn parse_choice<T: Clone>(
    name: &str,
    value: &str,
    choices: &[(&str, T)],
) -> Result<T, SettingsError> {
    let value = value.to_ascii_lowercase();
    if let Some((_, choice)) = choices.iter().find(|(word, _)| *word == value) {
        return Ok(choice.clone());
    }
    let words: Vec<&str> = choices.iter().map(|(word, _)| *word).collect();
    let expected = match words.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    Err(SettingsError::new(
        name,
        format!("expected {expected}, got {value:?}"),
    ))
}

/// `9` or `9,10`: one or more whole numbers.
pub(super) fn parse_id_list(name: &str, value: &str) -> Result<Vec<u64>, SettingsError> {
    let ids = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_u64(name, s))
        .collect::<Result<Vec<_>, _>>()?;
    if ids.is_empty() {
        return Err(SettingsError::new(
            name,
            "expected one id or a comma list such as 9,10",
        ));
    }
    Ok(ids)
}

/// `key=value,key=value`: both sides trimmed and non-empty; `what` names the value in errors.
fn parse_pairs<'a>(
    name: &str,
    value: &'a str,
    what: &str,
) -> Result<Vec<(&'a str, &'a str)>, SettingsError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (key, v) = pair.split_once('=').ok_or_else(|| {
                SettingsError::new(name, format!("expected key={what} pairs, got {pair:?}"))
            })?;
            let (key, v) = (key.trim(), v.trim());
            if key.is_empty() {
                return Err(SettingsError::new(name, format!("empty key in {pair:?}")));
            }
            Ok((key, v))
        })
        .collect()
}

/// Parses `key=number,key=number`; keys are kept as written.
pub(super) fn parse_number_map(
    name: &str,
    value: &str,
) -> Result<BTreeMap<String, u64>, SettingsError> {
    parse_pairs(name, value, "id")?
        .into_iter()
        .map(|(key, id)| {
            let id = id.parse::<u64>().map_err(|_| {
                SettingsError::new(
                    name,
                    format!("expected a whole number after '=' in \"{key}={id}\""),
                )
            })?;
            Ok((key.to_string(), id))
        })
        .collect()
}

/// Parses `key=text,key=text` (for example account → workspace ids); keys are kept as written.
pub(super) fn parse_text_map(
    name: &str,
    value: &str,
) -> Result<BTreeMap<String, String>, SettingsError> {
    parse_pairs(name, value, "value")?
        .into_iter()
        .map(|(key, v)| {
            if v.is_empty() {
                return Err(SettingsError::new(name, format!("empty value for {key:?}")));
            }
            Ok((key.to_string(), v.to_string()))
        })
        .collect()
}

/// A `severity=id` map with lower-case keys; it must have a `low` entry.
pub(super) fn parse_priority_map(
    name: &str,
    value: &str,
) -> Result<HashMap<String, u64>, SettingsError> {
    let map: HashMap<String, u64> = parse_number_map(name, value)?
        .into_iter()
        .map(|(k, v)| (k.to_lowercase(), v))
        .collect();
    if !map.contains_key("low") {
        return Err(SettingsError::new(
            name,
            "needs a Low entry (used for unknown severities)",
        ));
    }
    Ok(map)
}

/// `calls/seconds`, both above 0.
pub(super) fn parse_rate_limit(name: &str, value: &str) -> Result<RateLimit, SettingsError> {
    let bad = || {
        SettingsError::new(
            name,
            format!("expected calls/seconds such as 300/300, got {value:?}"),
        )
    };
    let (calls, secs) = value.split_once('/').ok_or_else(bad)?;
    let calls = calls.trim().parse::<u32>().map_err(|_| bad())?;
    let secs = secs.trim().parse::<u64>().map_err(|_| bad())?;
    if calls == 0 || secs == 0 {
        return Err(bad());
    }
    Ok(RateLimit {
        calls,
        per: Duration::from_secs(secs),
    })
}

/// A number is an outcome id; anything else an outcome name.
pub(super) fn parse_note_outcome(value: &str) -> NoteOutcome {
    match value.parse::<u64>() {
        Ok(id) => NoteOutcome::Id(id),
        Err(_) => NoteOutcome::Name(value.to_string()),
    }
}

/// An HTTP header name, lower-cased.
pub(super) fn parse_header_name(name: &str, value: &str) -> Result<String, SettingsError> {
    let header = value.to_ascii_lowercase();
    if actix_web::http::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
        return Err(SettingsError::new(name, "not a valid HTTP header name"));
    }
    Ok(header)
}

/// An Azure Blob container name: 3–63 lower-case letters, digits and dashes.
pub(super) fn parse_container_name(name: &str, value: &str) -> Result<String, SettingsError> {
    let valid = (3..=63).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-');
    if !valid {
        return Err(SettingsError::new(
            name,
            "a container name is 3–63 lower-case letters, digits and dashes",
        ));
    }
    Ok(value.to_string())
}
