//! Users, sessions and tokens for tests: register and log in through the API (verifying in the
//! store when no mail is configured), service tokens made by the master key, and offline
//! attenuation of a Biscuit with the `biscuit-auth` library, as a customer would do it.

use biscuit_auth::builder::BlockBuilder;
use biscuit_auth::{Algorithm, Biscuit, PublicKey, UnverifiedBiscuit};
use hook0_core::model::now;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{expect_json, TestApp};

/// A password every policy rule accepts.
pub const PASSWORD: &str = "Tr0mb0ne&Kiwi#Hail";

/// A logged-in user.
#[derive(Clone, Debug)]
pub struct Session {
    pub user_id: String,
    pub email: String,
    pub access_token: String,
}

/// `POST /register` with [`PASSWORD`]; returns `{organization_id, user_id}`.
pub fn registration(email: &str, first_name: &str, last_name: &str) -> Value {
    json!({
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "password": PASSWORD,
    })
}

impl TestApp {
    pub async fn register(&self, email: &str) -> Value {
        expect_json(
            self.anonymous()
                .post("/register", &registration(email, "Grace", "Hopper"))
                .await,
            201,
        )
        .await
    }

    /// Logs in with [`PASSWORD`].
    pub async fn login(&self, email: &str) -> Value {
        expect_json(
            self.anonymous()
                .post(
                    "/auth/login",
                    &json!({ "email": email, "password": PASSWORD }),
                )
                .await,
            201,
        )
        .await
    }

    /// Registers a user, marks it verified in the store, and logs it in.
    pub async fn user(&self, email: &str) -> Session {
        let registered = self.register(email).await;
        let user_id: Uuid = registered["user_id"].as_str().unwrap().parse().unwrap();
        self.store.verify_user_email(user_id, now()).await.unwrap();
        let login = self.login(email).await;
        Session {
            user_id: user_id.to_string(),
            email: email.to_string(),
            access_token: login["access_token"].as_str().unwrap().to_owned(),
        }
    }

    /// A new session of an existing, verified user.
    pub async fn session(&self, email: &str, user_id: &str) -> Session {
        let login = self.login(email).await;
        Session {
            user_id: user_id.to_owned(),
            email: email.to_owned(),
            access_token: login["access_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Adds a registered user to an organization (as the master key).
    pub async fn invite(&self, organization_id: &str, email: &str, role: &str) {
        expect_json(
            self.post(
                &format!("/organizations/{organization_id}/invite"),
                &json!({ "email": email, "role": role }),
            )
            .await,
            200,
        )
        .await;
    }

    /// A new service token of the organization: `(token_id, biscuit)`.
    pub async fn service_token(&self, organization_id: &str, name: &str) -> (String, String) {
        let token = expect_json(
            self.post(
                "/service_token",
                &json!({ "organization_id": organization_id, "name": name }),
            )
            .await,
            201,
        )
        .await;
        (
            token["token_id"].as_str().unwrap().to_owned(),
            token["biscuit"].as_str().unwrap().to_owned(),
        )
    }

    /// The instance's Biscuit public key, from `GET /instance`.
    pub async fn public_key(&self) -> PublicKey {
        let instance = expect_json(self.anonymous().get("/instance").await, 200).await;
        let hex = instance["biscuit_public_key"].as_str().unwrap();
        PublicKey::from_bytes_hex(hex, Algorithm::Ed25519).expect("an Ed25519 public key")
    }
}

/// Appends a block of Datalog `code` to `token`, offline (what a customer does).
pub fn attenuate(token: &str, public_key: PublicKey, code: &str) -> String {
    let biscuit = Biscuit::from_base64(token, public_key).expect("a token of this instance");
    let block = BlockBuilder::new().code(code).expect("valid Datalog");
    biscuit
        .append(block)
        .expect("attenuated")
        .to_base64()
        .unwrap()
}

/// `check if application_id(hex:…)`: restricts a token to one application.
pub fn only_application(application_id: &str) -> String {
    let id: Uuid = application_id.parse().unwrap();
    format!(
        "check if application_id(hex:{});",
        hex::encode(id.as_bytes())
    )
}

/// The root revocation id of a token (what the store knows it by).
pub fn revocation_id(token: &str) -> Vec<u8> {
    UnverifiedBiscuit::from_base64(token)
        .expect("a Biscuit")
        .revocation_identifiers()
        .into_iter()
        .next()
        .unwrap()
}
