//! Organizations, applications, application secrets and event types on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::model::*;
use hook0_core::quota::Quota;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::PostgresStore;
use crate::{ApplicationScope, ApplicationUsage, StoreError, StoreResult, Tenants};

fn organization(row: &PgRow) -> Organization {
    Organization {
        id: row.get("id"),
        name: row.get("name"),
        created_at: row.get("created_at"),
    }
}

fn application(row: &PgRow) -> Application {
    Application {
        id: row.get("id"),
        organization_id: row.get("organization_id"),
        name: row.get("name"),
        retention_days: row.get("retention_days"),
        created_at: row.get("created_at"),
        deleted_at: row.get("deleted_at"),
    }
}

fn application_secret(row: &PgRow) -> ApplicationSecret {
    ApplicationSecret {
        token: row.get("token"),
        application_id: row.get("application_id"),
        name: row.get("name"),
        created_at: row.get("created_at"),
        deleted_at: row.get("deleted_at"),
    }
}

fn event_type(row: &PgRow) -> EventType {
    EventType {
        application_id: row.get("application_id"),
        service: row.get("service"),
        resource_type: row.get("resource_type"),
        verb: row.get("verb"),
        created_at: row.get("created_at"),
        deactivated_at: row.get("deactivated_at"),
        schema: row
            .try_get::<Option<sqlx::types::Json<serde_json::Value>>, _>("schema")
            .ok()
            .flatten()
            .map(|j| j.0),
    }
}

