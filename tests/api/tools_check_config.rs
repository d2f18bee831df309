//! `check-config`, run as the real executable against the sandbox: every configured check
//! passes, what is wrong fails with the reason, and the blob store is reached.

use cf_halo_bridge::sandbox::Sandbox;

use crate::helpers::free_port;
use crate::tools::{Capture, run, sandbox_env, stderr, stdout};

/// `(status, check name)` of each check line.
fn check_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| l.starts_with("PASS") || l.starts_with("FAIL") || l.starts_with("SKIP"))
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
    let sandbox = Sandbox::start().await.unwrap();
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
    let sandbox = Sandbox::start().await.unwrap();
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
    assert_eq!(lines.len(), 13, "one line per check:\n{text}");
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
    let sandbox = Sandbox::start().await.unwrap();
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
    let sandbox = Sandbox::start().await.unwrap();
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
    let sandbox = Sandbox::start().await.unwrap();
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
