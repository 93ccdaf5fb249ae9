//! Recording delivery outcomes on PostgreSQL, in one transaction: the attempts are finished
//! and their responses stored in one statement, then the writes of the batch's
//! [`outcome_plan`] (the rules both backends share: circuits, holds and releases,
//! auto-disable, retry rows, dead letters, parked attempts let go) run in order.
//!
//! Locks: the subscriptions with a failure in the batch (`FOR NO KEY UPDATE`, by id) first, so a
//! retry row or an auto-disable cannot race a subscription change; then the attempts by id; then
//! health rows, which serialize circuit updates of one subscription across workers; then the
//! rows of the ordering keys the batch moves, in (subscription, key) order, as ingest locks them.

use std::collections::{HashMap, HashSet};

use hook0_core::circuit::Circuit;
use hook0_core::delivery::{DeliveryOutcome, OutcomePolicy};
use hook0_core::model::OnDeadLetter;
use sqlx::types::Json;
use uuid::Uuid;

use super::PostgresStore;
use super::{circuits, ordering};
use crate::outcome_plan::{self, Keyed, Wake, Write};
use crate::StoreResult;

impl PostgresStore {
    pub(super) async fn write_outcomes(
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
        // Several attempts are locked in id order first, as every writer locks them, so that
        // two batches cannot deadlock; a single one (every batch at a light rate) is locked by
        // the statement finishing it, at the same point: a round trip saved.
        if outcomes.len() > 1 {
            let mut attempt_ids: Vec<Uuid> =
                outcomes.iter().map(|o| o.attempt.attempt_id).collect();
            attempt_ids.sort();
            sqlx::query("SELECT id FROM request_attempt WHERE id = ANY($1) ORDER BY id FOR UPDATE")
                .bind(&attempt_ids)
                .execute(&mut *tx)
                .await?;
        }

        let now = self.clock.now();
        let finished = finish_attempts(&mut tx, &outcomes).await?;
        let finished_ids: HashSet<Uuid> = finished.iter().map(|(id, _)| *id).collect();
        // The guard makes a second report for the same attempt a no-op: only the attempts
        // finished now move circuits and free slots.
        let outcomes: Vec<&DeliveryOutcome> = outcomes
            .into_iter()
            .filter(|o| finished_ids.contains(&o.attempt.attempt_id))
            .collect();
        let mut moved: Vec<Uuid> = outcomes.iter().map(|o| o.attempt.subscription_id).collect();
        moved.sort();
        moved.dedup();
        let read: HashMap<Uuid, Circuit> = circuits::circuits_for_update(&mut tx, &moved)
            .await?
            .into_iter()
            .collect();
        let keyed = keyed(&mut tx, &outcomes, finished).await?;
        let plan = outcome_plan::plan(&outcomes, &read, &keyed, policy);
        let mut work_due = plan.makes_work_due();
        // Lines move on together, after the other writes: one statement for the batch.
        let mut advancing = Vec::new();
        for write in &plan.writes {
            match write {
                Write::HoldPending {
                    subscription_id,
                    until,
                } => {
                    tracing::info!(%subscription_id, %until, "circuit opened");
                    circuits::hold_pending(&mut tx, *subscription_id, *until, now).await?;
                }
                Write::ReleaseHeld { subscription_id } => {
                    tracing::info!(%subscription_id, "circuit closed");
                    circuits::release_held(&mut tx, *subscription_id).await?;
                }
                Write::AutoDisable {
                    subscription_id,
                    circuit,
                    at,
                } => {
                    circuits::auto_disable(&mut tx, *subscription_id, circuit, *at).await?;
                }
                Write::Retry {
                    attempt: a,
                    created_at,
                    delay_until,
                    due_at,
                } => {
                    // A retry keeps the failed attempt's place in its key's line.
                    sqlx::query(
                        "INSERT INTO request_attempt (id, application_id, event_id, subscription_id, created_at,
                             delay_until, due_at, retry_count, ordering_key, ordering_seq)
                         SELECT $1, $2, $3, $4, $5, $6, $7, $8, failed.ordering_key, failed.ordering_seq
                         FROM request_attempt failed
                         WHERE failed.id = $9
                           AND EXISTS (SELECT 1 FROM subscription s JOIN application app ON app.id = s.application_id
                                       WHERE s.id = $4 AND s.is_enabled AND s.deleted_at IS NULL
                                         AND app.deleted_at IS NULL)",
                    )
                    .bind(Uuid::now_v7())
                    .bind(a.application_id)
                    .bind(a.event_id)
                    .bind(a.subscription_id)
                    .bind(created_at)
                    .bind(delay_until)
                    .bind(due_at)
                    .bind(a.retry_count + 1)
                    .bind(a.attempt_id)
                    .execute(&mut *tx)
                    .await?;
                }
                Write::DeadLetter { attempt_id, at } => {
                    sqlx::query("UPDATE request_attempt SET dead_lettered_at = $1 WHERE id = $2")
                        .bind(at)
                        .bind(attempt_id)
                        .execute(&mut *tx)
                        .await?;
                }
                Write::AdvanceKey {
                    subscription_id,
                    key,
                } => advancing.push((*subscription_id, key.clone())),
                Write::HoldKey {
                    subscription_id,
                    key,
                    attempt_id,
                    at,
                } => ordering::hold(&mut tx, *subscription_id, key, *attempt_id, *at).await?,
            }
        }
        ordering::advance_all(&mut tx, &advancing, now).await?;
        work_due |= circuits::release_parked(&mut tx, &plan.releases, now).await? > 0;
        for (subscription_id, circuit) in &plan.circuits {
            circuits::save_circuit(&mut tx, *subscription_id, circuit).await?;
        }
        tx.commit().await?;
        // After the commit, coalesced.
        match Wake::after(finished_ids.len(), work_due) {
            Wake::Work => self.wakeups.announce(),
            Wake::Slots => self.wakeups.announce_slots(),
            Wake::Nobody => {}
        }
        Ok(())
    }
}

