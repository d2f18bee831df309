//! Where secret values come from (CONTRACT §6): a non-empty environment variable wins;
//! otherwise, with `KEY_VAULT_URI` set, Key Vault through the app's managed identity — cached,
//! re-read every 5 minutes and after an authentication failure, so a rotated secret takes
//! effect without a restart. Start-up never waits for Key Vault.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use tokio::time::Instant;

pub mod vault;

/// The settings whose values are secrets.
pub const SECRET_SETTINGS: [&str; 8] = [
    "CF_WEBHOOK_SECRET",
    "CF_WEBHOOK_SECRET_PREVIOUS",
    "CF_WEBHOOK_AUTHORIZATION",
    "HALO_CLIENT_SECRET",
    "HALO_WEBHOOK_SECRET",
    "HALO_WEBHOOK_SECRET_PREVIOUS",
    "HALO_WEBHOOK_SIGNING_SECRET",
    "CF_SERVICE_ACCOUNT_CLIENT_SECRET",
];
/// Regular re-read interval.
pub const REFRESH_EVERY: Duration = Duration::from_secs(300);
/// Re-reads triggered by authentication failures are at least this far apart, so forged
/// requests cannot hammer Key Vault.
pub const FORCED_REFRESH_GAP: Duration = Duration::from_secs(30);
/// Longest one secret read may take (the SDK's own transport has no total timeout).
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Retry interval until the first successful read.
const FIRST_LOAD_RETRY: Duration = Duration::from_secs(5);

/// The Key Vault secret name of a setting: lower case, `-` for `_` (`cf-webhook-secret`).
pub fn vault_name(setting: &str) -> String {
    setting.to_ascii_lowercase().replace('_', "-")
}

/// A source of secret values by Key Vault name.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The current value, `None` when the source has no such secret.
    async fn fetch(&self, name: &str) -> Result<Option<SecretString>, String>;
}

/// What is known of one secret right now.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Its value.
    Value(SecretString),
    /// Neither the environment nor the source has it.
    Absent,
    /// The source has not been read yet (or could not be).
    Loading,
}

/// The secret settings one function needs.
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    /// Each must be present.
    pub required: &'static [&'static str],
    /// At least one must be present (reported by the first name).
    pub any_of: &'static [&'static str],
    /// Used when present.
    pub optional: &'static [&'static str],
}

/// Why a function cannot have its secrets right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// Key Vault has not been read yet (or cannot be reached): try again shortly.
    Loading,
    /// Neither the environment nor Key Vault has these.
    Missing(Vec<String>),
}

/// The values of one function's secrets, for one request.
#[derive(Debug, Clone, Default)]
pub struct Resolved(HashMap<&'static str, SecretString>);

impl Resolved {
    /// A value, when present.
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.0.get(name)
    }
}

/// The process's secrets.
pub struct Secrets {
    env: HashMap<&'static str, SecretString>,
    source: Option<Arc<dyn SecretSource>>,
    /// Values read from the source; `None` until the first complete read.
    cache: RwLock<Option<HashMap<&'static str, SecretString>>>,
    last_forced: Mutex<Option<Instant>>,
    reading: tokio::sync::Mutex<()>,
}

impl Secrets {
    /// Secrets from the environment only (no Key Vault).
    pub fn from_env(env: HashMap<&'static str, SecretString>) -> Self {
        Self::with_source(env, None)
    }

    /// Secrets from the environment, then `source` for what the environment lacks.
    pub fn with_source(
        env: HashMap<&'static str, SecretString>,
        source: Option<Arc<dyn SecretSource>>,
    ) -> Self {
        Self {
            env,
            source,
            cache: RwLock::new(None),
            last_forced: Mutex::new(None),
            reading: Default::default(),
        }
    }

    /// Whether values may come from a source (Key Vault).
    pub fn has_source(&self) -> bool {
        self.source.is_some()
    }

    /// The current value of a secret setting.
    pub fn get(&self, name: &str) -> Lookup {
        if let Some(value) = self.env.get(name) {
            return Lookup::Value(value.clone());
        }
        if self.source.is_none() {
            return Lookup::Absent;
        }
        match &*self.cache.read().unwrap_or_else(|p| p.into_inner()) {
            None => Lookup::Loading,
            Some(values) => values
                .get(name)
                .map_or(Lookup::Absent, |v| Lookup::Value(v.clone())),
        }
    }

    /// The value when known, `None` otherwise (absent or still loading).
    pub fn value(&self, name: &str) -> Option<SecretString> {
        match self.get(name) {
            Lookup::Value(v) => Some(v),
            _ => None,
        }
    }

