//! Users and their membership of organizations, on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::identity::{Member, Role, User};
use hook0_core::model::Organization;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::PostgresStore;
use crate::{StoreError, StoreResult, Users};

/// Serializes registrations that may verify the instance's first user.
const FIRST_USER_LOCK: i64 = 0x686f_6f6b_305f_7573; // "hook0_us"

fn user(row: &PgRow) -> User {
    User {
        id: row.get("id"),
        email: row.get("email"),
        password_hash: row.get("password_hash"),
        first_name: row.get("first_name"),
        last_name: row.get("last_name"),
        email_verified_at: row.get("email_verified_at"),
        created_at: row.get("created_at"),
    }
}

fn role(text: &str) -> StoreResult<Role> {
    text.parse()
        .map_err(|_| StoreError::Database(format!("unknown role {text:?}")))
}

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

async fn insert_member(
    c: &mut PgConnection,
    organization_id: Uuid,
    user_id: Uuid,
    role: Role,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO organization_member (organization_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(organization_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(at)
    .execute(c)
    .await
    .map_err(|e| {
        if unique_violation(&e) {
            StoreError::InvitedUserAlreadyInOrganization
        } else {
            e.into()
        }
    })?;
    Ok(())
}

#[async_trait]
impl Users for PostgresStore {
    async fn register_user(
        &self,
        user: &User,
        organization: &Organization,
        verify_if_first: bool,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let mut verified_at = user.email_verified_at;
        if verify_if_first {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(FIRST_USER_LOCK)
                .execute(&mut *tx)
                .await?;
            let any: Option<i32> = sqlx::query_scalar("SELECT 1 FROM user_account LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
            if any.is_none() {
                verified_at = Some(user.created_at);
            }
        }
        sqlx::query(
            "INSERT INTO user_account (id, email, password_hash, first_name, last_name, email_verified_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(user.id)
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(&user.first_name)
        .bind(&user.last_name)
        .bind(verified_at)
        .bind(user.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if unique_violation(&e) {
                StoreError::UserAlreadyExist
            } else {
                e.into()
            }
        })?;
        sqlx::query("INSERT INTO organization (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(organization.id)
            .bind(&organization.name)
            .bind(organization.created_at)
            .execute(&mut *tx)
            .await?;
        insert_member(
            &mut tx,
            organization.id,
            user.id,
            Role::Editor,
            user.created_at,
        )
        .await?;
        tx.commit().await?;
        Ok(verified_at.is_some())
    }
    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>> {
        let row = sqlx::query("SELECT * FROM user_account WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user))
    }
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query("SELECT * FROM user_account WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user))
    }
    async fn verify_user_email(&self, user_id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE user_account SET email_verified_at = $1 WHERE id = $2 AND email_verified_at IS NULL",
        )
        .bind(at)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
    async fn set_user_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
        verified_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE user_account SET password_hash = $1, email_verified_at = COALESCE(email_verified_at, $2)
             WHERE id = $3",
        )
        .bind(password_hash)
        .bind(verified_at)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
    async fn organization_roles(&self, user_id: Uuid) -> StoreResult<Vec<(Uuid, Role)>> {
        let rows = sqlx::query(
            "SELECT organization_id, role FROM organization_member WHERE user_id = $1
             ORDER BY created_at, organization_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.get("organization_id"), role(r.get("role"))?)))
            .collect()
    }
    async fn list_user_organizations(
        &self,
        user_id: Uuid,
    ) -> StoreResult<Vec<(Organization, Role)>> {
        let rows = sqlx::query(
            "SELECT o.id, o.name, o.created_at, m.role FROM organization_member m
             JOIN organization o ON o.id = m.organization_id
             WHERE m.user_id = $1 ORDER BY o.created_at, o.id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    Organization {
                        id: r.get("id"),
                        name: r.get("name"),
                        created_at: r.get("created_at"),
                    },
                    role(r.get("role"))?,
                ))
            })
            .collect()
    }
    async fn create_organization_with_editor(
        &self,
        organization: &Organization,
        user_id: Uuid,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO organization (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(organization.id)
            .bind(&organization.name)
            .bind(organization.created_at)
            .execute(&mut *tx)
            .await?;
        insert_member(
            &mut tx,
            organization.id,
            user_id,
            Role::Editor,
            organization.created_at,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
    async fn list_members(&self, organization_id: Uuid) -> StoreResult<Vec<Member>> {
        let rows = sqlx::query(
            "SELECT u.id, u.email, u.first_name, u.last_name, m.role FROM organization_member m
             JOIN user_account u ON u.id = m.user_id
             WHERE m.organization_id = $1 ORDER BY m.created_at, u.id",
        )
        .bind(organization_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Member {
                    user_id: r.get("id"),
                    email: r.get("email"),
                    first_name: r.get("first_name"),
                    last_name: r.get("last_name"),
                    role: role(r.get("role"))?,
                })
            })
            .collect()
    }
    async fn add_member_within(
        &self,
        organization_id: Uuid,
        user_id: Uuid,
        role: Role,
        at: DateTime<Utc>,
        limit: Option<u32>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        super::within_quota(
            &mut tx,
            hook0_core::quota::Quota::MembersPerOrganization,
            organization_id,
            "",
            limit,
        )
        .await?;
        insert_member(&mut tx, organization_id, user_id, role, at).await?;
        tx.commit().await?;
        Ok(())
    }
    async fn set_member_role(
        &self,
        organization_id: Uuid,
        user_id: Uuid,
        role: Role,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE organization_member SET role = $1 WHERE organization_id = $2 AND user_id = $3",
        )
        .bind(role.as_str())
        .bind(organization_id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
    async fn remove_member(&self, organization_id: Uuid, user_id: Uuid) -> StoreResult<bool> {
        let done = sqlx::query(
            "DELETE FROM organization_member WHERE organization_id = $1 AND user_id = $2",
        )
        .bind(organization_id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
