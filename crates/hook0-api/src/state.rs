//! What every handler shares: the store and the API's configuration.

use std::sync::Arc;
use std::time::Duration;

use hook0_store::Store;
use uuid::Uuid;

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
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<ApiConfig>,
}
