//! Key Vault as a [`SecretSource`]: `SecretClient::get_secret` through the app's managed identity.

use std::sync::Arc;

use async_trait::async_trait;
use azure_core::http::{
    ClientOptions, ExponentialRetryOptions, RetryOptions, StatusCode, Transport,
};
use azure_identity::{ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use secrecy::SecretString;

use super::SecretSource;

/// Secrets of one vault.
pub struct KeyVaultSource {
    client: SecretClient,
}

impl std::fmt::Debug for KeyVaultSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyVaultSource")
    }
}

impl KeyVaultSource {
    /// A source for `vault_uri`, authenticated with the system identity or the user-assigned one
    /// whose client id is given. `transport` replaces the HTTP stack (tests).
    pub fn new(
        vault_uri: &str,
        client_id: Option<String>,
        transport: Option<Transport>,
    ) -> Result<Self, String> {
        let client_options = ClientOptions {
            transport,
            // Fail fast: the refresher tries again on its own schedule.
            retry: RetryOptions::exponential(ExponentialRetryOptions {
                initial_delay: azure_core::time::Duration::milliseconds(200),
                max_retries: 2,
                max_total_elapsed: azure_core::time::Duration::seconds(5),
                max_delay: azure_core::time::Duration::seconds(2),
            }),
            ..ClientOptions::default()
        };
        let credential = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
            user_assigned_id: client_id.map(UserAssignedId::ClientId),
            client_options: client_options.clone(),
        }))
        .map_err(|e| format!("managed identity: {e}"))?;
        let client = SecretClient::new(
            vault_uri,
            credential,
            Some(SecretClientOptions {
                client_options,
                ..Default::default()
            }),
        )
        .map_err(|e| format!("key vault client: {e}"))?;
        Ok(Self { client })
    }

    /// As a shareable source.
    pub fn into_source(self) -> Arc<dyn SecretSource> {
        Arc::new(self)
    }
}

