//! Identity and access: users and memberships ([`Users`]), Biscuit tokens ([`Tokens`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hook0_core::identity::{Member, Role, TokenRecord, User};
use hook0_core::model::*;
use uuid::Uuid;

use crate::StoreResult;

/// Users and their organization memberships. Emails are passed normalized
/// (`hook0_core::identity::normalize_email`).
#[async_trait]
pub trait Users: Send + Sync {
    /// Creates the user, its personal organization and its `editor` membership in one
    /// transaction; `UserAlreadyExist` when the email is taken. With `verify_if_first`, the
    /// user is created verified when it is the instance's first user. Returns whether the user
    /// is verified.
    async fn register_user(
        &self,
        user: &User,
        organization: &Organization,
        verify_if_first: bool,
    ) -> StoreResult<bool>;
    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Marks the email verified at `at`; `Ok(false)` when it already was (verification acts
    /// once) or the user is unknown.
    async fn verify_user_email(&self, user_id: Uuid, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Replaces the password hash; with `verified_at`, also marks an unverified email verified.
    async fn set_user_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
        verified_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool>;
    /// The user's role in each organization it belongs to.
    async fn organization_roles(&self, user_id: Uuid) -> StoreResult<Vec<(Uuid, Role)>>;
    /// The organizations the user belongs to, with its role, oldest first.
    async fn list_user_organizations(
        &self,
        user_id: Uuid,
    ) -> StoreResult<Vec<(Organization, Role)>>;
    /// Creates the organization with `user_id` as its `editor`, in one transaction.
    async fn create_organization_with_editor(
        &self,
        organization: &Organization,
        user_id: Uuid,
    ) -> StoreResult<()>;
    async fn list_members(&self, organization_id: Uuid) -> StoreResult<Vec<Member>>;
    /// `InvitedUserAlreadyInOrganization` when the user already is a member.
    async fn add_member(
        &self,
        organization_id: Uuid,
        user_id: Uuid,
        role: Role,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.add_member_within(organization_id, user_id, role, at, None)
            .await
    }
    /// [`Users::add_member`], refused with `QuotaReached` when the organization already has
    /// `members_per_organization` members.
    async fn add_member_within(
        &self,
        organization_id: Uuid,
        user_id: Uuid,
        role: Role,
        at: DateTime<Utc>,
        members_per_organization: Option<u32>,
    ) -> StoreResult<()>;
    /// `Ok(false)` when the user is not a member.
    async fn set_member_role(
        &self,
        organization_id: Uuid,
        user_id: Uuid,
        role: Role,
    ) -> StoreResult<bool>;
    /// `Ok(false)` when the user is not a member.
    async fn remove_member(&self, organization_id: Uuid, user_id: Uuid) -> StoreResult<bool>;
}

/// Biscuit tokens: user sessions and service tokens, their expiry and revocation.
#[async_trait]
pub trait Tokens: Send + Sync {
    async fn insert_tokens(&self, tokens: &[TokenRecord]) -> StoreResult<()>;
    /// The token whose root revocation id this is, when it has not expired at `now`: one
    /// indexed read, on every request authenticated by a Biscuit.
    async fn live_token(
        &self,
        revocation_id: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>>;
    /// Expires the token `old_id` and stores `new`, in one transaction, only if `old_id` was
    /// still live at `now` (a refresh token is used once); `Ok(false)` otherwise.
    async fn rotate_token(
        &self,
        old_id: Uuid,
        new: &[TokenRecord],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Expires every live token of the session (logout); returns how many.
    async fn expire_session(&self, session_id: Uuid, at: DateTime<Utc>) -> StoreResult<u64>;
    /// Expires every live session token of the user (password reset); returns how many.
    async fn expire_user_sessions(&self, user_id: Uuid, at: DateTime<Utc>) -> StoreResult<u64>;
    /// Expires every live session token of the user but those of `keep` (a password change
    /// ends the user's other sessions); returns how many.
    async fn expire_other_sessions(
        &self,
        user_id: Uuid,
        keep: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// The organization's live service tokens, oldest first.
    async fn list_service_tokens(
        &self,
        organization_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<TokenRecord>>;
    async fn get_service_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>>;
    async fn rename_service_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TokenRecord>>;
    /// Expires a live service token (which revokes every token attenuated from it);
    /// `Ok(false)` when unknown or already expired.
    async fn expire_service_token(
        &self,
        organization_id: Uuid,
        token_id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Deletes up to `batch` tokens that expired before `expired_before`; returns how many.
    /// A deleted token is refused exactly like an expired one (its row is what keeps it live).
    async fn purge_expired_tokens(
        &self,
        expired_before: DateTime<Utc>,
        batch: u32,
    ) -> StoreResult<u64>;
    /// How many tokens expired before `expired_before` (what a report-only cleanup reports).
    async fn count_expired_tokens(&self, expired_before: DateTime<Utc>) -> StoreResult<u64>;
}
