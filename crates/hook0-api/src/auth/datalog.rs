//! The Biscuit authorizer: upstream's Datalog policy, run on a user session or service token
//! with the facts of one request (`time`, `action`, `application_id`, `allowed_role`, and per
//! action `subscription_id`, `service_token_id`, `labels`, `event_type_names`), within
//! `MAX_AUTHORIZATION_TIME`. The token's own checks and every check a customer appended to it
//! (attenuation) run here too, against the same facts.
//!
//! The policy is parsed once; each request clones it and adds its facts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use biscuit_auth::builder::{date, fact, string, Fact, MapKey, Term};
use biscuit_auth::error::{RunLimit, Token as TokenError};
use biscuit_auth::{AuthorizerBuilder, AuthorizerLimits, Biscuit};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::tokens::uuid;

/// Checks every token must pass: a known type and version, not expired.
const TOKEN_RULES: &str = r#"
    valid_type("service_access");
    valid_type("user_access");
    check if type($t), valid_type($t);
    supported_version("service_access", 1);
    supported_version("user_access", 1);
    check if type($t), version($v), supported_version($t, $v);
"#;

/// Organization scoping and roles (upstream's rules; the organization asked for is given as
/// `requested_organization_id`). A user session holds `organization_role(org, role)` facts; a
/// service token holds `organization_id(org)` and acts as the role `service`.
const ORGANIZATION_RULES: &str = r#"
    organization_id($id) <- type("user_access"), organization_role($id, $r), requested_organization_id($id);
    role($r) <- type("user_access"), requested_organization_id($id), organization_role($id, $r);
    valid_role($r) <- role($r), allowed_role($r);
    valid_role("service") <- type("service_access");
    check if valid_role($r);
    check if requested_organization_id($id), organization_id($id);
"#;

const POLICIES: &str = r#"
    deny if expired_at($exp), time($t), $exp < $t;
    allow if true;
"#;

/// The policy without organization scope (organization list and create, the caller's own
/// session), and with it.
static INSTANCE_POLICY: LazyLock<AuthorizerBuilder> = LazyLock::new(|| parse(&[TOKEN_RULES]));
static ORGANIZATION_POLICY: LazyLock<AuthorizerBuilder> =
    LazyLock::new(|| parse(&[TOKEN_RULES, ORGANIZATION_RULES]));

fn parse(parts: &[&str]) -> AuthorizerBuilder {
    let mut source = parts.concat();
    source.push_str(POLICIES);
    AuthorizerBuilder::new()
        .code(source)
        .expect("the authorization policy parses")
}

/// Facts some actions add about the resource (upstream's names).
#[derive(Clone, Copy, Debug)]
pub enum Detail<'a> {
    SubscriptionId(Uuid),
    ServiceTokenId(Uuid),
    /// A new subscription's labels, as a map.
    Labels(&'a BTreeMap<String, String>),
    /// The event types a request-attempt listing is filtered on, as a set.
    EventTypeNames(&'a [String]),
}

impl Detail<'_> {
    fn fact(&self) -> Fact {
        match self {
            Detail::SubscriptionId(id) => fact("subscription_id", &[uuid(*id)]),
            Detail::ServiceTokenId(id) => fact("service_token_id", &[uuid(*id)]),
            Detail::Labels(labels) => {
                let map = labels
                    .iter()
                    .map(|(k, v)| (MapKey::Str(k.clone()), string(v)))
                    .collect();
                fact("labels", &[Term::Map(map)])
            }
            Detail::EventTypeNames(names) => {
                let set: BTreeSet<Term> = names.iter().map(|n| string(n)).collect();
                fact("event_type_names", &[Term::Set(set)])
            }
        }
    }
}

/// One request, as the authorizer sees it.
pub struct Request<'a> {
    pub action: &'static str,
    /// The organization of an organization- or application-scoped action.
    pub organization_id: Option<Uuid>,
    pub application_id: Option<Uuid>,
    /// `viewer` may perform it too (`editor` always may).
    pub viewer_allowed: bool,
    pub details: &'a [Detail<'a>],
}

/// Why the authorizer did not allow a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A check failed or a deny policy matched: 403.
    Denied,
    /// The authorizer ran out of time (`MAX_AUTHORIZATION_TIME`): 503.
    Timeout,
}

