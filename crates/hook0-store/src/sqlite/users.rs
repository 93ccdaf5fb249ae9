//! Users and their membership of organizations, on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::identity::{Member, Role, User};
use hook0_core::model::Organization;
use hook0_core::quota::Quota;
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

use super::convert::*;
use super::{tenants, SqliteStore};
use crate::error::is_unique_violation;
use crate::{StoreError, StoreResult, Users};

fn user(row: &Row) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get("id")?,
        email: row.get("email")?,
        password_hash: row.get("password_hash")?,
        first_name: row.get("first_name")?,
        last_name: row.get("last_name")?,
        email_verified_at: opt_time(row.get("email_verified_at")?),
        created_at: time(row.get("created_at")?),
    })
}

fn role(text: String) -> rusqlite::Result<Role> {
    text.parse().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown role {text:?}").into(),
        )
    })
}

fn insert_member(
    c: &Connection,
    organization_id: Uuid,
    user_id: Uuid,
    role: Role,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO organization_member (organization_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
    )?
    .execute(params![organization_id, user_id, role.as_str(), micros(at)])
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::InvitedUserAlreadyInOrganization
        } else {
            e.into()
        }
    })?;
    Ok(())
}

pub fn register_user(
    c: &Connection,
    user: &User,
    organization: &Organization,
    verify_if_first: bool,
) -> StoreResult<bool> {
    let first = verify_if_first
        && !c
            .prepare_cached("SELECT 1 FROM user_account LIMIT 1")?
            .exists([])?;
    let verified_at = if first {
        Some(user.created_at)
    } else {
        user.email_verified_at
    };
    c.prepare_cached(
        "INSERT INTO user_account (id, email, password_hash, first_name, last_name, email_verified_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        user.id,
        user.email,
        user.password_hash,
        user.first_name,
        user.last_name,
        verified_at.map(micros),
        micros(user.created_at)
    ])
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::UserAlreadyExist
        } else {
            e.into()
        }
    })?;
    tenants::create_organization(c, organization)?;
    insert_member(c, organization.id, user.id, Role::Editor, user.created_at)?;
    Ok(verified_at.is_some())
}

pub fn get_user(c: &Connection, id: Uuid) -> StoreResult<Option<User>> {
    Ok(c.prepare_cached("SELECT * FROM user_account WHERE id = ?")?
        .query_row([id], user)
        .optional()?)
}

pub fn user_by_email(c: &Connection, email: &str) -> StoreResult<Option<User>> {
    Ok(
        c.prepare_cached("SELECT * FROM user_account WHERE email = ?")?
            .query_row([email], user)
            .optional()?,
    )
}

pub fn verify_user_email(c: &Connection, user_id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
    let changed = c
        .prepare_cached(
            "UPDATE user_account SET email_verified_at = ? WHERE id = ? AND email_verified_at IS NULL",
        )?
        .execute(params![micros(at), user_id])?;
    Ok(changed == 1)
}

pub fn set_user_password(
    c: &Connection,
    user_id: Uuid,
    password_hash: &str,
    verified_at: Option<DateTime<Utc>>,
) -> StoreResult<bool> {
    let changed = c
        .prepare_cached(
            "UPDATE user_account SET password_hash = ?, email_verified_at = COALESCE(email_verified_at, ?)
             WHERE id = ?",
        )?
        .execute(params![password_hash, verified_at.map(micros), user_id])?;
    Ok(changed == 1)
}

