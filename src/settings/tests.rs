//! Settings as a whole: defaults, readiness, unresolved references and malformed values.

use super::*;

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn full() -> Vec<(&'static str, &'static str)> {
    vec![
        ("CF_WEBHOOK_SECRET", "s"),
        ("HALO_AUTH_URL", "https://x.halopsa.com/auth/"),
        ("HALO_API_BASE_URL", "https://x.halopsa.com/api"),
        ("HALO_CLIENT_ID", "id"),
        ("HALO_CLIENT_SECRET", "secret"),
        ("HALO_DEFAULT_TICKETTYPE_ID", "25"),
        ("HALO_DEFAULT_CLIENT_ID", "1"),
        ("HALO_WEBHOOK_SECRET", "h"),
        (
            "CF_API_BASE_URL",
            "https://prod.platform.contraforce.com/api/v2",
        ),
        ("CF_SERVICE_ACCOUNT_CLIENT_ID", "cid"),
        ("CF_SERVICE_ACCOUNT_CLIENT_SECRET", "csecret"),
        ("CF_WORKSPACE_ID", "ws"),
        ("HALO_CLOSED_STATUS_ID", "9, 10"),
    ]
}

#[test]
fn an_empty_environment_leaves_both_functions_unconfigured_with_defaults() {
    let s = Settings::from_vars(&HashMap::new()).unwrap();
    assert_eq!(s.port, 3000);
    assert_eq!(s.max_body_bytes, 1_048_576);
    assert_eq!(s.request_deadline, Duration::from_secs(20));
    assert_eq!(
        s.halo_rate_limit,
        RateLimit {
            calls: 300,
            per: Duration::from_secs(300)
        }
    );
    let missing = s.cf_to_halo.unwrap_err();
    assert_eq!(missing[0], "CF_WEBHOOK_SECRET");
    assert!(missing.contains(&"HALO_DEFAULT_CLIENT_ID".to_string()));
    assert!(
        s.halo_to_cf
            .unwrap_err()
            .contains(&"HALO_CLOSED_STATUS_ID".to_string())
    );
}

#[test]
fn a_full_environment_configures_both_functions() {
    let s = Settings::from_vars(&vars(&full())).unwrap();
    let halo = s.halo.unwrap();
    assert_eq!(halo.auth_url, "https://x.halopsa.com/auth");
    let cf = s.cf_to_halo.unwrap();
    assert_eq!(cf.mapping.priority_for("HIGH"), 1);
    assert_eq!(cf.mapping.priority_for("weird"), 3);
    assert_eq!(cf.note_outcome, NoteOutcome::Name("Private Note".into()));
    assert_eq!(s.halo_to_cf.unwrap().closed_status_ids, vec![9, 10]);
}

#[test]
fn unresolved_key_vault_references_count_as_missing_and_are_reported() {
    let mut v = vars(&full());
    v.insert(
        "CF_WEBHOOK_SECRET".into(),
        "@Microsoft.KeyVault(SecretUri=https://v/secrets/x)".into(),
    );
    let s = Settings::from_vars(&v).unwrap();
    assert_eq!(
        s.cf_to_halo.unwrap_err(),
        vec!["CF_WEBHOOK_SECRET".to_string()]
    );
    assert!(s.halo_to_cf.is_ok(), "the other function keeps working");
    assert_eq!(
        s.unresolved_key_vault_refs,
        vec!["CF_WEBHOOK_SECRET".to_string()]
    );
}

#[test]
fn malformed_values_name_the_setting() {
    for (name, value, needle) in [
        ("HALO_DEFAULT_CLIENT_ID", "abc", "whole number"),
        ("HALO_PRIORITY_MAP", "High=1,Medium", "key=id"),
        ("HALO_PRIORITY_MAP", "High=1", "Low entry"),
        ("HALO_CLIENT_MAP", "acc=x", "whole number"),
        ("HALO_CLOSED_STATUS_ID", "9,x", "whole number"),
        ("HALO_RATE_LIMIT", "300", "calls/seconds"),
        ("HALO_API_BASE_URL", "halo.example.com", "URL"),
        ("STATE_STORE", "redis", "memory or blob"),
        ("LOG_FORMAT", "xml", "text or json"),
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "70000", "port"),
        ("CF_TEST_EVENTS", "maybe", "ack or create"),
        ("CF_API_ROUTES", "both", "auto, source or workspace"),
        ("CF_WORKSPACE_MAP", "acct-a", "key=value"),
        ("CF_WORKSPACE_MAP", "=ws", "empty key"),
        ("CF_WORKSPACE_MAP", "acct-a=", "empty value"),
    ] {
        let mut v = vars(&full());
        v.insert(name.into(), value.into());
        let err = Settings::from_vars(&v).unwrap_err();
        assert_eq!(err.name, name);
        assert!(err.to_string().contains(needle), "{err}");
    }
}

