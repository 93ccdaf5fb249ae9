//! Integration tests of the REST API and of delivery, one module per resource, in one test
//! binary. Each test starts its own server, worker and database with `helpers::spawn_app`.

mod helpers;

mod application_secrets;
mod applications;
mod auth;
mod delivery;
mod event_types;
mod events;
mod instance;
mod organizations;
mod request_attempts;
mod retry;
mod ssrf;
mod subscriptions;
