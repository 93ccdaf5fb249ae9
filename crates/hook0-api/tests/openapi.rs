//! The OpenAPI document is valid OpenAPI 3 and describes exactly what the router serves: the
//! test walks the router's paths, probes each with every method, and compares the routes that
//! answer with the document's operations (plus the few routes kept out of it on purpose).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use hook0_api::{ApiConfig, AppState, UNDOCUMENTED_ROUTES};
use hook0_store::sqlite::SqliteStore;
use hook0_store::StoreOptions;
use serde_json::Value;
use tower::ServiceExt;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// Upstream's operation ids (reference §2.2): every operation of upstream's SDKs.
const UPSTREAM_OPERATION_IDS: &[(&str, &str, &str)] = &[
    ("GET", "/api/v1/instance", "instance.get"),
    ("GET", "/api/v1/quotas", "quotas.get"),
    (
        "GET",
        "/api/v1/events_per_day/application",
        "events_per_day.list_for_application",
    ),
    (
        "GET",
        "/api/v1/events_per_day/organization",
        "events_per_day.list_for_organization",
    ),
    ("GET", "/api/v1/health", "instance.health"),
    ("GET", "/api/v1/errors", "errors.list"),
    (
        "GET",
        "/api/v1/payload_content_types",
        "payload_content_types.list",
    ),
    ("GET", "/api/v1/organizations", "organizations.list"),
    ("POST", "/api/v1/organizations", "organizations.create"),
    ("GET", "/api/v1/organizations/{id}", "organizations.get"),
    ("PUT", "/api/v1/organizations/{id}", "organizations.edit"),
    (
        "DELETE",
        "/api/v1/organizations/{id}",
        "organizations.delete",
    ),
    ("GET", "/api/v1/applications", "applications.list"),
    ("POST", "/api/v1/applications", "applications.create"),
    ("GET", "/api/v1/applications/{id}", "applications.get"),
    ("PUT", "/api/v1/applications/{id}", "applications.update"),
    ("DELETE", "/api/v1/applications/{id}", "applications.delete"),
    (
        "GET",
        "/api/v1/application_secrets",
        "applicationSecrets.read",
    ),
    (
        "POST",
        "/api/v1/application_secrets",
        "applicationSecrets.create",
    ),
    (
        "PUT",
        "/api/v1/application_secrets/{token}",
        "applicationSecrets.update",
    ),
    (
        "DELETE",
        "/api/v1/application_secrets/{token}",
        "applicationSecrets.delete",
    ),
    ("GET", "/api/v1/event_types", "eventTypes.list"),
    ("POST", "/api/v1/event_types", "eventTypes.create"),
    ("GET", "/api/v1/event_types/{name}", "eventTypes.get"),
    ("DELETE", "/api/v1/event_types/{name}", "eventTypes.delete"),
    ("GET", "/api/v1/subscriptions", "subscriptions.list"),
    ("POST", "/api/v1/subscriptions", "subscriptions.create"),
    ("GET", "/api/v1/subscriptions/{id}", "subscriptions.get"),
    ("PUT", "/api/v1/subscriptions/{id}", "subscriptions.update"),
    (
        "DELETE",
        "/api/v1/subscriptions/{id}",
        "subscriptions.delete",
    ),
    ("POST", "/api/v1/event", "events.ingest"),
    ("GET", "/api/v1/events", "events.list"),
    ("GET", "/api/v1/events/{id}", "events.get"),
    ("POST", "/api/v1/events/{id}/replay", "events.replay"),
    ("GET", "/api/v1/request_attempts", "requestAttempts.read"),
    (
        "GET",
        "/api/v1/request_attempts/{id}",
        "requestAttempts.get",
    ),
    ("GET", "/api/v1/responses/{id}", "response.get"),
    ("POST", "/api/v1/auth/login", "auth.login"),
    ("POST", "/api/v1/auth/refresh", "auth.refresh"),
    ("POST", "/api/v1/auth/logout", "auth.logout"),
    ("POST", "/api/v1/auth/verify-email", "auth.verify_email"),
    (
        "POST",
        "/api/v1/auth/resend-verification-email",
        "auth.resend_verification_email",
    ),
    (
        "POST",
        "/api/v1/auth/begin-reset-password",
        "auth.begin_reset_password",
    ),
    ("POST", "/api/v1/auth/reset-password", "auth.reset_password"),
    ("POST", "/api/v1/auth/password", "auth.change_password"),
    ("POST", "/api/v1/register", "register"),
    (
        "POST",
        "/api/v1/organizations/{id}/invite",
        "organizations.invite",
    ),
    (
        "DELETE",
        "/api/v1/organizations/{id}/invite",
        "organizations.revoke",
    ),
    (
        "PUT",
        "/api/v1/organizations/{id}/invite",
        "organizations.edit_role",
    ),
    ("GET", "/api/v1/service_token", "serviceToken.list"),
    ("POST", "/api/v1/service_token", "serviceToken.create"),
    ("GET", "/api/v1/service_token/{id}", "serviceToken.get"),
    ("PUT", "/api/v1/service_token/{id}", "serviceToken.edit"),
    (
        "DELETE",
        "/api/v1/service_token/{id}",
        "serviceToken.delete",
    ),
];

