//! Properties of the settings: no value of any known setting makes start-up panic.

use std::collections::HashMap;

use cf_halo_bridge::settings::Settings;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use crate::properties::config;

/// The setting names of `local.settings.json.example` plus the port the host sets.
fn setting_names() -> Vec<String> {
    let example: Value = serde_json::from_str(
        &std::fs::read_to_string("local.settings.json.example").expect("example settings"),
    )
    .expect("example settings are JSON");
    let mut names: Vec<String> = example["Values"]
        .as_object()
        .expect("a Values object")
        .keys()
        .cloned()
        .collect();
    for extra in [
        "FUNCTIONS_CUSTOMHANDLER_PORT",
        "AzureWebJobsStorage__blobServiceUri",
        "AzureWebJobsStorage__accountName",
    ] {
        if !names.iter().any(|n| n == extra) {
            names.push(extra.to_string());
        }
    }
    names.sort();
    names
}

/// A complete, valid environment: both functions configured.
fn valid_env() -> HashMap<String, String> {
    [
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "3000"),
        ("CF_WEBHOOK_SECRET", "whsec_x"),
        ("HALO_AUTH_URL", "http://127.0.0.1:9/auth"),
        ("HALO_API_BASE_URL", "http://127.0.0.1:9/api"),
        ("HALO_CLIENT_ID", "client"),
        ("HALO_CLIENT_SECRET", "secret"),
        ("HALO_DEFAULT_TICKETTYPE_ID", "25"),
        ("HALO_DEFAULT_CLIENT_ID", "1"),
        ("HALO_CLOSED_STATUS_ID", "9,10"),
        ("HALO_WEBHOOK_SECRET", "shared"),
        ("CF_API_BASE_URL", "http://127.0.0.1:9/api/v2"),
        ("CF_SERVICE_ACCOUNT_CLIENT_ID", "cf-client"),
        ("CF_SERVICE_ACCOUNT_CLIENT_SECRET", "cf-secret"),
        ("CF_WORKSPACE_ID", "ws"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Setting values: anything, and the near-misses a parser is most likely to trip on.
fn setting_value() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => any::<String>(),
        1 => "[0-9]{0,25}",
        1 => "-?[0-9]{1,5}(,[0-9 ]{0,4}){0,3},?",
        1 => "([a-zA-Z ]{0,6}=?[0-9a-z ]{0,6},?){0,4}",
        1 => "[0-9]{0,12}/[0-9]{0,12}",
        1 => "(https?://)?[a-z0-9./: ]{0,20}",
        1 => "@Microsoft\\.KeyVault\\(.{0,20}",
        1 => prop::sample::select(vec![
            "", " ", "0", "65535", "65536", "18446744073709551616", "text", "JSON", "blob",
            "memory", "ack", "create", "Low=3", "0/0", "1000000/1", "{title}{", "{", "}",
            "https://", "http:///x", "-1", "9,,10", ",", "=", "a=", "=1",
        ])
        .prop_map(str::to_string),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn settings_never_panic_on_arbitrary_values_of_known_names(
        picks in prop::collection::vec((any::<Index>(), setting_value()), 0..40),
    ) {
        let names = setting_names();
        let vars: HashMap<String, String> = picks
            .into_iter()
            .map(|(i, v)| (i.get(&names).clone(), v))
            .collect();
        if let Err(e) = Settings::from_vars(&vars) {
            prop_assert!(names.contains(&e.name), "error names an unknown setting: {}", e);
            prop_assert!(!e.to_string().contains('\n'), "not one line: {}", e);
        }
    }

    #[test]
    fn settings_never_panic_when_a_valid_environment_gets_odd_values(
        picks in prop::collection::vec((any::<Index>(), setting_value()), 1..4),
    ) {
        let names = setting_names();
        let mut vars = valid_env();
        for (i, v) in picks {
            vars.insert(i.get(&names).clone(), v);
        }
        if let Err(e) = Settings::from_vars(&vars) {
            prop_assert!(names.contains(&e.name), "error names an unknown setting: {}", e);
            prop_assert!(!e.to_string().contains('\n'), "not one line: {}", e);
        }
    }
}

#[test]
fn the_valid_environment_used_above_is_accepted() {
    // Otherwise the second property would only ever test the error path.
    let settings = Settings::from_vars(&valid_env()).expect("valid settings");
    assert!(settings.cf_to_halo.is_ok());
    assert!(settings.halo_to_cf.is_ok());
}

#[test]
fn settings_never_panic_on_extreme_values_of_any_known_name() {
    // The random properties above find overflow only by luck; this tries every name with
    // every boundary value, one at a time, on top of a valid environment.
    let extremes = [
        "18446744073709551615",
        "18446744073709551616",
        "9223372036854775807",
        "213503982334602",
        "4294967296",
        "65536",
        "-1",
        "0",
        "4294967295/18446744073709551615",
        "18446744073709551615/1",
        "Low=18446744073709551615",
        "a=18446744073709551616,Low=1",
        "18446744073709551615,18446744073709551615",
    ];
    let mut panics = Vec::new();
    for name in setting_names() {
        for value in extremes {
            let mut vars = valid_env();
            vars.insert(name.clone(), value.to_string());
            if std::panic::catch_unwind(|| Settings::from_vars(&vars)).is_err() {
                panics.push(format!("{name}={value}"));
            }
        }
    }
    assert!(
        panics.is_empty(),
        "Settings::from_vars panicked for {panics:?}"
    );
}
