//! The RFC 7807 problem catalogue. Clients and SDKs decide what to do by a problem's `id` first
//! and its status second, so the 46 ids and their statuses are part of the API contract and live
//! here, in one place; the API crate turns them into `application/problem+json` answers.

use serde::{Deserialize, Serialize};

/// Declares the enum and [`ProblemId::ALL`] from one list, so the two cannot drift apart.
macro_rules! problem_ids {
    ($($id:ident),* $(,)?) => {
        /// Every problem the API can answer with, by its stable id.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ProblemId {
            $($id,)*
        }

        impl ProblemId {
            /// Every id, in catalogue order (the order of `GET /api/v1/errors`).
            pub const ALL: &'static [ProblemId] = &[$(ProblemId::$id,)*];
        }
    };
}

problem_ids! {
    OrganizationNameMissing,
    PasswordTooShort,
    PasswordTooLong,
    PasswordSimilarToEmail,
    PasswordSimilarToName,
    PasswordTooCommon,
    PasswordNotDiverseEnough,
    ApplicationNameMissing,
    InvalidRole,
    EventTypeDoesNotExist,
    UnauthorizedWorkers,
    EventInvalidPayloadContentType,
    EventInvalidBase64Payload,
    EventInvalidJsonPayload,
    LabelsAmbiguity,
    InvalidDateRange,
    AuthInvalidAuthorizationHeader,
    JsonPayload,
    AuthNoAuthorizationHeader,
    AuthFailedLogin,
    AuthEmailNotVerified,
    AuthFailedRefresh,
    AuthEmailExpired,
    AuthInvalidApplicationSecret,
    AuthInvalidBiscuit,
    Forbidden,
    InvitedUserDoesNotExist,
    NotFound,
    UserAlreadyExist,
    OrganizationIsNotEmpty,
    InvitedUserAlreadyInOrganization,
    EventTypeAlreadyExist,
    EventAlreadyIngested,
    AuthEmailAlreadyVerified,
    RegistrationDisabled,
    Validation,
    TooManyMembersPerOrganization,
    TooManyApplicationsPerOrganization,
    TooManyEventsToday,
    TooManySubscriptionsPerApplication,
    TooManyEventTypesPerApplication,
    RateLimited,
    AuthApplicationSecretLookupError,
    AuthBiscuitLookupError,
    InternalServerError,
    ServiceUnavailable,
}

/// Base of every problem's `type` URL; the lowercased id is appended as the fragment.
pub const TYPE_URL_BASE: &str = "https://documentation.hook0.com/reference/error-codes#";

