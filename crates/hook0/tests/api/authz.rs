//! The authorization matrix: every authenticated route, called by every kind of caller, with
//! the status and problem id each must get. Callers: no token, garbage, an expired session, a
//! revoked service token, a viewer and an editor of the organization, a service token of the
//! organization and one of another organization, the application's secret and another
//! application's, and a service token attenuated to the application
//! (`check if application_id(…)`). Resources belong to organization A; everything a caller from
//! elsewhere tries there is 403.
//!
//! Routes that destroy their target get a fresh one per call (made with the master key), and
//! the callers bound to an application (its secret, the attenuated token) are bound to the
//! application the call is about.

use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use hook0_core::identity::{Role, User};
use hook0_core::model::{now, Organization};

use crate::helpers::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    NoToken,
    Garbage,
    Expired,
    Revoked,
    Viewer,
    Editor,
    ServiceToken,
    ForeignServiceToken,
    AppSecret,
    OtherAppSecret,
    Attenuated,
}

const CALLERS: [Who; 11] = [
    Who::NoToken,
    Who::Garbage,
    Who::Expired,
    Who::Revoked,
    Who::Viewer,
    Who::Editor,
    Who::ServiceToken,
    Who::ForeignServiceToken,
    Who::AppSecret,
    Who::OtherAppSecret,
    Who::Attenuated,
];

/// What a route acts on, which decides who may call it.
#[derive(Clone, Copy, Debug)]
enum Access {
    /// One application; `read`: viewers may too.
    App { read: bool },
    /// One application's credentials (its secrets): like `App { read: false }`, but never an
    /// attenuated token, which must not mint or read credentials.
    AppCredentials,
    /// One organization as a whole.
    Org { read: bool },
    /// `GET /organizations`: each caller sees its own.
    OrgList,
    /// `POST /organizations`: users only (and the master key).
    OrgCreate,
    /// The caller's own session: users only.
    UserOnly,
}

fn allowed(who: Who, access: Access) -> bool {
    use Access::*;
    use Who::*;
    match (who, access) {
        (Editor, _) => true,
        (AppSecret, AppCredentials) => true,
        (Viewer, App { read } | Org { read }) => read,
        (Viewer, OrgList | OrgCreate | UserOnly) => true,
        (ServiceToken, App { .. } | AppCredentials | Org { .. } | OrgList) => true,
        (ForeignServiceToken, OrgList) => true,
        (AppSecret | Attenuated, App { .. }) => true,
        _ => false,
    }
}

/// The answer a caller must get: the route's own when allowed.
fn expected(who: Who, access: Access, ok: Outcome) -> Outcome {
    match who {
        Who::NoToken => (401, Some("AuthNoAuthorizationHeader")),
        Who::Garbage | Who::Expired | Who::Revoked => (403, Some("AuthInvalidBiscuit")),
        _ if allowed(who, access) => ok,
        _ => (403, Some("Forbidden")),
    }
}

