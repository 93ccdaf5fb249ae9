//! The delivery queue on SQLite. A pending attempt has a `due_at`; claiming moves `due_at` to
//! the end of the lease, so an attempt whose worker died becomes due again by itself. Finishing
//! clears `due_at`, which takes the row out of the partial index the claim scans.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hook0_core::delivery::{AttemptRef, DeliveryJob, DeliveryOutcome};
use hook0_core::model::{HttpTarget, PayloadContentType};
use rusqlite::{params, params_from_iter, Connection};
use uuid::Uuid;

use super::convert::*;
use crate::{StoreError, StoreResult};

pub fn claim_due_attempts(
    c: &Connection,
    worker: &str,
    limit: u32,
    lease: Duration,
) -> StoreResult<Vec<DeliveryJob>> {
    let now = micros(now());
    let lease_end = now + lease.as_micros() as i64;
    let ids: Vec<Uuid> = c
        .prepare_cached(
            "UPDATE request_attempt SET picked_at = ?1, due_at = ?2, worker_name = ?3
             WHERE id IN (SELECT id FROM request_attempt WHERE due_at IS NOT NULL AND due_at <= ?1
                          ORDER BY due_at LIMIT ?4)
             RETURNING id",
        )?
        .query_map(params![now, lease_end, worker, limit], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // One prepared lookup per claimed id: a fixed statement stays in the statement cache,
    // where an `IN (…)` list of varying length would compile a new one per batch size.
    let mut stmt = c.prepare_cached(
        "SELECT ra.id, ra.application_id, ra.event_id, ra.subscription_id, ra.retry_count, ra.created_at,
                ra.delay_until, e.received_at, e.event_type_name, e.payload, e.payload_content_type,
                s.target_method, s.target_url, s.target_headers, s.secret
         FROM request_attempt ra
         JOIN event e ON e.id = ra.event_id
         JOIN subscription s ON s.id = ra.subscription_id
         WHERE ra.id = ?",
    )?;
    let mut rows = Vec::with_capacity(ids.len());
    for id in &ids {
        let row = stmt.query_row([id], |row| {
            let created_at = time(row.get(5)?);
            let delay_until = opt_time(row.get(6)?);
            let job = DeliveryJob {
                attempt: AttemptRef {
                    attempt_id: row.get(0)?,
                    application_id: row.get(1)?,
                    event_id: row.get(2)?,
                    subscription_id: row.get(3)?,
                    retry_count: row.get(4)?,
                },
                due_at: delay_until.map_or(created_at, |d| d.max(created_at)),
                event_received_at: time(row.get(7)?),
                event_type_name: row.get(8)?,
                payload: row.get(9)?,
                payload_content_type: PayloadContentType::TextPlain,
                target: HttpTarget {
                    method: row.get(11)?,
                    url: row.get(12)?,
                    headers: Default::default(),
                },
                secret: row.get(14)?,
            };
            let content_type: String = row.get(10)?;
            let headers: String = row.get(13)?;
            Ok((job, content_type, headers))
        })?;
        rows.push(row);
    }
    rows.into_iter()
        .map(|(mut job, content_type, headers)| {
            job.payload_content_type =
                PayloadContentType::parse(&content_type).ok_or_else(|| {
                    StoreError::Database(format!("unknown content type {content_type}"))
                })?;
            job.target.headers = from_json(&headers)?;
            Ok(job)
        })
        .collect()
}

/// Returns whether any retry row was created (the worker must be woken for it).
pub fn record_outcomes(c: &Connection, outcomes: &[DeliveryOutcome]) -> StoreResult<bool> {
    let mut finish = c.prepare_cached(
        "UPDATE request_attempt SET succeeded_at = ?, failed_at = ?, response_id = ?, due_at = NULL
         WHERE id = ? AND succeeded_at IS NULL AND failed_at IS NULL",
    )?;
    let mut insert_response = c.prepare_cached(
        "INSERT INTO response (id, application_id, error_name, http_code, headers, body, elapsed_time_ms, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )?;
    let mut insert_retry = c.prepare_cached(
        "INSERT INTO request_attempt (id, application_id, event_id, subscription_id, created_at,
             delay_until, due_at, retry_count)
         SELECT ?, ?, ?, ?, ?, ?, ?, ?
         WHERE EXISTS (SELECT 1 FROM subscription s JOIN application app ON app.id = s.application_id
                       WHERE s.id = ? AND s.is_enabled = 1 AND s.deleted_at IS NULL AND app.deleted_at IS NULL)",
    )?;
    let mut retried = false;
    for o in outcomes {
        let a = &o.attempt;
        let done_at = micros(o.completed_at);
        let (succeeded_at, failed_at) = if o.succeeded {
            (Some(done_at), None)
        } else {
            (None, Some(done_at))
        };
        // The guard makes a second report for the same attempt (lease expired and redelivered,
        // or attempt failed by a subscription change meanwhile) a no-op.
        if finish.execute(params![
            succeeded_at,
            failed_at,
            o.response.id,
            a.attempt_id
        ])? == 0
        {
            continue;
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
        if let Some(retry_at) = o.retry_at {
            let retry_at = micros(retry_at);
            retried |= insert_retry.execute(params![
                Uuid::now_v7(),
                a.application_id,
                a.event_id,
                a.subscription_id,
                done_at,
                retry_at,
                retry_at,
                a.retry_count + 1,
                a.subscription_id,
            ])? > 0;
        }
    }
    Ok(retried)
}

pub fn release_attempts(c: &Connection, attempt_ids: &[Uuid]) -> StoreResult<()> {
    if attempt_ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE request_attempt SET picked_at = NULL, due_at = {} WHERE due_at IS NOT NULL AND id IN ({})",
        micros(now()),
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
