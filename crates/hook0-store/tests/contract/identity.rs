//! Users, organization membership and tokens.

use chrono::TimeDelta;
use hook0_core::identity::{Role, TokenKind, TokenRecord, User};
use hook0_core::model::{now, Organization};
use hook0_store::StoreError;
use uuid::Uuid;

use crate::fixtures::*;
use crate::TestDb;

fn user(email: &str) -> User {
    User {
        id: Uuid::new_v4(),
        email: email.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        email_verified_at: None,
        created_at: now(),
    }
}

fn token(kind: TokenKind, user_id: Option<Uuid>, organization_id: Option<Uuid>) -> TokenRecord {
    TokenRecord {
        id: Uuid::new_v4(),
        kind,
        user_id,
        organization_id,
        session_id: user_id.map(|_| Uuid::new_v4()),
        name: organization_id.map(|_| "ci".to_owned()),
        biscuit: organization_id.map(|_| "En0KEwoEdHlwZQ".to_owned()),
        revocation_id: Uuid::new_v4().as_bytes().repeat(4),
        created_at: now(),
        expired_at: None,
    }
}

pub async fn registration_creates_user_organization_and_editor_membership(db: &TestDb) {
    let store = &*db.store;
    let first = user("first@example.com");
    let personal = organization("First's personal organization");
    assert!(
        store.register_user(&first, &personal, true).await.unwrap(),
        "the first user is verified"
    );
    let second = user("second@example.com");
    assert!(!store
        .register_user(&second, &organization("Second's"), true)
        .await
        .unwrap());
    let taken = User {
        id: Uuid::new_v4(),
        ..user("first@example.com")
    };
    match store
        .register_user(&taken, &organization("Taken"), false)
        .await
    {
        Err(StoreError::UserAlreadyExist) => {}
        other => panic!("expected UserAlreadyExist, got {other:?}"),
    }
    // Nothing of the refused registration remains.
    assert_eq!(store.list_organizations().await.unwrap().len(), 2);

    let found = store
        .user_by_email("first@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, first.id);
    assert_eq!(found.password_hash, first.password_hash);
    assert_eq!(found.email_verified_at, Some(first.created_at));
    assert_eq!(
        store.get_user(second.id).await.unwrap().unwrap().email,
        "second@example.com"
    );
    assert!(store.get_user(Uuid::new_v4()).await.unwrap().is_none());
    assert_eq!(
        store.organization_roles(first.id).await.unwrap(),
        [(personal.id, Role::Editor)]
    );
    let members = store.list_members(personal.id).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(
        (members[0].user_id, members[0].role),
        (first.id, Role::Editor)
    );
    assert_eq!(members[0].email, "first@example.com");
}

pub async fn email_verification_acts_once_and_passwords_change(db: &TestDb) {
    let store = &*db.store;
    let ada = user("ada@example.com");
    store
        .register_user(&ada, &organization("Ada's"), false)
        .await
        .unwrap();
    let at = now();
    assert!(store.verify_user_email(ada.id, at).await.unwrap());
    assert!(!store.verify_user_email(ada.id, now()).await.unwrap());
    assert!(!store
        .verify_user_email(Uuid::new_v4(), now())
        .await
        .unwrap());
    assert_eq!(
        store
            .get_user(ada.id)
            .await
            .unwrap()
            .unwrap()
            .email_verified_at,
        Some(at)
    );

    assert!(store
        .set_user_password(ada.id, "$argon2id$new", Some(now() + TimeDelta::hours(1)))
        .await
        .unwrap());
    let changed = store.get_user(ada.id).await.unwrap().unwrap();
    assert_eq!(changed.password_hash, "$argon2id$new");
    assert_eq!(
        changed.email_verified_at,
        Some(at),
        "an earlier verification is kept"
    );
    let bob = user("bob@example.com");
    store
        .register_user(&bob, &organization("Bob's"), false)
        .await
        .unwrap();
    let reset_at = now();
    store
        .set_user_password(bob.id, "$argon2id$reset", Some(reset_at))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_user(bob.id)
            .await
            .unwrap()
            .unwrap()
            .email_verified_at,
        Some(reset_at)
    );
    assert!(!store
        .set_user_password(Uuid::new_v4(), "x", None)
        .await
        .unwrap());
}

