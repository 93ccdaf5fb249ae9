//! The consumer portal's part of the store ([`Portal`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::model::*;
use hook0_core::portal::PortalSession;
use uuid::Uuid;

use crate::StoreResult;

/// What the consumer portal needs: its sessions, and the deliveries aimed at one subscription
/// (a test event, a resend, a new signing secret) that the rest of the store, which routes
/// by matching, has no way to ask for. The first per-resource part of the store: each backend
/// implements it where its SQL lives (`sqlite/portal.rs`, `postgres/portal.rs`).
#[async_trait]
pub trait Portal: Send + Sync {
    async fn create_portal_session(&self, session: &PortalSession) -> StoreResult<()>;
    /// The session whose secret hashes to `secret_hash`, whatever its state (the caller tells
    /// expired and revoked apart), as long as its application is live.
    async fn portal_session_by_secret(
        &self,
        secret_hash: &[u8],
    ) -> StoreResult<Option<PortalSession>>;
    async fn get_portal_session(&self, id: Uuid) -> StoreResult<Option<PortalSession>>;
    /// The application's sessions neither expired nor revoked at `now`, newest first.
    async fn list_portal_sessions(
        &self,
        application_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<PortalSession>>;
    /// Revokes a live session at `at`; false when it is unknown or already over.
    async fn revoke_portal_session(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Deletes up to `batch` sessions that expired or were revoked before `ended_before`.
    async fn purge_portal_sessions(
        &self,
        ended_before: DateTime<Utc>,
        batch: u32,
    ) -> StoreResult<u64>;
    /// Stores `event` (not counted in the application's day: it is a test) with one attempt
    /// for `subscription_id` only, in one transaction; the attempt's id. `Ok(None)` (and
    /// nothing stored) when that subscription is not an enabled one of the event's application.
    async fn ingest_test_event(
        &self,
        event: &Event,
        subscription_id: Uuid,
    ) -> StoreResult<Option<Uuid>>;
    /// Queues a new attempt (retry count 0, due now) of a stored event for one enabled
    /// subscription of its application; returns its id, `None` when either is unknown.
    async fn resend_event(
        &self,
        application_id: Uuid,
        event_id: Uuid,
        subscription_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Uuid>>;
    /// Replaces the subscription's Hook0 signing secret; false when it is unknown or deleted.
    async fn set_subscription_secret(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
        secret: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
}