type Outcome = (u16, Option<&'static str>);

#[derive(Clone, Copy, Debug)]
enum Route {
    OrganizationList,
    OrganizationCreate,
    OrganizationGet,
    OrganizationEdit,
    OrganizationDelete,
    OrganizationInvite,
    OrganizationRevoke,
    OrganizationEditRole,
    ServiceTokenList,
    ServiceTokenCreate,
    ServiceTokenGet,
    ServiceTokenEdit,
    ServiceTokenDelete,
    ApplicationList,
    ApplicationCreate,
    ApplicationGet,
    ApplicationEdit,
    ApplicationDelete,
    ApplicationSecretList,
    ApplicationSecretCreate,
    ApplicationSecretEdit,
    ApplicationSecretDelete,
    EventTypeList,
    EventTypeCreate,
    EventTypeGet,
    EventTypeDelete,
    SubscriptionList,
    SubscriptionCreate,
    SubscriptionGet,
    SubscriptionEdit,
    SubscriptionDelete,
    SubscriptionRotateSecret,
    EventIngest,
    EventList,
    EventGet,
    EventReplay,
    RequestAttemptList,
    RequestAttemptGet,
    ResponseGet,
    DeadLetterList,
    DeadLetterRetry,
    DeadLetterRedeliver,
    OperationalEventList,
    Logout,
    ChangePassword,
}

const ROUTES: [Route; 45] = {
    use Route::*;
    [
        OrganizationList,
        OrganizationCreate,
        OrganizationGet,
        OrganizationEdit,
        OrganizationDelete,
        OrganizationInvite,
        OrganizationRevoke,
        OrganizationEditRole,
        ServiceTokenList,
        ServiceTokenCreate,
        ServiceTokenGet,
        ServiceTokenEdit,
        ServiceTokenDelete,
        ApplicationList,
        ApplicationCreate,
        ApplicationGet,
        ApplicationEdit,
        ApplicationDelete,
        ApplicationSecretList,
        ApplicationSecretCreate,
        ApplicationSecretEdit,
        ApplicationSecretDelete,
        EventTypeList,
        EventTypeCreate,
        EventTypeGet,
        EventTypeDelete,
        SubscriptionList,
        SubscriptionCreate,
        SubscriptionGet,
        SubscriptionEdit,
        SubscriptionDelete,
        SubscriptionRotateSecret,
        EventIngest,
        EventList,
        EventGet,
        EventReplay,
        RequestAttemptList,
        RequestAttemptGet,
        ResponseGet,
        DeadLetterList,
        DeadLetterRetry,
        DeadLetterRedeliver,
        OperationalEventList,
        Logout,
        ChangePassword,
    ]
};

impl Route {
    fn access(self) -> Access {
        use Access::*;
        use Route::*;
        match self {
            OrganizationList => OrgList,
            OrganizationCreate => OrgCreate,
            OrganizationGet | ApplicationList => Org { read: true },
            OrganizationEdit | OrganizationDelete | OrganizationInvite | OrganizationRevoke
            | OrganizationEditRole | ServiceTokenList | ServiceTokenCreate | ServiceTokenGet
            | ServiceTokenEdit | ServiceTokenDelete | ApplicationCreate => Org { read: false },
            ApplicationGet | EventTypeList | EventTypeGet | SubscriptionList | SubscriptionGet
            | EventList | EventGet | RequestAttemptList | RequestAttemptGet | ResponseGet
            | DeadLetterList | OperationalEventList => App { read: true },
            ApplicationSecretList
            | ApplicationSecretCreate
            | ApplicationSecretEdit
            | ApplicationSecretDelete => AppCredentials,
            ApplicationEdit
            | ApplicationDelete
            | EventTypeCreate
            | EventTypeDelete
            | SubscriptionCreate
            | SubscriptionEdit
            | SubscriptionDelete
            | SubscriptionRotateSecret
            | EventIngest
            | EventReplay
            | DeadLetterRetry
            | DeadLetterRedeliver => App { read: false },
            Logout | ChangePassword => UserOnly,
        }
    }

    /// The answer of a caller allowed to call it.
    fn ok(self) -> Outcome {
        use Route::*;
        match self {
            // Authorized, then refused for what the organization holds.
            OrganizationDelete => (409, Some("OrganizationIsNotEmpty")),
            // No such dead letter: authorized, then not found.
            DeadLetterRetry => (404, Some("NotFound")),
            ServiceTokenCreate
            | ApplicationCreate
            | ApplicationSecretCreate
            | EventTypeCreate
            | SubscriptionCreate
            | EventIngest => (201, None),
            ServiceTokenDelete
            | ApplicationDelete
            | ApplicationSecretDelete
            | EventTypeDelete
            | SubscriptionDelete
            | EventReplay
            | Logout
            | ChangePassword => (204, None),
            _ => (200, None),
        }
    }
}

/// Everything the matrix calls, in organization A (application A1 wired to a receiver, with a
/// delivered event), and the callers' credentials.
struct World {
    app: TestApp,
    receiver: Receiver,
    key: biscuit_auth::PublicKey,
    org: String,
    app1: String,
    app1_secret: String,
    app2_secret: String,
    subscription: String,
    event: String,
    attempt: String,
    response: String,
    spare_secret: String,
    spare_service_token: String,
    viewer: Session,
    editor: Session,
    expired: String,
    revoked: String,
    service: String,
    foreign_service: String,
}

impl World {
    async fn build() -> Self {
        let app = spawn_app().await;
        let receiver = Receiver::start().await;
        let wired = app.wire(&receiver.url("/hook")).await;
        let org = wired.org.organization_id.clone();
        let app1 = wired.application_id.clone();
        let app2 = app.create_app(&org, "Shipping").await;
        let app2_secret = first_secret(&app, &app2).await;
        let event = app.ingest(&app1).await["event_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let attempts = app
            .wait_for_attempts(&app1, &event, std::time::Duration::from_secs(10), |a| {
                a.iter().any(|a| !a["response_id"].is_null())
            })
            .await;
        let spare_secret = expect_json(
            app.post(
                "/application_secrets",
                &json!({ "application_id": app1, "name": "spare" }),
            )
            .await,
            201,
        )
        .await["token"]
            .as_str()
            .unwrap()
            .to_owned();

        let viewer = app.user("viewer@example.com").await;
        let editor = app.user("editor@example.com").await;
        app.invite(&org, &viewer.email, "viewer").await;
        app.invite(&org, &editor.email, "editor").await;
        let viewer = app.session(&viewer.email, &viewer.user_id).await;
        let editor = app.session(&editor.email, &editor.user_id).await;
        // An editor's session whose access token outlived its lifetime a minute ago.
        let expired = app
            .session(&editor.email, &editor.user_id)
            .await
            .access_token;
        let record = app
            .store
            .live_token(&revocation_id(&expired), now())
            .await
            .unwrap()
            .expect("a live session");
        app.store
            .expire_session(
                record.session_id.unwrap(),
                now() - chrono::Duration::minutes(1),
            )
            .await
            .unwrap();

        let (_, service) = app.service_token(&org, "service").await;
        let (spare_service_token, _) = app.service_token(&org, "spare").await;
        let (revoked_id, revoked) = app.service_token(&org, "revoked").await;
        expect_empty(
            app.delete(&format!(
                "/service_token/{revoked_id}?organization_id={org}"
            ))
            .await,
            204,
        )
        .await;
        let foreign_org = app.create_org("Globex").await;
        let (_, foreign_service) = app.service_token(&foreign_org, "foreign").await;
        let key = app.public_key().await;
        Self {
            key,
            org,
            app1_secret: wired.org.secret.clone(),
            app2_secret,
            subscription: wired.subscription_id.clone(),
            event,
            attempt: attempts[0]["request_attempt_id"]
                .as_str()
                .unwrap()
                .to_owned(),
            response: attempts
                .iter()
                .find_map(|a| a["response_id"].as_str())
                .unwrap()
                .to_owned(),
            app1,
            spare_secret,
            spare_service_token,
            viewer,
            editor,
            expired,
            revoked,
            service,
            foreign_service,
            app,
            receiver: receiver,
        }
    }

    /// A registered user who is not a member of organization A (made in the store directly:
    /// no password hashing needed).
    async fn outsider(&self) -> (Uuid, String) {
        let id = Uuid::new_v4();
        let email = format!("{id}@example.com");
        let user = User {
            id,
            email: email.clone(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
            first_name: "Out".into(),
            last_name: "Sider".into(),
            email_verified_at: Some(now()),
            created_at: now(),
        };
        let personal = Organization {
            id: Uuid::new_v4(),
            name: "personal".into(),
            created_at: now(),
        };
        self.app
            .store
            .register_user(&user, &personal, false)
            .await
            .unwrap();
        (id, email)
    }

    /// A member of organization A, to be revoked or re-roled.
    async fn member(&self) -> Uuid {
        let (id, _) = self.outsider().await;
        let org: Uuid = self.org.parse().unwrap();
        self.app
            .store
            .add_member(org, id, Role::Viewer, now())
            .await
            .unwrap();
        id
    }
}

async fn first_secret(app: &TestApp, application_id: &str) -> String {
    let secrets = expect_json(
        app.get(&format!(
            "/application_secrets?application_id={application_id}"
        ))
        .await,
        200,
    )
    .await;
    secrets[0]["token"].as_str().unwrap().to_owned()
}

/// One call: method, path, body, and the application (with its secret) the call is about.
struct Call {
    method: Method,
    path: String,
    body: Option<Value>,
    application: (String, String),
}

impl World {
    async fn call(&self, route: Route) -> Call {
        use Route::*;
        let (org, app1, w) = (&self.org, &self.app1, self);
        let a = format!("application_id={app1}");
        let o = format!("organization_id={org}");
        let subscription_body = || {
            // Deliveries go to the loopback receiver only.
            w.app.subscription_body(app1, &w.receiver.url("/hook"))
        };
        let (method, path, body) = match route {
            OrganizationList => (Method::GET, "/organizations".into(), None),
            OrganizationCreate => (
                Method::POST,
                "/organizations".into(),
                Some(json!({ "name": "New org" })),
            ),
            OrganizationGet => (Method::GET, format!("/organizations/{org}"), None),
            OrganizationEdit => (
                Method::PUT,
                format!("/organizations/{org}"),
                Some(json!({ "name": "Acme Corp" })),
            ),
            OrganizationDelete => (Method::DELETE, format!("/organizations/{org}"), None),
            OrganizationInvite => {
                let (_, email) = w.outsider().await;
                (
                    Method::POST,
                    format!("/organizations/{org}/invite"),
                    Some(json!({ "email": email, "role": "viewer" })),
                )
            }
            OrganizationRevoke => (
                Method::DELETE,
                format!("/organizations/{org}/invite"),
                Some(json!({ "user_id": w.member().await })),
            ),
            OrganizationEditRole => (
                Method::PUT,
                format!("/organizations/{org}/invite"),
                Some(json!({ "user_id": w.member().await, "role": "editor" })),
            ),
            ServiceTokenList => (Method::GET, format!("/service_token?{o}"), None),
            ServiceTokenCreate => (
                Method::POST,
                "/service_token".into(),
                Some(json!({ "organization_id": org, "name": "new" })),
            ),
            ServiceTokenGet => (
                Method::GET,
                format!("/service_token/{}?{o}", w.spare_service_token),
                None,
            ),
            ServiceTokenEdit => (
                Method::PUT,
                format!("/service_token/{}", w.spare_service_token),
                Some(json!({ "organization_id": org, "name": "renamed" })),
            ),
            ServiceTokenDelete => {
                let (id, _) = w.app.service_token(org, "doomed").await;
                (Method::DELETE, format!("/service_token/{id}?{o}"), None)
            }
            ApplicationList => (Method::GET, format!("/applications?{o}"), None),
            ApplicationCreate => (
                Method::POST,
                "/applications".into(),
                Some(json!({ "organization_id": org, "name": "New app" })),
            ),
            ApplicationGet => (Method::GET, format!("/applications/{app1}"), None),
            ApplicationEdit => (
                Method::PUT,
                format!("/applications/{app1}"),
                Some(json!({ "organization_id": org, "name": "Billing" })),
            ),
            ApplicationDelete => {
                let doomed = w.app.create_app(org, "Doomed").await;
                let secret = first_secret(&w.app, &doomed).await;
                return Call {
                    method: Method::DELETE,
                    path: format!("/applications/{doomed}"),
                    body: None,
                    application: (doomed, secret),
                };
            }
            ApplicationSecretList => (Method::GET, format!("/application_secrets?{a}"), None),
            ApplicationSecretCreate => (
                Method::POST,
                "/application_secrets".into(),
                Some(json!({ "application_id": app1, "name": "new" })),
            ),
            ApplicationSecretEdit => (
                Method::PUT,
                format!("/application_secrets/{}", w.spare_secret),
                Some(json!({ "application_id": app1, "name": "renamed" })),
            ),
            ApplicationSecretDelete => {
                let doomed = expect_json(
                    w.app
                        .post(
                            "/application_secrets",
                            &json!({ "application_id": app1, "name": "doomed" }),
                        )
                        .await,
                    201,
                )
                .await["token"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                (
                    Method::DELETE,
                    format!("/application_secrets/{doomed}?{a}"),
                    None,
                )
            }
            EventTypeList => (Method::GET, format!("/event_types?{a}"), None),
            EventTypeCreate => (
                Method::POST,
                "/event_types".into(),
                Some(json!({
                    "application_id": app1, "service": "billing", "resource_type": "invoice", "verb": "sent"
                })),
            ),
            EventTypeGet => (Method::GET, format!("/event_types/{EVENT_TYPE}?{a}"), None),
            EventTypeDelete => {
                let name = format!("doomed.type.v{}", Uuid::new_v4().simple());
                w.app.create_event_type(app1, &name).await;
                (Method::DELETE, format!("/event_types/{name}?{a}"), None)
            }
            SubscriptionList => (Method::GET, format!("/subscriptions?{a}"), None),
            SubscriptionCreate => (
                Method::POST,
                "/subscriptions".into(),
                Some(subscription_body()),
            ),
            SubscriptionGet => (
                Method::GET,
                format!("/subscriptions/{}", w.subscription),
                None,
            ),
            SubscriptionEdit => {
                let mut body = w.app.subscription_body(app1, &w.receiver.url("/hook"));
                body["description"] = json!("edited");
                (
                    Method::PUT,
                    format!("/subscriptions/{}", w.subscription),
                    Some(body),
                )
            }
            SubscriptionDelete => {
                let doomed = w.app.create_subscription_with(&subscription_body()).await;
                let id = doomed["subscription_id"].as_str().unwrap();
                (Method::DELETE, format!("/subscriptions/{id}?{a}"), None)
            }
            SubscriptionRotateSecret => (
                Method::POST,
                format!("/subscriptions/{}/secrets/rotate", w.subscription),
                Some(json!({ "application_id": app1 })),
            ),
            EventIngest => (Method::POST, "/event".into(), Some(w.app.event_body(app1))),
            EventList => (Method::GET, format!("/events?{a}"), None),
            EventGet => (Method::GET, format!("/events/{}?{a}", w.event), None),
            EventReplay => (
                Method::POST,
                format!("/events/{}/replay", w.event),
                Some(json!({ "application_id": app1 })),
            ),
            RequestAttemptList => (Method::GET, format!("/request_attempts?{a}"), None),
            RequestAttemptGet => (
                Method::GET,
                format!("/request_attempts/{}?{a}", w.attempt),
                None,
            ),
            ResponseGet => (Method::GET, format!("/responses/{}?{a}", w.response), None),
            DeadLetterList => (Method::GET, format!("/dead_letters?{a}"), None),
            DeadLetterRetry => (
                Method::POST,
                format!("/request_attempts/{}/retry", Uuid::new_v4()),
                Some(json!({ "application_id": app1 })),
            ),
            DeadLetterRedeliver => (
                Method::POST,
                format!("/subscriptions/{}/dead_letters/redeliver", w.subscription),
                Some(json!({ "application_id": app1 })),
            ),
            OperationalEventList => (Method::GET, format!("/operational_events?{a}"), None),
            Logout => (Method::POST, "/auth/logout".into(), None),
            ChangePassword => (
                Method::POST,
                "/auth/password".into(),
                Some(json!({ "current_password": PASSWORD, "new_password": PASSWORD })),
            ),
        };
        Call {
            method,
            path,
            body,
            application: (app1.clone(), w.app1_secret.clone()),
        }
    }

    /// The `Authorization` token of `who` for `call` (`None`: no header).
    async fn token(&self, who: Who, route: Route, call: &Call) -> Option<String> {
        let (application, secret) = &call.application;
        Some(match who {
            Who::NoToken => return None,
            Who::Garbage => "not-a-token".into(),
            Who::Expired => self.expired.clone(),
            Who::Revoked => self.revoked.clone(),
            // Logging out ends the session: that call gets a session of its own.
            Who::Viewer | Who::Editor if matches!(route, Route::Logout) => {
                let user = if who == Who::Viewer {
                    &self.viewer
                } else {
                    &self.editor
                };
                self.app
                    .session(&user.email, &user.user_id)
                    .await
                    .access_token
            }
            Who::Viewer => self.viewer.access_token.clone(),
            Who::Editor => self.editor.access_token.clone(),
            Who::ServiceToken => self.service.clone(),
            Who::ForeignServiceToken => self.foreign_service.clone(),
            Who::AppSecret => secret.clone(),
            Who::OtherAppSecret => self.app2_secret.clone(),
            Who::Attenuated => attenuate(&self.service, self.key, &only_application(application)),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_caller_as_the_matrix_says() {
    let world = World::build().await;
    let mut failures = Vec::new();
    let mut cells = 0;
    for route in ROUTES {
        for who in CALLERS {
            let call = world.call(route).await;
            let token = world.token(who, route, &call).await;
            let caller = match &token {
                Some(token) => world.app.with_token(token),
                None => world.app.anonymous(),
            };
            let mut request = caller.request(call.method.clone(), &call.path);
            if let Some(body) = &call.body {
                request = request.json(body);
            }
            let answer = request.send().await.expect("request sent");
            let status = answer.status().as_u16();
            let text = answer.text().await.unwrap_or_default();
            let id = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|b| b["id"].as_str().map(str::to_owned));
            let (mut want_status, mut want_id) = expected(who, route.access(), route.ok());
            // A subscription is found by its id alone: another tenant's answers like an
            // unknown one, so that ids cannot be probed.
            if matches!(route, Route::SubscriptionGet) && want_id == Some("Forbidden") {
                (want_status, want_id) = (404, Some("NotFound"));
            }
            let id_matches = match want_id {
                Some(want) => id.as_deref() == Some(want),
                None => true,
            };
            if status != want_status || !id_matches {
                failures.push(format!(
                    "{route:?} as {who:?}: {} {} -> {status} {id:?}, expected {want_status} {want_id:?}",
                    call.method, call.path
                ));
            }
            cells += 1;
        }
    }
    assert_eq!(cells, ROUTES.len() * CALLERS.len());
    println!(
        "authorization matrix: {} routes x {} callers = {cells} cells",
        ROUTES.len(),
        CALLERS.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {cells} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn an_unknown_application_or_organization_is_forbidden_to_everyone_but_master() {
    let app = spawn_app_with(|c| c.run_worker = false).await;
    let org = app.create_org_app().await;
    let (_, service) = app.service_token(&org.organization_id, "s").await;
    let unknown = Uuid::new_v4();
    for token in [service.as_str(), org.secret.as_str()] {
        expect_problem(
            app.with_token(token)
                .get(&format!("/event_types?application_id={unknown}"))
                .await,
            403,
            "Forbidden",
        )
        .await;
        expect_problem(
            app.with_token(token)
                .get(&format!("/organizations/{unknown}"))
                .await,
            403,
            "Forbidden",
        )
        .await;
    }
    // A deleted application is unknown too.
    expect_empty(
        app.delete(&format!("/applications/{}", org.application_id))
            .await,
        204,
    )
    .await;
    expect_problem(
        app.with_token(&service)
            .get(&format!(
                "/event_types?application_id={}",
                org.application_id
            ))
            .await,
        403,
        "Forbidden",
    )
    .await;
}
