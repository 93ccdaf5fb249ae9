//! The OpenAPI 3 document of REST API v1, generated from the code: each handler carries its
//! `#[utoipa::path]` (upstream's `operationId`, parameters, bodies), and the router registers
//! handlers through `utoipa_axum::routes!`, which adds the operation to the document in the same
//! call, so the document cannot list a route the server lacks, nor miss one it serves.
//!
//! Served at `GET /api/v1/swagger.json` (upstream's path), and browsable at `GET /api/v1/docs`,
//! a self-contained page (no CDN) that renders the document.

use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, IntoResponse};
use hook0_core::problem::Problem;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder, SecurityRequirement};

/// Tags whose operations need no `Authorization` header.
const PUBLIC_TAGS: [&str; 1] = ["instance"];

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Hook0 API",
        description = "Webhooks as a service: REST API v1, wire-compatible with upstream Hook0. \
            Authenticate with `Authorization: Bearer <token>`, the token being a user session's \
            access token (POST /auth/login), a service token, the instance's MASTER_API_KEY or an \
            application secret. Errors are RFC 7807 \
            `application/problem+json` documents with a stable `id`.",
        license(name = "Apache-2.0")
    ),
    components(schemas(Problem)),
    tags(
        (name = "instance", description = "This instance: configuration, health, error catalogue"),
        (name = "auth", description = "Registration, login and user sessions (Biscuit tokens)"),
        (name = "organizations", description = "Tenants that own applications, and their members"),
        (name = "service_tokens", description = "An organization's Biscuit tokens for programs"),
        (name = "applications", description = "Units owning event types, subscriptions and events"),
        (name = "application_secrets", description = "Tokens that authenticate as one application"),
        (name = "event_types", description = "`service.resource_type.verb` names of events"),
        (name = "subscriptions", description = "Routing of events to HTTP targets"),
        (name = "events", description = "Ingest, list, read and replay events"),
        (name = "request_attempts", description = "Delivery history: attempts and responses"),
        (name = "events_per_day", description = "Events received per application and day"),
        (name = "dead_letters", description = "Attempts given up, and their redelivery"),
        (name = "operational_events", description = "What Hook0 reported about an application"),
        (name = "portal", description = "The consumer portal: a sender mints a session for one \
            customer (`POST /portal_sessions`) and hands its `url` to them; the `/portal/…` \
            operations are what that customer may do, with the session's secret as Bearer \
            (`portal_session`), confined to the session's labels.\n\nMint one:\n\n\
            ```sh\ncurl -X POST \"$HOOK0_API/api/v1/portal_sessions\" \\\n  \
            -H \"Authorization: Bearer $HOOK0_TOKEN\" -H 'Content-Type: application/json' \\\n  \
            -d '{\"application_id\": \"…\", \"labels\": {\"tenant\": \"acme\"}, \
            \"capabilities\": [\"view\", \"manage_subscriptions\", \"retry\"], \
            \"expires_in\": 3600, \"allowed_origins\": [\"https://app.example.com\"]}'\n```"),
    )
)]
pub struct ApiDoc;

/// Adds what every operation shares: the problem+json answer of every failure, and the Bearer
/// requirement of every authenticated operation.
pub fn finish(mut doc: OpenApi) -> OpenApi {
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "portal_session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("h0portal_… (the secret at the end of a portal session's url)")
                    .description(Some("A consumer portal session's secret"))
                    .build(),
            ),
        );
    let problem = ResponseBuilder::new()
        .description("Any failure: an RFC 7807 problem with a stable `id` (see GET /errors)")
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build();
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            operation
                .responses
                .responses
                .entry("default".into())
                .or_insert_with(|| problem.clone().into());
            let public = operation
                .tags
                .iter()
                .flatten()
                .any(|tag| PUBLIC_TAGS.contains(&tag.as_str()));
            // An operation that states its own requirement keeps it (`security(())`: none).
            if !public && operation.security.is_none() {
                operation.security = Some(vec![SecurityRequirement::new(
                    "bearer",
                    Vec::<String>::new(),
                )]);
            }
        }
    }
    doc
}

/// `GET /api/v1/swagger.json`, pre-serialized once at start.
pub fn spec_response(spec: bytes::Bytes) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], spec)
}

/// `GET /api/v1/docs`: renders the document in the browser, with nothing fetched but the
/// document itself. Its Content-Security-Policy allows exactly its own inline script and
/// style (by hash), the document from this origin, and nothing else.
pub async fn docs_page() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_SECURITY_POLICY,
            DOCS_CSP.as_str(),
        )],
        Html(DOCS_PAGE),
    )
}

