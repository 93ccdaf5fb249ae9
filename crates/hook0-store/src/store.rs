//! The storage trait every backend implements, and the small types its methods take.
//!
//! Methods are grouped by resource in the order of the API. Anything that must be atomic (an event
//! with its attempts, a disabled subscription with its failed attempts, an outcome with its retry
//! row) is one method, so each backend can make it one transaction.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use hook0_core::circuit::Circuit;
use hook0_core::delivery::{ClaimRequest, DeliveryJob, DeliveryOutcome, OutcomePolicy};
use hook0_core::identity::{Member, Role, TokenRecord, User};
use hook0_core::model::*;
use hook0_core::portal::PortalSession;
use uuid::Uuid;

use crate::StoreResult;

/// Tuning knobs shared by the backends.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Connections in the pool (PostgreSQL) or readers (SQLite).
    pub max_connections: u32,
    /// Run migrations when opening.
    pub auto_migrate: bool,
    /// PostgreSQL `statement_timeout` for every query (`None`: the server's setting). A query
    /// cut short answers 503 with `Retry-After`.
    pub statement_timeout: Option<std::time::Duration>,
    /// PostgreSQL `lock_timeout` (`None`: the server's setting); a lock wait cut short is 503 too.
    pub lock_timeout: Option<std::time::Duration>,
    /// The time of the delivery queue (claims and their leases, outcomes, releases) and of
    /// retention: the system clock, or one a test moves instead of sleeping.
    pub clock: hook0_core::clock::Clock,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            auto_migrate: true,
            statement_timeout: None,
            lock_timeout: None,
            clock: hook0_core::clock::Clock::system(),
        }
    }
}

/// Filters of `GET /request_attempts`; the page is the 50 newest before `cursor`.
#[derive(Clone, Debug, Default)]
pub struct AttemptFilter {
    pub application_id: Uuid,
    pub event_id: Option<Uuid>,
    pub subscription_id: Option<Uuid>,
    pub min_created_at: Option<DateTime<Utc>>,
    pub max_created_at: Option<DateTime<Utc>>,
    pub event_type_names: Option<Vec<String>>,
    /// Attempts in any of these states (all when empty); `waiting` and `pending` are told
    /// apart at `now`.
    pub statuses: Vec<AttemptStatusFilter>,
    pub now: DateTime<Utc>,
    /// Keyset pagination: only attempts strictly older than `(created_at, id)`.
    pub before: Option<(DateTime<Utc>, Uuid)>,
    pub limit: u32,
}

/// What an ingest stored.
#[derive(Clone, Debug)]
pub struct Ingested {
    pub received_at: DateTime<Utc>,
    pub request_attempts: usize,
}

/// Whose daily counts [`Store::events_per_day`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DailyScope {
    Application(Uuid),
    /// Every live application of the organization.
    Organization(Uuid),
}

/// How many events one application received on one UTC day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyEvents {
    pub application_id: Uuid,
    pub application_name: String,
    pub date: NaiveDate,
    pub amount: i64,
}

/// Delivery attempts created on one UTC day, by how they ended so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DailyOutcomes {
    pub date: NaiveDate,
    pub succeeded: i64,
    pub failed: i64,
    /// Neither yet (pending, waiting or in flight).
    pub open: i64,
}

/// Counts behind `consumption` and `onboarding_steps` of an application.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApplicationUsage {
    pub event_types: i64,
    pub subscriptions: i64,
    pub events: i64,
    /// Events received on the UTC day of `since` and after (from the daily counts, so events
    /// already deleted by retention still count).
    pub events_since: i64,
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

/// What delivery protection adds to a subscription's answer: its circuit breaker and its
/// Standard Webhooks signing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionProtection {
    pub circuit: Circuit,
    pub standard_webhooks: bool,
    /// The live secrets, newest first.
    pub standard_webhooks_secrets: Vec<SigningSecret>,
}

