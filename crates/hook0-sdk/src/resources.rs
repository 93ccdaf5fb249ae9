//! Typed calls, one per API operation the SDK covers, on [`Client`].

use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::model::*;
use crate::{Client, Error};

fn app(application_id: Uuid) -> Vec<(&'static str, String)> {
    vec![("application_id", application_id.to_string())]
}

/// `service.resource_type.verb` split in its three parts.
fn event_type_parts(name: &str) -> Result<(&str, &str, &str), Error> {
    let mut parts = name.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(s), Some(r), Some(v), None) if !s.is_empty() && !r.is_empty() && !v.is_empty() => {
            Ok((s, r, v))
        }
        _ => Err(Error::Invalid(format!(
            "`{name}` is not an event type name: write service.resource_type.verb, e.g. billing.invoice.paid"
        ))),
    }
}

impl Client {
    // Organizations and applications

    /// Creates an organization (a user session or the master key; the creator is its editor).
    pub async fn create_organization(&self, name: &str) -> Result<Organization, Error> {
        let body = json!({ "name": name });
        self.call(Method::POST, "/organizations", &[], Some(&body))
            .await
    }

    /// Creates an application (it comes with an API key named `Default`).
    pub async fn create_application(
        &self,
        organization_id: Uuid,
        name: &str,
    ) -> Result<Application, Error> {
        let body = json!({ "organization_id": organization_id, "name": name });
        self.call(Method::POST, "/applications", &[], Some(&body))
            .await
    }

    /// The applications of an organization.
    pub async fn applications(&self, organization_id: Uuid) -> Result<Vec<Application>, Error> {
        let query = [("organization_id", organization_id.to_string())];
        self.call(Method::GET, "/applications", &query, None).await
    }

    pub async fn application(&self, application_id: Uuid) -> Result<Application, Error> {
        let path = format!("/applications/{application_id}");
        self.call(Method::GET, &path, &[], None).await
    }

    // Event types

    pub async fn event_types(&self, application_id: Uuid) -> Result<Vec<EventType>, Error> {
        self.call(Method::GET, "/event_types", &app(application_id), None)
            .await
    }

    /// Creates (or re-activates) `service.resource_type.verb`.
    pub async fn create_event_type(
        &self,
        application_id: Uuid,
        name: &str,
    ) -> Result<EventType, Error> {
        let (service, resource_type, verb) = event_type_parts(name)?;
        let body = json!({
            "application_id": application_id,
            "service": service,
            "resource_type": resource_type,
            "verb": verb,
        });
        self.call(Method::POST, "/event_types", &[], Some(&body))
            .await
    }

    /// Sets the JSON Schema (draft 2020-12) the JSON payloads of an event type must match from
    /// the next ingest on, or removes it with `None` (this server's addition).
    pub async fn set_event_type_schema(
        &self,
        application_id: Uuid,
        name: &str,
        schema: Option<&Value>,
    ) -> Result<EventType, Error> {
        let body = json!({ "application_id": application_id, "schema": schema });
        let path = format!("/event_types/{name}/schema");
        self.call(Method::PUT, &path, &[], Some(&body)).await
    }

    /// Deactivates an event type (events of that type are refused afterwards).
    pub async fn delete_event_type(&self, application_id: Uuid, name: &str) -> Result<(), Error> {
        let path = format!("/event_types/{name}");
        self.call_raw(Method::DELETE, &path, &app(application_id), None)
            .await
            .map(drop)
    }

    /// Creates the event types of `names` that do not exist yet; the names it created.
    pub async fn upsert_event_types(
        &self,
        application_id: Uuid,
        names: &[&str],
    ) -> Result<Vec<String>, Error> {
        for name in names {
            event_type_parts(name)?;
        }
        let existing = self.event_types(application_id).await?;
        let mut created = Vec::new();
        for name in names {
            if !existing.iter().any(|t| t.event_type_name == *name)
                && !created.contains(&name.to_string())
            {
                self.create_event_type(application_id, name).await?;
                created.push((*name).to_owned());
            }
        }
        Ok(created)
    }

    // Subscriptions

    pub async fn subscriptions(&self, application_id: Uuid) -> Result<Vec<Subscription>, Error> {
        self.call(Method::GET, "/subscriptions", &app(application_id), None)
            .await
    }

    pub async fn subscription(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
    ) -> Result<Subscription, Error> {
        let path = format!("/subscriptions/{subscription_id}");
        self.call(Method::GET, &path, &app(application_id), None)
            .await
    }