/// Runs the policy on `token` for `request`, on the authorization pool: never on the async
/// workers, never more evaluations at once than the pool has threads. The evaluation itself
/// keeps to `budget` (the authorizer's own limit, 503 past it); [`super::token_budget`] has
/// already bounded what one rule can cost, so an evaluation cannot run away. Waiting for a
/// thread is not part of the budget, which is about one token's cost, not the server's load:
/// only a pool busy for [`POOL_WAIT`] answers 503.
pub async fn authorize_pooled(
    token: Arc<Biscuit>,
    request: &Request<'_>,
    budget: Duration,
) -> Result<(), Refusal> {
    let organization_scoped = request.organization_id.is_some();
    let facts = request_facts(request);
    let permit = tokio::time::timeout(POOL_WAIT, POOL.clone().acquire_owned())
        .await
        .map_err(|_| Refusal::Timeout)?
        .expect("the authorization pool is never closed");
    let evaluation = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        evaluate(&token, organization_scoped, facts, budget)
    });
    // A safety net only: the authorizer stops itself at `budget`.
    match tokio::time::timeout(budget * 4 + POOL_WAIT, evaluation).await {
        Ok(Ok(decision)) => decision,
        Ok(Err(_panicked)) => Err(Refusal::Denied),
        Err(_) => Err(Refusal::Timeout),
    }
}

/// Longest wait for a thread of the pool.
const POOL_WAIT: Duration = Duration::from_secs(1);

/// Threads that may evaluate Datalog at once: four per core (evaluations are short and
/// bounded; the cap keeps a flood of them from taking every blocking thread).
static POOL: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Arc::new(Semaphore::new(cores.max(2) * 4))
});

/// Runs the policy on `token` for `request`, on this thread (the tests' way in).
#[cfg(test)]
pub fn authorize(token: &Biscuit, request: &Request<'_>, budget: Duration) -> Result<(), Refusal> {
    evaluate(
        token,
        request.organization_id.is_some(),
        request_facts(request),
        budget,
    )
}

/// The authorizer's facts for one request.
fn request_facts(request: &Request<'_>) -> Vec<Fact> {
    let mut facts = Vec::with_capacity(6 + request.details.len());
    facts.push(fact("time", &[date(&SystemTime::now())]));
    facts.push(fact("action", &[string(request.action)]));
    if let Some(organization_id) = request.organization_id {
        facts.push(fact("requested_organization_id", &[uuid(organization_id)]));
        facts.push(fact("allowed_role", &[string("editor")]));
        if request.viewer_allowed {
            facts.push(fact("allowed_role", &[string("viewer")]));
        }
    }
    if let Some(application_id) = request.application_id {
        facts.push(fact("application_id", &[uuid(application_id)]));
    }
    facts.extend(request.details.iter().map(Detail::fact));
    facts
}

fn evaluate(
    token: &Biscuit,
    organization_scoped: bool,
    facts: Vec<Fact>,
    budget: Duration,
) -> Result<(), Refusal> {
    let policy = if organization_scoped {
        &*ORGANIZATION_POLICY
    } else {
        &*INSTANCE_POLICY
    };
    let mut builder = policy.clone();
    for f in facts {
        builder = builder.fact(f).map_err(|_| Refusal::Denied)?;
    }
    let mut authorizer = builder
        .set_limits(limits(budget))
        .build(token)
        .map_err(refusal)?;
    authorizer.authorize().map(|_| ()).map_err(refusal)
}

/// What a token presented for its own purpose says about itself.
#[derive(Debug, PartialEq, Eq)]
pub struct OwnUse {
    pub user_id: Uuid,
    /// The session of a refresh token.
    pub session_id: Option<Uuid>,
    /// A password-reset link's fingerprint of the password it may replace.
    pub password_state: Option<Vec<u8>>,
}

/// Checks a token presented for its own purpose (a refresh token to `POST /auth/refresh`, a
/// mailed link's token): its `type` is `expected_type`, it has not expired, its checks pass.
pub fn authorize_own_use(
    token: &Biscuit,
    expected_type: &str,
    budget: Duration,
) -> Result<OwnUse, Refusal> {
    let mut authorizer = AuthorizerBuilder::new()
        .fact(fact("time", &[date(&SystemTime::now())]))
        .and_then(|b| b.fact(fact("expected_type", &[string(expected_type)])))
        .and_then(|b| {
            b.code(
                r#"
                check if type($t), expected_type($t);
                deny if expired_at($exp), time($t), $exp < $t;
                allow if true;
                "#,
            )
        })
        .map_err(refusal)?
        .set_limits(limits(budget))
        .build(token)
        .map_err(refusal)?;
    authorizer.authorize().map_err(refusal)?;
    let mut one = |rule: &str| -> Result<Option<Vec<u8>>, Refusal> {
        let found: Vec<(Vec<u8>,)> = authorizer.query(rule).map_err(refusal)?;
        match found.as_slice() {
            [] => Ok(None),
            [(bytes,)] => Ok(Some(bytes.clone())),
            _ => Err(Refusal::Denied),
        }
    };
    let as_uuid = |bytes: Vec<u8>| Uuid::from_slice(&bytes).map_err(|_| Refusal::Denied);
    let user_id = as_uuid(one("user($id) <- user_id($id)")?.ok_or(Refusal::Denied)?)?;
    let session_id = one("session($id) <- session_id($id)")?
        .map(as_uuid)
        .transpose()?;
    let password_state = one("state($s) <- password_state($s)")?;
    Ok(OwnUse {
        user_id,
        session_id,
        password_state,
    })
}

