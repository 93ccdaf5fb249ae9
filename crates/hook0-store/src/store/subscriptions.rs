//! Subscriptions ([`Subscriptions`]).

use async_trait::async_trait;
use hook0_core::model::*;
use uuid::Uuid;

use crate::StoreResult;

/// Subscriptions: where an application's events go.
#[async_trait]
pub trait Subscriptions: Send + Sync {
    async fn list_subscriptions(&self, application_id: Uuid) -> StoreResult<Vec<Subscription>>;
    async fn get_subscription(&self, id: Uuid) -> StoreResult<Option<Subscription>>;
    /// Fails with `EventTypeDoesNotExist` when a listed event type is unknown to the application.
    async fn create_subscription(&self, sub: &Subscription) -> StoreResult<()> {
        self.create_subscription_within(sub, None).await
    }
    /// [`Subscriptions::create_subscription`], refused with `QuotaReached` when the application already
    /// has `subscriptions_per_application` live subscriptions.
    async fn create_subscription_within(
        &self,
        sub: &Subscription,
        subscriptions_per_application: Option<u32>,
    ) -> StoreResult<()>;
    /// Full replacement (secret and created_at kept); disabling fails pending attempts.
    async fn update_subscription(&self, sub: &Subscription) -> StoreResult<Option<Subscription>>;
    /// Soft-deletes the subscription and fails its pending attempts.
    async fn delete_subscription(&self, application_id: Uuid, id: Uuid) -> StoreResult<bool>;
}
