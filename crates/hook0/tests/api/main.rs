//! Integration tests of the REST API and of delivery, one module per resource, in one test
//! binary. Each test starts its own server, worker and database with `helpers::spawn_app`.

mod helpers;

mod application_secrets;
mod applications;
mod auth;
mod authz;
mod delivery;
mod event_types;
mod events;
mod events_per_day;
mod identity;
mod instance;
mod ordering;
mod organizations;
mod portal;
mod proxies_and_cors;
mod quotas;
mod rate_limits;
mod request_attempts;
mod retry;
mod schemas;
mod service_tokens;
mod ssrf;
mod subscriptions;