    /// Everything `needs` names, or why not.
    pub fn resolve(&self, needs: &Needs) -> Result<Resolved, Unresolved> {
        let mut values = HashMap::new();
        for name in needs
            .required
            .iter()
            .chain(needs.any_of)
            .chain(needs.optional)
        {
            match self.get(name) {
                Lookup::Value(v) => {
                    values.insert(*name, v);
                }
                Lookup::Loading => return Err(Unresolved::Loading),
                Lookup::Absent => {}
            }
        }
        let mut missing: Vec<String> = needs
            .required
            .iter()
            .filter(|n| !values.contains_key(**n))
            .map(|n| n.to_string())
            .collect();
        if let Some(first) = needs.any_of.first()
            && !needs.any_of.iter().any(|n| values.contains_key(n))
        {
            missing.push(first.to_string());
        }
        if missing.is_empty() {
            Ok(Resolved(values))
        } else {
            Err(Unresolved::Missing(missing))
        }
    }

    /// Reads every secret the environment lacks; the cache is replaced only by a complete read,
    /// so a failing source keeps the last known values.
    pub async fn refresh(&self) -> Result<(), String> {
        let Some(source) = &self.source else {
            return Ok(());
        };
        let _one_reader = self.reading.lock().await;
        let mut values = HashMap::new();
        for name in SECRET_SETTINGS
            .iter()
            .filter(|n| !self.env.contains_key(*n))
        {
            let name_in_vault = vault_name(name);
            let read = tokio::time::timeout(READ_TIMEOUT, source.fetch(&name_in_vault)).await;
            let value = read.map_err(|_| {
                format!("secret {name_in_vault}: no answer within {READ_TIMEOUT:?}")
            })??;
            if let Some(value) = value {
                values.insert(*name, value);
            }
        }
        let count = values.len();
        *self.cache.write().unwrap_or_else(|p| p.into_inner()) = Some(values);
        tracing::info!(secrets = count, "secrets read from key vault");
        Ok(())
    }

