//! Quotas, as upstream has them: limits on what an organization or application may hold
//! (members, applications, subscriptions, event types), on the events it may send per UTC day,
//! and on how long its events are kept. Off unless `ENABLE_QUOTA_ENFORCEMENT`; then each limit
//! is the application's own override (events per day, retention) or else the instance's global
//! default. Each reached limit has its 429 problem id.

use crate::problem::ProblemId;

/// What upstream reports for a limit that is not enforced.
pub const UNLIMITED: i32 = i32::MAX;

/// One kind of limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quota {
    MembersPerOrganization,
    ApplicationsPerOrganization,
    EventsPerDay,
    DaysOfEventsRetention,
    SubscriptionsPerApplication,
    EventTypesPerApplication,
}

impl Quota {
    /// The problem answered when the limit is reached (retention is a limit on time, never
    /// "reached" by a request).
    pub fn problem(self) -> ProblemId {
        match self {
            Quota::MembersPerOrganization => ProblemId::TooManyMembersPerOrganization,
            Quota::ApplicationsPerOrganization => ProblemId::TooManyApplicationsPerOrganization,
            Quota::EventsPerDay => ProblemId::TooManyEventsToday,
            Quota::SubscriptionsPerApplication => ProblemId::TooManySubscriptionsPerApplication,
            Quota::EventTypesPerApplication => ProblemId::TooManyEventTypesPerApplication,
            Quota::DaysOfEventsRetention => ProblemId::Validation,
        }
    }
}

/// The instance's global limits (`QUOTA_GLOBAL_*_LIMIT`), used when enforcement is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalLimits {
    pub members_per_organization: u32,
    pub applications_per_organization: u32,
    pub events_per_day: u32,
    pub days_of_events_retention: u32,
    pub subscriptions_per_application: u32,
    pub event_types_per_application: u32,
}

impl Default for GlobalLimits {
    /// Upstream's defaults: 1 member, 1 application, 100 events a day, 7 days of retention,
    /// 10 subscriptions and 10 event types per application.
    fn default() -> Self {
        Self {
            members_per_organization: 1,
            applications_per_organization: 1,
            events_per_day: 100,
            days_of_events_retention: 7,
            subscriptions_per_application: 10,
            event_types_per_application: 10,
        }
    }
}

/// The quotas of one instance: `None` when they are not enforced (the default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quotas {
    pub enforced: Option<GlobalLimits>,
}

impl Quotas {
    pub fn enforced(limits: GlobalLimits) -> Self {
        Self {
            enforced: Some(limits),
        }
    }

    pub fn is_enforced(&self) -> bool {
        self.enforced.is_some()
    }

    /// The global limit of `quota`, or `None` when quotas are off.
    pub fn global(&self, quota: Quota) -> Option<u32> {
        let l = self.enforced?;
        Some(match quota {
            Quota::MembersPerOrganization => l.members_per_organization,
            Quota::ApplicationsPerOrganization => l.applications_per_organization,
            Quota::EventsPerDay => l.events_per_day,
            Quota::DaysOfEventsRetention => l.days_of_events_retention,
            Quota::SubscriptionsPerApplication => l.subscriptions_per_application,
            Quota::EventTypesPerApplication => l.event_types_per_application,
        })
    }

    /// The limit for one application: its own override where upstream allows one (events per
    /// day, retention), else the global limit; `None` when quotas are off.
    pub fn for_application(&self, quota: Quota, app_override: Option<u32>) -> Option<u32> {
        let global = self.global(quota)?;
        Some(match quota {
            Quota::EventsPerDay | Quota::DaysOfEventsRetention => app_override.unwrap_or(global),
            _ => global,
        })
    }

    /// What the API reports for a limit: the limit, or upstream's `i32::MAX` when off.
    pub fn reported(limit: Option<u32>) -> i32 {
        limit.map_or(UNLIMITED, |l| i32::try_from(l).unwrap_or(UNLIMITED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_unlimited() {
        let q = Quotas::default();
        assert!(!q.is_enforced());
        assert_eq!(q.global(Quota::EventsPerDay), None);
        assert_eq!(Quotas::reported(q.global(Quota::EventsPerDay)), i32::MAX);
    }

    #[test]
    fn application_overrides_only_where_upstream_has_them() {
        let q = Quotas::enforced(GlobalLimits::default());
        assert_eq!(
            q.for_application(Quota::EventsPerDay, Some(5000)),
            Some(5000)
        );
        assert_eq!(q.for_application(Quota::EventsPerDay, None), Some(100));
        assert_eq!(
            q.for_application(Quota::DaysOfEventsRetention, Some(3)),
            Some(3)
        );
        assert_eq!(
            q.for_application(Quota::SubscriptionsPerApplication, Some(99)),
            Some(10)
        );
        assert_eq!(Quota::EventsPerDay.problem(), ProblemId::TooManyEventsToday);
    }
}