/// The delivery queue at one instant ([`Store::queue_stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueStats {
    /// The instant the counts were taken at.
    pub at: DateTime<Utc>,
    /// Pending attempts due now (including those whose lease ran out).
    pub due: i64,
    /// Pending attempts due later (retries waiting for their delay).
    pub delayed: i64,
    /// Attempts leased to a worker whose lease has not run out.
    pub in_flight: i64,
    /// When the longest-waiting due attempt became due.
    pub oldest_due_at: Option<DateTime<Utc>>,
    /// Subscriptions whose circuit breaker is open, and half-open.
    pub circuits_open: i64,
    pub circuits_half_open: i64,
}

impl QueueStats {
    /// How long the oldest due attempt has waited: the worker's lag.
    pub fn oldest_due_age(&self) -> Duration {
        self.oldest_due_at
            .and_then(|due| (self.at - due).to_std().ok())
            .unwrap_or(Duration::ZERO)
    }
}

/// Connections of a pool ([`Store::pool_stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    pub idle: u32,
    pub in_use: u32,
    pub max: u32,
}

/// How an application is known to the authorization layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApplicationScope {
    pub application_id: Uuid,
    pub organization_id: Uuid,
}

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

/// Ordered delivery per key (`crate::ordering`): what can be read of the keys' lines. The
/// lines themselves are kept by ingest, outcomes, redeliveries and subscription changes.
#[async_trait]
pub trait OrderedDelivery: Send + Sync {
    /// The subscription's keys that are not idle (held first, then the longest lines), at most
    /// [`crate::ordering::KEYS_SHOWN`]; empty for another application's subscription.
    async fn ordering_keys(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
    ) -> StoreResult<Vec<crate::ordering::KeyState>>;
}

