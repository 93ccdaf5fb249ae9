//! The storage contract, written once and run against both backends: every case below runs as
//! `sqlite::<module>::<case>` on a fresh SQLite file and as `postgres::<module>::<case>` on a
//! fresh PostgreSQL database (`hook0_test_<random>`, dropped afterwards) on
//! `postgres://postgres@127.0.0.1:5432/postgres`, or the server `HOOK0_TEST_POSTGRES_URL` names.
//! PostgreSQL being unreachable fails the postgres cases: the contract is never skipped.
//!
//! Cases take a [`TestDb`] and use only the `Store` trait, so both backends must give the same
//! answers to the same calls. `postgres_only` holds what only PostgreSQL can show (processes
//! woken by `NOTIFY`, concurrent migrations, the claim's query plan).

mod attempts;
mod events;
mod events_per_day;
mod fixtures;
mod harness;
mod identity;
mod ordering;
mod portal;
mod postgres_only;
mod protection;
mod queue;
mod queue_stats;
mod quotas;
mod retention;
mod sqlite_only;
mod subscriptions;
mod tenants;
mod wakeups;

pub use harness::TestDb;

/// Instantiates each listed case once per backend, as `<backend>::<module>::<case>`.
macro_rules! contract {
    ($($module:ident: [$($case:ident),* $(,)?]),* $(,)?) => {
        mod sqlite {
            $(mod $module {
                $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = crate::TestDb::sqlite().await;
                    crate::$module::$case(&db).await;
                })*
            })*
        }
        mod postgres {
            $(mod $module {
                $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = crate::TestDb::postgres().await;
                    crate::$module::$case(&db).await;
                })*
            })*
        }
    };
}

contract! {
    ordering: [
        one_delivery_per_key_in_ingest_order,
        a_first_ordered_subscription_orders_the_next_events,
        a_lease_that_runs_out_gives_the_head_again_never_the_next,
        a_dead_letter_holds_its_key_until_redelivered,
        under_continue_a_dead_letter_lets_the_next_go,
        changing_the_policy_to_continue_moves_held_keys_on,
        disabling_fails_what_waits_and_removing_the_label_lets_it_go,
        another_applications_keys_are_not_listed,
        concurrent_ingests_and_workers_keep_one_line,
        replays_resends_and_free_redeliveries_join_the_end_of_the_line,
        a_bulk_redelivery_lets_held_keys_go_on,
    ],
    portal: [
        sessions_are_found_by_secret_listed_while_live_and_revoked_once,
        a_test_event_goes_to_one_subscription_only,
        a_resend_queues_one_attempt_for_one_subscription,
        a_subscription_secret_is_replaced_in_its_application_only,
    ],
    tenants: [
        backend_answers_ping,
        organizations_round_trip,
        deleting_an_organization_needs_it_empty_and_purges_its_history,
        applications_round_trip_and_soft_delete,
        application_usage_counts_live_rows,
        secrets_round_trip_and_soft_delete,
        event_types_are_listed_by_name_and_upsert_reactivates,
        an_event_type_schema_is_set_kept_by_upserts_and_removed,
    ],
    subscriptions: [
        subscriptions_round_trip,
        unknown_event_types_are_refused,
        update_replaces_all_but_secret_and_creation_time,
        deleted_subscriptions_are_invisible,
        disabling_fails_pending_attempts,
        deleting_fails_pending_attempts,
        deleting_the_application_fails_pending_attempts,
    ],
    events: [
        ingest_creates_attempts_for_matching_subscriptions_only,
        duplicate_event_is_refused,
        the_same_event_id_in_two_applications_stays_two_events,
        concurrent_ingests_each_get_their_own_answer,
        unknown_event_type_is_refused,
        events_round_trip,
        list_events_is_newest_first_without_payload,
        replay_uses_the_subscriptions_matching_now,
    ],
    events_per_day: [
        counts_per_day_across_midnight_and_after_retention,
        the_daily_quota_never_overshoots_under_concurrent_ingests,
    ],
    quotas: [
        concurrent_creates_never_pass_a_quota_together,
        event_types_count_active_ones_and_upserting_again_is_free,
    ],
    attempts: [
        request_attempts_are_filtered,
        request_attempts_are_filtered_by_status,
        delivery_outcomes_are_counted_per_day,
        request_attempts_paginate_by_keyset,
        attempt_and_response_read_back_after_outcome,
    ],
    retention: [
        expired_events_go_with_their_attempts_pending_ones_stay,
        an_application_retention_overrides_the_default,
        purging_works_in_batches,
    ],
    queue: [
        claim_yields_everything_a_delivery_needs,
        claim_respects_limit_and_due_order,
        a_leased_attempt_is_claimable_again_only_after_the_lease,
        concurrent_claimers_never_share_an_attempt,
        success_finishes_the_attempt,
        failure_with_retry_schedules_the_next_attempt,
        outcomes_are_idempotent,
        no_retry_row_once_the_subscription_is_disabled,
        release_makes_attempts_due_again,
        next_due_at_follows_the_queue,
        a_claim_tells_when_the_next_attempt_is_due,
    ],
    queue_stats: [
        queue_stats_count_due_delayed_and_in_flight,
    ],
    protection: [
        the_claim_caps_each_subscription_and_rotates_across_them,
        a_full_subscription_at_the_head_does_not_hide_the_others,
        a_fast_subscription_has_the_higher_cap,
        first_attempts_go_ahead_of_retries_within_class_limits,
        an_open_circuit_holds_attempts_then_lets_one_probe_then_closes,
        a_failed_probe_reopens_the_circuit_for_longer,
        a_retry_behind_an_open_circuit_is_due_when_the_cool_down_ends,
        a_parked_backlog_comes_back_even_when_its_release_is_lost,
        a_success_lets_a_parked_backlog_go_at_once,
        exhausted_attempts_become_dead_letters_redelivered_once,
        a_subscription_failing_too_long_is_disabled_with_an_operational_event,
        standard_webhooks_secrets_sign_until_they_expire,
        concurrent_claimers_share_the_cap_of_a_subscription,
    ],
    identity: [
        registration_creates_user_organization_and_editor_membership,
        email_verification_acts_once_and_passwords_change,
        members_are_added_re_roled_and_removed,
        tokens_live_until_expired_and_refresh_rotates_once,
        a_password_change_ends_the_other_sessions_only,
        service_tokens_are_listed_renamed_and_expired,
        expired_tokens_are_purged_after_their_grace_period,
    ],
    wakeups: [
        ingest_wakes_a_waiting_worker,
        wait_for_work_times_out_when_idle,
        outcomes_wake_workers_waiting_for_slots_or_new_work,
    ],
}
