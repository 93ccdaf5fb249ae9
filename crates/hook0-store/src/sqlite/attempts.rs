//! Reading request attempts and responses on SQLite (`GET /request_attempts`, `/responses`).

use async_trait::async_trait;
use chrono::NaiveDate;
use hook0_core::model::*;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::convert::*;
use super::SqliteStore;
use crate::{AttemptFilter, Attempts, StoreResult};

pub(super) const ATTEMPT_COLUMNS: &str = "SELECT ra.id, ra.application_id, ra.event_id, e.event_type_name, ra.subscription_id,
        s.description, ra.created_at, ra.picked_at, ra.failed_at, ra.succeeded_at, ra.delay_until, ra.response_id,
        ra.retry_count, r.http_code, ra.ordering_key, ra.dead_lettered_at
    FROM request_attempt ra
    JOIN event e ON e.application_id = ra.application_id AND e.id = ra.event_id
    JOIN subscription s ON s.id = ra.subscription_id
    LEFT JOIN response r ON r.id = ra.response_id ";

pub(super) fn attempt(row: &Row) -> rusqlite::Result<RequestAttempt> {
    Ok(RequestAttempt {
        id: row.get("id")?,
        application_id: row.get("application_id")?,
        event_id: row.get("event_id")?,
        event_type_name: row.get("event_type_name")?,
        subscription_id: row.get("subscription_id")?,
        subscription_description: row.get("description")?,
        created_at: time(row.get("created_at")?),
        picked_at: opt_time(row.get("picked_at")?),
        failed_at: opt_time(row.get("failed_at")?),
        succeeded_at: opt_time(row.get("succeeded_at")?),
        delay_until: opt_time(row.get("delay_until")?),
        response_id: row.get("response_id")?,
        retry_count: row.get("retry_count")?,
        http_response_status: row.get("http_code")?,
        ordering_key: row.get("ordering_key")?,
    })
}

pub(super) fn blob(id: Uuid) -> Value {
    Value::Blob(id.as_bytes().to_vec())
}

pub fn list_request_attempts(
    c: &Connection,
    f: &AttemptFilter,
) -> StoreResult<Vec<RequestAttempt>> {
    let mut sql = format!("{ATTEMPT_COLUMNS} WHERE ra.application_id = ?");
    let mut args: Vec<Value> = vec![blob(f.application_id)];
    if let Some(id) = f.event_id {
        sql.push_str(" AND ra.event_id = ?");
        args.push(blob(id));
    }
    if let Some(id) = f.subscription_id {
        sql.push_str(" AND ra.subscription_id = ?");
        args.push(blob(id));
    }
    if let Some(t) = f.min_created_at {
        sql.push_str(" AND ra.created_at >= ?");
        args.push(Value::Integer(micros(t)));
    }
    if let Some(t) = f.max_created_at {
        sql.push_str(" AND ra.created_at <= ?");
        args.push(Value::Integer(micros(t)));
    }
    if let Some(names) = f.event_type_names.as_ref().filter(|n| !n.is_empty()) {
        sql.push_str(&format!(
            " AND e.event_type_name IN ({})",
            placeholders(names.len())
        ));
        args.extend(names.iter().map(|n| Value::Text(n.clone())));
    }
    if !f.statuses.is_empty() {
        let mut any = Vec::new();
        for status in &f.statuses {
            let (condition, then_now) = status.sql();
            if then_now {
                any.push(format!("{condition}?)"));
                args.push(Value::Integer(micros(f.now)));
            } else {
                any.push(condition.to_string());
            }
        }
        sql.push_str(&format!(" AND ({})", any.join(" OR ")));
    }
    if let Some((created_at, id)) = f.before {
        sql.push_str(" AND (ra.created_at, ra.id) < (?, ?)");
        args.push(Value::Integer(micros(created_at)));
        args.push(blob(id));
    }
    sql.push_str(" ORDER BY ra.created_at DESC, ra.id DESC LIMIT ?");
    args.push(Value::Integer(f.limit.into()));
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(args), attempt)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn delivery_outcomes_per_day(
    c: &Connection,
    application_id: Uuid,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> StoreResult<Vec<crate::DailyOutcomes>> {
    let start = micros(from.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    let end = micros(
        (to + chrono::Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc(),
    );
    let mut stmt = c.prepare_cached(
        "SELECT date(created_at / 1000000, 'unixepoch') AS day,
                SUM(succeeded_at IS NOT NULL),
                SUM(succeeded_at IS NULL AND failed_at IS NOT NULL),
                SUM(succeeded_at IS NULL AND failed_at IS NULL)
         FROM request_attempt
         WHERE application_id = ? AND created_at >= ? AND created_at < ?
         GROUP BY day ORDER BY day",
    )?;
    let rows = stmt
        .query_map(params![application_id, start, end], |r| {
            Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<Vec<(String, i64, i64, i64)>, _>>()?;
    rows.into_iter()
        .map(|(day, succeeded, failed, open)| {
            Ok(crate::DailyOutcomes {
                date: day
                    .parse()
                    .map_err(|_| crate::StoreError::Database(format!("bad day {day}")))?,
                succeeded,
                failed,
                open,
            })
        })
        .collect()
}

pub fn get_request_attempt(
    c: &Connection,
    application_id: Uuid,
    id: Uuid,
) -> StoreResult<Option<RequestAttempt>> {
    Ok(c.prepare_cached(&format!(
        "{ATTEMPT_COLUMNS} WHERE ra.application_id = ? AND ra.id = ?"
    ))?
    .query_row(params![application_id, id], attempt)
    .optional()?)
}

pub fn get_response(
    c: &Connection,
    application_id: Uuid,
    id: Uuid,
) -> StoreResult<Option<Response>> {
    let row = c
        .prepare_cached("SELECT * FROM response WHERE application_id = ? AND id = ?")?
        .query_row(params![application_id, id], |row| {
            let headers: Option<String> = row.get("headers")?;
            let response = Response {
                id: row.get("id")?,
                application_id: row.get("application_id")?,
                error_name: row.get("error_name")?,
                http_code: row.get("http_code")?,
                headers: None,
                body: row.get("body")?,
                elapsed_time_ms: row.get("elapsed_time_ms")?,
            };
            Ok((response, headers))
        })
        .optional()?;
    row.map(|(mut response, headers)| {
        response.headers = headers.as_deref().map(from_json).transpose()?;
        Ok(response)
    })
    .transpose()
}

#[async_trait]
impl Attempts for SqliteStore {
    async fn delivery_outcomes_per_day(
        &self,
        application_id: Uuid,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<crate::DailyOutcomes>> {
        self.db
            .read(move |c| delivery_outcomes_per_day(c, application_id, from, to))
            .await
    }
    async fn list_request_attempts(
        &self,
        filter: &AttemptFilter,
    ) -> StoreResult<Vec<RequestAttempt>> {
        let filter = filter.clone();
        self.db
            .read(move |c| list_request_attempts(c, &filter))
            .await
    }
    async fn get_request_attempt(
        &self,
        application_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<RequestAttempt>> {
        self.db
            .read(move |c| get_request_attempt(c, application_id, id))
            .await
    }
    async fn get_response(&self, application_id: Uuid, id: Uuid) -> StoreResult<Option<Response>> {
        self.db
            .read(move |c| get_response(c, application_id, id))
            .await
    }
}
