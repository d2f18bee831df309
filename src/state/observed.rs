//! A state store that reports what passes through it, for benchmarks (how many reads one
//! reconcile run makes) and tests (a store slow to take a kind of record). Each call is the inner
//! store's; the observer sees a read with the records it returned, and a write before it is made.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::{Claim, Link, StateError, StateStore, TicketSync};
use crate::http::Deadline;

/// What an [`Observed`] store tells.
#[async_trait]
pub trait Observer: Send + Sync {
    /// A read of `kind` that returned `records` (a listing counts as one read per page, plus one
    /// per record it then fetched).
    fn read(&self, _kind: &str, _records: usize) {}
    /// A write of `kind`, before it is made.
    async fn before_write(&self, _kind: &str) {}
}

/// `inner`, watched by `observer`.
pub struct Observed<S, O> {
    inner: S,
    observer: O,
}

impl<S, O> Observed<S, O> {
    /// Wraps a store.
    pub fn new(inner: S, observer: O) -> Self {
        Self { inner, observer }
    }

    /// The observer.
    pub fn observer(&self) -> &O {
        &self.observer
    }
}

#[async_trait]
impl<S: StateStore, O: Observer> StateStore for Observed<S, O> {
    async fn processed_event(&self, event_id: &str) -> Result<Option<u64>, StateError> {
        self.observer.read("events", 1);
        self.inner.processed_event(event_id).await
    }
    async fn record_event(&self, event_id: &str, ticket_id: u64) -> Result<(), StateError> {
        self.observer.before_write("events").await;
        self.inner.record_event(event_id, ticket_id).await
    }
    async fn delivery_processed(&self, delivery_id: &str) -> Result<bool, StateError> {
        self.observer.read("deliveries", 1);
        self.inner.delivery_processed(delivery_id).await
    }
    async fn record_delivery(&self, delivery_id: &str) -> Result<(), StateError> {
        self.observer.before_write("deliveries").await;
        self.inner.record_delivery(delivery_id).await
    }
    async fn ticket_for_reference(&self, reference: &str) -> Result<Option<u64>, StateError> {
        self.observer.read("refs", 1);
        self.inner.ticket_for_reference(reference).await
    }
    async fn link_for_ticket(&self, ticket_id: u64) -> Result<Option<Link>, StateError> {
        self.observer.read("tickets", 1);
        self.inner.link_for_ticket(ticket_id).await
    }
    async fn link(
        &self,
        reference: &str,
        ticket_id: u64,
        account_id: Option<&str>,
    ) -> Result<u64, StateError> {
        // Create-if-absent reads the reference's link first.
        self.observer.read("refs", 1);
        self.observer.before_write("refs").await;
        self.inner.link(reference, ticket_id, account_id).await
    }
    async fn unlink(&self, reference: &str, ticket_id: u64) -> Result<(), StateError> {
        self.observer.before_write("refs").await;
        self.inner.unlink(reference, ticket_id).await
    }
    async fn ticket_sync(&self, ticket_id: u64) -> Result<TicketSync, StateError> {
        self.observer.read("tickets", 1);
        self.inner.ticket_sync(ticket_id).await
    }
    async fn set_ticket_sync(&self, ticket_id: u64, sync: TicketSync) -> Result<(), StateError> {
        self.observer.before_write("tickets").await;
        self.inner.set_ticket_sync(ticket_id, sync).await
    }
    async fn remember_mac(
        &self,
        mac: &str,
        event_id: &str,
        ttl: Duration,
    ) -> Result<String, StateError> {
        self.observer.before_write("macs").await;
        self.inner.remember_mac(mac, event_id, ttl).await
    }
    async fn claim(
        &self,
        key: &str,
        deadline: Deadline,
        hold_for: Duration,
    ) -> Result<Claim, StateError> {
        self.observer.before_write("claims").await;
        self.inner.claim(key, deadline, hold_for).await
    }
    async fn try_claim(&self, key: &str, hold_for: Duration) -> Result<Option<Claim>, StateError> {
        self.observer.before_write("claims").await;
        self.inner.try_claim(key, hold_for).await
    }
    async fn put_record(&self, kind: &str, key: &str, value: &Value) -> Result<(), StateError> {
        self.observer.before_write(kind).await;
        self.inner.put_record(kind, key, value).await
    }
    async fn create_record(
        &self,
        kind: &str,
        key: &str,
        value: &Value,
    ) -> Result<bool, StateError> {
        self.observer.before_write(kind).await;
        self.inner.create_record(kind, key, value).await
    }
    async fn get_record(&self, kind: &str, key: &str) -> Result<Option<Value>, StateError> {
        self.observer.read(kind, 1);
        self.inner.get_record(kind, key).await
    }
    async fn list_records(&self, kind: &str) -> Result<Vec<(String, Value)>, StateError> {
        let records = self.inner.list_records(kind).await?;
        self.observer.read(kind, 1 + records.len());
        Ok(records)
    }
    async fn delete_record(&self, kind: &str, key: &str) -> Result<(), StateError> {
        self.observer.before_write(kind).await;
        self.inner.delete_record(kind, key).await
    }
    async fn delete_record_if(
        &self,
        kind: &str,
        key: &str,
        seen: &Value,
    ) -> Result<bool, StateError> {
        self.observer.read(kind, 1);
        self.observer.before_write(kind).await;
        self.inner.delete_record_if(kind, key, seen).await
    }
    async fn index_put(&self, index: &str, key: &str) -> Result<(), StateError> {
        self.observer.before_write(index).await;
        self.inner.index_put(index, key).await
    }
    async fn index_delete(&self, index: &str, key: &str) -> Result<(), StateError> {
        self.observer.before_write(index).await;
        self.inner.index_delete(index, key).await
    }
    async fn index_range(
        &self,
        index: &str,
        upto: &str,
        limit: usize,
    ) -> Result<Vec<String>, StateError> {
        let keys = self.inner.index_range(index, upto, limit).await?;
        self.observer.read(index, 1);
        Ok(keys)
    }
}