    pub async fn create_subscription(
        &self,
        spec: &SubscriptionSpec,
    ) -> Result<Subscription, Error> {
        let body = serde_json::to_value(spec).map_err(|e| Error::Invalid(e.to_string()))?;
        self.call(Method::POST, "/subscriptions", &[], Some(&body))
            .await
    }

    /// Replaces every field but the secret.
    pub async fn update_subscription(
        &self,
        subscription_id: Uuid,
        spec: &SubscriptionSpec,
    ) -> Result<Subscription, Error> {
        let body = serde_json::to_value(spec).map_err(|e| Error::Invalid(e.to_string()))?;
        let path = format!("/subscriptions/{subscription_id}");
        self.call(Method::PUT, &path, &[], Some(&body)).await
    }

    /// Enables or disables (disabling cancels the pending deliveries).
    pub async fn set_subscription_enabled(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
        enabled: bool,
    ) -> Result<Subscription, Error> {
        let current = self.subscription(application_id, subscription_id).await?;
        let mut spec = SubscriptionSpec::from(&current);
        spec.is_enabled = enabled;
        self.update_subscription(subscription_id, &spec).await
    }

    pub async fn delete_subscription(
        &self,
        application_id: Uuid,
        subscription_id: Uuid,
    ) -> Result<(), Error> {
        let path = format!("/subscriptions/{subscription_id}");
        self.call_raw(Method::DELETE, &path, &app(application_id), None)
            .await
            .map(drop)
    }

    // Events

    /// Sends an event. Its id is made here when it has none, so a send retried after a lost
    /// answer is recognised: `EventAlreadyIngested` on a retry means the first attempt stored
    /// it, and counts as success (`received_at` is then `None`).
    pub async fn send_event(
        &self,
        application_id: Uuid,
        event: &EventToSend,
    ) -> Result<Ingested, Error> {
        let mut event = event.clone();
        let event_id = *event.event_id.get_or_insert_with(Uuid::now_v7);
        event.occurred_at.get_or_insert_with(chrono::Utc::now);
        let mut body = serde_json::to_value(&event).map_err(|e| Error::Invalid(e.to_string()))?;
        body["application_id"] = json!(application_id);
        match self
            .call_counted(Method::POST, "/event", &[], Some(&body))
            .await
        {
            Ok((bytes, _)) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Unexpected(format!("/event: {e}"))),
            Err((error, attempts))
                if attempts > 1 && error.problem_id() == Some("EventAlreadyIngested") =>
            {
                Ok(Ingested {
                    application_id,
                    event_id,
                    received_at: None,
                })
            }
            Err((error, _)) => Err(error),
        }
    }

    /// The newest events (without their payloads).
    pub async fn events(&self, application_id: Uuid) -> Result<Vec<Event>, Error> {
        self.call(Method::GET, "/events", &app(application_id), None)
            .await
    }

    /// One event, with its payload (base64).
    pub async fn event(&self, application_id: Uuid, event_id: Uuid) -> Result<Event, Error> {
        let path = format!("/events/{event_id}");
        self.call(Method::GET, &path, &app(application_id), None)
            .await
    }

    /// Queues a new first attempt for every subscription the event matches now.
    pub async fn replay_event(&self, application_id: Uuid, event_id: Uuid) -> Result<(), Error> {
        let path = format!("/events/{event_id}/replay");
        let body = json!({ "application_id": application_id });
        self.call_raw(Method::POST, &path, &[], Some(&body))
            .await
            .map(drop)
    }

    // Delivery attempts

    /// The newest attempts (a page of 50) matching `filter`.
    pub async fn request_attempts(
        &self,
        application_id: Uuid,
        filter: &AttemptQuery,
    ) -> Result<Vec<RequestAttempt>, Error> {
        let mut query = app(application_id);
        if let Some(id) = filter.event_id {
            query.push(("event_id", id.to_string()));
        }
        if let Some(id) = filter.subscription_id {
            query.push(("subscription_id", id.to_string()));
        }
        if let Some(status) = &filter.status {
            query.push(("status", status.clone()));
        }
        self.call(Method::GET, "/request_attempts", &query, None)
            .await
    }

    /// Any call the typed ones do not cover: the decoded JSON answer.
    pub async fn get_json(&self, path: &str, query: &[(&str, String)]) -> Result<Value, Error> {
        self.call(Method::GET, path, query, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_names_have_three_parts() {
        assert_eq!(
            event_type_parts("billing.invoice.paid").unwrap(),
            ("billing", "invoice", "paid")
        );
        for bad in ["billing.invoice", "a.b.c.d", "a..c", ""] {
            assert!(event_type_parts(bad).is_err(), "{bad}");
        }
    }
}