#[test]
fn a_blob_store_without_an_endpoint_is_refused_and_with_one_accepted() {
    let mut v = vars(&full());
    v.insert("STATE_STORE".into(), "blob".into());
    let err = Settings::from_vars(&v).unwrap_err();
    assert_eq!(err.name, "STATE_STORE");
    assert!(err.problem.contains("STATE_BLOB_URL"), "{err}");
    v.insert("AzureWebJobsStorage__accountName".into(), "acct".into());
    assert_eq!(Settings::from_vars(&v).unwrap().state.kind, StateKind::Blob);
}

#[test]
fn numeric_note_outcome_is_an_id() {
    let mut v = vars(&full());
    v.insert("HALO_PRIVATE_NOTE_OUTCOME".into(), "7".into());
    let s = Settings::from_vars(&v).unwrap();
    assert_eq!(s.cf_to_halo.unwrap().note_outcome, NoteOutcome::Id(7));
}

#[test]
fn signing_secret_alone_configures_halo_to_cf() {
    let mut v = vars(&full());
    v.remove("HALO_WEBHOOK_SECRET");
    v.insert("HALO_WEBHOOK_SIGNING_SECRET".into(), "sign".into());
    v.insert("HALO_WEBHOOK_SECRET_PREVIOUS".into(), "old".into());
    let s = Settings::from_vars(&v).unwrap();
    assert!(s.halo_to_cf.is_ok());
    assert!(s.secret_env.contains_key("HALO_WEBHOOK_SIGNING_SECRET"));
    assert!(!s.secret_env.contains_key("HALO_WEBHOOK_SECRET"));
}

#[test]
fn with_key_vault_absent_secrets_are_left_to_request_time() {
    let mut v = vars(&full());
    for name in crate::secrets::SECRET_SETTINGS {
        v.remove(name);
    }
    assert!(Settings::from_vars(&v).unwrap().cf_to_halo.is_err());
    v.insert(
        "KEY_VAULT_URI".into(),
        "https://kv-bridge.vault.azure.net/".into(),
    );
    v.insert("CF_WEBHOOK_SECRET".into(), "from-env".into());
    let s = Settings::from_vars(&v).unwrap();
    assert!(s.cf_to_halo.is_ok() && s.halo_to_cf.is_ok());
    assert_eq!(
        s.key_vault.unwrap().uri,
        "https://kv-bridge.vault.azure.net"
    );
    assert_eq!(
        s.secret_env.keys().collect::<Vec<_>>(),
        vec![&"CF_WEBHOOK_SECRET"]
    );
    v.insert("KEY_VAULT_URI".into(), "http://kv".into());
    assert_eq!(Settings::from_vars(&v).unwrap_err().name, "KEY_VAULT_URI");
}

#[test]
fn the_contraforce_api_settings_and_the_workspace_of_each_account() {
    let s = Settings::from_vars(&vars(&full())).unwrap();
    let cf = s.halo_to_cf.unwrap().cf;
    assert_eq!(cf.routes, ApiRoutes::Auto);
    assert_eq!(cf.workspace_for(Some("anyone")), Some("ws"));

    let mut v = vars(&full());
    v.remove("CF_WORKSPACE_ID");
    assert_eq!(
        Settings::from_vars(&v).unwrap().halo_to_cf.unwrap_err(),
        vec!["CF_WORKSPACE_ID".to_string()]
    );
    v.insert(
        "CF_WORKSPACE_MAP".into(),
        " acct-a = ws-a , acct-b=ws-b ".into(),
    );
    v.insert(
        "HALO_CLIENT_MAP".into(),
        "acct-a=5,acct-b=6,acct-c=6".into(),
    );
    v.insert("CF_API_ROUTES".into(), "Workspace".into());
    let cf = Settings::from_vars(&v).unwrap().halo_to_cf.unwrap().cf;
    assert_eq!(cf.routes, ApiRoutes::Workspace);
    assert_eq!(cf.workspace_for(Some("acct-b")), Some("ws-b"));
    assert_eq!(
        cf.workspace_for(Some("acct-z")),
        None,
        "no default workspace"
    );
    assert_eq!(cf.workspace_for(None), None);
    assert_eq!(cf.account_for_client(5), Some("acct-a"));
    assert_eq!(cf.account_for_client(6), None, "two accounts: no guess");
    assert_eq!(cf.account_for_client(7), None);
}
