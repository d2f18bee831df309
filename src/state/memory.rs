//! The `memory` state store: one process, lost on restart.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::time::Instant;

use super::{Claim, ClaimHolder, Link, StateError, StateStore, TicketSync};
use crate::http::{Deadline, clamp_retry_after};

/// Expired ledger entries are swept once this many entries were added.
const SWEEP_EVERY: usize = 1024;
/// The claim table is pruned of idle keys beyond this size.
const IDLE_CLAIMS_KEPT: usize = 4096;

#[derive(Default)]
struct Ledger {
    entries: HashMap<String, (u64, Instant)>,
    added_since_sweep: usize,
}

impl Ledger {
    fn get(&self, key: &str, ttl: Duration) -> Option<u64> {
        let (value, at) = self.entries.get(key)?;
        (at.elapsed() < ttl).then_some(*value)
    }

    fn insert(&mut self, key: &str, value: u64, ttl: Duration) {
        self.entries
            .insert(key.to_string(), (value, Instant::now()));
        self.added_since_sweep += 1;
        if self.added_since_sweep >= SWEEP_EVERY {
            self.added_since_sweep = 0;
            self.entries.retain(|_, (_, at)| at.elapsed() < ttl);
        }
    }
}

#[derive(Default)]
struct Data {
    events: Ledger,
    deliveries: Ledger,
    /// Signature MAC (its 32 bytes, from the hex the store is given) → the event that first
    /// carried it, and when.
    macs: HashMap<MacKey, (Box<str>, Instant)>,
    macs_added_since_sweep: usize,
    ref_to_ticket: HashMap<String, u64>,
    ticket_to_ref: HashMap<u64, Link>,
    tickets: HashMap<u64, TicketSync>,
    /// Records as compact JSON text: a Value tree per watched ticket would cost ten times more.
    records: HashMap<RecordKey, Box<str>>,
    /// Ordered indexes (`index_put`).
    indexes: HashMap<String, BTreeSet<String>>,
}

/// A MAC as bytes when it is 64 hex digits (always, from the handler), else as given.
#[derive(Clone, PartialEq, Eq, Hash)]
enum MacKey {
    Bytes([u8; 32]),
    Text(Box<str>),
}

impl MacKey {
    fn of(mac: &str) -> MacKey {
        let mut bytes = [0u8; 32];
        match hex::decode_to_slice(mac, &mut bytes) {
            Ok(()) => MacKey::Bytes(bytes),
            Err(_) => MacKey::Text(mac.into()),
        }
    }
}

/// `(kind, key)` of a record.
type RecordKey = (Box<str>, Box<str>);

fn record_key(kind: &str, key: &str) -> RecordKey {
    (kind.into(), key.into())
}

fn text_of(value: &Value) -> Box<str> {
    value.to_string().into_boxed_str()
}

fn value_of(text: &str) -> Value {
    // Only this store writes the text, always from a Value.
    serde_json::from_str(text).unwrap_or(Value::Null)
}

struct Slot {
    lock: Arc<tokio::sync::Mutex<()>>,
    held_until: Mutex<Option<Instant>>,
}

struct MemoryClaim {
    _guard: tokio::sync::OwnedMutexGuard<()>,
    _slot: Arc<Slot>,
}

#[async_trait]
impl ClaimHolder for MemoryClaim {
    async fn release(self: Box<Self>) {
        // Dropping the guard hands the key to the next waiter.
    }
}

/// In-process state; the default for local runs and the demo.
pub struct MemoryStore {
    ttl: Duration,
    data: Mutex<Data>,
    claims: Mutex<HashMap<String, Arc<Slot>>>,
}

