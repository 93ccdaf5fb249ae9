//! Delivery protection seen from the API: signing ([`Signing`]), dead letters ([`DeadLetters`]),
//! operational events ([`OperationalEvents`]).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::circuit::Circuit;
use hook0_core::model::*;
use uuid::Uuid;

use crate::StoreResult;

/// What delivery protection adds to a subscription's answer: its circuit breaker and its
/// Standard Webhooks signing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionProtection {
    pub circuit: Circuit,
    pub standard_webhooks: bool,
    /// The live secrets, newest first.
    pub standard_webhooks_secrets: Vec<SigningSecret>,
}

/// What retrying one dead letter did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadLetterRetry {
    /// A new attempt (retry count 0) was queued.
    Queued {
        attempt_id: Uuid,
    },
    NotFound,
    /// The attempt is not a dead letter, or was already redelivered.
    NotADeadLetter,
    /// Its subscription is disabled or deleted: nothing would deliver the new attempt.
    SubscriptionDisabled,
}

/// What a bulk redelivery did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redelivery {
    /// This many new attempts were queued, one per event with dead letters.
    Queued {
        count: usize,
    },
    SubscriptionNotFound,
    SubscriptionDisabled,
}

/// Filters of `GET /dead_letters`: the page is the `limit` most recently dead-lettered before
/// `before`.
#[derive(Clone, Debug, Default)]
pub struct DeadLetterFilter {
    pub application_id: Uuid,
    pub subscription_id: Option<Uuid>,
    /// Keyset pagination: only dead letters strictly older than `(dead_lettered_at, id)`.
    pub before: Option<(DateTime<Utc>, Uuid)>,
    pub limit: u32,
}

/// Delivery protection seen from a subscription: its circuit, and its Standard Webhooks signing.
#[async_trait]
pub trait Signing: Send + Sync {
    /// The circuit and signing of each subscription found among `subscription_ids`; a
    /// subscription missing from the answer has a closed circuit and no Standard Webhooks.
    async fn subscription_protection(
        &self,
        subscription_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, SubscriptionProtection>>;
    /// Opts a subscription in or out of Standard Webhooks signing; opting in gives it
    /// `first_secret` when it has no live secret. `Ok(false)` when the subscription is unknown.
    async fn set_standard_webhooks(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
        enabled: bool,
        first_secret: &str,
    ) -> StoreResult<bool>;
    /// Adds `new_secret` and makes the live secrets expire after `overlap`, so both sign
    /// meanwhile. `Ok(false)` when the subscription is unknown.
    async fn rotate_standard_webhooks_secret(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
        new_secret: &str,
        overlap: Duration,
    ) -> StoreResult<bool>;
}

/// Dead letters: attempts that failed for good, and their redelivery.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Dead letters not yet redelivered, most recent first.
    async fn list_dead_letters(&self, filter: &DeadLetterFilter) -> StoreResult<Vec<DeadLetter>>;
    /// Queues a new attempt (retry count 0) for one dead letter, which leaves the dead letters.
    async fn retry_dead_letter(
        &self,
        application_id: Uuid,
        attempt_id: Uuid,
    ) -> StoreResult<DeadLetterRetry>;
    /// Queues one new attempt per event among the subscription's dead letters dead-lettered at
    /// or after `since` (all when `None`); they all leave the dead letters, so each is
    /// redelivered once.
    async fn redeliver_dead_letters(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Redelivery>;
}

/// Operational events (a subscription auto-disabled, …) and their notification to the operator.
#[async_trait]
pub trait OperationalEvents: Send + Sync {
    /// The application's operational events, newest first.
    async fn list_operational_events(
        &self,
        application_id: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<OperationalEvent>>;
    /// Operational events not yet sent to the operator's webhook, oldest first.
    async fn operational_events_to_notify(&self, limit: u32) -> StoreResult<Vec<OperationalEvent>>;
    async fn mark_operational_events_notified(&self, ids: &[Uuid]) -> StoreResult<()>;
}
