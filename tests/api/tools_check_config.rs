//! `check-config`, run as the real executable against the sandbox: every configured check
//! passes, what is wrong fails with the reason, and the blob store is reached.

use crate::helpers::start_sandbox;

use std::collections::HashMap;

use cf_halo_bridge::sandbox::WebhookAuth;
use cf_halo_bridge::settings::SignatureForm;
use serde_json::json;

use crate::helpers::{free_port, spawn_app_with};
use crate::tools::{Capture, run, sandbox_env, stderr, stdout};

/// `(status, check name)` of each check line.
fn check_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| {
            ["PASS", "WARN", "FAIL", "SKIP"]
                .iter()
                .any(|s| l.starts_with(s))
        })
        .map(|l| {
            (
                l[..4].to_string(),
                l[6..].split("  ").next().unwrap().trim().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_passes_every_configured_check_against_the_sandbox() {
    let sandbox = start_sandbox().await;
    let out = run(&["check-config"], &sandbox_env(&sandbox)).await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    let lines = check_lines(&text);
    let status = |name: &str| {
        lines
            .iter()
            .find(|(_, n)| n == name)
            .map(|(s, _)| s.clone())
            .unwrap_or_else(|| panic!("no {name} line:\n{text}"))
    };
    for name in [
        "settings",
        "CfToHalo settings",
        "HaloToCf settings",
        "Halo token",
        "Halo outcomes",
        "Halo ticket type",
        "Halo priorities",
        "Halo closed statuses",
        "ContraForce API",
    ] {
        assert_eq!(status(name), "PASS", "{name}:\n{text}");
    }
    assert_eq!(status("Key Vault"), "SKIP");
    assert_eq!(status("state store"), "SKIP");
    assert_eq!(
        sandbox.halo.token_requests(),
        1,
        "one token for every check"
    );
    assert_eq!(
        sandbox.cf.count("GET", "/api/v2/workspaces"),
        1,
        "one ContraForce probe"
    );
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_fails_what_is_wrong_and_says_why() {
    let sandbox = start_sandbox().await;
    let refusing_cf = Capture::start(401).await;
    let mut env = sandbox_env(&sandbox);
    env.insert("HALO_PRIVATE_NOTE_OUTCOME".into(), "Internal Note".into());
    env.insert("HALO_DEFAULT_TICKETTYPE_ID".into(), "31".into());
    env.insert("CF_API_BASE_URL".into(), refusing_cf.url.clone());
    env.insert(
        "KEY_VAULT_URI".into(),
        format!("https://127.0.0.1:{}", free_port()),
    );
    env.remove("HALO_WEBHOOK_SECRET");
    let out = run(&["check-config"], &env).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let lines = check_lines(&text);
    let line = |name: &str| {
        text.lines()
            .find(|l| l.get(6..).is_some_and(|rest| rest.starts_with(name)))
            .unwrap_or_else(|| panic!("no {name} line:\n{text}"))
            .to_string()
    };
    assert!(line("Halo outcomes").starts_with("FAIL"), "{text}");
    assert!(line("Halo outcomes").contains("Internal Note"), "{text}");
    assert!(line("Halo ticket type").starts_with("FAIL"), "{text}");
    assert!(line("Key Vault").starts_with("FAIL"), "{text}");
    // A secret missing from the environment is expected from Key Vault when it is configured.
    assert!(line("HaloToCf settings").starts_with("PASS"), "{text}");
    assert!(
        line("HaloToCf settings").contains("HALO_WEBHOOK_SECRET expected from Key Vault"),
        "{text}"
    );
    // HaloToCf counts as configured, so its ContraForce credentials are probed (and refused).
    assert!(line("ContraForce API").starts_with("FAIL"), "{text}");
    assert_eq!(lines.len(), 16, "one line per check:\n{text}");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("Halo outcomes"), "{err}");

    // Without Key Vault, a missing secret leaves the function unconfigured: skipped, named.
    let mut no_vault = env.clone();
    no_vault.remove("KEY_VAULT_URI");
    let out = run(&["check-config"], &no_vault).await;
    let text = stdout(&out);
    let h2c = text
        .lines()
        .find(|l| l.contains("HaloToCf settings"))
        .unwrap();
    assert!(
        h2c.starts_with("SKIP") && h2c.contains("missing HALO_WEBHOOK_SECRET"),
        "{text}"
    );
    assert!(text.contains("SKIP  Key Vault"), "{text}");

    // With HaloToCf configured, refused ContraForce credentials fail the probe.
    env.insert("HALO_WEBHOOK_SECRET".into(), "h".into());
    let out = run(&["check-config"], &env).await;
    let text = stdout(&out);
    let cf = text
        .lines()
        .find(|l| l.contains("ContraForce API"))
        .unwrap();
    assert!(cf.starts_with("FAIL") && cf.contains("401"), "{text}");
    assert_eq!(
        refusing_cf.seen()[0].headers["authorization"]
            .split(' ')
            .next(),
        Some("Basic")
    );
    refusing_cf.stop().await;

    // An invalid setting: one FAIL line, one error line, nothing reached.
    env.insert("HALO_DEFAULT_CLIENT_ID".into(), "abc".into());
    sandbox.halo.clear_requests();
    let out = run(&["check-config"], &env).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with("FAIL  settings"),
        "{}",
        stdout(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1);
    assert!(stderr(&out).contains("HALO_DEFAULT_CLIENT_ID"));
    assert_eq!(sandbox.halo.requests().len(), 0);
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_reaches_the_blob_store_through_its_sas_url() {
    let azurite = tokio::task::spawn_blocking(crate::azurite::Azurite::shared)
        .await
        .unwrap();
    let sandbox = start_sandbox().await;
    let mut env = sandbox_env(&sandbox);
    env.insert("STATE_STORE".into(), "blob".into());
    env.insert(
        "STATE_BLOB_URL".into(),
        azurite.container_url(&crate::azurite::Azurite::new_container()),
    );
    let out = run(&["check-config"], &env).await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    let line = text.lines().find(|l| l.contains("state store")).unwrap();
    assert!(
        line.starts_with("PASS") && line.contains("ledger read"),
        "{text}"
    );
    assert!(!line.contains("sig="), "the SAS is printed: {line}");

    // The same store with Azurite gone: the check fails and says where.
    let closed = format!(
        "http://127.0.0.1:{}/devstoreaccount1/gone?sv=2021-12-02&sig=x",
        free_port()
    );
    env.insert("STATE_BLOB_URL".into(), closed);
    let out = run(&["check-config"], &env).await;
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let line = text.lines().find(|l| l.contains("state store")).unwrap();
    assert!(
        line.starts_with("FAIL") && line.contains("/devstoreaccount1/gone"),
        "{text}"
    );
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_probes_every_workspace_and_names_a_problem_code() {
    let sandbox = start_sandbox().await;
    let mut env = sandbox_env(&sandbox);
    let default_ws = sandbox.cf.workspace_id();
    env.insert(
        "CF_WORKSPACE_MAP".into(),
        "acct-a=ws-customer-a,acct-b=ws-customer-b".into(),
    );
    let out = run(&["check-config"], &env).await;
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    let line = |text: &str, name: &str| {
        text.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no {name} line:\n{text}"))
            .to_string()
    };
    let workspaces = line(&text, "ContraForce workspaces");
    assert!(
        workspaces.starts_with("PASS")
            && workspaces
                .contains("2 mapped account(s): acct-a → ws-customer-a, acct-b → ws-customer-b")
            && workspaces.contains(&format!("other accounts → {default_ws}")),
        "{workspaces}"
    );
    assert_eq!(
        sandbox.cf.count("GET", "/api/v2/workspaces"),
        3,
        "one probe per workspace"
    );

    sandbox.cf.push_fault(cf_halo_bridge::sandbox::Fault::on(
        "GET",
        "/api/v2/workspaces/ws-customer-b",
        403,
        r#"{"type":"about:blank","title":"Forbidden","status":403,"detail":"No role on workspace ws-customer-b.","code":"INSUFFICIENT_WORKSPACE_ROLE"}"#,
    ));
    let out = run(&["check-config"], &env).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let api = line(&text, "ContraForce API");
    assert!(
        api.starts_with("FAIL")
            && api.contains("ws-customer-b answered 403: INSUFFICIENT_WORKSPACE_ROLE: No role on workspace ws-customer-b."),
        "{api}"
    );
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_reports_an_inactive_halo_webhook_as_fail() {
    let sandbox = start_sandbox().await;
    let env = sandbox_env(&sandbox);
    let webhook_line = |text: &str| {
        text.lines()
            .find(|l| l.contains("Halo webhook"))
            .unwrap_or_else(|| panic!("no Halo webhook line:\n{text}"))
            .to_string()
    };
    let out = run(&["check-config"], &env).await;
    assert!(
        webhook_line(&stdout(&out)).starts_with("SKIP"),
        "none registered"
    );

    sandbox
        .halo
        .register_webhook("Other integration", "https://elsewhere.example/hook", false);
    let id = sandbox.halo.register_webhook(
        "ContraForce bridge",
        "https://app.azurewebsites.net/api/HaloToCf?code=x",
        true,
    );
    let out = run(&["check-config"], &env).await;
    let line = webhook_line(&stdout(&out));
    assert!(
        line.starts_with("PASS") && line.contains("ContraForce bridge"),
        "{line}"
    );

    sandbox.halo.set_webhook_active(&id, false);
    let out = run(&["check-config"], &env).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = webhook_line(&text);
    assert!(
        line.starts_with("FAIL")
            && line.contains("ContraForce bridge")
            && line.contains("Halo disables a webhook after repeated failed deliveries"),
        "{line}"
    );

    sandbox.halo.set_webhooks_forbidden(true);
    let out = run(&["check-config"], &env).await;
    assert!(webhook_line(&stdout(&out)).starts_with("SKIP"));
    sandbox.stop().await;
}

/// The line of one check.
fn check_line(text: &str, name: &str) -> String {
    text.lines()
        .find(|l| l.get(6..).is_some_and(|rest| rest.starts_with(name)))
        .unwrap_or_else(|| panic!("no {name} line:\n{text}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_passes_the_reference_filter_and_warns_when_halo_ignores_it() {
    let sandbox = start_sandbox().await;
    sandbox.halo.insert_ticket("a printer", None);
    let env = sandbox_env(&sandbox);
    let out = run(&["check-config"], &env).await;
    let text = stdout(&out);
    let line = check_line(&text, "Halo reference lookup");
    assert!(
        line.starts_with("PASS") && line.contains("honours the reference filter"),
        "{text}"
    );
    assert!(
        check_line(&text, "Halo reference field").starts_with("SKIP"),
        "{text}"
    );

    sandbox.halo.set_ignore_reference_filter(true);
    let out = run(&["check-config"], &env).await;
    let text = stdout(&out);
    assert!(out.status.success(), "a warning is not a failure:\n{text}");
    let line = check_line(&text, "Halo reference lookup");
    assert!(
        line.starts_with("WARN")
            && line.contains("ignores ?third_party_id_string=")
            && line.contains("HALO_LOOKUP_MAX_PAGES=10"),
        "{text}"
    );
    assert!(text.contains("1 warned"), "{text}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_in_custom_field_mode_checks_that_listings_return_the_field() {
    let sandbox = start_sandbox().await;
    let mut env = sandbox_env(&sandbox);
    env.insert("HALO_EXTERNAL_REF_FIELD_ID".into(), "251".into());
    let field = |env: &HashMap<String, String>| {
        let env = env.clone();
        async move {
            check_line(
                &stdout(&run(&["check-config"], &env).await),
                "Halo reference field",
            )
        }
    };
    assert!(field(&env).await.starts_with("SKIP"), "no tickets yet");
    let ticket = sandbox.halo.insert_ticket("linked", None);
    sandbox
        .halo
        .set_custom_field(ticket, 251, json!("cf|sentinel|x"));
    let line = field(&env).await;
    assert!(
        line.starts_with("PASS") && line.contains("include_custom_fields=251"),
        "{line}"
    );
    env.insert("HALO_EXTERNAL_REF_FIELD_ID".into(), "252".into());
    let line = field(&env).await;
    assert!(
        line.starts_with("FAIL") && line.contains("HALO_EXTERNAL_REF_FIELD_ID"),
        "{line}"
    );
    let out = run(&["check-config"], &env).await;
    assert!(check_line(&stdout(&out), "Halo reference lookup").starts_with("SKIP"));
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_names_the_signature_form_recent_deliveries_verify_with() {
    let form = SignatureForm::parse("form", "spaced-lines").unwrap();
    let app = spawn_app_with(|env| {
        env.insert(
            "HALO_WEBHOOK_SIGNING_SECRET".into(),
            "halo-signing-secret".into(),
        );
        env.insert("HALO_WEBHOOK_SIGNATURE_FORM".into(), form.to_string());
    })
    .await;
    let url = format!("{}/api/HaloToCf", app.address);
    let hook = app
        .sandbox
        .halo
        .register_webhook("cf-halo-bridge", &url, true);
    app.sandbox
        .halo
        .set_webhook_signing(&hook, "x-signature", &form);
    let mut env = sandbox_env(&app.sandbox);
    env.insert(
        "HALO_WEBHOOK_SIGNING_SECRET".into(),
        "halo-signing-secret".into(),
    );
    let signature = |env: &HashMap<String, String>| {
        let env = env.clone();
        async move {
            let out = run(&["check-config"], &env).await;
            (
                out.status.code(),
                check_line(&stdout(&out), "Halo webhook signature"),
            )
        }
    };
    let (_, line) = signature(&env).await;
    assert!(
        line.starts_with("SKIP") && line.contains("no recent delivery"),
        "{line}"
    );

    let ticket = app.create_ticket(50).await;
    let auth = WebhookAuth::Signed {
        header: "x-signature".into(),
        secret: "halo-signing-secret".into(),
        form: form.clone(),
    };
    for _ in 0..2 {
        let sent = app
            .sandbox
            .halo
            .send_webhook(&url, ticket, "ticket updated", &auth)
            .await
            .unwrap();
        assert_eq!(sent.status, 200, "{}", sent.body);
    }
    let (code, line) = signature(&env).await;
    assert_eq!(code, Some(1), "{line}");
    assert!(
        line.starts_with("FAIL")
            && line.contains(&format!("set HALO_WEBHOOK_SIGNATURE_FORM={form}")),
        "{line}"
    );
    env.insert("HALO_WEBHOOK_SIGNATURE_FORM".into(), form.to_string());
    let (_, line) = signature(&env).await;
    assert!(
        line.starts_with("PASS") && line.contains("verifies 2 of 2"),
        "{line}"
    );
    env.insert("HALO_WEBHOOK_SIGNING_SECRET".into(), "wrong".into());
    let (_, line) = signature(&env).await;
    assert!(
        line.starts_with("FAIL") && line.contains("none of"),
        "{line}"
    );
}