#[async_trait]
impl SecretSource for KeyVaultSource {
    async fn fetch(&self, name: &str) -> Result<Option<SecretString>, String> {
        match self.client.get_secret(name, None).await {
            Ok(response) => {
                let secret = response
                    .into_model()
                    .map_err(|e| format!("secret {name}: {e}"))?;
                Ok(secret
                    .value
                    .filter(|v| !v.is_empty())
                    .map(SecretString::from))
            }
            Err(e) if e.http_status() == Some(StatusCode::NotFound) => Ok(None),
            // The message names the status, never a value.
            Err(e) => Err(format!(
                "secret {name}: {}",
                e.http_status()
                    .map_or_else(|| e.to_string(), |s| s.to_string())
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use azure_core::http::headers::{HeaderName, Headers};
    use azure_core::http::{AsyncRawResponse, HttpClient, Request};
    use secrecy::ExposeSecret;

    use super::*;
    use crate::secrets::{Lookup, Secrets};

    const VAULT: &str = "https://cfhalo-test.vault.azure.net/";
    const IDENTITY_ENDPOINT: &str = "http://identity.local/msi/token";
    const IDENTITY_HEADER: &str = "identity-header-value";

    /// Plays the App Service identity endpoint and a Key Vault, with no sockets.
    #[derive(Debug, Default)]
    struct FakeAzure {
        secrets: Mutex<HashMap<String, String>>,
        down: AtomicBool,
        log: Mutex<Vec<String>>,
    }

    fn respond(
        status: StatusCode,
        headers: &[(&'static str, String)],
        body: String,
    ) -> AsyncRawResponse {
        let mut h = Headers::new();
        for (name, value) in headers {
            h.insert(HeaderName::from_static(name), value.clone());
        }
        h.insert(
            HeaderName::from_static("content-type"),
            "application/json".to_string(),
        );
        AsyncRawResponse::from_bytes(status, h, body.into_bytes())
    }

    #[async_trait]
    impl HttpClient for FakeAzure {
        async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
            let url = request.url().clone();
            let auth = request
                .headers()
                .get_optional_string(&HeaderName::from_static("authorization"));
            self.log.lock().unwrap().push(format!(
                "{} {}{}",
                request.method(),
                url.host_str().unwrap_or(""),
                url.path()
            ));
            if self.down.load(Ordering::SeqCst) {
                return Err(azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Io,
                    "connection refused",
                ));
            }
            if url.host_str() == Some("identity.local") {
                let header = request
                    .headers()
                    .get_optional_string(&HeaderName::from_static("x-identity-header"));
                assert_eq!(
                    header.as_deref(),
                    Some(IDENTITY_HEADER),
                    "the identity header is sent"
                );
                assert!(
                    url.query().unwrap_or("").contains("resource=https"),
                    "{url}"
                );
                let expires = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs()
                    + 3600;
                let body = format!(
                    r#"{{"access_token":"kv-token","expires_on":"{expires}","token_type":"Bearer","resource":"https://vault.azure.net"}}"#
                );
                return Ok(respond(StatusCode::Ok, &[], body));
            }
            if auth.as_deref() != Some("Bearer kv-token") {
                // Key Vault's first answer: the challenge naming the resource to get a token for.
                let challenge = r#"Bearer authorization="https://login.microsoftonline.com/tenant-id", resource="https://vault.azure.net""#;
                return Ok(respond(
                    StatusCode::Unauthorized,
                    &[("www-authenticate", challenge.to_string())],
                    "{}".into(),
                ));
            }
            let name = url
                .path()
                .trim_start_matches("/secrets/")
                .trim_end_matches('/')
                .to_string();
            match self.secrets.lock().unwrap().get(&name) {
                Some(value) => {
                    let body = serde_json::json!({"value": value, "id": format!("{VAULT}secrets/{name}/0123"), "attributes": {"enabled": true}});
                    Ok(respond(StatusCode::Ok, &[], body.to_string()))
                }
                None => {
                    let body =
                        r#"{"error":{"code":"SecretNotFound","message":"not found"}}"#.to_string();
                    Ok(respond(StatusCode::NotFound, &[], body))
                }
            }
        }
    }

    fn identity_env() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: set once, before any test here builds a credential; nothing else in the
        // crate reads these variables.
        ONCE.call_once(|| unsafe {
            std::env::set_var("IDENTITY_ENDPOINT", IDENTITY_ENDPOINT);
            std::env::set_var("IDENTITY_HEADER", IDENTITY_HEADER);
        });
    }

    fn secrets_over(fake: &Arc<FakeAzure>) -> Arc<Secrets> {
        identity_env();
        let transport = Transport::new(fake.clone());
        let source = KeyVaultSource::new(VAULT, None, Some(transport))
            .unwrap()
            .into_source();
        Arc::new(Secrets::with_source(HashMap::new(), Some(source)))
    }

    fn value(secrets: &Secrets, name: &str) -> Option<String> {
        match secrets.get(name) {
            Lookup::Value(v) => Some(v.expose_secret().to_string()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn secrets_load_through_the_challenge_the_managed_identity_token_and_the_vault() {
        let fake = Arc::new(FakeAzure::default());
        fake.secrets
            .lock()
            .unwrap()
            .insert("cf-webhook-secret".into(), "whsec_from_vault".into());
        fake.secrets
            .lock()
            .unwrap()
            .insert("halo-client-secret".into(), "halo_from_vault".into());
        let secrets = secrets_over(&fake);
        assert!(matches!(secrets.get("CF_WEBHOOK_SECRET"), Lookup::Loading));
        secrets.refresh().await.unwrap();
        assert_eq!(
            value(&secrets, "CF_WEBHOOK_SECRET").as_deref(),
            Some("whsec_from_vault")
        );
        assert_eq!(
            value(&secrets, "HALO_CLIENT_SECRET").as_deref(),
            Some("halo_from_vault")
        );
        assert!(matches!(
            secrets.get("HALO_WEBHOOK_SIGNING_SECRET"),
            Lookup::Absent
        ));
        let log = fake.log.lock().unwrap().clone();
        // Unauthenticated first (the challenge), then the identity endpoint, then the retry.
        assert_eq!(
            log[..3],
            [
                "GET cfhalo-test.vault.azure.net/secrets/cf-webhook-secret/",
                "GET identity.local/msi/token",
                "GET cfhalo-test.vault.azure.net/secrets/cf-webhook-secret/"
            ],
            "{log:?}"
        );
        assert_eq!(
            log.iter().filter(|l| l.contains("identity.local")).count(),
            1,
            "the token is cached: {log:?}"
        );
    }

    #[tokio::test]
    async fn a_rotated_secret_is_picked_up_on_refresh_with_the_previous_one_beside_it() {
        let fake = Arc::new(FakeAzure::default());
        fake.secrets
            .lock()
            .unwrap()
            .insert("cf-webhook-secret".into(), "v1".into());
        let secrets = secrets_over(&fake);
        secrets.refresh().await.unwrap();
        fake.secrets
            .lock()
            .unwrap()
            .insert("cf-webhook-secret".into(), "v2".into());
        fake.secrets
            .lock()
            .unwrap()
            .insert("cf-webhook-secret-previous".into(), "v1".into());
        secrets.refresh().await.unwrap();
        assert_eq!(value(&secrets, "CF_WEBHOOK_SECRET").as_deref(), Some("v2"));
        assert_eq!(
            value(&secrets, "CF_WEBHOOK_SECRET_PREVIOUS").as_deref(),
            Some("v1")
        );
    }

    #[tokio::test]
    async fn key_vault_down_leaves_secrets_loading_then_they_load_when_it_returns() {
        let fake = Arc::new(FakeAzure::default());
        fake.secrets
            .lock()
            .unwrap()
            .insert("cf-webhook-secret".into(), "v1".into());
        fake.down.store(true, Ordering::SeqCst);
        let secrets = secrets_over(&fake);
        assert!(secrets.refresh().await.is_err());
        assert!(matches!(secrets.get("CF_WEBHOOK_SECRET"), Lookup::Loading));
        fake.down.store(false, Ordering::SeqCst);
        secrets.refresh().await.unwrap();
        assert_eq!(value(&secrets, "CF_WEBHOOK_SECRET").as_deref(), Some("v1"));
    }
}
