//! What every handler shares: the store and the API's configuration.

use std::sync::Arc;
use std::time::Duration;

use hook0_store::Store;
use uuid::Uuid;

use crate::client_ip::ClientIpConfig;
use crate::listener::ConnectionLimits;
use crate::mail::Mailer;
use crate::rate_limit::{RateLimiting, TestSends};
use crate::schemas::SchemaCache;
use crate::tokens::BiscuitKey;
use hook0_core::clock::Clock;
use hook0_core::quota::Quotas;

/// API settings, built by the binary from flags and environment.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// `MASTER_API_KEY`: a UUID accepted as a Bearer token for every operation.
    pub master_api_key: Option<Uuid>,
    /// `ENABLE_APPLICATION_SECRET_COMPATIBILITY`: accept application secrets as Bearer tokens.
    pub application_secret_compatibility: bool,
    /// `APP_URL`: public base URL, used in pagination `Link` headers.
    pub app_url: String,
    /// `HEALTH_CHECK_KEY`: when set, `/health` requires `?key=`.
    pub health_check_key: Option<String>,
    /// Largest accepted JSON body, in bytes.
    pub max_body_bytes: usize,
    /// `ENABLE_SECURITY_HEADERS`.
    pub security_headers: bool,
    /// `HEALTH_CHECK_TIMEOUT`: longest wait for the database in `/health` and `/metrics`.
    pub health_check_timeout: Duration,
    /// `METRICS_ENABLED`: serve `GET /metrics`.
    pub metrics_enabled: bool,
    /// `METRICS_KEY`: when set, `/metrics` requires `Authorization: Bearer <key>` or `?key=`.
    pub metrics_key: Option<String>,
    /// `BISCUIT_PRIVATE_KEY`: signs and checks user sessions and service tokens. The default
    /// is a random key, good for one process's lifetime.
    pub biscuit_key: BiscuitKey,
    /// `MAX_AUTHORIZATION_TIME`: budget of the Biscuit authorizer per request (503 past it).
    pub max_authorization_time: Duration,
    /// `DISABLE_REGISTRATION`: `POST /register` answers 410.
    pub registration_disabled: bool,
    /// `PASSWORD_MINIMUM_LENGTH`.
    pub password_minimum_length: usize,
    /// Sends verification and password-reset mails (`SMTP_CONNECTION_URL`). Without it, the
    /// first user to register is verified at once and others are verified by an administrator
    /// (`hook0 user verify <email>`).
    pub mailer: Option<Mailer>,
    /// Global, per-IP and per-token limits. Off by default here (embedding and tests); the
    /// `hook0` binary turns upstream's limits on unless `DISABLE_API_RATE_LIMITING`.
    pub rate_limiting: RateLimiting,
    /// `CORS_ALLOWED_ORIGINS`: origins whose browser apps may call the API (none by default).
    pub cors_allowed_origins: Vec<String>,
    /// `REVERSE_PROXY_IPS`, `BEHIND_CLOUDFLARE`: whose forwarded headers name the client.
    pub client_ip: ClientIpConfig,
    /// `ENABLE_QUOTA_ENFORCEMENT` and `QUOTA_GLOBAL_*_LIMIT` (off by default, as upstream).
    pub quotas: Quotas,
    /// Timeouts, the connection cap and the shutdown grace of the listener.
    pub connection_limits: ConnectionLimits,
    /// How long after its rotation a refresh token used again is taken for the same client
    /// renewing twice at once (refused) rather than for a theft (the session ends).
    pub refresh_reuse_grace: Duration,
    /// The time portal sessions expire by; tests hold a manual one and move it.
    pub clock: Clock,
    /// Not a setting: the compiled event type schemas, shared by every copy of this config.
    pub schemas: Arc<SchemaCache>,
    /// Not a setting: the test events sent from the portal so far, per subscription.
    pub portal_test_sends: Arc<TestSends>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            master_api_key: None,
            application_secret_compatibility: true,
            app_url: "http://127.0.0.1:8080".into(),
            health_check_key: None,
            max_body_bytes: 2 * 1024 * 1024,
            security_headers: true,
            health_check_timeout: Duration::from_secs(5),
            metrics_enabled: true,
            metrics_key: None,
            biscuit_key: BiscuitKey::generate(),
            max_authorization_time: Duration::from_millis(30),
            registration_disabled: false,
            password_minimum_length: hook0_core::password::DEFAULT_MINIMUM_LENGTH,
            mailer: None,
            rate_limiting: RateLimiting::off(),
            cors_allowed_origins: Vec::new(),
            client_ip: ClientIpConfig::default(),
            quotas: Quotas::default(),
            connection_limits: ConnectionLimits::default(),
            refresh_reuse_grace: Duration::from_secs(60),
            clock: Clock::system(),
            schemas: Arc::default(),
            portal_test_sends: Arc::default(),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<ApiConfig>,
}
