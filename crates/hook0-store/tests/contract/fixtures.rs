//! Builders for the records the cases store, with valid defaults, and a [`Tenant`] (organization,
//! application, first secret) that most cases start from.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hook0_core::circuit::CircuitPolicy;
use hook0_core::delivery::{ClaimRequest, DeliveryJob, DeliveryOutcome, OutcomePolicy};
use hook0_core::model::*;
use hook0_store::{AttemptFilter, Store};
use uuid::Uuid;

pub const TYPE: &str = "billing.invoice.paid";
pub const OTHER_TYPE: &str = "billing.invoice.voided";
pub const LONG_LEASE: Duration = Duration::from_secs(60);

pub fn map(pairs: &[(&str, &str)]) -> StringMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn organization(name: &str) -> Organization {
    Organization {
        id: Uuid::now_v7(),
        name: name.into(),
        created_at: now(),
    }
}

pub fn application(organization_id: Uuid, name: &str) -> (Application, ApplicationSecret) {
    let app = Application {
        id: Uuid::now_v7(),
        organization_id,
        name: name.into(),
        retention_days: None,
        created_at: now(),
        deleted_at: None,
    };
    let secret = secret(app.id, Some("first"));
    (app, secret)
}

pub fn secret(application_id: Uuid, name: Option<&str>) -> ApplicationSecret {
    ApplicationSecret {
        token: Uuid::new_v4(),
        application_id,
        name: name.map(Into::into),
        created_at: now(),
        deleted_at: None,
    }
}

pub fn event_type(application_id: Uuid, name: &str) -> EventType {
    let mut parts = name.splitn(3, '.');
    let mut part = || {
        parts
            .next()
            .expect("service.resource_type.verb")
            .to_string()
    };
    EventType {
        application_id,
        service: part(),
        resource_type: part(),
        verb: part(),
        created_at: now(),
        deactivated_at: None,
        schema: None,
    }
}

pub fn subscription(
    application_id: Uuid,
    event_types: &[&str],
    labels: &[(&str, &str)],
) -> Subscription {
    let at = now();
    Subscription {
        id: Uuid::now_v7(),
        application_id,
        is_enabled: true,
        event_types: event_types.iter().map(|t| t.to_string()).collect(),
        description: Some("to the ledger".into()),
        secret: Uuid::new_v4(),
        metadata: map(&[("team", "billing")]),
        labels: map(labels),
        target: HttpTarget {
            method: "POST".into(),
            url: "https://ledger.example/hooks".into(),
            headers: map(&[("x-api-key", "k1")]),
        },
        dedicated_workers: vec![],
        ordering: None,
        created_at: at,
        updated_at: at,
    }
}

pub fn event(application_id: Uuid, event_type: &str, labels: &[(&str, &str)]) -> Event {
    Event {
        id: Uuid::new_v4(),
        application_id,
        event_type_name: event_type.into(),
        payload: br#"{"invoice":42}"#.to_vec(),
        payload_content_type: PayloadContentType::Json,
        ip: Some("192.0.2.7".into()),
        metadata: map(&[("source", "test")]),
        labels: map(labels),
        occurred_at: now(),
        received_at: now(),
    }
}

/// What a worker reports for a claimed job.
pub fn outcome(
    job: &DeliveryJob,
    succeeded: bool,
    retry_at: Option<DateTime<Utc>>,
) -> DeliveryOutcome {
    DeliveryOutcome {
        attempt: job.attempt.clone(),
        succeeded,
        completed_at: now(),
        response: Response {
            id: Uuid::now_v7(),
            application_id: job.attempt.application_id,
            error_name: (!succeeded).then(|| "E_HTTP".to_string()),
            http_code: Some(if succeeded { 200 } else { 503 }),
            headers: Some(map(&[("content-type", "text/plain")])),
            body: Some(b"ok\xff".to_vec()),
            elapsed_time_ms: 12,
        },
        retry_at,
    }
}