#[async_trait]
pub trait Store: Portal + OrderedDelivery + Send + Sync + 'static {
    /// Backend name for logs and `/health`: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// A cheap round trip, for health checks.
    async fn ping(&self) -> StoreResult<()>;

    // Organizations
    async fn list_organizations(&self) -> StoreResult<Vec<Organization>>;
    async fn create_organization(&self, org: &Organization) -> StoreResult<()>;
    async fn get_organization(&self, id: Uuid) -> StoreResult<Option<Organization>>;
    async fn rename_organization(&self, id: Uuid, name: &str) -> StoreResult<Option<Organization>>;
    /// Deletes an organization without live applications; `Ok(false)` when unknown.
    async fn delete_organization(&self, id: Uuid) -> StoreResult<bool>;
    async fn count_applications(&self, organization_id: Uuid) -> StoreResult<i64>;

    // Applications (soft-deleted ones are invisible to every method but `application_scope`)
    async fn list_applications(&self, organization_id: Uuid) -> StoreResult<Vec<Application>>;
    /// Creates the application and its first secret together.
    async fn create_application(
        &self,
        app: &Application,
        first_secret: &ApplicationSecret,
    ) -> StoreResult<()> {
        self.create_application_within(app, first_secret, None)
            .await
    }
    /// [`Store::create_application`], refused with `QuotaReached` when the organization already
    /// has `applications_per_organization` live applications (checked in the transaction).
    async fn create_application_within(
        &self,
        app: &Application,
        first_secret: &ApplicationSecret,
        applications_per_organization: Option<u32>,
    ) -> StoreResult<()>;
    async fn get_application(&self, id: Uuid) -> StoreResult<Option<Application>>;
    async fn update_application(
        &self,
        id: Uuid,
        organization_id: Uuid,
        name: &str,
        retention_days: Option<i32>,
    ) -> StoreResult<Option<Application>>;
    /// Soft-deletes the application and fails its pending attempts.
    async fn delete_application(&self, id: Uuid) -> StoreResult<bool>;
    /// Counts of an application's live event types and subscriptions, its events, and its
    /// events received since `since` (the start of the day for `events_per_day`).
    async fn application_usage(
        &self,
        id: Uuid,
        since: DateTime<Utc>,
    ) -> StoreResult<ApplicationUsage>;
    /// The organization of a live application, for authorization.
    async fn application_scope(&self, id: Uuid) -> StoreResult<Option<ApplicationScope>>;
    /// The live application whose live secret this is.
    async fn application_by_secret(&self, token: Uuid) -> StoreResult<Option<ApplicationScope>>;

    // Application secrets
    async fn list_application_secrets(
        &self,
        application_id: Uuid,
    ) -> StoreResult<Vec<ApplicationSecret>>;
    async fn create_application_secret(&self, secret: &ApplicationSecret) -> StoreResult<()>;
    async fn rename_application_secret(
        &self,
        application_id: Uuid,
        token: Uuid,
        name: Option<&str>,
    ) -> StoreResult<Option<ApplicationSecret>>;
    async fn delete_application_secret(
        &self,
        application_id: Uuid,
        token: Uuid,
    ) -> StoreResult<bool>;

    // Event types
    /// Idempotent: creates the type or re-activates it.
    async fn upsert_event_type(&self, event_type: &EventType) -> StoreResult<EventType> {
        self.upsert_event_type_within(event_type, None).await
    }
    /// [`Store::upsert_event_type`], refused with `QuotaReached` when the application already
    /// has `event_types_per_application` other active types (an active type upserted again
    /// takes no new place).
    async fn upsert_event_type_within(
        &self,
        event_type: &EventType,
        event_types_per_application: Option<u32>,
    ) -> StoreResult<EventType>;
    async fn list_event_types(&self, application_id: Uuid) -> StoreResult<Vec<EventType>>;
    async fn get_event_type(
        &self,
        application_id: Uuid,
        name: &str,
    ) -> StoreResult<Option<EventType>>;
    async fn deactivate_event_type(&self, application_id: Uuid, name: &str) -> StoreResult<bool>;
    /// Sets (or, with `None`, removes) a live event type's schema; false when there is no such
    /// live type.
    async fn set_event_type_schema(
        &self,
        application_id: Uuid,
        name: &str,
        schema: Option<&serde_json::Value>,
    ) -> StoreResult<bool>;

    // Subscriptions
    async fn list_subscriptions(&self, application_id: Uuid) -> StoreResult<Vec<Subscription>>;
    async fn get_subscription(&self, id: Uuid) -> StoreResult<Option<Subscription>>;
    /// Fails with `EventTypeDoesNotExist` when a listed event type is unknown to the application.
    async fn create_subscription(&self, sub: &Subscription) -> StoreResult<()> {
        self.create_subscription_within(sub, None).await
    }
    /// [`Store::create_subscription`], refused with `QuotaReached` when the application already
    /// has `subscriptions_per_application` live subscriptions.
    async fn create_subscription_within(
        &self,
        sub: &Subscription,
        subscriptions_per_application: Option<u32>,
    ) -> StoreResult<()>;
    /// Full replacement (secret and created_at kept); disabling fails pending attempts.
    async fn update_subscription(&self, sub: &Subscription) -> StoreResult<Option<Subscription>>;
    /// Soft-deletes the subscription and fails its pending attempts.
    async fn delete_subscription(&self, application_id: Uuid, id: Uuid) -> StoreResult<bool>;

    // Events
    /// Stores the event and one attempt per matching subscription in one transaction, and
    /// counts it in its application's day (`event.received_at`, the caller's clock, in UTC).
    async fn ingest_event(&self, event: &Event) -> StoreResult<Ingested> {
        self.ingest_event_within(event, None).await
    }
    /// [`Store::ingest_event`], refused with `QuotaReached(EventsPerDay)` when the application
    /// already received `events_per_day` events that day: checked in the writing transaction,
    /// so concurrent ingests never overshoot the limit.
    async fn ingest_event_within(
        &self,
        event: &Event,
        events_per_day: Option<u32>,
    ) -> StoreResult<Ingested>;
    /// Events received per application and UTC day from `from` to `to` (inclusive), days with
    /// none left out, ordered by date then application. Kept when retention deletes events.
    async fn events_per_day(
        &self,
        scope: DailyScope,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<DailyEvents>>;
    /// The newest events of the application, payload left empty.
    async fn list_events(&self, application_id: Uuid, limit: u32) -> StoreResult<Vec<Event>>;
    async fn get_event(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<Event>>;
    /// New attempts for every subscription matching the event now; `None` when the event is unknown.
    async fn replay_event(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<usize>>;

    // Request attempts and responses
    /// The application's attempts created on each UTC day from `from` to `to` (inclusive), by
    /// outcome so far; days without attempts left out, oldest first.
    async fn delivery_outcomes_per_day(
        &self,
        application_id: Uuid,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<DailyOutcomes>>;
    async fn list_request_attempts(
        &self,
        filter: &AttemptFilter,
    ) -> StoreResult<Vec<RequestAttempt>>;
    async fn get_request_attempt(
        &self,
        application_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<RequestAttempt>>;
    async fn get_response(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<Response>>;

    // The delivery queue
    /// Gives a leased attempt back, due at `due_at` (graceful shutdown).
    async fn release_attempts(&self, attempt_ids: &[Uuid]) -> StoreResult<()>;
    /// When the earliest pending attempt becomes due (including leased ones whose lease runs out).
    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// Resolves when new attempts may be due (in-process signal or database notification) or
    /// deliveries finished (freeing slots), or after `timeout` at the latest.
    async fn wait_for_work(&self, timeout: Duration);
    /// Like [`Store::wait_for_work`], for a worker that nothing blocks: finished deliveries
    /// that made no attempt due ([`crate::outcome_plan::OutcomePlan::makes_work_due`]) do
    /// not wake it (each would cost an empty claim). A backend that cannot tell them apart
    /// waits for both.
    async fn wait_for_new_work(&self, timeout: Duration) {
        self.wait_for_work(timeout).await;
    }
    /// How many pending attempts are due now, delayed (not yet due) and in flight (under an
    /// unexpired lease), and when the oldest due one became due: one cheap query, run on every
    /// metrics scrape and health check.
    async fn queue_stats(&self) -> StoreResult<QueueStats>;
    /// The connection pool's usage, for backends that pool connections.
    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }

    // Housekeeping
    /// Deletes, in one short transaction, up to `batch` events received before their
    /// application's retention (`retention_days`, else `default_retention_days`) that have no
    /// pending attempt, together with their attempts and responses. Returns how many events
    /// went; callers loop until it returns less than `batch`, so ingest is never blocked long.
    async fn purge_expired_events(
        &self,
        default_retention_days: u32,
        batch: u32,
    ) -> StoreResult<u64>;

    // Delivery protection: circuit breakers, fair claims, dead letters, auto-disable, Standard
    // Webhooks.

    /// Leases due attempts to `worker` for `request.lease` (an attempt whose lease runs out
    /// before its outcome is recorded is due again), at most `request.limit`, fairly, as
    /// [`crate::fair_claim::plan`] decides: at most `max_in_flight_per_subscription` leased per
    /// subscription (all workers counted; the others parked until deliveries of that
    /// subscription finish), taken round-robin across subscriptions, high priority first within
    /// the per-class limits, none for a subscription whose circuit is open (those are held until
    /// its cool-down ends, their retry count untouched) and a single probe for one whose
    /// cool-down has ended.
    async fn claim_attempts(
        &self,
        worker: &str,
        request: &ClaimRequest,
    ) -> StoreResult<Vec<DeliveryJob>>;
    /// Records outcomes: the response, success or failure, and the retry row when one is
    /// scheduled and the subscription still accepts deliveries; idempotent (an attempt already
    /// finished is skipped). In the same write: the circuit of each subscription
    /// moved by its outcomes (holding or releasing its pending attempts; a retry row of an open
    /// circuit is due when the cool-down ends), one parked attempt released per finished
    /// delivery, dead-letter marks on failed attempts with no retry, and the auto-disable of
    /// subscriptions failing for too long (pending attempts failed as dead letters, operational
    /// event recorded).
    async fn record_delivery_outcomes(
        &self,
        outcomes: &[DeliveryOutcome],
        policy: &OutcomePolicy,
    ) -> StoreResult<()>;
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
    /// The application's operational events, newest first.
    async fn list_operational_events(
        &self,
        application_id: Uuid,
        limit: u32,
    ) -> StoreResult<Vec<OperationalEvent>>;
    /// Operational events not yet sent to the operator's webhook, oldest first.
    async fn operational_events_to_notify(&self, limit: u32) -> StoreResult<Vec<OperationalEvent>>;
    async fn mark_operational_events_notified(&self, ids: &[Uuid]) -> StoreResult<()>;

    // Identity and access: users, organization membership, tokens. Emails are passed
    // normalized (`hook0_core::identity::normalize_email`).

    /// Creates the user, its personal organization and its `editor` membership in one
    /// transaction; `UserAlreadyExist` when the email is taken. With `verify_if_first`, the
    /// user is created verified when it is the instance's first user. Returns whether the user
    /// is verified.
    async fn register_user(
        &self,
        user: &User,
        organization: &Organization,
        verify_if_first: bool,
    ) -> StoreResult<bool>;
    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Marks the email verified at `at`; `Ok(false)` when it already was (verification acts
    /// once) or the user is unknown.
    async fn verify_user_email(&self, user_id: Uuid, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Replaces the password hash; with `verified_at`, also marks an unverified email verified.
    async fn set_user_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
        verified_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool>;
    /// The user's role in each organization it belongs to.
    async fn organization_roles(&self, user_id: Uuid) -> StoreResult<Vec<(Uuid, Role)>>;
    /// The organizations the user belongs to, with its role, oldest first.
    async fn list_user_organizations(
        &self,
        user_id: Uuid,
    ) -> StoreResult<Vec<(Organization, Role)>>;
    /// Creates the organization with `user_id` as its `editor`, in one transaction.
    async fn create_organization_with_editor(
        &self,
        organization: &Organization,
        user_id: Uuid,
    ) -> StoreResult<()>;
    async fn list_members(&self, organization_id: Uuid) -> StoreResult<Vec<Member>>;
    /// `InvitedUserAlreadyInOrganization` when the user already is a member.
    async fn add_member(
        &self,
        organization_id: Uuid,
        user_id: Uuid,
        role: Role,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.add_member_within(organization_id, user_id, role, at, None)
            .await
    }
    /// [`Store::add_member`], refused with `QuotaReached` when the organization already has
    /// `members_per_organization` members.
    async fn add_member_within(
        &self,
        organization_id: Uuid,
        user_id: Uuid,
        role: Role,
        at: DateTime<Utc>,
        members_per_organization: Option<u32>,
    ) -> StoreResult<()>;
    /// `Ok(false)` when the user is not a member.
    async fn set_member_role(
        &self,
        organization_id: Uuid,
        user_id: Uuid,
        role: Role,
    ) -> StoreResult<bool>;
    /// `Ok(false)` when the user is not a member.
    async fn remove_member(&self, organization_id: Uuid, user_id: Uuid) -> StoreResult<bool>;
    async fn insert_tokens(&self, tokens: &[TokenRecord]) -> StoreResult<()>;
    /// The token whose root revocation id this is, when it has not expired at `now`: one
    /// indexed read, on every request authenticated by a Biscuit.
    async fn live_token(
        &self,
        revocation_id: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>>;
    /// Expires the token `old_id` and stores `new`, in one transaction, only if `old_id` was
    /// still live at `now` (a refresh token is used once); `Ok(false)` otherwise.
    async fn rotate_token(
        &self,
        old_id: Uuid,
        new: &[TokenRecord],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Expires every live token of the session (logout); returns how many.
    async fn expire_session(&self, session_id: Uuid, at: DateTime<Utc>) -> StoreResult<u64>;
    /// Expires every live session token of the user (password reset); returns how many.
    async fn expire_user_sessions(&self, user_id: Uuid, at: DateTime<Utc>) -> StoreResult<u64>;
    /// Expires every live session token of the user but those of `keep` (a password change
    /// ends the user's other sessions); returns how many.
    async fn expire_other_sessions(
        &self,
        user_id: Uuid,
        keep: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// The organization's live service tokens, oldest first.
    async fn list_service_tokens(
        &self,
        organization_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<TokenRecord>>;
    async fn get_service_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>>;
    async fn rename_service_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>>;
    /// Expires a live service token (which revokes every token attenuated from it);
    /// `Ok(false)` when unknown or already expired.
    async fn expire_service_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Deletes up to `batch` tokens that expired before `expired_before`; returns how many.
    /// A deleted token is refused exactly like an expired one (its row is what keeps it live).
    async fn purge_expired_tokens(
        &self,
        expired_before: DateTime<Utc>,
        batch: u32,
    ) -> StoreResult<u64>;
    /// How many tokens expired before `expired_before` (what a report-only cleanup reports).
    async fn count_expired_tokens(&self, expired_before: DateTime<Utc>) -> StoreResult<u64>;
}
