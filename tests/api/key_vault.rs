//! Secrets from Key Vault (CONTRACT §6), with a stand-in vault behind the handler. The SDK path
//! itself (challenge, managed-identity token, secret) is tested in `src/secrets/vault.rs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cf_halo_bridge::contraforce::webhook::sign;
use cf_halo_bridge::secrets::{SECRET_SETTINGS, SecretSource, vault_name};
use secrecy::SecretString;
use serde_json::json;

use crate::helpers::*;

/// A vault: values by Key Vault name, an outage switch and a read counter.
#[derive(Default)]
struct Vault {
    values: Mutex<HashMap<String, String>>,
    down: AtomicBool,
    reads: AtomicUsize,
}

impl Vault {
    fn set(&self, setting: &str, value: &str) {
        self.values
            .lock()
            .unwrap()
            .insert(vault_name(setting), value.to_string());
    }
}

#[async_trait]
impl SecretSource for Vault {
    async fn fetch(&self, name: &str) -> Result<Option<SecretString>, String> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err("vault unreachable".into());
        }
        Ok(self
            .values
            .lock()
            .unwrap()
            .get(name)
            .map(|v| SecretString::from(v.clone())))
    }
}

/// A handler whose secrets all live in `vault` (none in the environment).
async fn app_on(
    vault: &Arc<Vault>,
    configure: impl FnOnce(&mut HashMap<String, String>),
) -> TestApp {
    spawn_app_with_secret_source(vault.clone(), |env| {
        for name in SECRET_SETTINGS {
            env.remove(name);
        }
        env.insert(
            "KEY_VAULT_URI".into(),
            "https://kv-bridge-test.vault.azure.net".into(),
        );
        configure(env);
    })
    .await
}

/// A vault holding every secret the sandbox and the test helpers use.
fn full_vault(app_secret_for_halo: &str) -> Arc<Vault> {
    let vault = Arc::new(Vault::default());
    vault.set("CF_WEBHOOK_SECRET", CF_SECRET);
    vault.set("HALO_WEBHOOK_SECRET", HALO_SECRET);
    vault.set("HALO_CLIENT_SECRET", app_secret_for_halo);
    vault.set("CF_SERVICE_ACCOUNT_CLIENT_SECRET", "sandbox-cf-secret");
    vault
}

async fn signed(app: &TestApp, secret: &str, event_id: &str, n: u64) -> u16 {
    let body = serde_json::to_vec(&incident(n)).unwrap();
    let ts = NOW.to_string();
    let headers = [
        ("X-CF-Signature", sign(secret, &ts, &body)),
        ("X-CF-Timestamp", ts),
        ("X-CF-Event-Id", event_id.to_string()),
    ];
    app.post_raw("/api/CfToHalo", &headers, body)
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn every_secret_can_come_from_key_vault() {
    let vault = full_vault("sandbox-halo-secret");
    let app = app_on(&vault, |_| {}).await;
    app.state.secrets.refresh().await.unwrap();
    let ticket = app.create_ticket(1).await; // the Halo token used the vault's client secret
    app.sandbox
        .halo
        .add_agent_note(ticket, "Jane Tech", 3, "hello", false);
    let r = app.post_halo(&json!({"ticket_id": ticket})).await;
    assert_eq!(
        answer(r).await.1["actionsForwarded"],
        1,
        "ContraForce accepted the vault's service account secret"
    );
}

#[tokio::test]
async fn key_vault_down_at_start_makes_the_functions_answer_503_while_the_ping_answers_200() {
    let vault = full_vault("sandbox-halo-secret");
    vault.down.store(true, Ordering::SeqCst);
    let app = app_on(&vault, |_| {}).await;
    let ping = app
        .http
        .get(format!("{}/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 200);
    let r = app.post_cf("evt-1", &incident(1)).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        answer(r).await,
        (503, json!({"error": "secrets unavailable"}))
    );
    let r = app.post_halo(&json!({"ticket_id": 1})).await;
    assert_eq!(
        answer(r).await,
        (503, json!({"error": "secrets unavailable"}))
    );
    assert!(app.sandbox.halo.requests().is_empty());

    vault.down.store(false, Ordering::SeqCst);
    app.state.secrets.refresh().await.unwrap();
    let (status, body) = answer(app.post_cf("evt-1", &incident(1)).await).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("created")));
}

