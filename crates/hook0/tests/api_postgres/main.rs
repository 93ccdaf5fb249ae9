//! The API tests of `tests/api` again, on PostgreSQL: the same files, one fresh database per
//! test on 127.0.0.1:5432 (`.ci/run` starts the server). `helpers` picks the backend by the name
//! of this binary.

#[path = "../api/application_secrets.rs"]
mod application_secrets;
#[path = "../api/applications.rs"]
mod applications;
#[path = "../api/auth.rs"]
mod auth;
#[path = "../api/authz.rs"]
mod authz;
#[path = "../api/delivery.rs"]
mod delivery;
#[path = "../api/event_types.rs"]
mod event_types;
#[path = "../api/events.rs"]
mod events;
#[path = "../api/events_per_day.rs"]
mod events_per_day;
#[path = "../api/helpers.rs"]
mod helpers;
#[path = "../api/identity.rs"]
mod identity;
#[path = "../api/instance.rs"]
mod instance;
#[path = "../api/ordering.rs"]
mod ordering;
#[path = "../api/organizations.rs"]
mod organizations;
#[path = "../api/portal.rs"]
mod portal;
#[path = "../api/proxies_and_cors.rs"]
mod proxies_and_cors;
#[path = "../api/quotas.rs"]
mod quotas;
#[path = "../api/rate_limits.rs"]
mod rate_limits;
#[path = "../api/request_attempts.rs"]
mod request_attempts;
#[path = "../api/retry.rs"]
mod retry;
#[path = "../api/schemas.rs"]
mod schemas;
#[path = "../api/service_tokens.rs"]
mod service_tokens;
#[path = "../api/ssrf.rs"]
mod ssrf;
#[path = "../api/subscriptions.rs"]
mod subscriptions;