/// An organization with one application, its event types `TYPE` and `OTHER_TYPE`.
pub struct Tenant {
    pub org: Organization,
    pub app: Application,
    pub secret: ApplicationSecret,
}

impl Tenant {
    pub async fn create(store: &dyn Store) -> Self {
        let org = organization("Acme");
        store.create_organization(&org).await.unwrap();
        let (app, secret) = application(org.id, "Billing");
        store.create_application(&app, &secret).await.unwrap();
        for name in [TYPE, OTHER_TYPE] {
            store
                .upsert_event_type(&event_type(app.id, name))
                .await
                .unwrap();
        }
        Self { org, app, secret }
    }

    /// Creates an enabled subscription to `event_types` requiring `labels`.
    pub async fn subscribe(
        &self,
        store: &dyn Store,
        event_types: &[&str],
        labels: &[(&str, &str)],
    ) -> Subscription {
        let sub = subscription(self.app.id, event_types, labels);
        store.create_subscription(&sub).await.unwrap();
        sub
    }

    /// Ingests an event of `event_type` carrying `labels`.
    pub async fn ingest(
        &self,
        store: &dyn Store,
        event_type: &str,
        labels: &[(&str, &str)],
    ) -> Event {
        let mut e = event(self.app.id, event_type, labels);
        e.received_at = store.ingest_event(&e).await.unwrap().received_at;
        e
    }

    /// Every attempt of the application, newest first.
    pub async fn attempts(&self, store: &dyn Store) -> Vec<RequestAttempt> {
        self.attempts_where(store, |_| {}).await
    }

    pub async fn attempts_where(
        &self,
        store: &dyn Store,
        filter: impl FnOnce(&mut AttemptFilter),
    ) -> Vec<RequestAttempt> {
        let mut f = AttemptFilter {
            application_id: self.app.id,
            limit: 1000,
            ..Default::default()
        };
        filter(&mut f);
        store.list_request_attempts(&f).await.unwrap()
    }
}

/// The worker's claim (`claim_attempts`, the one production runs) with no limit but `limit`:
/// no cap per subscription, no priority classes, so a case sees the queue's own rules.
pub async fn claim(
    store: &dyn Store,
    worker: &str,
    limit: u32,
    lease: Duration,
) -> Vec<DeliveryJob> {
    store
        .claim_attempts(worker, &ClaimRequest::unlimited(limit, lease))
        .await
        .unwrap()
        .jobs
        .into_iter()
        .collect()
}

/// An outcome policy that never opens a circuit nor disables a subscription.
pub fn quiet_policy() -> OutcomePolicy {
    OutcomePolicy {
        circuit: CircuitPolicy {
            failure_threshold: u32::MAX,
            cooldown: Duration::from_secs(1),
            max_cooldown: Duration::from_secs(1),
        },
        auto_disable_after: None,
    }
}

/// The worker's outcome write (`record_delivery_outcomes`) under [`quiet_policy`].
pub async fn record(store: &dyn Store, outcomes: &[DeliveryOutcome]) {
    store
        .record_delivery_outcomes(outcomes, &quiet_policy())
        .await
        .unwrap()
}

/// Claims until nothing is due, with a long lease. Bounded: a claim that hands the same
/// attempts out again (a broken lease) fails the case instead of looping forever.
pub async fn claim_all(store: &dyn Store) -> Vec<DeliveryJob> {
    let mut jobs: Vec<DeliveryJob> = Vec::new();
    let mut claimed = std::collections::HashSet::new();
    loop {
        let batch = claim(store, "test", 100, LONG_LEASE).await;
        if batch.is_empty() {
            return jobs;
        }
        for job in &batch {
            // Fails at once rather than claiming forever when leases do not hold.
            assert!(
                claimed.insert(job.attempt.attempt_id),
                "attempt {} handed out again under a live lease",
                job.attempt.attempt_id
            );
        }
        jobs.extend(batch);
    }
}