impl MemoryStore {
    /// An empty store whose ledger entries live for `ledger_ttl`.
    pub fn new(ledger_ttl: Duration) -> Self {
        Self {
            ttl: ledger_ttl,
            data: Mutex::default(),
            claims: Mutex::default(),
        }
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        // A panic elsewhere must not take the whole store down with a poisoned lock.
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn slot(&self, key: &str) -> Arc<Slot> {
        let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
        if claims.len() > IDLE_CLAIMS_KEPT {
            claims.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        claims
            .entry(key.to_string())
            .or_insert_with(|| {
                Arc::new(Slot {
                    lock: Arc::default(),
                    held_until: Mutex::new(None),
                })
            })
            .clone()
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn processed_event(&self, event_id: &str) -> Result<Option<u64>, StateError> {
        Ok(self.data().events.get(event_id, self.ttl))
    }

    async fn record_event(&self, event_id: &str, ticket_id: u64) -> Result<(), StateError> {
        self.data().events.insert(event_id, ticket_id, self.ttl);
        Ok(())
    }

    async fn delivery_processed(&self, delivery_id: &str) -> Result<bool, StateError> {
        Ok(self.data().deliveries.get(delivery_id, self.ttl).is_some())
    }

    async fn record_delivery(&self, delivery_id: &str) -> Result<(), StateError> {
        self.data().deliveries.insert(delivery_id, 0, self.ttl);
        Ok(())
    }

    async fn ticket_for_reference(&self, reference: &str) -> Result<Option<u64>, StateError> {
        Ok(self.data().ref_to_ticket.get(reference).copied())
    }

    async fn link_for_ticket(&self, ticket_id: u64) -> Result<Option<Link>, StateError> {
        Ok(self.data().ticket_to_ref.get(&ticket_id).cloned())
    }

    async fn link(
        &self,
        reference: &str,
        ticket_id: u64,
        account_id: Option<&str>,
    ) -> Result<u64, StateError> {
        let mut data = self.data();
        let owner = *data
            .ref_to_ticket
            .entry(reference.to_string())
            .or_insert(ticket_id);
        if owner == ticket_id {
            let link = Link {
                reference: reference.to_string(),
                account_id: account_id.map(str::to_string),
            };
            data.ticket_to_ref.insert(ticket_id, link);
        }
        Ok(owner)
    }

    async fn unlink(&self, reference: &str, ticket_id: u64) -> Result<(), StateError> {
        let mut data = self.data();
        if data.ref_to_ticket.get(reference) == Some(&ticket_id) {
            data.ref_to_ticket.remove(reference);
        }
        Ok(())
    }

    async fn ticket_sync(&self, ticket_id: u64) -> Result<TicketSync, StateError> {
        Ok(self
            .data()
            .tickets
            .get(&ticket_id)
            .copied()
            .unwrap_or_default())
    }

    async fn set_ticket_sync(&self, ticket_id: u64, sync: TicketSync) -> Result<(), StateError> {
        self.data().tickets.insert(ticket_id, sync);
        Ok(())
    }

    async fn remember_mac(
        &self,
        mac: &str,
        event_id: &str,
        ttl: Duration,
    ) -> Result<String, StateError> {
        let mut data = self.data();
        data.macs_added_since_sweep += 1;
        if data.macs_added_since_sweep >= SWEEP_EVERY {
            data.macs_added_since_sweep = 0;
            data.macs.retain(|_, (_, at)| at.elapsed() < ttl);
        }
        let key = MacKey::of(mac);
        match data.macs.get(&key) {
            Some((first, at)) if at.elapsed() < ttl => Ok(first.to_string()),
            _ => {
                data.macs.insert(key, (event_id.into(), Instant::now()));
                Ok(event_id.to_string())
            }
        }
    }

    async fn try_claim(&self, key: &str, hold_for: Duration) -> Result<Option<Claim>, StateError> {
        let slot = self.slot(key);
        let Ok(guard) = slot.lock.clone().try_lock_owned() else {
            return Ok(None);
        };
        *slot.held_until.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Instant::now() + hold_for);
        Ok(Some(Claim::new(MemoryClaim {
            _guard: guard,
            _slot: slot,
        })))
    }

    async fn put_record(&self, kind: &str, key: &str, value: &Value) -> Result<(), StateError> {
        self.data()
            .records
            .insert(record_key(kind, key), text_of(value));
        Ok(())
    }

    async fn create_record(
        &self,
        kind: &str,
        key: &str,
        value: &Value,
    ) -> Result<bool, StateError> {
        let mut data = self.data();
        let id = record_key(kind, key);
        if data.records.contains_key(&id) {
            return Ok(false);
        }
        data.records.insert(id, text_of(value));
        Ok(true)
    }

    async fn get_record(&self, kind: &str, key: &str) -> Result<Option<Value>, StateError> {
        Ok(self
            .data()
            .records
            .get(&record_key(kind, key))
            .map(|text| value_of(text)))
    }

    async fn list_records(&self, kind: &str) -> Result<Vec<(String, Value)>, StateError> {
        Ok(self
            .data()
            .records
            .iter()
            .filter(|((k, _), _)| &**k == kind)
            .map(|((_, key), text)| (key.to_string(), value_of(text)))
            .collect())
    }

    async fn delete_record(&self, kind: &str, key: &str) -> Result<(), StateError> {
        self.data().records.remove(&record_key(kind, key));
        Ok(())
    }

    async fn delete_record_if(
        &self,
        kind: &str,
        key: &str,
        seen: &Value,
    ) -> Result<bool, StateError> {
        let mut data = self.data();
        let id = record_key(kind, key);
        if data.records.get(&id).map(|text| value_of(text)).as_ref() != Some(seen) {
            return Ok(false);
        }
        data.records.remove(&id);
        Ok(true)
    }

    async fn index_put(&self, index: &str, key: &str) -> Result<(), StateError> {
        self.data()
            .indexes
            .entry(index.to_string())
            .or_default()
            .insert(key.to_string());
        Ok(())
    }

    async fn index_delete(&self, index: &str, key: &str) -> Result<(), StateError> {
        if let Some(keys) = self.data().indexes.get_mut(index) {
            keys.remove(key);
        }
        Ok(())
    }

    async fn index_range(
        &self,
        index: &str,
        upto: &str,
        limit: usize,
    ) -> Result<Vec<String>, StateError> {
        Ok(self
            .data()
            .indexes
            .get(index)
            .into_iter()
            .flatten()
            .take_while(|k| k.as_str() <= upto)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn claim(
        &self,
        key: &str,
        deadline: Deadline,
        hold_for: Duration,
    ) -> Result<Claim, StateError> {
        let slot = self.slot(key);
        match tokio::time::timeout_at(deadline.instant(), slot.lock.clone().lock_owned()).await {
            Ok(guard) => {
                *slot.held_until.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Instant::now() + hold_for);
                Ok(Claim::new(MemoryClaim {
                    _guard: guard,
                    _slot: slot,
                }))
            }
            Err(_) => {
                let held_until = *slot.held_until.lock().unwrap_or_else(|p| p.into_inner());
                let wait = held_until
                    .map(|u| u.saturating_duration_since(Instant::now()))
                    .unwrap_or_default();
                let retry_after =
                    clamp_retry_after(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
                Err(StateError::Busy {
                    key: key.to_string(),
                    retry_after,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ledger_entries_expire_after_the_ttl_but_links_do_not() {
        let store = MemoryStore::new(Duration::from_secs(60));
        store.record_event("e1", 7).await.unwrap();
        store.record_delivery("d1").await.unwrap();
        store.link("cf|a|b", 7, Some("acct")).await.unwrap();
        assert_eq!(store.processed_event("e1").await.unwrap(), Some(7));
        assert!(store.delivery_processed("d1").await.unwrap());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(store.processed_event("e1").await.unwrap(), None);
        assert!(!store.delivery_processed("d1").await.unwrap());
        assert_eq!(store.ticket_for_reference("cf|a|b").await.unwrap(), Some(7));
        assert_eq!(
            store.link_for_ticket(7).await.unwrap(),
            Some(Link {
                reference: "cf|a|b".into(),
                account_id: Some("acct".into())
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_claim_makes_others_wait_then_answer_busy_with_the_time_left() {
        let store = Arc::new(MemoryStore::new(Duration::from_secs(60)));
        let held = store
            .claim(
                "k",
                Deadline::after(Duration::from_secs(1)),
                Duration::from_secs(20),
            )
            .await
            .unwrap();
        let err = store
            .claim(
                "k",
                Deadline::after(Duration::from_secs(2)),
                Duration::from_secs(20),
            )
            .await;
        assert!(
            matches!(
                err,
                Err(StateError::Busy {
                    retry_after: 18,
                    ..
                })
            ),
            "{:?}",
            err.err()
        );
        let waiter = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .claim(
                        "k",
                        Deadline::after(Duration::from_secs(5)),
                        Duration::from_secs(1),
                    )
                    .await
                    .is_ok()
            })
        };
        tokio::time::advance(Duration::from_millis(100)).await;
        drop(held);
        assert!(
            waiter.await.unwrap(),
            "released claim is handed to the waiter"
        );
        assert!(
            store
                .claim(
                    "other",
                    Deadline::after(Duration::from_secs(1)),
                    Duration::from_secs(1)
                )
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn unlink_only_drops_the_matching_link() {
        let store = MemoryStore::new(Duration::from_secs(60));
        store.link("r", 1, None).await.unwrap();
        store.unlink("r", 2).await.unwrap();
        assert_eq!(store.ticket_for_reference("r").await.unwrap(), Some(1));
        store.unlink("r", 1).await.unwrap();
        assert_eq!(store.ticket_for_reference("r").await.unwrap(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_mac_remembers_its_first_event_until_its_ttl() {
        let store = MemoryStore::new(Duration::from_secs(60));
        let ttl = Duration::from_secs(600);
        assert_eq!(store.remember_mac("m", "e1", ttl).await.unwrap(), "e1");
        assert_eq!(store.remember_mac("m", "e2", ttl).await.unwrap(), "e1");
        assert_eq!(store.remember_mac("n", "e3", ttl).await.unwrap(), "e3");
        tokio::time::advance(Duration::from_secs(601)).await;
        assert_eq!(store.remember_mac("m", "e4", ttl).await.unwrap(), "e4");
    }

    #[tokio::test]
    async fn records_are_kept_per_kind_and_deleted_only_while_unchanged() {
        let store = MemoryStore::new(Duration::from_secs(60));
        let (a, b) = (serde_json::json!({"n": 1}), serde_json::json!({"n": 2}));
        store.put_record("parked", "e1", &a).await.unwrap();
        store.put_record("failed", "e1", &b).await.unwrap();
        assert_eq!(
            store.get_record("parked", "e1").await.unwrap(),
            Some(a.clone())
        );
        assert_eq!(
            store.list_records("failed").await.unwrap(),
            vec![("e1".to_string(), b.clone())]
        );
        assert!(!store.delete_record_if("parked", "e1", &b).await.unwrap());
        assert!(store.delete_record_if("parked", "e1", &a).await.unwrap());
        assert_eq!(store.get_record("parked", "e1").await.unwrap(), None);
        store.delete_record("failed", "e1").await.unwrap();
        assert!(store.list_records("failed").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn try_claim_answers_at_once_when_the_key_is_held() {
        let store = MemoryStore::new(Duration::from_secs(60));
        let held = store.try_claim("k", Duration::from_secs(5)).await.unwrap();
        assert!(held.is_some());
        assert!(
            store
                .try_claim("k", Duration::from_secs(5))
                .await
                .unwrap()
                .is_none()
        );
        drop(held);
        assert!(
            store
                .try_claim("k", Duration::from_secs(5))
                .await
                .unwrap()
                .is_some()
        );
    }
}