    /// Reads the source now and then every 5 minutes (every 5 s until the first success).
    pub fn start(self: &Arc<Self>) {
        if self.source.is_none() {
            return;
        }
        let secrets = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(s) = secrets.upgrade() else { return };
                let wait = match s.refresh().await {
                    Ok(()) => REFRESH_EVERY,
                    Err(e) => {
                        tracing::error!(error = %e, "key vault unreadable; functions that need its secrets answer 503");
                        if s.cache.read().unwrap_or_else(|p| p.into_inner()).is_some() {
                            REFRESH_EVERY
                        } else {
                            FIRST_LOAD_RETRY
                        }
                    }
                };
                drop(s);
                tokio::time::sleep(wait).await;
            }
        });
    }

    /// An upstream or a caller refused a secret: re-read soon (at most once per 30 s), since it
    /// may have been rotated.
    pub fn authentication_failed(self: &Arc<Self>) {
        if self.source.is_none() {
            return;
        }
        {
            let mut last = self.last_forced.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < FORCED_REFRESH_GAP) {
                return;
            }
            *last = Some(Instant::now());
        }
        let secrets = self.clone();
        tokio::spawn(async move {
            if let Err(e) = secrets.refresh().await {
                tracing::warn!(error = %e, "key vault re-read after an authentication failure failed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use secrecy::ExposeSecret;

    use super::*;

    struct Fake {
        values: Mutex<HashMap<String, String>>,
        down: std::sync::atomic::AtomicBool,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl SecretSource for Fake {
        async fn fetch(&self, name: &str) -> Result<Option<SecretString>, String> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err("down".into());
            }
            Ok(self
                .values
                .lock()
                .unwrap()
                .get(name)
                .map(|v| SecretString::from(v.clone())))
        }
    }

    fn fake(pairs: &[(&str, &str)]) -> Arc<Fake> {
        Arc::new(Fake {
            values: Mutex::new(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            down: Default::default(),
            reads: AtomicUsize::new(0),
        })
    }

    fn text(l: Lookup) -> String {
        match l {
            Lookup::Value(v) => v.expose_secret().to_string(),
            Lookup::Absent => "absent".into(),
            Lookup::Loading => "loading".into(),
        }
    }

    #[test]
    fn vault_names_are_lower_case_with_dashes() {
        assert_eq!(
            vault_name("CF_WEBHOOK_SECRET_PREVIOUS"),
            "cf-webhook-secret-previous"
        );
    }

    #[tokio::test]
    async fn values_load_from_the_source_and_the_environment_wins() {
        let source = fake(&[
            ("cf-webhook-secret", "from-vault"),
            ("halo-client-secret", "vault-halo"),
        ]);
        let env = HashMap::from([(
            "HALO_CLIENT_SECRET",
            SecretString::from("from-env".to_string()),
        )]);
        let secrets = Secrets::with_source(env, Some(source.clone()));
        assert_eq!(text(secrets.get("CF_WEBHOOK_SECRET")), "loading");
        assert_eq!(text(secrets.get("HALO_CLIENT_SECRET")), "from-env");
        secrets.refresh().await.unwrap();
        assert_eq!(text(secrets.get("CF_WEBHOOK_SECRET")), "from-vault");
        assert_eq!(text(secrets.get("HALO_CLIENT_SECRET")), "from-env");
        assert_eq!(text(secrets.get("HALO_WEBHOOK_SECRET")), "absent");
        assert_eq!(
            source.reads.load(Ordering::SeqCst),
            SECRET_SETTINGS.len() - 1,
            "the env-provided secret is not read"
        );
    }

    #[tokio::test]
    async fn a_rotation_is_picked_up_and_a_failing_source_keeps_the_last_values() {
        let source = fake(&[("cf-webhook-secret", "v1")]);
        let secrets = Secrets::with_source(HashMap::new(), Some(source.clone()));
        secrets.refresh().await.unwrap();
        source
            .values
            .lock()
            .unwrap()
            .insert("cf-webhook-secret".into(), "v2".into());
        source
            .values
            .lock()
            .unwrap()
            .insert("cf-webhook-secret-previous".into(), "v1".into());
        secrets.refresh().await.unwrap();
        assert_eq!(text(secrets.get("CF_WEBHOOK_SECRET")), "v2");
        assert_eq!(text(secrets.get("CF_WEBHOOK_SECRET_PREVIOUS")), "v1");
        source.down.store(true, Ordering::SeqCst);
        assert!(secrets.refresh().await.is_err());
        assert_eq!(text(secrets.get("CF_WEBHOOK_SECRET")), "v2");
    }

    #[tokio::test(start_paused = true)]
    async fn authentication_failures_re_read_at_most_once_per_30_seconds() {
        let source = fake(&[]);
        let secrets = Arc::new(Secrets::with_source(HashMap::new(), Some(source.clone())));
        for _ in 0..50 {
            secrets.authentication_failed();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            source.reads.load(Ordering::SeqCst),
            SECRET_SETTINGS.len(),
            "one full read for 50 failures"
        );
        tokio::time::advance(FORCED_REFRESH_GAP).await;
        secrets.authentication_failed();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            source.reads.load(Ordering::SeqCst),
            2 * SECRET_SETTINGS.len()
        );
    }

    #[tokio::test]
    async fn a_function_resolves_its_needs_or_says_loading_or_missing() {
        let needs = Needs {
            required: &["CF_WEBHOOK_SECRET"],
            any_of: &["HALO_WEBHOOK_SECRET", "HALO_WEBHOOK_SIGNING_SECRET"],
            optional: &["CF_WEBHOOK_SECRET_PREVIOUS"],
        };
        let source = fake(&[
            ("cf-webhook-secret", "c"),
            ("halo-webhook-signing-secret", "s"),
        ]);
        let secrets = Secrets::with_source(HashMap::new(), Some(source.clone()));
        assert_eq!(secrets.resolve(&needs).unwrap_err(), Unresolved::Loading);
        secrets.refresh().await.unwrap();
        let resolved = secrets.resolve(&needs).unwrap();
        assert!(
            resolved.get("CF_WEBHOOK_SECRET").is_some()
                && resolved.get("CF_WEBHOOK_SECRET_PREVIOUS").is_none()
        );
        source.values.lock().unwrap().clear();
        secrets.refresh().await.unwrap();
        assert_eq!(
            secrets.resolve(&needs).unwrap_err(),
            Unresolved::Missing(vec![
                "CF_WEBHOOK_SECRET".into(),
                "HALO_WEBHOOK_SECRET".into()
            ])
        );
    }

    struct Hung;

    #[async_trait]
    impl SecretSource for Hung {
        async fn fetch(&self, _: &str) -> Result<Option<SecretString>, String> {
            std::future::pending().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_vault_that_never_answers_fails_the_read_instead_of_hanging_it() {
        let secrets = Secrets::with_source(HashMap::new(), Some(Arc::new(Hung)));
        let err = secrets.refresh().await.unwrap_err();
        assert!(err.contains("no answer"), "{err}");
        assert!(matches!(secrets.get("CF_WEBHOOK_SECRET"), Lookup::Loading));
    }

    #[test]
    fn without_a_source_missing_means_absent() {
        let secrets = Secrets::from_env(HashMap::new());
        assert_eq!(text(secrets.get("CF_WEBHOOK_SECRET")), "absent");
    }
}