/// The paths registered in the router. axum has no public route list, but its `Debug` output
/// names every registered path (`RouteId(n): "/path"`), routes first, then the fallback's.
fn router_paths(router: &axum::Router) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    let routes = debug.split("fallback_router:").next().unwrap();
    let mut paths = BTreeSet::new();
    let mut rest = routes;
    while let Some(at) = rest.find("RouteId(") {
        rest = &rest[at + "RouteId(".len()..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if let Some(quoted) = rest[digits..].strip_prefix("): \"") {
            let end = quoted.find('"').expect("a closing quote");
            paths.insert(quoted[..end].to_string());
            rest = &quoted[end..];
        }
    }
    paths.retain(|p| !p.contains("__private__axum"));
    paths
}

/// A concrete URL for a path template.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{name}" => "billing.invoice.paid",
            s if s.starts_with('{') => "00000000-0000-0000-0000-000000000000",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn app() -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hook0.db");
    let store = SqliteStore::open(path.to_str().unwrap(), &StoreOptions::default())
        .await
        .unwrap();
    let state = AppState {
        store: Arc::new(store),
        config: Arc::new(ApiConfig::default()),
    };
    (hook0_api::router(state), dir)
}

/// `(method, path)` of every operation the router answers (anything but 405 is an answer).
async fn served_routes(router: &axum::Router) -> BTreeSet<(String, String)> {
    let paths = router_paths(router);
    assert!(
        paths.len() > 20,
        "walking the router found too few paths: {paths:?}"
    );
    let mut served = BTreeSet::new();
    for path in paths {
        for method in METHODS {
            let request = Request::builder()
                .method(Method::from_bytes(method.as_bytes()).unwrap())
                .uri(concrete(&path))
                .body(Body::empty())
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            if response.status() != StatusCode::METHOD_NOT_ALLOWED {
                served.insert((method.to_string(), path.clone()));
            }
        }
    }
    served
}

fn documented_routes(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut operations = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().unwrap() {
            if METHODS.contains(&method.to_uppercase().as_str()) {
                operations.insert((method.to_uppercase(), path.clone()), operation.clone());
            }
        }
    }
    operations
}

#[tokio::test]
async fn the_document_covers_exactly_the_routes_the_router_serves() {
    let (router, _dir) = app().await;
    let served = served_routes(&router).await;
    let doc = serde_json::to_value(hook0_api::openapi()).unwrap();
    let mut documented: BTreeSet<(String, String)> = documented_routes(&doc).into_keys().collect();
    documented.extend(
        UNDOCUMENTED_ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string())),
    );
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not in the OpenAPI document: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "in the OpenAPI document but not served: {unserved:?}"
    );
}