#[tokio::test]
async fn a_secret_in_neither_place_is_not_configured() {
    let vault = full_vault("sandbox-halo-secret");
    vault.values.lock().unwrap().remove("cf-webhook-secret");
    let app = app_on(&vault, |_| {}).await;
    app.state.secrets.refresh().await.unwrap();
    let r = app.post_cf("evt-1", &incident(1)).await;
    assert_eq!(
        answer(r).await,
        (
            503,
            json!({"error": "not configured", "missing": ["CF_WEBHOOK_SECRET"]})
        )
    );
}

#[tokio::test]
async fn a_rotated_secret_takes_effect_without_a_restart_and_both_verify_during_rotation() {
    let vault = full_vault("sandbox-halo-secret");
    vault.set("CF_WEBHOOK_SECRET", "whsec_old");
    let app = app_on(&vault, |_| {}).await;
    app.state.secrets.refresh().await.unwrap();
    assert_eq!(signed(&app, "whsec_old", "evt-1", 1).await, 200);

    // Rotated in Key Vault: the new secret, the old one kept as -previous.
    vault.set("CF_WEBHOOK_SECRET", "whsec_new");
    vault.set("CF_WEBHOOK_SECRET_PREVIOUS", "whsec_old");
    // The first delivery signed with the new secret fails and triggers a re-read.
    assert_eq!(signed(&app, "whsec_new", "evt-2", 2).await, 401);
    let mut status = 401;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        status = signed(&app, "whsec_new", "evt-2", 2).await;
        if status == 200 {
            break;
        }
    }
    assert_eq!(
        status, 200,
        "the new secret was picked up without a restart"
    );
    assert_eq!(
        signed(&app, "whsec_old", "evt-3", 3).await,
        200,
        "the previous one still verifies"
    );
    assert_eq!(signed(&app, "whsec_other", "evt-4", 4).await, 401);
}

#[tokio::test]
async fn forged_deliveries_cannot_hammer_key_vault() {
    let vault = full_vault("sandbox-halo-secret");
    let app = app_on(&vault, |_| {}).await;
    app.state.secrets.refresh().await.unwrap();
    // Let the handler's own first read (started at start-up) finish too.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after_load = vault.reads.load(Ordering::SeqCst);
    for n in 0..40 {
        assert_eq!(signed(&app, "forged", &format!("f-{n}"), n).await, 401);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reads = vault.reads.load(Ordering::SeqCst) - after_load;
    assert!(
        reads <= SECRET_SETTINGS.len(),
        "at most one re-read for 40 forgeries, saw {reads} reads"
    );
}

#[tokio::test]
async fn an_environment_variable_wins_over_key_vault() {
    let vault = full_vault("sandbox-halo-secret");
    vault.set("CF_WEBHOOK_SECRET", "whsec_from_vault");
    let app = app_on(&vault, |env| {
        env.insert("CF_WEBHOOK_SECRET".into(), "whsec_from_env".into());
    })
    .await;
    app.state.secrets.refresh().await.unwrap();
    assert_eq!(signed(&app, "whsec_from_env", "evt-1", 1).await, 200);
    assert_eq!(signed(&app, "whsec_from_vault", "evt-2", 2).await, 401);
}

#[tokio::test]
async fn a_rotated_halo_client_secret_is_used_after_halo_refuses_the_old_one() {
    let vault = full_vault("stale-halo-secret");
    let app = app_on(&vault, |_| {}).await;
    app.state.secrets.refresh().await.unwrap();
    // Let the handler's own first read finish, then rotate in Halo and Key Vault: the
    // handler still holds the old value.
    tokio::time::sleep(Duration::from_millis(200)).await;
    vault.set("HALO_CLIENT_SECRET", "sandbox-halo-secret");
    let first = app.post_cf("evt-1", &incident(1)).await.status();
    assert_eq!(first, 503, "Halo refuses the stale secret");
    let mut status = 503;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        status = app.post_cf("evt-1", &incident(1)).await.status().as_u16();
        if status == 200 {
            break;
        }
    }
    assert_eq!(
        status, 200,
        "re-read after Halo's invalid_client, no restart"
    );
}
