//! The delivery queue on SQLite, besides the claim (`claim.rs`): outcomes, release, the next due
//! time. A pending attempt has a `due_at`; a claim moves it to the end of the lease, so an
//! attempt whose worker died becomes due again by itself; finishing clears it, which takes the
//! row out of the partial index the claim scans.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::delivery::{ClaimRequest, DeliveryOutcome, OutcomePolicy};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use uuid::Uuid;

use super::convert::*;
use super::{circuits, ordering, SqliteStore};
use crate::outcome_plan::{self, Keyed, Wake, Write};
use crate::{Claimed, DeliveryQueue, NextDue, QueueStats, StoreResult};

/// Writes a batch of outcomes: finishes each attempt and stores its response (a second report
/// for an attempt already finished is a no-op), then runs the writes of the batch's
/// [`outcome_plan`] (circuits, holds and releases, auto-disable, retry rows, dead letters).
/// Returns whom to wake once committed ([`Wake`]): a waiting worker when attempts became due,
/// only one blocked by a cap when deliveries merely finished.
pub fn record_outcomes(
    c: &Connection,
    outcomes: &[DeliveryOutcome],
    policy: &OutcomePolicy,
    now: DateTime<Utc>,
) -> StoreResult<Wake> {
    let mut finish = c.prepare_cached(
        "UPDATE request_attempt SET succeeded_at = ?, failed_at = ?, response_id = ?, due_at = NULL
         WHERE id = ? AND succeeded_at IS NULL AND failed_at IS NULL
         RETURNING ordering_key",
    )?;
    let mut insert_response = c.prepare_cached(
        "INSERT INTO response (id, application_id, error_name, http_code, headers, body, elapsed_time_ms, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )?;
    let mut finished = Vec::new();
    let mut keyed = HashMap::new();
    let mut policies = HashMap::new();
    for o in outcomes {
        let done_at = micros(o.completed_at);
        let (succeeded_at, failed_at) = if o.succeeded {
            (Some(done_at), None)
        } else {
            (None, Some(done_at))
        };
        // The guard makes a second report for the same attempt (lease expired and redelivered,
        // or attempt failed by a subscription change meanwhile) a no-op.
        let Some(key) = finish
            .query_row(
                params![succeeded_at, failed_at, o.response.id, o.attempt.attempt_id],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
        else {
            continue;
        };
        if let Some(key) = key {
            let on_dead_letter = match policies.entry(o.attempt.subscription_id) {
                Entry::Occupied(known) => *known.get(),
                Entry::Vacant(vacant) => {
                    *vacant.insert(ordering::policy_of(c, o.attempt.subscription_id)?)
                }
            };
            keyed.insert(
                o.attempt.attempt_id,
                Keyed {
                    key,
                    on_dead_letter,
                },
            );
        }
        let r = &o.response;
        insert_response.execute(params![
            r.id,
            r.application_id,
            r.error_name,
            r.http_code,
            r.headers.as_ref().map(to_json),
            r.body,
            r.elapsed_time_ms,
            done_at,
        ])?;
        finished.push(o);
    }
    if finished.is_empty() {
        return Ok(Wake::Nobody);
    }
    let mut read = HashMap::new();
    for o in &finished {
        if let Entry::Vacant(vacant) = read.entry(o.attempt.subscription_id) {
            vacant.insert(circuits::circuit(c, o.attempt.subscription_id)?);
        }
    }
    let plan = outcome_plan::plan(&finished, &read, &keyed, policy);
    let now = micros(now);
    // A retry keeps the failed attempt's place in its key's line.
    let mut insert_retry = c.prepare_cached(
        "INSERT INTO request_attempt (id, application_id, event_id, subscription_id, created_at,
             delay_until, due_at, retry_count, ordering_key, ordering_seq)
         SELECT ?, ?, ?, ?, ?, ?, ?, ?, failed.ordering_key, failed.ordering_seq
         FROM request_attempt failed WHERE failed.id = ? AND EXISTS (SELECT 1 FROM subscription s JOIN application app ON app.id = s.application_id
                       WHERE s.id = ? AND s.is_enabled = 1 AND s.deleted_at IS NULL AND app.deleted_at IS NULL)",
    )?;
    let mut dead_letter =
        c.prepare_cached("UPDATE request_attempt SET dead_lettered_at = ? WHERE id = ?")?;
    for write in &plan.writes {
        match write {
            Write::HoldPending {
                subscription_id,
                until,
            } => {
                tracing::info!(%subscription_id, %until, "circuit opened");
                circuits::hold_pending(c, *subscription_id, micros(*until), now)?;
            }
            Write::ReleaseHeld { subscription_id } => {
                tracing::info!(%subscription_id, "circuit closed");
                circuits::release_held(c, *subscription_id)?;
            }
            Write::AutoDisable {
                subscription_id,
                circuit,
                at,
            } => {
                circuits::auto_disable(c, *subscription_id, circuit, micros(*at))?;
            }
            Write::Retry {
                attempt: a,
                created_at,
                delay_until,
                due_at,
            } => {
                insert_retry.execute(params![
                    Uuid::now_v7(),
                    a.application_id,
                    a.event_id,
                    a.subscription_id,
                    micros(*created_at),
                    micros(*delay_until),
                    micros(*due_at),
                    a.retry_count + 1,
                    a.attempt_id,
                    a.subscription_id,
                ])?;
            }
            Write::DeadLetter { attempt_id, at } => {
                dead_letter.execute(params![micros(*at), attempt_id])?;
            }
            Write::AdvanceKey {
                subscription_id,
                key,
            } => ordering::advance(c, *subscription_id, key, now)?,
            Write::HoldKey {
                subscription_id,
                key,
                attempt_id,
                at,
            } => ordering::hold(c, *subscription_id, key, *attempt_id, micros(*at))?,
        }
    }
    let mut work_due = plan.makes_work_due();
    for (subscription_id, count) in &plan.releases {
        work_due |= circuits::release_parked(c, *subscription_id, *count, now)? > 0;
    }
    for (subscription_id, circuit) in &plan.circuits {
        circuits::save_circuit(c, *subscription_id, circuit)?;
    }
    Ok(Wake::after(finished.len(), work_due))
}

pub fn release_attempts(
    c: &Connection,
    attempt_ids: &[Uuid],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    if attempt_ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE request_attempt SET picked_at = NULL, due_at = {} WHERE due_at IS NOT NULL AND id IN ({})",
        micros(now),
        placeholders(attempt_ids.len())
    );
    c.execute(&sql, params_from_iter(attempt_ids.iter()))?;
    Ok(())
}

