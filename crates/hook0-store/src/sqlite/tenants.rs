//! Organizations, applications, application secrets and event types on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::model::*;
use hook0_core::quota::Quota;
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::convert::*;
use super::SqliteStore;
use crate::{ApplicationScope, ApplicationUsage, StoreError, StoreResult, Tenants};

fn organization(row: &Row) -> rusqlite::Result<Organization> {
    Ok(Organization {
        id: row.get("id")?,
        name: row.get("name")?,
        created_at: time(row.get("created_at")?),
    })
}

fn application(row: &Row) -> rusqlite::Result<Application> {
    Ok(Application {
        id: row.get("id")?,
        organization_id: row.get("organization_id")?,
        name: row.get("name")?,
        retention_days: row.get("retention_days")?,
        created_at: time(row.get("created_at")?),
        deleted_at: opt_time(row.get("deleted_at")?),
    })
}

fn application_secret(row: &Row) -> rusqlite::Result<ApplicationSecret> {
    Ok(ApplicationSecret {
        token: row.get("token")?,
        application_id: row.get("application_id")?,
        name: row.get("name")?,
        created_at: time(row.get("created_at")?),
        deleted_at: opt_time(row.get("deleted_at")?),
    })
}

fn event_type(row: &Row) -> rusqlite::Result<EventType> {
    Ok(EventType {
        application_id: row.get("application_id")?,
        service: row.get("service")?,
        resource_type: row.get("resource_type")?,
        verb: row.get("verb")?,
        created_at: time(row.get("created_at")?),
        deactivated_at: opt_time(row.get("deactivated_at")?),
        // Written by us from a parsed value: a row that no longer parses reads as no schema.
        schema: row
            .get::<_, Option<String>>("schema")?
            .and_then(|text| serde_json::from_str(&text).ok()),
    })
}

pub fn list_organizations(c: &Connection) -> StoreResult<Vec<Organization>> {
    let mut stmt = c.prepare_cached("SELECT * FROM organization ORDER BY created_at, id")?;
    let rows = stmt
        .query_map([], organization)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn create_organization(c: &Connection, org: &Organization) -> StoreResult<()> {
    c.prepare_cached("INSERT INTO organization (id, name, created_at) VALUES (?, ?, ?)")?
        .execute(params![org.id, org.name, micros(org.created_at)])?;
    Ok(())
}

pub fn get_organization(c: &Connection, id: Uuid) -> StoreResult<Option<Organization>> {
    Ok(c.prepare_cached("SELECT * FROM organization WHERE id = ?")?
        .query_row([id], organization)
        .optional()?)
}

pub fn rename_organization(
    c: &Connection,
    id: Uuid,
    name: &str,
) -> StoreResult<Option<Organization>> {
    Ok(
        c.prepare_cached("UPDATE organization SET name = ? WHERE id = ? RETURNING *")?
            .query_row(params![name, id], organization)
            .optional()?,
    )
}

pub fn delete_organization(c: &Connection, id: Uuid) -> StoreResult<bool> {
    let live: i64 = c
        .prepare_cached(
            "SELECT COUNT(*) FROM application WHERE organization_id = ? AND deleted_at IS NULL",
        )?
        .query_row([id], |r| r.get(0))?;
    if live > 0 {
        return Err(StoreError::OrganizationIsNotEmpty);
    }
    let exists = c
        .prepare_cached("SELECT 1 FROM organization WHERE id = ?")?
        .exists([id])?;
    if !exists {
        return Ok(false);
    }
    // Soft-deleted applications keep their history until their organization goes.
    const APPS: &str = "(SELECT id FROM application WHERE organization_id = ?1)";
    for table in [
        "request_attempt",
        "response",
        "event",
        "subscription",
        "event_type",
        "application_secret",
    ] {
        c.execute(
            &format!("DELETE FROM {table} WHERE application_id IN {APPS}"),
            [id],
        )?;
    }
    c.execute("DELETE FROM application WHERE organization_id = ?1", [id])?;
    c.execute("DELETE FROM organization WHERE id = ?1", [id])?;
    Ok(true)
}

pub fn count_applications(c: &Connection, organization_id: Uuid) -> StoreResult<i64> {
    Ok(c.prepare_cached(
        "SELECT COUNT(*) FROM application WHERE organization_id = ? AND deleted_at IS NULL",
    )?
    .query_row([organization_id], |r| r.get(0))?)
}

pub fn list_applications(c: &Connection, organization_id: Uuid) -> StoreResult<Vec<Application>> {
    let mut stmt = c.prepare_cached(
        "SELECT * FROM application WHERE organization_id = ? AND deleted_at IS NULL ORDER BY created_at, id",
    )?;
    let rows = stmt
        .query_map([organization_id], application)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn create_application(
    c: &Connection,
    app: &Application,
    secret: &ApplicationSecret,
) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO application (id, organization_id, name, retention_days, created_at) VALUES (?, ?, ?, ?, ?)",
    )?
    .execute(params![
        app.id,
        app.organization_id,
        app.name, app.retention_days,
        micros(app.created_at)
    ])?;
    create_application_secret(c, secret)
}

