//! The request an attempt sent, as the attempt page shows it. Hook0 stores the response of
//! each attempt, not its request: the request is told again from the subscription and the
//! event, with the headers the worker adds. The signatures are made when the request leaves
//! (they hold its time), so their form is shown, not their value.

use hook0_core::delivery::is_framing_header;

use crate::pages::subscriptions::SubscriptionView;

pub(crate) struct RequestView {
    pub method: String,
    pub url: String,
    /// Name, value; values made at sending time are described in brackets.
    pub headers: Vec<(String, String)>,
}

impl RequestView {
    pub fn new(
        subscription: &SubscriptionView,
        event_id: &str,
        event_type: &str,
        content_type: &str,
    ) -> Self {
        let mut headers: Vec<(String, String)> = subscription
            .headers
            .iter()
            .filter(|(name, _)| !is_framing_header(name))
            .cloned()
            .collect();
        let added = [
            ("Content-Type", content_type.to_owned()),
            ("X-Event-Id", event_id.to_owned()),
            ("X-Event-Type", event_type.to_owned()),
            (
                "X-Hook0-Signature",
                "t=<unix time>,h=<signed header names>,v1=<HMAC-SHA256 with the subscription secret>"
                    .to_owned(),
            ),
        ];
        let mut added: Vec<(String, String)> = added
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        if subscription.standard_webhooks {
            added.extend([
                ("webhook-id".to_owned(), event_id.to_owned()),
                ("webhook-timestamp".to_owned(), "<unix time>".to_owned()),
                (
                    "webhook-signature".to_owned(),
                    "v1,<base64 HMAC-SHA256>, one per live whsec_ secret".to_owned(),
                ),
            ]);
        }
        // Added headers replace configured ones of the same name.
        headers.retain(|(name, _)| !added.iter().any(|(a, _)| a.eq_ignore_ascii_case(name)));
        headers.extend(added);
        Self {
            method: subscription.method.clone(),
            url: subscription.url.clone(),
            headers,
        }
    }
}