pub fn next_due_at(c: &Connection) -> StoreResult<Option<DateTime<Utc>>> {
    let due: Option<i64> = c
        .prepare_cached("SELECT MIN(due_at) FROM request_attempt WHERE due_at IS NOT NULL")?
        .query_row([], |r| r.get(0))?;
    Ok(opt_time(due))
}

#[async_trait]
impl DeliveryQueue for SqliteStore {
    async fn release_attempts(&self, attempt_ids: &[Uuid]) -> StoreResult<()> {
        let ids = attempt_ids.to_vec();
        let now = self.clock.now();
        self.db
            .write(move |c| release_attempts(c, &ids, now))
            .await?;
        self.signal_work();
        Ok(())
    }
    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.db.read(next_due_at).await
    }
    async fn wait_for_work(&self, timeout: Duration) {
        self.waiters.wait(timeout).await;
    }
    async fn wait_for_new_work(&self, timeout: Duration) {
        self.waiters.wait_new(timeout).await;
    }
    async fn queue_stats(&self) -> StoreResult<QueueStats> {
        let now = self.clock.now();
        self.db
            .read(move |c| super::queue_stats::queue_stats(c, now))
            .await
    }
    async fn claim_attempts(&self, worker: &str, request: &ClaimRequest) -> StoreResult<Claimed> {
        let (worker, request) = (worker.to_owned(), request.clone());
        let now = self.clock.now();
        let jobs = self
            .db
            .write_lease(move |c| super::claim::claim_attempts(c, &worker, &request, now))
            .await?;
        // The next due time is a read on a reader thread, which keeps it off the single writer.
        Ok(Claimed {
            jobs,
            next_due: NextDue::Unknown,
        })
    }
    async fn record_delivery_outcomes(
        &self,
        outcomes: &[DeliveryOutcome],
        policy: &OutcomePolicy,
    ) -> StoreResult<()> {
        let (outcomes, policy) = (outcomes.to_vec(), policy.clone());
        let now = self.clock.now();
        match self
            .db
            .write(move |c| record_outcomes(c, &outcomes, &policy, now))
            .await?
        {
            Wake::Work => self.signal_work(),
            Wake::Slots => self.waiters.slots(),
            Wake::Nobody => {}
        }
        Ok(())
    }
}