/// The authorizer's own limits: the time budget, and few facts and iterations (our tokens
/// need a few dozen facts and three iterations).
fn limits(budget: Duration) -> AuthorizerLimits {
    AuthorizerLimits {
        max_time: budget,
        max_facts: 1_000,
        max_iterations: 20,
    }
}

fn refusal(e: TokenError) -> Refusal {
    match e {
        TokenError::RunLimit(RunLimit::Timeout) => Refusal::Timeout,
        _ => Refusal::Denied,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::{self, BiscuitKey};
    use biscuit_auth::builder::BlockBuilder;
    use chrono::Utc;
    use hook0_core::identity::{Role, User};

    const BUDGET: Duration = Duration::from_millis(500);

    fn user(roles: &[(Uuid, Role)], key: &BiscuitKey) -> Biscuit {
        let user = User {
            id: Uuid::new_v4(),
            email: "ada@example.com".into(),
            password_hash: String::new(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            email_verified_at: None,
            created_at: Utc::now(),
        };
        let minted = tokens::user_access(key, Uuid::new_v4(), &user, roles, Utc::now()).unwrap();
        tokens::parse(key, &minted.biscuit).unwrap()
    }

    fn request(
        org: Uuid,
        app: Option<Uuid>,
        action: &'static str,
        viewer: bool,
    ) -> Request<'static> {
        Request {
            action,
            organization_id: Some(org),
            application_id: app,
            viewer_allowed: viewer,
            details: &[],
        }
    }

    #[test]
    fn roles_decide_within_their_organization_only() {
        let key = BiscuitKey::generate();
        let (org, other) = (Uuid::new_v4(), Uuid::new_v4());
        let viewer = user(&[(org, Role::Viewer)], &key);
        let editor = user(&[(org, Role::Editor)], &key);
        let read = request(org, None, "application:list", true);
        let write = request(org, None, "application:create", false);
        assert_eq!(authorize(&viewer, &read, BUDGET), Ok(()));
        assert_eq!(authorize(&viewer, &write, BUDGET), Err(Refusal::Denied));
        assert_eq!(authorize(&editor, &write, BUDGET), Ok(()));
        let foreign = request(other, None, "application:list", true);
        assert_eq!(authorize(&editor, &foreign, BUDGET), Err(Refusal::Denied));
    }

    #[test]
    fn an_attenuated_service_token_is_held_to_its_checks() {
        let key = BiscuitKey::generate();
        let (org, app, other_app) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let minted = tokens::service_access(&key, org, "ci", Utc::now()).unwrap();
        let token = tokens::parse(&key, &minted.biscuit).unwrap();
        let ingest_here = request(org, Some(app), "event:ingest", false);
        let ingest_there = request(org, Some(other_app), "event:ingest", false);
        assert_eq!(authorize(&token, &ingest_there, BUDGET), Ok(()));

        let block = BlockBuilder::new()
            .code(format!("check if application_id(hex:{});", hex(app)))
            .unwrap();
        let attenuated = token.append(block).unwrap();
        let attenuated = tokens::parse(&key, &attenuated.to_base64().unwrap()).unwrap();
        assert_eq!(
            tokens::revocation_id(&attenuated),
            minted.record.revocation_id
        );
        assert_eq!(authorize(&attenuated, &ingest_here, BUDGET), Ok(()));
        assert_eq!(
            authorize(&attenuated, &ingest_there, BUDGET),
            Err(Refusal::Denied)
        );
        let org_wide = request(org, None, "application:list", true);
        assert_eq!(
            authorize(&attenuated, &org_wide, BUDGET),
            Err(Refusal::Denied)
        );
    }

    #[test]
    fn an_expired_session_is_refused_and_a_tiny_budget_times_out() {
        let key = BiscuitKey::generate();
        let org = Uuid::new_v4();
        let user_record = User {
            id: Uuid::new_v4(),
            email: "a@b.c".into(),
            password_hash: String::new(),
            first_name: "A".into(),
            last_name: "B".into(),
            email_verified_at: None,
            created_at: Utc::now(),
        };
        let long_ago = Utc::now() - chrono::Duration::hours(1);
        let minted = tokens::user_access(
            &key,
            Uuid::new_v4(),
            &user_record,
            &[(org, Role::Editor)],
            long_ago,
        )
        .unwrap();
        let token = tokens::parse(&key, &minted.biscuit).unwrap();
        let read = request(org, None, "organization:get", true);
        assert_eq!(authorize(&token, &read, BUDGET), Err(Refusal::Denied));

        let fresh = user(&[(org, Role::Editor)], &key);
        assert_eq!(
            authorize(&fresh, &read, Duration::from_nanos(1)),
            Err(Refusal::Timeout)
        );
    }

    fn hex(id: Uuid) -> String {
        id.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }
}