pub async fn members_are_added_re_roled_and_removed(db: &TestDb) {
    let store = &*db.store;
    let owner = user("owner@example.com");
    let member = user("member@example.com");
    store
        .register_user(&owner, &organization("Owner's"), false)
        .await
        .unwrap();
    store
        .register_user(&member, &organization("Member's"), false)
        .await
        .unwrap();
    let acme = Organization {
        id: Uuid::new_v4(),
        name: "Acme".into(),
        created_at: now(),
    };
    store
        .create_organization_with_editor(&acme, owner.id)
        .await
        .unwrap();

    store
        .add_member(acme.id, member.id, Role::Viewer, now())
        .await
        .unwrap();
    match store
        .add_member(acme.id, member.id, Role::Editor, now())
        .await
    {
        Err(StoreError::InvitedUserAlreadyInOrganization) => {}
        other => panic!("expected InvitedUserAlreadyInOrganization, got {other:?}"),
    }
    let roles: Vec<Role> = store
        .list_members(acme.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.role)
        .collect();
    assert_eq!(roles, [Role::Editor, Role::Viewer]);
    let orgs = store.list_user_organizations(member.id).await.unwrap();
    assert_eq!(orgs.len(), 2);
    assert!(orgs.contains(&(acme.clone(), Role::Viewer)));

    assert!(store
        .set_member_role(acme.id, member.id, Role::Editor)
        .await
        .unwrap());
    assert!(store
        .organization_roles(member.id)
        .await
        .unwrap()
        .contains(&(acme.id, Role::Editor)));
    assert!(!store
        .set_member_role(acme.id, Uuid::new_v4(), Role::Editor)
        .await
        .unwrap());
    assert!(store.remove_member(acme.id, member.id).await.unwrap());
    assert!(!store.remove_member(acme.id, member.id).await.unwrap());
    assert_eq!(store.list_members(acme.id).await.unwrap().len(), 1);

    // Deleting an (empty) organization takes its memberships and service tokens with it.
    store
        .insert_tokens(&[token(TokenKind::ServiceAccess, None, Some(acme.id))])
        .await
        .unwrap();
    assert!(store.delete_organization(acme.id).await.unwrap());
    assert!(store
        .list_user_organizations(owner.id)
        .await
        .unwrap()
        .iter()
        .all(|(o, _)| o.id != acme.id));
    assert!(store
        .list_service_tokens(acme.id, now())
        .await
        .unwrap()
        .is_empty());
}

pub async fn tokens_live_until_expired_and_refresh_rotates_once(db: &TestDb) {
    let store = &*db.store;
    let ada = user("ada@example.com");
    store
        .register_user(&ada, &organization("Ada's"), false)
        .await
        .unwrap();
    let session = Uuid::new_v4();
    let access = TokenRecord {
        session_id: Some(session),
        expired_at: Some(now() + TimeDelta::minutes(5)),
        ..token(TokenKind::UserAccess, Some(ada.id), None)
    };
    let refresh = TokenRecord {
        session_id: Some(session),
        expired_at: Some(now() + TimeDelta::minutes(30)),
        ..token(TokenKind::Refresh, Some(ada.id), None)
    };
    store
        .insert_tokens(&[access.clone(), refresh.clone()])
        .await
        .unwrap();
    let live = store
        .live_token(&access.revocation_id, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live, access);
    assert!(store
        .live_token(&access.revocation_id, now() + TimeDelta::minutes(6))
        .await
        .unwrap()
        .is_none());
    assert!(store.live_token(&[1, 2, 3], now()).await.unwrap().is_none());

    let next = TokenRecord {
        session_id: Some(session),
        ..token(TokenKind::Refresh, Some(ada.id), None)
    };
    assert!(store
        .rotate_token(refresh.id, std::slice::from_ref(&next), now())
        .await
        .unwrap());
    let again = token(TokenKind::Refresh, Some(ada.id), None);
    assert!(!store
        .rotate_token(refresh.id, std::slice::from_ref(&again), now())
        .await
        .unwrap());
    assert!(
        store
            .live_token(&again.revocation_id, now())
            .await
            .unwrap()
            .is_none(),
        "nothing stored"
    );
    assert!(store
        .live_token(&refresh.revocation_id, now())
        .await
        .unwrap()
        .is_none());

    // Logout: every live token of the session; a password reset: every session of the user.
    assert_eq!(store.expire_session(session, now()).await.unwrap(), 2);
    assert!(store
        .live_token(&next.revocation_id, now())
        .await
        .unwrap()
        .is_none());
    let other = token(TokenKind::UserAccess, Some(ada.id), None);
    store
        .insert_tokens(std::slice::from_ref(&other))
        .await
        .unwrap();
    assert_eq!(store.expire_user_sessions(ada.id, now()).await.unwrap(), 1);
    assert!(store
        .live_token(&other.revocation_id, now())
        .await
        .unwrap()
        .is_none());
}

