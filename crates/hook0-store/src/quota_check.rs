//! Creation quotas, checked inside the creating transaction so that two concurrent creates can
//! never both pass the last free place: PostgreSQL first locks the parent row (organization or
//! application) with `FOR NO KEY UPDATE`, which serializes creates under one parent; SQLite's
//! single writer serializes them already. Both backends run the same counting statements.

use hook0_core::quota::Quota;

/// The parent row a quota is counted under, locked before counting (PostgreSQL).
pub(crate) fn lock_parent(quota: Quota) -> &'static str {
    match quota {
        Quota::MembersPerOrganization | Quota::ApplicationsPerOrganization => {
            "SELECT 1 FROM organization WHERE id = $1 FOR NO KEY UPDATE"
        }
        _ => "SELECT 1 FROM application WHERE id = $1 FOR NO KEY UPDATE",
    }
}

/// How many places of `quota` the parent `$1` holds, not counting the row `$2` names (an event
/// type upserted again takes no new place; other quotas bind `$2` to an empty string).
pub(crate) fn count(quota: Quota) -> &'static str {
    match quota {
        Quota::MembersPerOrganization => {
            "SELECT COUNT(*) FROM organization_member WHERE organization_id = $1 AND $2 = $2"
        }
        Quota::ApplicationsPerOrganization => {
            "SELECT COUNT(*) FROM application
             WHERE organization_id = $1 AND deleted_at IS NULL AND $2 = $2"
        }
        Quota::SubscriptionsPerApplication => {
            "SELECT COUNT(*) FROM subscription
             WHERE application_id = $1 AND deleted_at IS NULL AND $2 = $2"
        }
        Quota::EventTypesPerApplication => {
            "SELECT COUNT(*) FROM event_type
             WHERE application_id = $1 AND deactivated_at IS NULL AND name <> $2"
        }
        Quota::EventsPerDay | Quota::DaysOfEventsRetention => {
            unreachable!("not a creation quota")
        }
    }
}