impl ProblemId {
    /// The stable PascalCase id, as sent in the `id` field.
    pub fn id(&self) -> &'static str {
        self.info().0
    }

    /// The HTTP status this problem is answered with.
    pub fn status(&self) -> u16 {
        self.info().1
    }

    /// A short, fixed summary.
    pub fn title(&self) -> &'static str {
        self.info().2
    }

    /// The default explanation; handlers may replace it with something more specific.
    pub fn detail(&self) -> &'static str {
        self.info().3
    }

    /// The documentation URL sent as `type`.
    pub fn type_url(&self) -> String {
        format!("{TYPE_URL_BASE}{}", self.id().to_ascii_lowercase())
    }

    /// Looks an id up by its PascalCase name.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.id() == id)
    }

    #[rustfmt::skip] // one row per problem reads as the table it is
    fn info(&self) -> (&'static str, u16, &'static str, &'static str) {
        use ProblemId::*;
        match self {
            OrganizationNameMissing => ("OrganizationNameMissing", 400, "Organization name missing", "An organization needs a non-empty name."),
            PasswordTooShort => ("PasswordTooShort", 400, "Password too short", "The password is shorter than the minimum length this instance requires."),
            PasswordTooLong => ("PasswordTooLong", 400, "Password too long", "The password is longer than the maximum length allowed."),
            PasswordSimilarToEmail => ("PasswordSimilarToEmail", 400, "Password similar to email", "The password is too close to the email address; choose one that does not contain it."),
            PasswordSimilarToName => ("PasswordSimilarToName", 400, "Password similar to name", "The password is too close to your first or last name."),
            PasswordTooCommon => ("PasswordTooCommon", 400, "Password too common", "This password appears in lists of common passwords; choose a less predictable one."),
            PasswordNotDiverseEnough => ("PasswordNotDiverseEnough", 400, "Password not diverse enough", "The password uses too few distinct characters."),
            ApplicationNameMissing => ("ApplicationNameMissing", 400, "Application name missing", "An application needs a non-empty name."),
            InvalidRole => ("InvalidRole", 400, "Invalid role", "The role must be one of `editor` or `viewer`."),
            EventTypeDoesNotExist => ("EventTypeDoesNotExist", 400, "Event type does not exist", "The event type is not defined in this application; create it with POST /event_types first."),
            UnauthorizedWorkers => ("UnauthorizedWorkers", 400, "Unauthorized workers", "At least one dedicated worker is neither public nor linked to this organization."),
            EventInvalidPayloadContentType => ("EventInvalidPayloadContentType", 400, "Invalid payload content type", "`payload_content_type` must be `text/plain`, `application/json` or `application/octet-stream+base64`."),
            EventInvalidBase64Payload => ("EventInvalidBase64Payload", 400, "Invalid base64 payload", "The payload is declared as `application/octet-stream+base64` but is not valid standard base64."),
            EventInvalidJsonPayload => ("EventInvalidJsonPayload", 400, "Invalid JSON payload", "The payload is declared as `application/json` but does not parse as JSON."),
            LabelsAmbiguity => ("LabelsAmbiguity", 400, "Labels missing or ambiguous", "Give either `labels` or both `label_key` and `label_value`."),
            InvalidDateRange => ("InvalidDateRange", 400, "Invalid date range", "The start of the date range must not be after its end."),
            AuthInvalidAuthorizationHeader => ("AuthInvalidAuthorizationHeader", 400, "Invalid Authorization header", "The Authorization header could not be read; send `Authorization: Bearer <token>`."),
            JsonPayload => ("JsonPayload", 400, "Invalid JSON body", "The request body is not valid JSON for this endpoint, or Content-Type is not `application/json`."),
            AuthNoAuthorizationHeader => ("AuthNoAuthorizationHeader", 401, "No Authorization header", "This endpoint requires `Authorization: Bearer <token>`."),
            AuthFailedLogin => ("AuthFailedLogin", 401, "Login failed", "The email or password is wrong."),
            AuthEmailNotVerified => ("AuthEmailNotVerified", 401, "Email not verified", "Verify your email address with the link we sent before logging in."),
            AuthFailedRefresh => ("AuthFailedRefresh", 401, "Refresh failed", "The refresh token is invalid, expired or revoked; log in again."),
            AuthEmailExpired => ("AuthEmailExpired", 401, "Link expired", "This email link has expired; ask for a new one."),
            AuthInvalidApplicationSecret => ("AuthInvalidApplicationSecret", 403, "Invalid application secret", "The application secret is unknown or has been deleted."),
            AuthInvalidBiscuit => ("AuthInvalidBiscuit", 403, "Invalid token", "The token is malformed, expired or revoked."),
            Forbidden => ("Forbidden", 403, "Forbidden", "This token is not allowed to perform this action on this resource."),
            InvitedUserDoesNotExist => ("InvitedUserDoesNotExist", 404, "Invited user does not exist", "No user has this email address; they must register first."),
            NotFound => ("NotFound", 404, "Not found", "The requested resource does not exist."),
            UserAlreadyExist => ("UserAlreadyExist", 409, "User already exists", "An account with this email address already exists."),
            OrganizationIsNotEmpty => ("OrganizationIsNotEmpty", 409, "Organization is not empty", "Delete the organization's applications before deleting it."),
            InvitedUserAlreadyInOrganization => ("InvitedUserAlreadyInOrganization", 409, "User already in organization", "This user is already a member of the organization."),
            EventTypeAlreadyExist => ("EventTypeAlreadyExist", 409, "Event type already exists", "An event type with this name already exists in this application."),
            EventAlreadyIngested => ("EventAlreadyIngested", 409, "Event already ingested", "An event with this `event_id` was already received; it will not be sent twice."),
            AuthEmailAlreadyVerified => ("AuthEmailAlreadyVerified", 409, "Email already verified", "This email address has already been verified."),
            RegistrationDisabled => ("RegistrationDisabled", 410, "Registration disabled", "This instance does not accept new registrations."),
            Validation => ("Validation", 422, "Validation failed", "Some fields are invalid; see `validation` for each field's errors."),
            TooManyMembersPerOrganization => ("TooManyMembersPerOrganization", 429, "Too many members", "The organization has reached its member quota."),
            TooManyApplicationsPerOrganization => ("TooManyApplicationsPerOrganization", 429, "Too many applications", "The organization has reached its application quota."),
            TooManyEventsToday => ("TooManyEventsToday", 429, "Too many events today", "The application has reached its daily event quota; try again tomorrow or upgrade the plan."),
            TooManySubscriptionsPerApplication => ("TooManySubscriptionsPerApplication", 429, "Too many subscriptions", "The application has reached its subscription quota."),
            TooManyEventTypesPerApplication => ("TooManyEventTypesPerApplication", 429, "Too many event types", "The application has reached its event type quota."),
            RateLimited => ("RateLimited", 429, "Rate limited", "Too many requests; wait for the time given in `Retry-After` and try again."),
            AuthApplicationSecretLookupError => ("AuthApplicationSecretLookupError", 500, "Application secret lookup failed", "The application secret could not be checked because of an internal error; try again."),
            AuthBiscuitLookupError => ("AuthBiscuitLookupError", 500, "Token lookup failed", "The token could not be checked because of an internal error; try again."),
            InternalServerError => ("InternalServerError", 500, "Internal server error", "Something went wrong on our side; try again later."),
            ServiceUnavailable => ("ServiceUnavailable", 503, "Service unavailable", "The service is temporarily overloaded; retry after the delay in `Retry-After`."),
        }
    }
}

