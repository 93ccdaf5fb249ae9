//! Hook0's domain, free of I/O: the records it stores, the rules that validate and route them,
//! the signatures (Hook0's and Standard Webhooks'), the retry schedule, the circuit breaker, the
//! SSRF address rules, the problem catalogue, and who may use Hook0 (users, roles, tokens, the
//! password policy).
//! Every other crate builds on these; nothing here talks to a network or a database.

pub mod circuit;
pub mod clock;
pub mod delivery;
pub mod identity;
pub mod metrics;
pub mod model;
pub mod password;
pub mod portal;
pub mod problem;
pub mod quota;
pub mod relay;
pub mod retry;
pub mod schema;
pub mod signature;
pub mod ssrf;
pub mod standard_webhooks;
pub mod validation;