static DOCS_CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "default-src 'none'; script-src '{}'; style-src '{}'; connect-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        inline_hash("script"),
        inline_hash("style")
    )
});

/// `sha256-…` of the first inline `<tag>` of [`DOCS_PAGE`], as CSP spells it.
fn inline_hash(tag: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let open = format!("<{tag}>");
    let start = DOCS_PAGE
        .find(&open)
        .expect("the docs page has the element")
        + open.len();
    let end = start
        + DOCS_PAGE[start..]
            .find(&format!("</{tag}>"))
            .expect("the element is closed");
    let digest = sha2::Sha256::digest(DOCS_PAGE[start..end].as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Hook0 API reference</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem 2rem; color: #1d1d1f; }
  h1 { margin-bottom: 0; } h2 { border-bottom: 1px solid #ddd; margin-top: 2rem; }
  details { border: 1px solid #ddd; border-radius: 6px; margin: .4rem 0; padding: .3rem .7rem; }
  summary { cursor: pointer; } code, pre { font: 13px/1.4 ui-monospace, monospace; }
  pre { background: #f6f8fa; padding: .6rem; overflow-x: auto; border-radius: 4px; }
  .m { display: inline-block; min-width: 4.2rem; font-weight: 600; text-transform: uppercase; }
  .get { color: #1a7f37; } .post { color: #0969da; } .put { color: #9a6700; } .delete { color: #cf222e; }
  .op { color: #666; font-size: 13px; margin-left: .5rem; }
</style>
</head>
<body>
<h1>Hook0 API reference</h1>
<p>Generated from the server's code. The raw OpenAPI document: <a id="spec" href="swagger.json">swagger.json</a>.</p>
<div id="root">Loading…</div>
<script>
(function () {
  var specUrl = location.pathname.replace(/\/docs\/?$/, "/swagger.json");
  document.getElementById("spec").href = specUrl;
  var root = document.getElementById("root");
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  function refName(s) { return s && s.$ref ? s.$ref.split("/").pop() : null; }
  function typeOf(s) {
    if (!s) return "";
    if (s.$ref) return refName(s);
    if (s.type === "array") return typeOf(s.items) + "[]";
    if (Array.isArray(s.type)) return s.type.join(" | ");
    return s.type || (s.oneOf ? "oneOf" : "object");
  }
  fetch(specUrl).then(function (r) { return r.json(); }).then(function (doc) {
    root.textContent = "";
    var byTag = {};
    Object.keys(doc.paths).forEach(function (path) {
      ["get", "post", "put", "patch", "delete"].forEach(function (m) {
        var op = doc.paths[path][m]; if (!op) return;
        var tag = (op.tags || ["other"])[0];
        (byTag[tag] = byTag[tag] || []).push({ path: path, method: m, op: op });
      });
    });
    (doc.tags || []).map(function (t) { return t.name; }).concat(Object.keys(byTag)).filter(function (t, i, a) { return byTag[t] && a.indexOf(t) === i; }).forEach(function (tag) {
      root.appendChild(el("h2", null, tag));
      byTag[tag].forEach(function (e) {
        var d = el("details"), s = el("summary");
        s.appendChild(el("span", "m " + e.method, e.method)); s.appendChild(el("code", null, e.path));
        s.appendChild(el("span", "op", e.op.operationId)); d.appendChild(s);
        if (e.op.description || e.op.summary) d.appendChild(el("p", null, e.op.summary || e.op.description));
        (e.op.parameters || []).forEach(function (p) {
          d.appendChild(el("div", null, p.in + " " + p.name + (p.required ? " (required)" : "") + ": " + typeOf(p.schema)));
        });
        var body = e.op.requestBody && e.op.requestBody.content && e.op.requestBody.content["application/json"];
        if (body) d.appendChild(el("div", null, "body: " + typeOf(body.schema)));
        Object.keys(e.op.responses || {}).forEach(function (code) {
          var r = e.op.responses[code], c = r.content && (r.content["application/json"] || r.content["application/problem+json"]);
          d.appendChild(el("div", null, code + ": " + (r.description || "") + (c ? " → " + typeOf(c.schema) : "")));
        });
        root.appendChild(d);
      });
    });
    root.appendChild(el("h2", null, "schemas"));
    var schemas = (doc.components && doc.components.schemas) || {};
    Object.keys(schemas).sort().forEach(function (name) {
      var d = el("details"); d.appendChild(el("summary", null, name));
      d.appendChild(el("pre", null, JSON.stringify(schemas[name], null, 2))); root.appendChild(d);
    });
  }).catch(function (err) { root.textContent = "Could not load " + specUrl + ": " + err; });
})();
</script>
</body>
</html>
"#;