#[test]
fn the_document_is_valid_openapi_3_with_upstream_operation_ids() {
    let doc = serde_json::to_value(hook0_api::openapi()).unwrap();
    let version = doc["openapi"].as_str().expect("an `openapi` version");
    assert!(version.starts_with("3."), "{version}");
    assert!(!doc["info"]["title"].as_str().unwrap().is_empty());
    assert!(!doc["info"]["version"].as_str().unwrap().is_empty());

    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("component schemas");
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    let operations = documented_routes(&doc);
    let mut ids = HashSet::new();
    for ((method, path), op) in &operations {
        let at = format!("{method} {path}");
        assert!(path.starts_with('/'), "{at}");
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: no operationId"));
        assert!(
            ids.insert(id.to_string()),
            "{at}: operationId {id} is not unique"
        );
        let responses = op["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{at}: no responses"));
        assert!(
            responses.keys().any(|code| code.starts_with('2')),
            "{at}: no success response"
        );
        assert!(
            responses.contains_key("default"),
            "{at}: failures are not described"
        );
        for response in responses.values() {
            assert!(
                response["description"].is_string(),
                "{at}: a response without description"
            );
        }
        // Every `{param}` of the template is declared as a required path parameter.
        let declared: HashSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path" && p["required"] == true)
            .filter_map(|p| p["name"].as_str())
            .collect();
        for segment in path.split('/').filter(|s| s.starts_with('{')) {
            let name = segment.trim_matches(|c| c == '{' || c == '}');
            assert!(
                declared.contains(name),
                "{at}: path parameter {name} is not declared"
            );
        }
        for parameter in op["parameters"].as_array().into_iter().flatten() {
            let location = parameter["in"].as_str().unwrap_or_default();
            assert!(
                ["path", "query", "header", "cookie"].contains(&location),
                "{at}: parameter in {location}"
            );
            assert!(
                parameter["schema"].is_object(),
                "{at}: parameter without schema"
            );
        }
        for requirement in op["security"].as_array().into_iter().flatten() {
            for scheme in requirement.as_object().unwrap().keys() {
                assert!(
                    schemes.contains_key(scheme),
                    "{at}: unknown security scheme {scheme}"
                );
            }
        }
    }
    // Every reference resolves.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let target = &reference[..reference.find('"').unwrap()];
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("external $ref {target}"));
        assert!(schemas.contains_key(name), "dangling $ref {target}");
    }
    // Upstream's operation ids and schema names, so generated clients keep their names.
    for (method, path, id) in UPSTREAM_OPERATION_IDS {
        let op = operations.get(&(method.to_string(), path.to_string()));
        let op = op.unwrap_or_else(|| panic!("{method} {path} is not documented"));
        assert_eq!(op["operationId"], *id, "{method} {path}");
    }
    for name in [
        "EventPost",
        "IngestedEvent",
        "Event",
        "SubscriptionPost",
        "Subscription",
        "EventTypePost",
        "EventType",
        "ApplicationPost",
        "Application",
        "ApplicationInfo",
        "ApplicationSecret",
        "OrganizationPost",
        "Organization",
        "OrganizationInfo",
        "RequestAttempt",
        "Response",
        "InstanceConfig",
        "HealthCheck",
        "Problem",
        "LoginResponse",
        "RegistrationPost",
        "ServiceToken",
    ] {
        assert!(schemas.contains_key(name), "no schema named {name}");
    }
    // An added schema: a dead letter is a request attempt plus when it became one.
    let dead_letter = serde_json::to_string(&schemas["DeadLetter"]).unwrap();
    assert!(
        dead_letter.contains("dead_lettered_at") && dead_letter.contains("RequestAttempt"),
        "{dead_letter}"
    );
}