pub fn organization_roles(c: &Connection, user_id: Uuid) -> StoreResult<Vec<(Uuid, Role)>> {
    let mut stmt = c.prepare_cached(
        "SELECT organization_id, role FROM organization_member WHERE user_id = ? ORDER BY created_at, organization_id",
    )?;
    let rows = stmt
        .query_map([user_id], |r| Ok((r.get(0)?, role(r.get(1)?)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn list_user_organizations(
    c: &Connection,
    user_id: Uuid,
) -> StoreResult<Vec<(Organization, Role)>> {
    let mut stmt = c.prepare_cached(
        "SELECT o.id, o.name, o.created_at, m.role FROM organization_member m
         JOIN organization o ON o.id = m.organization_id
         WHERE m.user_id = ? ORDER BY o.created_at, o.id",
    )?;
    let rows = stmt
        .query_map([user_id], |r| {
            Ok((
                Organization {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created_at: time(r.get(2)?),
                },
                role(r.get(3)?)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn create_organization_with_editor(
    c: &Connection,
    organization: &Organization,
    user_id: Uuid,
) -> StoreResult<()> {
    tenants::create_organization(c, organization)?;
    insert_member(
        c,
        organization.id,
        user_id,
        Role::Editor,
        organization.created_at,
    )
}

pub fn list_members(c: &Connection, organization_id: Uuid) -> StoreResult<Vec<Member>> {
    let mut stmt = c.prepare_cached(
        "SELECT u.id, u.email, u.first_name, u.last_name, m.role FROM organization_member m
         JOIN user_account u ON u.id = m.user_id
         WHERE m.organization_id = ? ORDER BY m.created_at, u.id",
    )?;
    let rows = stmt
        .query_map([organization_id], |r| {
            Ok(Member {
                user_id: r.get(0)?,
                email: r.get(1)?,
                first_name: r.get(2)?,
                last_name: r.get(3)?,
                role: role(r.get(4)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn add_member(
    c: &Connection,
    organization_id: Uuid,
    user_id: Uuid,
    role: Role,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    insert_member(c, organization_id, user_id, role, at)
}

pub fn set_member_role(
    c: &Connection,
    organization_id: Uuid,
    user_id: Uuid,
    role: Role,
) -> StoreResult<bool> {
    let changed = c
        .prepare_cached(
            "UPDATE organization_member SET role = ? WHERE organization_id = ? AND user_id = ?",
        )?
        .execute(params![role.as_str(), organization_id, user_id])?;
    Ok(changed == 1)
}

pub fn remove_member(c: &Connection, organization_id: Uuid, user_id: Uuid) -> StoreResult<bool> {
    let changed = c
        .prepare_cached(
            "DELETE FROM organization_member WHERE organization_id = ? AND user_id = ?",
        )?
        .execute(params![organization_id, user_id])?;
    Ok(changed == 1)
}

#[async_trait]
impl Users for SqliteStore {
    async fn register_user(
        &self,
        user: &User,
        organization: &Organization,
        verify_if_first: bool,
    ) -> StoreResult<bool> {
        let (user, organization) = (user.clone(), organization.clone());
        self.db
            .write(move |c| register_user(c, &user, &organization, verify_if_first))
            .await
    }
    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>> {
        self.db.read(move |c| get_user(c, id)).await
    }
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let email = email.to_owned();
        self.db.read(move |c| user_by_email(c, &email)).await
    }
    async fn verify_user_email(&self, user_id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
        self.db
            .write(move |c| verify_user_email(c, user_id, at))
            .await
    }
    async fn set_user_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
        verified_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let hash = password_hash.to_owned();
        self.db
            .write(move |c| set_user_password(c, user_id, &hash, verified_at))
            .await
    }
    async fn organization_roles(&self, user_id: Uuid) -> StoreResult<Vec<(Uuid, Role)>> {
        self.db.read(move |c| organization_roles(c, user_id)).await
    }
    async fn list_user_organizations(
        &self,
        user_id: Uuid,
    ) -> StoreResult<Vec<(Organization, Role)>> {
        self.db
            .read(move |c| list_user_organizations(c, user_id))
            .await
    }
    async fn create_organization_with_editor(
        &self,
        organization: &Organization,
        user_id: Uuid,
    ) -> StoreResult<()> {
        let organization = organization.clone();
        self.db
            .write(move |c| create_organization_with_editor(c, &organization, user_id))
            .await
    }
    async fn list_members(&self, organization_id: Uuid) -> StoreResult<Vec<Member>> {
        self.db
            .read(move |c| list_members(c, organization_id))
            .await
    }
    async fn add_member_within(
        &self,
        organization_id: Uuid,
        user_id: Uuid,
        role: Role,
        at: DateTime<Utc>,
        limit: Option<u32>,
    ) -> StoreResult<()> {
        self.db
            .write(move |c| {
                super::within_quota(c, Quota::MembersPerOrganization, organization_id, "", limit)?;
                add_member(c, organization_id, user_id, role, at)
            })
            .await
    }
    async fn set_member_role(
        &self,
        organization_id: Uuid,
        user_id: Uuid,
        role: Role,
    ) -> StoreResult<bool> {
        self.db
            .write(move |c| set_member_role(c, organization_id, user_id, role))
            .await
    }
    async fn remove_member(&self, organization_id: Uuid, user_id: Uuid) -> StoreResult<bool> {
        self.db
            .write(move |c| remove_member(c, organization_id, user_id))
            .await
    }
}
