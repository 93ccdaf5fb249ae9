//! Recording delivery outcomes under the protection policy on PostgreSQL: as
//! `sqlite/queue.rs::record_outcomes`, in one transaction. Each outcome finishes
//! its attempt, stores its response, moves its subscription's circuit (an opening holds the
//! pending attempts, a closing releases them; a retry row of an open circuit is due when the
//! cool-down ends), schedules its retry or marks a dead letter, and may auto-disable a
//! subscription failing for too long. Finished deliveries release as many parked attempts.
//!
//! Locks: the subscriptions with a failure in the batch (`FOR NO KEY UPDATE`, by id) first, so a
//! retry row or an auto-disable cannot race a subscription change; then the attempts by id; then
//! health rows, which serialize circuit updates of one subscription across workers.

use std::collections::{HashMap, HashSet};

use hook0_core::circuit::{Circuit, CircuitState, Transition};
use hook0_core::delivery::{DeliveryOutcome, OutcomePolicy};
use sqlx::types::Json;
use uuid::Uuid;

use super::circuits;
use super::convert::*;
use super::PostgresStore;
use crate::StoreResult;

impl PostgresStore {
    pub(super) async fn record_delivery_outcomes_impl(
        &self,
        outcomes: &[DeliveryOutcome],
        policy: &OutcomePolicy,
    ) -> StoreResult<()> {
        let mut seen = HashSet::new();
        let outcomes: Vec<&DeliveryOutcome> = outcomes
            .iter()
            .filter(|o| seen.insert(o.attempt.attempt_id))
            .collect();
        if outcomes.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_delivery(true).await?;
        // Only failures write under their subscription (a retry row, a dead letter, an
        // auto-disable); a batch of successes leaves the subscription rows alone, so ingests
        // (which share-lock them) never wait for it.
        let mut failing: Vec<Uuid> = outcomes
            .iter()
            .filter(|o| !o.succeeded)
            .map(|o| o.attempt.subscription_id)
            .collect();
        failing.sort();
        failing.dedup();
        if !failing.is_empty() {
            sqlx::query(
                "SELECT id FROM subscription WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
            )
            .bind(&failing)
            .execute(&mut *tx)
            .await?;
        }
        let mut attempt_ids: Vec<Uuid> = outcomes.iter().map(|o| o.attempt.attempt_id).collect();
        attempt_ids.sort();
        sqlx::query("SELECT id FROM request_attempt WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&attempt_ids)
            .execute(&mut *tx)
            .await?;

        let now = now();
        let finished_ids = finish_attempts(&mut tx, &outcomes).await?;
        // The guard makes a second report for the same attempt a no-op: only the attempts
        // finished now move circuits and free slots.
        let outcomes: Vec<&DeliveryOutcome> = outcomes
            .into_iter()
            .filter(|o| finished_ids.contains(&o.attempt.attempt_id))
            .collect();
        let mut finished: HashMap<Uuid, usize> = HashMap::new();
        for o in &outcomes {
            *finished.entry(o.attempt.subscription_id).or_default() += 1;
        }
        let mut moved: Vec<Uuid> = finished.keys().copied().collect();
        moved.sort();
        // Each circuit as read, and as the outcomes move it.
        let mut circuits: HashMap<Uuid, (Circuit, Circuit)> =
            circuits::circuits_for_update(&mut tx, &moved)
                .await?
                .into_iter()
                .map(|(id, circuit)| (id, (circuit.clone(), circuit)))
                .collect();
        let wake = !finished_ids.is_empty();
        for o in outcomes {
            let a = &o.attempt;
            let done_at = o.completed_at;

            let (_, circuit) = circuits
                .entry(a.subscription_id)
                .or_insert_with(|| (Circuit::default(), Circuit::default()));
            let transition = if o.succeeded {
                circuit.record_success(done_at)
            } else {
                circuit.record_failure(done_at, &policy.circuit)
            };
            match transition {
                Transition::Opened { until } => {
                    tracing::info!(subscription_id = %a.subscription_id, %until, "circuit opened");
                    circuits::hold_pending(&mut tx, a.subscription_id, until, now).await?;
                }
                Transition::Closed => {
                    tracing::info!(subscription_id = %a.subscription_id, "circuit closed");
                    circuits::release_held(&mut tx, a.subscription_id).await?;
                }
                Transition::Unchanged => {}
            }
            let held_until = if circuit.state == CircuitState::Open {
                circuit.open_until
            } else {
                None
            };
            let mut disabled = false;
            if !o.succeeded {
                if let Some(window) = policy.auto_disable_after {
                    if circuit.failing_for(done_at, window, policy.circuit.failure_threshold) {
                        let circuit = circuit.clone();
                        disabled =
                            circuits::auto_disable(&mut tx, a.subscription_id, &circuit, done_at)
                                .await?;
                    }
                }
            }
            if o.succeeded {
                continue;
            }
            match o.retry_at {
                Some(retry_at) if !disabled => {
                    let due_at = held_until.map_or(retry_at, |held| held.max(retry_at));
                    sqlx::query(
                        "INSERT INTO request_attempt (id, application_id, event_id, subscription_id, created_at,
                             delay_until, due_at, retry_count)
                         SELECT $1, $2, $3, $4, $5, $6, $7, $8
                         WHERE EXISTS (SELECT 1 FROM subscription s JOIN application app ON app.id = s.application_id
                                       WHERE s.id = $4 AND s.is_enabled AND s.deleted_at IS NULL
                                         AND app.deleted_at IS NULL)",
                    )
                    .bind(Uuid::now_v7())
                    .bind(a.application_id)
                    .bind(a.event_id)
                    .bind(a.subscription_id)
                    .bind(done_at)
                    .bind(retry_at)
                    .bind(due_at)
                    .bind(a.retry_count + 1)
                    .execute(&mut *tx)
                    .await?;
                }
                // A failure with no retry left, or whose subscription was just auto-disabled.
                _ => {
                    sqlx::query("UPDATE request_attempt SET dead_lettered_at = $1 WHERE id = $2")
                        .bind(done_at)
                        .bind(a.attempt_id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        // An open circuit keeps them held; the claim would only hold them again.
        let releases: Vec<(Uuid, usize)> = finished
            .into_iter()
            .filter(|(subscription_id, _)| {
                circuits
                    .get(subscription_id)
                    .is_none_or(|(_, circuit)| circuit.state == CircuitState::Closed)
            })
            .collect();
        circuits::release_parked(&mut tx, &releases, now).await?;
        for (subscription_id, (read, circuit)) in &circuits {
            if read != circuit {
                circuits::save_circuit(&mut tx, *subscription_id, circuit).await?;
            }
        }
        tx.commit().await?;
        if wake {
            // Freed slots, retry rows, released attempts: after the commit, coalesced.
            self.wakeups.announce();
        }
        Ok(())
    }
}

/// Finishes the attempts of the outcomes and stores their responses, in one statement; returns
/// the attempts finished now (an attempt finished already, by a second report after its lease
/// expired or by a subscription change meanwhile, is left alone and gets no response).
async fn finish_attempts(
    tx: &mut sqlx::PgConnection,
    outcomes: &[&DeliveryOutcome],
) -> StoreResult<HashSet<Uuid>> {
    let ids: Vec<Uuid> = outcomes.iter().map(|o| o.attempt.attempt_id).collect();
    let succeeded: Vec<bool> = outcomes.iter().map(|o| o.succeeded).collect();
    let done_at: Vec<_> = outcomes.iter().map(|o| o.completed_at).collect();
    let response_ids: Vec<Uuid> = outcomes.iter().map(|o| o.response.id).collect();
    let applications: Vec<Uuid> = outcomes.iter().map(|o| o.response.application_id).collect();
    let errors: Vec<Option<&str>> = outcomes
        .iter()
        .map(|o| o.response.error_name.as_deref())
        .collect();
    let codes: Vec<Option<i32>> = outcomes.iter().map(|o| o.response.http_code).collect();
    let headers: Vec<Option<Json<&hook0_core::model::StringMap>>> = outcomes
        .iter()
        .map(|o| o.response.headers.as_ref().map(Json))
        .collect();
    let bodies: Vec<Option<&[u8]>> = outcomes
        .iter()
        .map(|o| o.response.body.as_deref())
        .collect();
    let elapsed: Vec<i64> = outcomes
        .iter()
        .map(|o| o.response.elapsed_time_ms)
        .collect();
    // The response INSERT runs whether or not the final SELECT reads it (a data-modifying
    // WITH always runs to completion) and stores only the responses of attempts finished now.
    let finished: HashSet<Uuid> = sqlx::query_scalar(
        "WITH finished AS (
             UPDATE request_attempt ra
             SET succeeded_at = CASE WHEN o.ok THEN o.done_at END,
                 failed_at = CASE WHEN o.ok THEN NULL ELSE o.done_at END,
                 response_id = o.response_id, due_at = NULL
             FROM UNNEST($1::uuid[], $2::bool[], $3::timestamptz[], $4::uuid[])
                 AS o(id, ok, done_at, response_id)
             WHERE ra.id = o.id AND ra.succeeded_at IS NULL AND ra.failed_at IS NULL
             RETURNING ra.id, ra.response_id),
         stored AS (
             INSERT INTO response (id, application_id, error_name, http_code, headers, body,
                 elapsed_time_ms, created_at)
             SELECT * FROM UNNEST($4::uuid[], $5::uuid[], $6::text[], $7::int4[], $8::jsonb[],
                 $9::bytea[], $10::int8[], $3::timestamptz[])
                 AS r(id, application_id, error_name, http_code, headers, body, elapsed_time_ms,
                      created_at)
             WHERE r.id IN (SELECT response_id FROM finished)
             RETURNING 1)
         SELECT id FROM finished",
    )
    .bind(&ids)
    .bind(&succeeded)
    .bind(&done_at)
    .bind(&response_ids)
    .bind(&applications)
    .bind(&errors)
    .bind(&codes)
    .bind(&headers)
    .bind(&bodies)
    .bind(&elapsed)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    Ok(finished)
}
