//! Upstream's action names (`resource:verb`) and which roles may perform each. Every route
//! declares one.

/// Declares [`Action`] and [`Action::ALL`] from one list, so that the two cannot drift apart.
macro_rules! actions {
    ($($(#[$doc:meta])* $variant:ident,)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Action {
            $($(#[$doc])* $variant,)*
        }

        impl Action {
            /// Every action, for tests and documentation.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];
        }
    };
}

actions! {
    AuthLogout,
    AuthChangePassword,
    OrganizationList,
    OrganizationCreate,
    OrganizationGet,
    OrganizationEdit,
    OrganizationInvite,
    OrganizationRevoke,
    OrganizationEditRole,
    OrganizationDelete,
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
    EventList,
    EventGet,
    EventIngest,
    EventReplay,
    RequestAttemptList,
    RequestAttemptGet,
    ResponseGet,
    EventsPerDayApplication,
    EventsPerDayOrganization,
    /// Delivery protection (not in upstream's catalogue).
    SubscriptionSecretRotate,
    DeadLetterList,
    DeadLetterRedeliver,
    OperationalEventList,
    /// The consumer portal (not in upstream's catalogue).
    PortalSessionCreate,
    PortalSessionList,
    PortalSessionRevoke,
}

impl Action {
    /// The upstream Datalog name, e.g. `event:ingest`.
    pub fn name(self) -> &'static str {
        use Action::*;
        match self {
            AuthLogout => "auth:logout",
            AuthChangePassword => "auth:change_password",
            OrganizationList => "organization:list",
            OrganizationCreate => "organization:create",
            OrganizationGet => "organization:get",
            OrganizationEdit => "organization:edit",
            OrganizationInvite => "organization:invite",
            OrganizationRevoke => "organization:revoke",
            OrganizationEditRole => "organization:edit_role",
            OrganizationDelete => "organization:delete",
            ServiceTokenList => "service_token:list",
            ServiceTokenCreate => "service_token:create",
            ServiceTokenGet => "service_token:get",
            ServiceTokenEdit => "service_token:edit",
            ServiceTokenDelete => "service_token:delete",
            ApplicationList => "application:list",
            ApplicationCreate => "application:create",
            ApplicationGet => "application:get",
            ApplicationEdit => "application:edit",
            ApplicationDelete => "application:delete",
            ApplicationSecretList => "application_secret:list",
            ApplicationSecretCreate => "application_secret:create",
            ApplicationSecretEdit => "application_secret:edit",
            ApplicationSecretDelete => "application_secret:delete",
            EventTypeList => "event_type:list",
            EventTypeCreate => "event_type:create",
            EventTypeGet => "event_type:get",
            EventTypeDelete => "event_type:delete",
            SubscriptionList => "subscription:list",
            SubscriptionCreate => "subscription:create",
            SubscriptionGet => "subscription:get",
            SubscriptionEdit => "subscription:edit",
            SubscriptionDelete => "subscription:delete",
            EventList => "event:list",
            EventGet => "event:get",
            EventIngest => "event:ingest",
            EventReplay => "event:replay",
            RequestAttemptList => "request_attempt:list",
            RequestAttemptGet => "request_attempt:get",
            ResponseGet => "response:get",
            EventsPerDayApplication => "events_per_day:application",
            EventsPerDayOrganization => "events_per_day:organization",
            SubscriptionSecretRotate => "subscription:rotate_secret",
            DeadLetterList => "dead_letter:list",
            DeadLetterRedeliver => "dead_letter:redeliver",
            OperationalEventList => "operational_event:list",
            PortalSessionCreate => "portal_session:create",
            PortalSessionList => "portal_session:list",
            PortalSessionRevoke => "portal_session:revoke",
        }
    }

    /// Read-only actions, the only ones a `viewer` may perform (upstream's list, plus reading
    /// dead letters and operational events).
    pub fn viewer_allowed(self) -> bool {
        use Action::*;
        matches!(
            self,
            OrganizationGet
                | ApplicationList
                | ApplicationGet
                | EventTypeList
                | EventTypeGet
                | SubscriptionList
                | SubscriptionGet
                | EventList
                | EventGet
                | RequestAttemptList
                | RequestAttemptGet
                | ResponseGet
                | EventsPerDayApplication
                | EventsPerDayOrganization
                | DeadLetterList
                | OperationalEventList
        )
    }

    /// Actions that read or mint credentials (service tokens, application secrets, memberships
    /// and roles): refused to an attenuated token, so a restricted token can never hand out
    /// an unrestricted one, nor outlive its restriction through what it minted.
    pub fn handles_credentials(self) -> bool {
        use Action::*;
        matches!(
            self,
            ServiceTokenList
                | ServiceTokenCreate
                | ServiceTokenGet
                | ServiceTokenEdit
                | ServiceTokenDelete
                | ApplicationSecretList
                | ApplicationSecretCreate
                | ApplicationSecretEdit
                | ApplicationSecretDelete
                | OrganizationInvite
                | OrganizationRevoke
                | OrganizationEditRole
                | PortalSessionCreate
        )
    }

    /// Actions of a user session only: service tokens, application secrets and the master key
    /// are refused (the master key may still create organizations, as it always could here).
    pub fn user_only(self) -> bool {
        matches!(
            self,
            Action::AuthLogout | Action::AuthChangePassword | Action::OrganizationCreate
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_upstream_shaped() {
        let names: std::collections::HashSet<_> = Action::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(names.len(), Action::ALL.len());
        assert!(names.iter().all(|n| n.split(':').count() == 2));
    }

    #[test]
    fn viewers_only_read() {
        for action in Action::ALL {
            if action.viewer_allowed() {
                let verb = action.name().split(':').nth(1).unwrap();
                assert!(
                    matches!(verb, "list" | "get" | "application" | "organization"),
                    "{}",
                    action.name()
                );
            }
        }
        assert!(!Action::EventIngest.viewer_allowed());
        assert!(!Action::ServiceTokenList.viewer_allowed());
        assert!(!Action::ApplicationSecretList.viewer_allowed());
    }
}