pub fn get_application(c: &Connection, id: Uuid) -> StoreResult<Option<Application>> {
    Ok(
        c.prepare_cached("SELECT * FROM application WHERE id = ? AND deleted_at IS NULL")?
            .query_row([id], application)
            .optional()?,
    )
}

pub fn update_application(
    c: &Connection,
    id: Uuid,
    organization_id: Uuid,
    name: &str,
    retention_days: Option<i32>,
) -> StoreResult<Option<Application>> {
    Ok(c.prepare_cached(
        "UPDATE application SET name = ?, retention_days = ? WHERE id = ? AND organization_id = ? AND deleted_at IS NULL RETURNING *",
    )?
    .query_row(params![name, retention_days, id, organization_id], application)
    .optional()?)
}

pub fn delete_application(c: &Connection, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
    let now = micros(now);
    let done = c
        .prepare_cached(
            "UPDATE application SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
        )?
        .execute(params![now, id])?;
    c.prepare_cached(
        "UPDATE request_attempt SET failed_at = ?, due_at = NULL
         WHERE application_id = ? AND succeeded_at IS NULL AND failed_at IS NULL",
    )?
    .execute(params![now, id])?;
    Ok(done == 1)
}

pub fn application_usage(
    c: &Connection,
    id: Uuid,
    since: DateTime<Utc>,
) -> StoreResult<ApplicationUsage> {
    Ok(c.prepare_cached(
        "SELECT
            (SELECT COUNT(*) FROM event_type WHERE application_id = ?1 AND deactivated_at IS NULL),
            (SELECT COUNT(*) FROM subscription WHERE application_id = ?1 AND deleted_at IS NULL),
            (SELECT COUNT(*) FROM event WHERE application_id = ?1),
            (SELECT COALESCE(SUM(amount), 0) FROM events_per_day
             WHERE application_id = ?1 AND day >= ?2)",
    )?
    .query_row(params![id, since.date_naive().to_string()], |r| {
        Ok(ApplicationUsage {
            event_types: r.get(0)?,
            subscriptions: r.get(1)?,
            events: r.get(2)?,
            events_since: r.get(3)?,
        })
    })?)
}

pub fn application_scope(c: &Connection, id: Uuid) -> StoreResult<Option<ApplicationScope>> {
    Ok(c.prepare_cached(
        "SELECT organization_id FROM application WHERE id = ? AND deleted_at IS NULL",
    )?
    .query_row([id], |r| {
        Ok(ApplicationScope {
            application_id: id,
            organization_id: r.get(0)?,
        })
    })
    .optional()?)
}

pub fn application_by_secret(c: &Connection, token: Uuid) -> StoreResult<Option<ApplicationScope>> {
    Ok(c.prepare_cached(
        "SELECT a.id, a.organization_id FROM application_secret s JOIN application a ON a.id = s.application_id
         WHERE s.token = ? AND s.deleted_at IS NULL AND a.deleted_at IS NULL",
    )?
    .query_row([token], |r| Ok(ApplicationScope { application_id: r.get(0)?, organization_id: r.get(1)? }))
    .optional()?)
}