impl std::fmt::Display for ProblemId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// The `application/problem+json` body. `validation` is `null` except on 422 answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_url: String,
    pub status: u16,
    pub title: String,
    pub detail: String,
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub validation: Option<serde_json::Value>,
}

impl From<ProblemId> for Problem {
    fn from(id: ProblemId) -> Self {
        Self {
            type_url: id.type_url(),
            status: id.status(),
            title: id.title().to_owned(),
            detail: id.detail().to_owned(),
            id: id.id().to_owned(),
            validation: None,
        }
    }
}

impl Problem {
    /// Replaces the default detail with one specific to this request.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// Attaches per-field errors (see `validation::ValidationErrors::into_json`).
    pub fn with_validation(mut self, v: serde_json::Value) -> Self {
        self.validation = Some(v);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[rustfmt::skip]
    const BY_STATUS: [(u16, &[&str]); 10] = [
        (400, &["OrganizationNameMissing", "PasswordTooShort", "PasswordTooLong", "PasswordSimilarToEmail", "PasswordSimilarToName", "PasswordTooCommon", "PasswordNotDiverseEnough", "ApplicationNameMissing", "InvalidRole", "EventTypeDoesNotExist", "UnauthorizedWorkers", "EventInvalidPayloadContentType", "EventInvalidBase64Payload", "EventInvalidJsonPayload", "LabelsAmbiguity", "InvalidDateRange", "AuthInvalidAuthorizationHeader", "JsonPayload"]),
        (401, &["AuthNoAuthorizationHeader", "AuthFailedLogin", "AuthEmailNotVerified", "AuthFailedRefresh", "AuthEmailExpired"]),
        (403, &["AuthInvalidApplicationSecret", "AuthInvalidBiscuit", "Forbidden"]),
        (404, &["InvitedUserDoesNotExist", "NotFound"]),
        (409, &["UserAlreadyExist", "OrganizationIsNotEmpty", "InvitedUserAlreadyInOrganization", "EventTypeAlreadyExist", "EventAlreadyIngested", "AuthEmailAlreadyVerified"]),
        (410, &["RegistrationDisabled"]),
        (422, &["Validation"]),
        (429, &["TooManyMembersPerOrganization", "TooManyApplicationsPerOrganization", "TooManyEventsToday", "TooManySubscriptionsPerApplication", "TooManyEventTypesPerApplication", "RateLimited"]),
        (500, &["AuthApplicationSecretLookupError", "AuthBiscuitLookupError", "InternalServerError"]),
        (503, &["ServiceUnavailable"]),
    ];

    #[test]
    fn ids_are_distinct_and_round_trip() {
        let ids: HashSet<_> = ProblemId::ALL.iter().map(|p| p.id()).collect();
        assert_eq!(ids.len(), 46);
        for &p in ProblemId::ALL {
            assert_eq!(ProblemId::from_id(p.id()), Some(p));
            assert_eq!(format!("{p:?}"), p.id());
            assert!(!p.title().is_empty() && !p.detail().is_empty());
        }
    }

    #[test]
    fn statuses_match_the_reference() {
        let mut seen = 0;
        for (status, ids) in BY_STATUS {
            for id in ids {
                let p = ProblemId::from_id(id).unwrap_or_else(|| panic!("missing {id}"));
                assert_eq!(p.status(), status, "{id}");
                seen += 1;
            }
        }
        assert_eq!(seen, 46);
    }

    #[test]
    fn body_shape() {
        let body = serde_json::to_value(Problem::from(ProblemId::AuthInvalidBiscuit)).unwrap();
        assert_eq!(
            body["type"],
            "https://documentation.hook0.com/reference/error-codes#authinvalidbiscuit"
        );
        assert_eq!(body["status"], 403);
        assert_eq!(body["id"], "AuthInvalidBiscuit");
        assert!(body.as_object().unwrap().contains_key("validation"));
        assert!(body["validation"].is_null());

        let p = Problem::from(ProblemId::Validation)
            .with_detail("bad")
            .with_validation(serde_json::json!({"name": []}));
        assert_eq!(p.detail, "bad");
        let back: Problem = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }
}