pub async fn service_tokens_are_listed_renamed_and_expired(db: &TestDb) {
    let store = &*db.store;
    let acme = organization("Acme");
    let globex = organization("Globex");
    store.create_organization(&acme).await.unwrap();
    store.create_organization(&globex).await.unwrap();
    let first = token(TokenKind::ServiceAccess, None, Some(acme.id));
    let second = TokenRecord {
        created_at: first.created_at + TimeDelta::seconds(1),
        ..token(TokenKind::ServiceAccess, None, Some(acme.id))
    };
    let foreign = token(TokenKind::ServiceAccess, None, Some(globex.id));
    store
        .insert_tokens(&[second.clone(), first.clone(), foreign.clone()])
        .await
        .unwrap();

    let ids: Vec<Uuid> = store
        .list_service_tokens(acme.id, now())
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, [first.id, second.id]);
    assert_eq!(
        store
            .get_service_token(acme.id, first.id, now())
            .await
            .unwrap(),
        Some(first.clone())
    );
    assert!(store
        .get_service_token(globex.id, first.id, now())
        .await
        .unwrap()
        .is_none());
    let renamed = store
        .rename_service_token(acme.id, first.id, "deploys", now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.name.as_deref(), Some("deploys"));
    assert_eq!(renamed.biscuit, first.biscuit);
    assert!(store
        .rename_service_token(globex.id, first.id, "x", now())
        .await
        .unwrap()
        .is_none());

    assert!(!store
        .expire_service_token(globex.id, first.id, now())
        .await
        .unwrap());
    assert!(store
        .expire_service_token(acme.id, first.id, now())
        .await
        .unwrap());
    assert!(!store
        .expire_service_token(acme.id, first.id, now())
        .await
        .unwrap());
    assert!(store
        .live_token(&first.revocation_id, now())
        .await
        .unwrap()
        .is_none());
    assert!(store
        .get_service_token(acme.id, first.id, now())
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .list_service_tokens(acme.id, now())
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .live_token(&foreign.revocation_id, now())
        .await
        .unwrap()
        .is_some());
}

pub async fn expired_tokens_are_purged_after_their_grace_period(db: &TestDb) {
    let store = &*db.store;
    let ada = user("ada@example.com");
    store
        .register_user(&ada, &organization("Ada's"), false)
        .await
        .unwrap();
    let expired_at = |days_ago: i64| Some(now() - TimeDelta::days(days_ago));
    let long_gone = TokenRecord {
        expired_at: expired_at(10),
        ..token(TokenKind::UserAccess, Some(ada.id), None)
    };
    let recently = TokenRecord {
        expired_at: expired_at(1),
        ..token(TokenKind::Refresh, Some(ada.id), None)
    };
    let live = TokenRecord {
        expired_at: Some(now() + TimeDelta::minutes(5)),
        ..token(TokenKind::UserAccess, Some(ada.id), None)
    };
    let service = token(
        TokenKind::ServiceAccess,
        None,
        Some(ada_org(store, ada.id).await),
    );
    store
        .insert_tokens(&[
            long_gone.clone(),
            recently.clone(),
            live.clone(),
            service.clone(),
        ])
        .await
        .unwrap();

    let grace = now() - TimeDelta::days(7);
    assert_eq!(store.count_expired_tokens(grace).await.unwrap(), 1);
    assert_eq!(store.purge_expired_tokens(grace, 500).await.unwrap(), 1);
    assert_eq!(store.purge_expired_tokens(grace, 500).await.unwrap(), 0);
    assert_eq!(store.count_expired_tokens(grace).await.unwrap(), 0);
    // Tokens inside the grace period, live ones and service tokens (no expiry) stay.
    assert_eq!(store.count_expired_tokens(now()).await.unwrap(), 1);
    assert!(store
        .live_token(&live.revocation_id, now())
        .await
        .unwrap()
        .is_some());
    assert!(store
        .live_token(&service.revocation_id, now())
        .await
        .unwrap()
        .is_some());
    // Batches: one at a time.
    assert_eq!(store.purge_expired_tokens(now(), 1).await.unwrap(), 1);
    assert_eq!(store.count_expired_tokens(now()).await.unwrap(), 0);
}

async fn ada_org(store: &dyn hook0_store::Store, user_id: Uuid) -> Uuid {
    store.organization_roles(user_id).await.unwrap()[0].0
}

pub async fn a_password_change_ends_the_other_sessions_only(db: &TestDb) {
    let store = &*db.store;
    let ada = user("ada@example.com");
    store
        .register_user(&ada, &organization("Ada's"), false)
        .await
        .unwrap();
    let session = |id: Uuid| TokenRecord {
        session_id: Some(id),
        expired_at: Some(now() + TimeDelta::minutes(5)),
        ..token(TokenKind::UserAccess, Some(ada.id), None)
    };
    let (mine, other) = (Uuid::new_v4(), Uuid::new_v4());
    let (kept, ended) = (session(mine), session(other));
    store
        .insert_tokens(&[kept.clone(), ended.clone()])
        .await
        .unwrap();
    assert_eq!(
        store
            .expire_other_sessions(ada.id, mine, now())
            .await
            .unwrap(),
        1
    );
    assert!(store
        .live_token(&kept.revocation_id, now())
        .await
        .unwrap()
        .is_some());
    assert!(store
        .live_token(&ended.revocation_id, now())
        .await
        .unwrap()
        .is_none());
}
