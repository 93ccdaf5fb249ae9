//! Users and sessions end to end: registration with upstream's password policy, email
//! verification by a mailed link (read from a real SMTP server on loopback), login, refresh,
//! logout, password reset, the no-SMTP set-up; organizations created by users and their members.

use std::time::Duration;

use hook0_api::Mailer;
use serde_json::json;

use crate::helpers::*;

async fn app_with_mail() -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_with(|c| {
        c.run_worker = false;
        c.api.app_url = "https://app.hook0.test".into();
        c.api.mailer =
            Some(Mailer::new(&url, "noreply@hook0.test", "Hook0", Duration::from_secs(5)).unwrap());
        // A spent refresh token used again at once counts as a theft here.
        c.api.refresh_reuse_grace = Duration::ZERO;
    })
    .await;
    (app, sink)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn register_verify_login_refresh_logout_and_old_tokens_are_refused() {
    let (app, sink) = app_with_mail().await;
    let email = "Ada.Lovelace@Example.com";

    let registered = app.register(email).await;
    assert!(registered["user_id"].is_string() && registered["organization_id"].is_string());
    let anonymous = app.anonymous();
    let credentials = json!({ "email": email, "password": PASSWORD });
    expect_problem(
        anonymous.post("/auth/login", &credentials).await,
        401,
        "AuthEmailNotVerified",
    )
    .await;

    // The verification mail, with its link to APP_URL.
    let mail = sink.wait_for_mail("ada.lovelace@example.com", 1).await;
    assert_eq!(mail.subject(), "Verify your email address");
    assert!(mail
        .body()
        .contains("https://app.hook0.test/verify-email?token="));
    let token = mail.link_token("verify-email");
    let verified = expect_json(
        anonymous
            .post("/auth/verify-email", &json!({ "token": token }))
            .await,
        201,
    )
    .await;
    for field in [
        "access_token",
        "access_token_expiration",
        "refresh_token",
        "refresh_token_expiration",
        "user_id",
        "email",
        "first_name",
        "last_name",
    ] {
        assert!(!verified[field].is_null(), "LoginResponse.{field}");
    }
    assert_eq!(verified["email"], "ada.lovelace@example.com");
    expect_problem(
        anonymous
            .post("/auth/verify-email", &json!({ "token": token }))
            .await,
        409,
        "AuthEmailAlreadyVerified",
    )
    .await;

    // Log in (case-insensitive email), use the session.
    let login = expect_json(anonymous.post("/auth/login", &credentials).await, 201).await;
    let access = login["access_token"].as_str().unwrap().to_owned();
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();
    let orgs = expect_json(app.with_token(&access).get("/organizations").await, 200).await;
    assert_eq!(orgs.as_array().unwrap().len(), 1);
    assert_eq!(orgs[0]["organization_id"], registered["organization_id"]);
    assert_eq!(orgs[0]["role"], "editor");
    assert_eq!(orgs[0]["name"], "Grace Hopper's personal organization");
    expect_problem(
        anonymous
            .post(
                "/auth/login",
                &json!({ "email": email, "password": "Wrong-password-42" }),
            )
            .await,
        401,
        "AuthFailedLogin",
    )
    .await;

    // Refresh: a new pair in the same session; the refresh token is spent.
    let refreshed = expect_json(
        app.with_authorization(&bearer(&refresh))
            .request(reqwest::Method::POST, "/auth/refresh")
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let new_access = refreshed["access_token"].as_str().unwrap().to_owned();
    let new_refresh = refreshed["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_access, access);
    let refresh_again = || {
        app.with_authorization(&bearer(&refresh))
            .request(reqwest::Method::POST, "/auth/refresh")
            .send()
    };
    expect_problem(refresh_again().await.unwrap(), 401, "AuthFailedRefresh").await;
    // A spent refresh token used again was stolen by one of its two users: the whole session
    // ends, the pair it was exchanged for included.
    expect_problem(
        app.with_token(&new_access).get("/organizations").await,
        403,
        "AuthInvalidBiscuit",
    )
    .await;
    expect_problem(
        app.with_authorization(&bearer(&new_refresh))
            .request(reqwest::Method::POST, "/auth/refresh")
            .send()
            .await
            .unwrap(),
        401,
        "AuthFailedRefresh",
    )
    .await;
    // A new session for what follows.
    let relogin = app.login(email).await;
    let new_access = relogin["access_token"].as_str().unwrap().to_owned();
    let new_refresh = relogin["refresh_token"].as_str().unwrap().to_owned();
    expect_problem(
        app.anonymous()
            .request(reqwest::Method::POST, "/auth/refresh")
            .send()
            .await
            .unwrap(),
        401,
        "AuthNoAuthorizationHeader",
    )
    .await;
    // An access token is not a refresh token, nor the reverse.
    expect_problem(
        app.with_token(&new_access)
            .request(reqwest::Method::POST, "/auth/refresh")
            .send()
            .await
            .unwrap(),
        401,
        "AuthFailedRefresh",
    )
    .await;
    expect_problem(
        app.with_token(&new_refresh).get("/organizations").await,
        403,
        "AuthInvalidBiscuit",
    )
    .await;
    expect_json(app.with_token(&new_access).get("/organizations").await, 200).await;

    // Logout ends the whole session: old and new access tokens, and the refresh token.
    expect_empty(
        app.with_token(&new_access)
            .request(reqwest::Method::POST, "/auth/logout")
            .send()
            .await
            .unwrap(),
        204,
    )
    .await;
    for token in [&access, &new_access] {
        expect_problem(
            app.with_token(token).get("/organizations").await,
            403,
            "AuthInvalidBiscuit",
        )
        .await;
    }
    expect_problem(
        app.with_authorization(&bearer(&new_refresh))
            .request(reqwest::Method::POST, "/auth/refresh")
            .send()
            .await
            .unwrap(),
        401,
        "AuthFailedRefresh",
    )
    .await;

    // A resend to a verified account sends nothing.
    expect_empty(
        anonymous
            .post(
                "/auth/resend-verification-email",
                &json!({ "email": email }),
            )
            .await,
        204,
    )
    .await;
    assert_eq!(sink.mails().len(), 1);
}

#[tokio::test]
async fn a_password_is_reset_by_mail_and_changed_in_session() {
    let (app, sink) = app_with_mail().await;
    let email = "grace@example.com";
    app.register(email).await;
    let verify = sink
        .wait_for_mail(email, 1)
        .await
        .link_token("verify-email");
    let session = expect_json(
        app.anonymous()
            .post("/auth/verify-email", &json!({ "token": verify }))
            .await,
        201,
    )
    .await;
    let access = session["access_token"].as_str().unwrap().to_owned();

    let anonymous = app.anonymous();
    expect_problem(
        anonymous
            .post(
                "/auth/begin-reset-password",
                &json!({ "email": "nobody@example.com" }),
            )
            .await,
        401,
        "AuthEmailExpired",
    )
    .await;
    expect_empty(
        anonymous
            .post(
                "/auth/begin-reset-password",
                &json!({ "email": "GRACE@example.com" }),
            )
            .await,
        204,
    )
    .await;
    let mail = sink.wait_for_mail(email, 2).await;
    assert_eq!(mail.subject(), "Reset your password");
    let reset = mail.link_token("reset-password");
    // A second request within the minute answers the same, and mails nothing (throttled).
    expect_empty(
        anonymous
            .post("/auth/begin-reset-password", &json!({ "email": email }))
            .await,
        204,
    )
    .await;

    // A verification token is no reset token; garbage is no token at all.
    expect_problem(
        anonymous
            .post(
                "/auth/reset-password",
                &json!({ "token": verify, "new_password": "Brand-new-Passw0rd!" }),
            )
            .await,
        401,
        "AuthEmailExpired",
    )
    .await;
    expect_problem(
        anonymous
            .post(
                "/auth/reset-password",
                &json!({ "token": "garbage", "new_password": "Brand-new-Passw0rd!" }),
            )
            .await,
        403,
        "AuthInvalidBiscuit",
    )
    .await;
    // The policy applies.
    expect_problem(
        anonymous
            .post(
                "/auth/reset-password",
                &json!({ "token": reset, "new_password": "password1234" }),
            )
            .await,
        400,
        "PasswordTooCommon",
    )
    .await;
    expect_empty(
        anonymous
            .post(
                "/auth/reset-password",
                &json!({ "token": reset, "new_password": "Brand-new-Passw0rd!" }),
            )
            .await,
        204,
    )
    .await;
    // The link acts once: it named the password it replaces, which is gone now.
    expect_problem(
        anonymous
            .post(
                "/auth/reset-password",
                &json!({ "token": reset, "new_password": "Another-new-Passw0rd!" }),
            )
            .await,
        401,
        "AuthEmailExpired",
    )
    .await;
    // Resetting ends every session; the old password no longer works, the new one does.
    expect_problem(
        app.with_token(&access).get("/organizations").await,
        403,
        "AuthInvalidBiscuit",
    )
    .await;
    expect_problem(
        anonymous
            .post(
                "/auth/login",
                &json!({ "email": email, "password": PASSWORD }),
            )
            .await,
        401,
        "AuthFailedLogin",
    )
    .await;
    let login = expect_json(
        anonymous
            .post(
                "/auth/login",
                &json!({ "email": email, "password": "Brand-new-Passw0rd!" }),
            )
            .await,
        201,
    )
    .await;

    // Changing the password needs a user session (not the master key), the current
    // password, and the policy; it ends the user's other sessions and keeps this one.
    let access = login["access_token"].as_str().unwrap();
    let other = expect_json(
        anonymous
            .post(
                "/auth/login",
                &json!({ "email": email, "password": "Brand-new-Passw0rd!" }),
            )
            .await,
        201,
    )
    .await;
    let other = other["access_token"].as_str().unwrap().to_owned();
    let change = |password: &str| json!({ "current_password": "Brand-new-Passw0rd!", "new_password": password });
    expect_problem(
        app.with_token(access)
            .post(
                "/auth/password",
                &json!({ "current_password": "not-the-password", "new_password": PASSWORD }),
            )
            .await,
        401,
        "AuthFailedLogin",
    )
    .await;
    expect_problem(
        app.with_token(access)
            .post("/auth/password", &json!({ "new_password": PASSWORD }))
            .await,
        400,
        "JsonPayload",
    )
    .await;
    expect_problem(
        app.post("/auth/password", &change(PASSWORD)).await,
        403,
        "Forbidden",
    )
    .await;
    expect_problem(
        app.with_token(access)
            .post("/auth/password", &change("grace@example.com-1"))
            .await,
        400,
        "PasswordSimilarToEmail",
    )
    .await;
    expect_empty(
        app.with_token(access)
            .post("/auth/password", &change(PASSWORD))
            .await,
        204,
    )
    .await;
    expect_json(app.with_token(access).get("/organizations").await, 200).await;
    expect_problem(
        app.with_token(&other).get("/organizations").await,
        403,
        "AuthInvalidBiscuit",
    )
    .await;
    app.login(email).await;
    // Only two mails were ever sent: the verification and one reset link.
    let to_grace = sink
        .mails()
        .into_iter()
        .filter(|m| m.to.iter().any(|r| r.eq_ignore_ascii_case(email)))
        .count();
    assert_eq!(to_grace, 2);
}

#[tokio::test]
async fn registration_applies_upstreams_password_policy_and_unique_emails() {
    let app = spawn_app_with(|c| c.run_worker = false).await;
    let anonymous = app.anonymous();
    let register = |email: &str, first: &str, password: &str| json!({ "first_name": first, "last_name": "Hopper", "email": email, "password": password });
    for (password, id) in [
        ("Sh0rt&Sw33t", "PasswordTooShort"),
        (&*"Ab1!".repeat(26), "PasswordTooLong"),
        ("aaaaaaaaaaaabbbb", "PasswordNotDiverseEnough"),
        ("P@ssw0rd-2024!", "PasswordTooCommon"),
        ("mary.smith@example.com!", "PasswordSimilarToEmail"),
        ("Marigold-Hopper-1906", "PasswordSimilarToName"),
    ] {
        expect_problem(
            anonymous
                .post(
                    "/register",
                    &register("mary.smith@example.com", "Marigold", password),
                )
                .await,
            400,
            id,
        )
        .await;
    }
    let invalid = expect_problem(
        anonymous
            .post("/register", &register("not an email", "Mary", PASSWORD))
            .await,
        422,
        "Validation",
    )
    .await;
    assert!(invalid["validation"]["email"].is_array());
    expect_json(
        anonymous
            .post(
                "/register",
                &register("mary.smith@example.com", "Mary", PASSWORD),
            )
            .await,
        201,
    )
    .await;
    expect_problem(
        anonymous
            .post(
                "/register",
                &register("MARY.SMITH@example.com", "Mary", PASSWORD),
            )
            .await,
        409,
        "UserAlreadyExist",
    )
    .await;
    // A login body with a password over 100 characters is a 422 that does not echo it.
    let long = "x".repeat(101);
    let refused = expect_problem(
        anonymous
            .post(
                "/auth/login",
                &json!({ "email": "mary.smith@example.com", "password": long }),
            )
            .await,
        422,
        "Validation",
    )
    .await;
    assert!(!refused.to_string().contains(&long));

    let closed = spawn_app_with(|c| {
        c.run_worker = false;
        c.api.registration_disabled = true;
    })
    .await;
    expect_problem(
        closed
            .anonymous()
            .post("/register", &register("a@example.com", "Ann", PASSWORD))
            .await,
        410,
        "RegistrationDisabled",
    )
    .await;
    let instance = expect_json(closed.anonymous().get("/instance").await, 200).await;
    assert_eq!(instance["registration_disabled"], true);
}

#[tokio::test]
async fn without_smtp_the_first_user_is_verified_at_once_and_later_ones_wait() {
    let app = spawn_app_with(|c| c.run_worker = false).await;
    app.register("first@example.com").await;
    app.login("first@example.com").await;

    let second = app.register("second@example.com").await;
    let credentials = json!({ "email": "second@example.com", "password": PASSWORD });
    expect_problem(
        app.anonymous().post("/auth/login", &credentials).await,
        401,
        "AuthEmailNotVerified",
    )
    .await;
    expect_empty(
        app.anonymous()
            .post(
                "/auth/resend-verification-email",
                &json!({ "email": "second@example.com" }),
            )
            .await,
        204,
    )
    .await;
    // What `hook0 user verify second@example.com` does.
    let id = second["user_id"].as_str().unwrap().parse().unwrap();
    assert!(app
        .store
        .verify_user_email(id, hook0_core::model::now())
        .await
        .unwrap());
    app.login("second@example.com").await;
}

#[tokio::test]
async fn users_create_organizations_and_manage_members_and_roles() {
    let app = spawn_app_with(|c| c.run_worker = false).await;
    let owner = app.user("owner@example.com").await;
    let member = app.user("member@example.com").await;
    let as_owner = app.with_token(&owner.access_token);

    let org = expect_json(
        as_owner
            .post("/organizations", &json!({ "name": "Acme" }))
            .await,
        200,
    )
    .await;
    let org_id = org["organization_id"].as_str().unwrap().to_owned();
    assert_eq!(
        org["users"][0]["user_id"].as_str(),
        Some(owner.user_id.as_str())
    );
    assert_eq!(org["users"][0]["role"], "editor");
    assert_eq!(org["consumption"]["members"], 1);
    // Tokens list roles at login: the owner logs in again to act on the new organization.
    let owner = app.session(&owner.email, &owner.user_id).await;
    let as_owner = app.with_token(&owner.access_token);
    let invite = format!("/organizations/{org_id}/invite");

    expect_problem(
        as_owner
            .post(
                &invite,
                &json!({ "email": "nobody@example.com", "role": "viewer" }),
            )
            .await,
        404,
        "InvitedUserDoesNotExist",
    )
    .await;
    expect_problem(
        as_owner
            .post(&invite, &json!({ "email": member.email, "role": "owner" }))
            .await,
        400,
        "InvalidRole",
    )
    .await;
    let echoed = expect_json(
        as_owner
            .post(
                &invite,
                &json!({ "email": "MEMBER@example.com", "role": "viewer" }),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(
        echoed,
        json!({ "email": "MEMBER@example.com", "role": "viewer" })
    );
    expect_problem(
        as_owner
            .post(&invite, &json!({ "email": member.email, "role": "editor" }))
            .await,
        409,
        "InvitedUserAlreadyInOrganization",
    )
    .await;

    // The member sees the organization as a viewer: it may read, not write.
    let member = app.session(&member.email, &member.user_id).await;
    let as_member = app.with_token(&member.access_token);
    let orgs = expect_json(as_member.get("/organizations").await, 200).await;
    let acme = orgs
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["organization_id"] == org_id.as_str())
        .expect("the member lists the organization");
    assert_eq!(acme["role"], "viewer");
    expect_json(
        as_member.get(&format!("/organizations/{org_id}")).await,
        200,
    )
    .await;
    expect_problem(
        as_member
            .put(
                &format!("/organizations/{org_id}"),
                &json!({ "name": "Mine" }),
            )
            .await,
        403,
        "Forbidden",
    )
    .await;

    // Nobody changes their own role; an editor changes another's, which ends their sessions.
    expect_problem(
        as_owner
            .put(
                &invite,
                &json!({ "user_id": owner.user_id, "role": "viewer" }),
            )
            .await,
        403,
        "Forbidden",
    )
    .await;
    expect_json(
        as_owner
            .put(
                &invite,
                &json!({ "user_id": member.user_id, "role": "editor" }),
            )
            .await,
        200,
    )
    .await;
    expect_problem(
        as_member.get("/organizations").await,
        403,
        "AuthInvalidBiscuit",
    )
    .await;
    let member = app.session(&member.email, &member.user_id).await;
    expect_json(
        app.with_token(&member.access_token)
            .put(
                &format!("/organizations/{org_id}"),
                &json!({ "name": "Acme Corp" }),
            )
            .await,
        200,
    )
    .await;
    let info = expect_json(as_owner.get(&format!("/organizations/{org_id}")).await, 200).await;
    assert_eq!(info["consumption"]["members"], 2);

    // Revoking removes the member (a second time: 404).
    let revoke = |user_id: &str| {
        as_owner
            .request(reqwest::Method::DELETE, &invite)
            .json(&json!({ "user_id": user_id }))
            .send()
    };
    expect_json(revoke(&member.user_id).await.unwrap(), 200).await;
    expect_problem(revoke(&member.user_id).await.unwrap(), 404, "NotFound").await;
    let member = app.session(&member.email, &member.user_id).await;
    expect_problem(
        app.with_token(&member.access_token)
            .get(&format!("/organizations/{org_id}"))
            .await,
        403,
        "Forbidden",
    )
    .await;
}

#[tokio::test]
async fn the_last_editor_can_neither_leave_nor_be_demoted() {
    let app = spawn_app_with(|c| c.run_worker = false).await;
    let ada = app.user("ada@example.com").await;
    let registered = app.register("bob@example.com").await;
    let bob_id = registered["user_id"].as_str().unwrap().to_owned();
    let orgs = expect_json(
        app.with_token(&ada.access_token)
            .get("/organizations")
            .await,
        200,
    )
    .await;
    let org = orgs[0]["organization_id"].as_str().unwrap().to_owned();
    let members = format!("/organizations/{org}/invite");

    // Ada, the only editor, cannot leave, not even by the master key's hand.
    let leave = json!({ "user_id": ada.user_id });
    for caller in [app.with_token(&ada.access_token), app.master()] {
        let refused = caller
            .request(reqwest::Method::DELETE, &members)
            .json(&leave)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(refused, 422, "Validation").await;
        assert!(problem["validation"]["user_id"].is_array(), "{problem}");
    }
    let demote = json!({ "user_id": ada.user_id, "role": "viewer" });
    expect_problem(app.master().put(&members, &demote).await, 422, "Validation").await;

    // With a second editor, she may.
    app.invite(&org, "bob@example.com", "editor").await;
    expect_json(app.master().put(&members, &demote).await, 200).await;
    let bob_leaves = json!({ "user_id": bob_id });
    let refused = app
        .master()
        .request(reqwest::Method::DELETE, &members)
        .json(&bob_leaves)
        .send()
        .await
        .unwrap();
    expect_problem(refused, 422, "Validation").await;
    let info = expect_json(app.get(&format!("/organizations/{org}")).await, 200).await;
    let editors = info["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["role"] == "editor")
        .count();
    assert_eq!(editors, 1);
}

#[tokio::test]
async fn a_refresh_token_used_twice_at_once_is_refused_without_ending_the_session() {
    let app = spawn_app_with(|c| c.run_worker = false).await;
    app.user("ada@example.com").await;
    let login = app.login("ada@example.com").await;
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();
    let renew = || {
        app.with_authorization(&format!("Bearer {refresh}"))
            .request(reqwest::Method::POST, "/auth/refresh")
            .send()
    };
    let first = expect_json(renew().await.unwrap(), 201).await;
    // Two tabs renewing at once: the second is refused, the first's new pair keeps working.
    expect_problem(renew().await.unwrap(), 401, "AuthFailedRefresh").await;
    let access = first["access_token"].as_str().unwrap();
    expect_json(app.with_token(access).get("/organizations").await, 200).await;
}