/// The keys of the finished attempts in an ordered line, with their subscription's dead-letter
/// policy; their rows are locked here, in order, before the plan moves them.
async fn keyed(
    tx: &mut sqlx::PgConnection,
    outcomes: &[&DeliveryOutcome],
    finished: Vec<(Uuid, Option<String>)>,
) -> StoreResult<HashMap<Uuid, Keyed>> {
    let keys: HashMap<Uuid, String> = finished
        .into_iter()
        .filter_map(|(id, key)| Some((id, key?)))
        .collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let lines: Vec<(Uuid, String)> = outcomes
        .iter()
        .filter_map(|o| {
            let key = keys.get(&o.attempt.attempt_id)?;
            Some((o.attempt.subscription_id, key.clone()))
        })
        .collect();
    let policies: HashMap<Uuid, OnDeadLetter> = ordering::lock_keys(tx, &lines).await?;
    Ok(outcomes
        .iter()
        .filter_map(|o| {
            let key = keys.get(&o.attempt.attempt_id)?;
            let on_dead_letter = policies
                .get(&o.attempt.subscription_id)
                .copied()
                .unwrap_or_default();
            Some((
                o.attempt.attempt_id,
                Keyed {
                    key: key.clone(),
                    on_dead_letter,
                },
            ))
        })
        .collect())
}

/// Finishes the attempts of the outcomes and stores their responses, in one statement; returns
/// the attempts finished now with their ordering key (an attempt finished already, by a second
/// report after its lease expired or by a subscription change meanwhile, is left alone and gets
/// no response).
async fn finish_attempts(
    tx: &mut sqlx::PgConnection,
    outcomes: &[&DeliveryOutcome],
) -> StoreResult<Vec<(Uuid, Option<String>)>> {
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
    let finished: Vec<(Uuid, Option<String>)> = sqlx::query_as(
        "WITH finished AS (
             UPDATE request_attempt ra
             SET succeeded_at = CASE WHEN o.ok THEN o.done_at END,
                 failed_at = CASE WHEN o.ok THEN NULL ELSE o.done_at END,
                 response_id = o.response_id, due_at = NULL
             FROM UNNEST($1::uuid[], $2::bool[], $3::timestamptz[], $4::uuid[])
                 AS o(id, ok, done_at, response_id)
             -- The id list again, as an index condition: a generic plan made while the table
             -- was small could otherwise join by a scan of it.
             WHERE ra.id = ANY($1) AND ra.id = o.id
               AND ra.succeeded_at IS NULL AND ra.failed_at IS NULL
             RETURNING ra.id, ra.response_id, ra.ordering_key),
         stored AS (
             INSERT INTO response (id, application_id, error_name, http_code, headers, body,
                 elapsed_time_ms, created_at)
             SELECT * FROM UNNEST($4::uuid[], $5::uuid[], $6::text[], $7::int4[], $8::jsonb[],
                 $9::bytea[], $10::int8[], $3::timestamptz[])
                 AS r(id, application_id, error_name, http_code, headers, body, elapsed_time_ms,
                      created_at)
             WHERE r.id IN (SELECT response_id FROM finished)
             RETURNING 1)
         SELECT id, ordering_key FROM finished",
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
    .await?;
    Ok(finished)
}