pub fn list_application_secrets(
    c: &Connection,
    application_id: Uuid,
) -> StoreResult<Vec<ApplicationSecret>> {
    let mut stmt = c.prepare_cached(
        "SELECT * FROM application_secret WHERE application_id = ? AND deleted_at IS NULL ORDER BY created_at, token",
    )?;
    let rows = stmt
        .query_map([application_id], application_secret)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn create_application_secret(c: &Connection, s: &ApplicationSecret) -> StoreResult<()> {
    c.prepare_cached("INSERT INTO application_secret (token, application_id, name, created_at) VALUES (?, ?, ?, ?)")?
        .execute(params![s.token, s.application_id, s.name, micros(s.created_at)])?;
    Ok(())
}

pub fn rename_application_secret(
    c: &Connection,
    application_id: Uuid,
    token: Uuid,
    name: Option<&str>,
) -> StoreResult<Option<ApplicationSecret>> {
    Ok(c.prepare_cached(
        "UPDATE application_secret SET name = ? WHERE application_id = ? AND token = ? AND deleted_at IS NULL RETURNING *",
    )?
    .query_row(params![name, application_id, token], application_secret)
    .optional()?)
}

pub fn delete_application_secret(
    c: &Connection,
    application_id: Uuid,
    token: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let done = c
        .prepare_cached(
            "UPDATE application_secret SET deleted_at = ? WHERE application_id = ? AND token = ? AND deleted_at IS NULL",
        )?
        .execute(params![micros(now), application_id, token])?;
    Ok(done == 1)
}

pub fn upsert_event_type(c: &Connection, et: &EventType) -> StoreResult<EventType> {
    Ok(c.prepare_cached(
        "INSERT INTO event_type (application_id, name, service, resource_type, verb, created_at, schema)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (application_id, name) DO UPDATE SET deactivated_at = NULL,
             schema = COALESCE(excluded.schema, event_type.schema)
         RETURNING *",
    )?
    .query_row(
        params![
            et.application_id,
            et.name(),
            et.service,
            et.resource_type,
            et.verb,
            micros(et.created_at),
            et.schema.as_ref().map(|s| s.to_string()),
        ],
        event_type,
    )?)
}

pub fn list_event_types(c: &Connection, application_id: Uuid) -> StoreResult<Vec<EventType>> {
    let mut stmt =
        c.prepare_cached("SELECT * FROM event_type WHERE application_id = ? AND deactivated_at IS NULL ORDER BY name")?;
    let rows = stmt
        .query_map([application_id], event_type)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn get_event_type(
    c: &Connection,
    application_id: Uuid,
    name: &str,
) -> StoreResult<Option<EventType>> {
    Ok(c.prepare_cached(
        "SELECT * FROM event_type WHERE application_id = ? AND name = ? AND deactivated_at IS NULL",
    )?
    .query_row(params![application_id, name], event_type)
    .optional()?)
}

/// Sets (or, with `None`, removes) a live event type's schema.
pub fn set_event_type_schema(
    c: &Connection,
    application_id: Uuid,
    name: &str,
    schema: Option<&serde_json::Value>,
) -> StoreResult<bool> {
    let done = c
        .prepare_cached(
            "UPDATE event_type SET schema = ? WHERE application_id = ? AND name = ? AND deactivated_at IS NULL",
        )?
        .execute(params![schema.map(|s| s.to_string()), application_id, name])?;
    Ok(done == 1)
}

pub fn deactivate_event_type(
    c: &Connection,
    application_id: Uuid,
    name: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let done = c
        .prepare_cached(
            "UPDATE event_type SET deactivated_at = ? WHERE application_id = ? AND name = ? AND deactivated_at IS NULL",
        )?
        .execute(params![micros(now), application_id, name])?;
    Ok(done == 1)
}

#[async_trait]
impl Tenants for SqliteStore {
    async fn list_organizations(&self) -> StoreResult<Vec<Organization>> {
        self.db.read(list_organizations).await
    }
    async fn create_organization(&self, org: &Organization) -> StoreResult<()> {
        let org = org.clone();
        self.db.write(move |c| create_organization(c, &org)).await
    }
    async fn get_organization(&self, id: Uuid) -> StoreResult<Option<Organization>> {
        self.db.read(move |c| get_organization(c, id)).await
    }
    async fn rename_organization(&self, id: Uuid, name: &str) -> StoreResult<Option<Organization>> {
        let name = name.to_owned();
        self.db
            .write(move |c| rename_organization(c, id, &name))
            .await
    }
    async fn delete_organization(&self, id: Uuid) -> StoreResult<bool> {
        self.db.write(move |c| delete_organization(c, id)).await
    }
    async fn count_applications(&self, organization_id: Uuid) -> StoreResult<i64> {
        self.db
            .read(move |c| count_applications(c, organization_id))
            .await
    }
    async fn list_applications(&self, organization_id: Uuid) -> StoreResult<Vec<Application>> {
        self.db
            .read(move |c| list_applications(c, organization_id))
            .await
    }
    async fn create_application_within(
        &self,
        app: &Application,
        first_secret: &ApplicationSecret,
        limit: Option<u32>,
    ) -> StoreResult<()> {
        let (app, secret) = (app.clone(), first_secret.clone());
        self.db
            .write(move |c| {
                super::within_quota(
                    c,
                    Quota::ApplicationsPerOrganization,
                    app.organization_id,
                    "",
                    limit,
                )?;
                create_application(c, &app, &secret)
            })
            .await
    }
    async fn get_application(&self, id: Uuid) -> StoreResult<Option<Application>> {
        self.db.read(move |c| get_application(c, id)).await
    }
    async fn update_application(
        &self,
        id: Uuid,
        organization_id: Uuid,
        name: &str,
        retention_days: Option<i32>,
    ) -> StoreResult<Option<Application>> {
        let name = name.to_owned();
        self.db
            .write(move |c| update_application(c, id, organization_id, &name, retention_days))
            .await
    }
    async fn delete_application(&self, id: Uuid) -> StoreResult<bool> {
        let now = self.clock.now();
        self.db.write(move |c| delete_application(c, id, now)).await
    }
    async fn application_usage(
        &self,
        id: Uuid,
        since: DateTime<Utc>,
    ) -> StoreResult<ApplicationUsage> {
        self.db.read(move |c| application_usage(c, id, since)).await
    }
    async fn application_scope(&self, id: Uuid) -> StoreResult<Option<ApplicationScope>> {
        self.db.read(move |c| application_scope(c, id)).await
    }
    async fn application_by_secret(&self, token: Uuid) -> StoreResult<Option<ApplicationScope>> {
        self.db.read(move |c| application_by_secret(c, token)).await
    }
    async fn list_application_secrets(
        &self,
        application_id: Uuid,
    ) -> StoreResult<Vec<ApplicationSecret>> {
        self.db
            .read(move |c| list_application_secrets(c, application_id))
            .await
    }
    async fn create_application_secret(&self, secret: &ApplicationSecret) -> StoreResult<()> {
        let secret = secret.clone();
        self.db
            .write(move |c| create_application_secret(c, &secret))
            .await
    }
    async fn rename_application_secret(
        &self,
        application_id: Uuid,
        token: Uuid,
        name: Option<&str>,
    ) -> StoreResult<Option<ApplicationSecret>> {
        let name = name.map(str::to_owned);
        self.db
            .write(move |c| rename_application_secret(c, application_id, token, name.as_deref()))
            .await
    }
    async fn delete_application_secret(
        &self,
        application_id: Uuid,
        token: Uuid,
    ) -> StoreResult<bool> {
        let now = self.clock.now();
        self.db
            .write(move |c| delete_application_secret(c, application_id, token, now))
            .await
    }
    async fn upsert_event_type_within(
        &self,
        event_type: &EventType,
        limit: Option<u32>,
    ) -> StoreResult<EventType> {
        let et = event_type.clone();
        self.db
            .write(move |c| {
                let name = et.name();
                super::within_quota(
                    c,
                    Quota::EventTypesPerApplication,
                    et.application_id,
                    &name,
                    limit,
                )?;
                upsert_event_type(c, &et)
            })
            .await
    }
    async fn list_event_types(&self, application_id: Uuid) -> StoreResult<Vec<EventType>> {
        self.db
            .read(move |c| list_event_types(c, application_id))
            .await
    }
    async fn get_event_type(
        &self,
        application_id: Uuid,
        name: &str,
    ) -> StoreResult<Option<EventType>> {
        let name = name.to_owned();
        self.db
            .read(move |c| get_event_type(c, application_id, &name))
            .await
    }
    async fn deactivate_event_type(&self, application_id: Uuid, name: &str) -> StoreResult<bool> {
        let now = self.clock.now();
        let name = name.to_owned();
        self.db
            .write(move |c| deactivate_event_type(c, application_id, &name, now))
            .await
    }
    async fn set_event_type_schema(
        &self,
        application_id: Uuid,
        name: &str,
        schema: Option<&serde_json::Value>,
    ) -> StoreResult<bool> {
        let (name, schema) = (name.to_owned(), schema.cloned());
        self.db
            .write(move |c| set_event_type_schema(c, application_id, &name, schema.as_ref()))
            .await
    }
}