async fn insert_secret(conn: &mut PgConnection, secret: &ApplicationSecret) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO application_secret (token, application_id, name, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(secret.token)
    .bind(secret.application_id)
    .bind(&secret.name)
    .bind(secret.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl Tenants for PostgresStore {
    async fn list_organizations(&self) -> StoreResult<Vec<Organization>> {
        let rows = sqlx::query("SELECT * FROM organization ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(organization).collect())
    }
    async fn create_organization(&self, org: &Organization) -> StoreResult<()> {
        sqlx::query("INSERT INTO organization (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(org.id)
            .bind(&org.name)
            .bind(org.created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
    async fn get_organization(&self, id: Uuid) -> StoreResult<Option<Organization>> {
        let row = sqlx::query("SELECT * FROM organization WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(organization))
    }
    async fn rename_organization(&self, id: Uuid, name: &str) -> StoreResult<Option<Organization>> {
        let row = sqlx::query("UPDATE organization SET name = $1 WHERE id = $2 RETURNING *")
            .bind(name)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(organization))
    }
    async fn delete_organization(&self, id: Uuid) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        // Locking the organization keeps an application from being created in it meanwhile.
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM organization WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM application WHERE organization_id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if live > 0 {
            return Err(StoreError::OrganizationIsNotEmpty);
        }
        if exists.is_none() {
            return Ok(false);
        }
        // Soft-deleted applications keep their history; they are purged with the organization.
        for sql in [
            "DELETE FROM request_attempt WHERE application_id IN (SELECT id FROM application WHERE organization_id = $1)",
            "DELETE FROM response WHERE application_id IN (SELECT id FROM application WHERE organization_id = $1)",
            "DELETE FROM event WHERE application_id IN (SELECT id FROM application WHERE organization_id = $1)",
            "DELETE FROM subscription WHERE application_id IN (SELECT id FROM application WHERE organization_id = $1)",
            "DELETE FROM event_type WHERE application_id IN (SELECT id FROM application WHERE organization_id = $1)",
            "DELETE FROM application_secret WHERE application_id IN (SELECT id FROM application WHERE organization_id = $1)",
            "DELETE FROM application WHERE organization_id = $1",
            "DELETE FROM organization WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
    async fn count_applications(&self, organization_id: Uuid) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM application WHERE organization_id = $1 AND deleted_at IS NULL",
        )
        .bind(organization_id)
        .fetch_one(&self.pool)
        .await?)
    }
    async fn list_applications(&self, organization_id: Uuid) -> StoreResult<Vec<Application>> {
        let rows = sqlx::query(
            "SELECT * FROM application WHERE organization_id = $1 AND deleted_at IS NULL ORDER BY created_at, id",
        )
        .bind(organization_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(application).collect())
    }
    async fn create_application_within(
        &self,
        app: &Application,
        secret: &ApplicationSecret,
        limit: Option<u32>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        super::within_quota(
            &mut tx,
            Quota::ApplicationsPerOrganization,
            app.organization_id,
            "",
            limit,
        )
        .await?;
        sqlx::query(
            "INSERT INTO application (id, organization_id, name, created_at, retention_days)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(app.id)
        .bind(app.organization_id)
        .bind(&app.name)
        .bind(app.created_at)
        .bind(app.retention_days)
        .execute(&mut *tx)
        .await?;
        insert_secret(&mut tx, secret).await?;
        tx.commit().await?;
        Ok(())
    }
    async fn get_application(&self, id: Uuid) -> StoreResult<Option<Application>> {
        let row = sqlx::query("SELECT * FROM application WHERE id = $1 AND deleted_at IS NULL")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(application))
    }
    async fn update_application(
        &self,
        id: Uuid,
        organization_id: Uuid,
        name: &str,
        retention_days: Option<i32>,
    ) -> StoreResult<Option<Application>> {
        let row = sqlx::query(
            "UPDATE application SET name = $1, retention_days = $4
             WHERE id = $2 AND organization_id = $3 AND deleted_at IS NULL RETURNING *",
        )
        .bind(name)
        .bind(id)
        .bind(organization_id)
        .bind(retention_days)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(application))
    }
    async fn delete_application(&self, id: Uuid) -> StoreResult<bool> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE application SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        // Attempt rows are locked in id order, as everywhere, so concurrent writers cannot deadlock.
        sqlx::query(
            "UPDATE request_attempt SET failed_at = $1, due_at = NULL
             WHERE succeeded_at IS NULL AND failed_at IS NULL AND id IN (
                 SELECT id FROM request_attempt
                 WHERE application_id = $2 AND succeeded_at IS NULL AND failed_at IS NULL
                 ORDER BY id FOR UPDATE)",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        // After the commit: a lookup racing the delete may have kept the application meanwhile.
        self.scopes_by_application.forget(&id);
        self.scopes_by_secret.forget_application(id);
        Ok(done.rows_affected() == 1)
    }
    async fn application_usage(
        &self,
        id: Uuid,
        since: DateTime<Utc>,
    ) -> StoreResult<ApplicationUsage> {
        let row = sqlx::query(
            "SELECT
                (SELECT COUNT(*) FROM event_type WHERE application_id = $1 AND deactivated_at IS NULL),
                (SELECT COUNT(*) FROM subscription WHERE application_id = $1 AND deleted_at IS NULL),
                (SELECT COUNT(*) FROM event WHERE application_id = $1),
                (SELECT COALESCE(SUM(amount), 0)::bigint FROM events_per_day
                 WHERE application_id = $1 AND day >= $2)",
        )
        .bind(id)
        .bind(since.date_naive())
        .fetch_one(&self.pool)
        .await?;
        Ok(ApplicationUsage {
            event_types: row.get(0),
            subscriptions: row.get(1),
            events: row.get(2),
            events_since: row.get(3),
        })
    }
    async fn application_scope(&self, id: Uuid) -> StoreResult<Option<ApplicationScope>> {
        if let Some(scope) = self.scopes_by_application.get(&id) {
            return Ok(Some(scope));
        }
        let organization_id: Option<Uuid> = sqlx::query_scalar(
            "SELECT organization_id FROM application WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let scope = organization_id.map(|organization_id| ApplicationScope {
            application_id: id,
            organization_id,
        });
        if let Some(scope) = scope {
            self.scopes_by_application.keep(id, scope);
        }
        Ok(scope)
    }
    async fn application_by_secret(&self, token: Uuid) -> StoreResult<Option<ApplicationScope>> {
        if let Some(scope) = self.scopes_by_secret.get(&token) {
            return Ok(Some(scope));
        }
        let row = sqlx::query(
            "SELECT a.id, a.organization_id
             FROM application_secret s JOIN application a ON a.id = s.application_id
             WHERE s.token = $1 AND s.deleted_at IS NULL AND a.deleted_at IS NULL",
        )
        .bind(token)
        .fetch_optional(&self.pool)
        .await?;
        let scope = row.map(|r| ApplicationScope {
            application_id: r.get(0),
            organization_id: r.get(1),
        });
        if let Some(scope) = scope {
            self.scopes_by_secret.keep(token, scope);
        }
        Ok(scope)
    }
    async fn list_application_secrets(
        &self,
        application_id: Uuid,
    ) -> StoreResult<Vec<ApplicationSecret>> {
        let rows = sqlx::query(
            "SELECT * FROM application_secret WHERE application_id = $1 AND deleted_at IS NULL
             ORDER BY created_at, token",
        )
        .bind(application_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(application_secret).collect())
    }
    async fn create_application_secret(&self, secret: &ApplicationSecret) -> StoreResult<()> {
        insert_secret(&mut *self.pool.acquire().await?, secret).await
    }
    async fn rename_application_secret(
        &self,
        application_id: Uuid,
        token: Uuid,
        name: Option<&str>,
    ) -> StoreResult<Option<ApplicationSecret>> {
        let row = sqlx::query(
            "UPDATE application_secret SET name = $1
             WHERE application_id = $2 AND token = $3 AND deleted_at IS NULL RETURNING *",
        )
        .bind(name)
        .bind(application_id)
        .bind(token)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(application_secret))
    }
    async fn delete_application_secret(
        &self,
        application_id: Uuid,
        token: Uuid,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE application_secret SET deleted_at = $1
             WHERE application_id = $2 AND token = $3 AND deleted_at IS NULL",
        )
        .bind(self.clock.now())
        .bind(application_id)
        .bind(token)
        .execute(&self.pool)
        .await?;
        // After the commit: a lookup racing the delete may have kept the secret meanwhile.
        self.scopes_by_secret.forget(&token);
        Ok(done.rows_affected() == 1)
    }
    async fn upsert_event_type_within(
        &self,
        et: &EventType,
        limit: Option<u32>,
    ) -> StoreResult<EventType> {
        let mut tx = self.pool.begin().await?;
        super::within_quota(
            &mut tx,
            Quota::EventTypesPerApplication,
            et.application_id,
            &et.name(),
            limit,
        )
        .await?;
        let row = sqlx::query(
            "INSERT INTO event_type (application_id, name, service, resource_type, verb, created_at, schema)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (application_id, name) DO UPDATE SET deactivated_at = NULL,
                 schema = COALESCE(EXCLUDED.schema, event_type.schema)
             RETURNING *",
        )
        .bind(et.application_id)
        .bind(et.name())
        .bind(&et.service)
        .bind(&et.resource_type)
        .bind(&et.verb)
        .bind(et.created_at)
        .bind(et.schema.as_ref().map(sqlx::types::Json))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(event_type(&row))
    }
    async fn list_event_types(&self, application_id: Uuid) -> StoreResult<Vec<EventType>> {
        let rows = sqlx::query(
            "SELECT * FROM event_type WHERE application_id = $1 AND deactivated_at IS NULL ORDER BY name",
        )
        .bind(application_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(event_type).collect())
    }
    async fn get_event_type(
        &self,
        application_id: Uuid,
        name: &str,
    ) -> StoreResult<Option<EventType>> {
        let row = sqlx::query(
            "SELECT * FROM event_type WHERE application_id = $1 AND name = $2 AND deactivated_at IS NULL",
        )
        .bind(application_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(event_type))
    }
    async fn deactivate_event_type(&self, application_id: Uuid, name: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE event_type SET deactivated_at = $1
             WHERE application_id = $2 AND name = $3 AND deactivated_at IS NULL",
        )
        .bind(self.clock.now())
        .bind(application_id)
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
    async fn set_event_type_schema(
        &self,
        application_id: Uuid,
        name: &str,
        schema: Option<&serde_json::Value>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE event_type SET schema = $1
             WHERE application_id = $2 AND name = $3 AND deactivated_at IS NULL",
        )
        .bind(schema.map(sqlx::types::Json))
        .bind(application_id)
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
