//! What CONTRACT.md says the handler needs: the required, secret and optional settings.

use std::collections::{BTreeMap, BTreeSet};

/// The text of CONTRACT.md.
pub(super) fn contract() -> String {
    std::fs::read_to_string("../shared/spec/CONTRACT.md").expect("../shared/spec/CONTRACT.md")
}

/// The setting names (`UPPER_SNAKE`) quoted in backticks in `text`.
pub(super) fn setting_names(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            w.len() > 3
                && w.contains('_')
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_string)
        .collect()
}

/// The part of `text` from `start` up to `end`.
pub(super) fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("CONTRACT lacks {start:?}"));
    let rest = &text[from..];
    &rest[..rest
        .find(end)
        .unwrap_or_else(|| panic!("CONTRACT lacks {end:?}"))]
}

/// CONTRACT §2 "Required for CfToHalo/HaloToCf".
pub(super) fn required_settings() -> BTreeSet<String> {
    let c = contract();
    let names = setting_names(between(
        &c,
        "Required for CfToHalo:",
        "A function whose required",
    ));
    assert!(
        names.contains("HALO_CLOSED_STATUS_ID") && names.len() >= 14,
        "{names:?}"
    );
    names
}

/// CONTRACT §6: the settings that come from Key Vault, plus the §2 optional rows whose meaning
/// says `secret (Key Vault …)` (e.g. `CF_WEBHOOK_AUTHORIZATION`).
pub(super) fn secret_settings() -> BTreeSet<String> {
    let c = contract();
    let mut names = setting_names(between(
        &c,
        "the secret settings",
        "are read from Key Vault",
    ));
    assert!(
        names.contains("CF_WEBHOOK_SECRET") && names.len() >= 7,
        "{names:?}"
    );
    names.extend(optional_secret_settings());
    names
}

/// CONTRACT §2's optional rows whose meaning starts `secret (Key Vault …)`.
pub(super) fn optional_secret_settings() -> BTreeSet<String> {
    let c = contract();
    let section = between(&c, "Optional, with defaults:", "Malformed values");
    let names: BTreeSet<String> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let meaning = cells.get(3)?;
            meaning
                .starts_with("secret (Key Vault")
                .then(|| setting_names(cells[1]))
        })
        .flatten()
        .collect();
    assert!(names.contains("CF_WEBHOOK_AUTHORIZATION"), "{names:?}");
    names
}

/// CONTRACT §2's optional table: setting → default ("" for none).
pub(super) fn optional_defaults() -> BTreeMap<String, String> {
    let c = contract();
    let section = between(&c, "Optional, with defaults:", "Malformed values");
    let mut out = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let names: Vec<String> = setting_names(cells[1]).into_iter().collect();
        let names: Vec<String> = cells[1]
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|n| names.iter().any(|m| m == n))
            .map(str::to_string)
            .collect();
        let defaults: Vec<String> = if cells[2] == "–" {
            vec![String::new(); names.len()]
        } else if cells[2].contains('`') {
            cells[2]
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect()
        } else {
            vec![cells[2].to_string()]
        };
        assert_eq!(names.len(), defaults.len(), "{row}");
        out.extend(names.into_iter().zip(defaults));
    }
    assert!(out.len() >= 25, "{out:?}");
    out
}

/// The Key Vault secret name of a setting (`CF_WEBHOOK_SECRET` → `cf-webhook-secret`).
pub(super) fn key_vault_name(setting: &str) -> String {
    setting.to_lowercase().replace('_', "-")
}
