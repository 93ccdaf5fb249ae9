//! The hand-off: an idle worker of this process lets the ingests of this process lease it the
//! attempts they create, in the ingest's own transaction, instead of claiming them in a
//! transaction of its own ([`crate::DeliveryQueue::wait_or_take_hand_off`]). At a light rate
//! every event used to cost a claim (six round trips and a commit, its survey of the queue the
//! costliest statement of the path); handed off, it costs two smaller statements before the
//! write (the match and the claim lock, then the read after it), and its attempts are written
//! leased: no second write of each, nor its foreign-key checks again.
//!
//! What is handed off is what a claim would take at that moment, by the claim's own rules
//! ([`fair_claim::plan`] over what [`claim::read_locked`] reads) and under its locks:
//! - only attempts due now (not the ones waiting in an ordering key's line), and only of
//!   subscriptions with no older attempt due (those go first, by a claim);
//! - under the subscription's claim advisory lock (never waited for: a subscription another
//!   claim holds is left to claims), so the in-flight count read next is not stale;
//! - within the subscription's cap (every worker's leases counted), the priority classes and
//!   the worker's free slots, the request the worker offered with;
//! - never into a circuit that is not closed, nor of a subscription whose health row an
//!   outcome holds: holds, probes and parking are a claim's business.
//!
//! What is not handed off stays due, and the ingest wakes workers for it as before.
//!
//! One ingest at a time holds the offer. One with nothing to hand off lets it stand again; one
//! that leased jobs answers it, and so does any ingest once the worker's wait is over (empty,
//! then, if it has nothing): the worker either gets its leases or none exist. Jobs answered to a
//! worker that stopped listening (shutdown) are given back at once ([`give_back_returned`]).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use chrono::{DateTime, Utc};
use hook0_core::circuit::Admission;
use hook0_core::clock::Clock;
use hook0_core::delivery::{AttemptRef, ClaimRequest, DeliveryJob};
use hook0_core::model::{Event, HttpTarget};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::claim::{read_locked, CLAIM_LOCK_KEY};
use super::convert::json;
use super::queue::release;
use super::signing::job_secrets;
use super::subscriptions;
use crate::fair_claim::{self, DueAttempt};
use crate::StoreResult;

/// Where the standing offer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for an ingest.
    Standing,
    /// An ingest holds it; the worker still waits.
    Taken,
    /// An ingest holds it; the worker's wait is over: it wants the answer, whatever it is.
    Withdrawing,
}

/// The idle worker's offer, as it stands.
struct Standing {
    id: u64,
    worker: String,
    request: ClaimRequest,
    reply: oneshot::Sender<Vec<DeliveryJob>>,
    state: State,
}

/// The offer of this process's idle worker (one at a time: a second worker waiting in the
/// same process simply waits).
pub(super) struct HandOff {
    slot: Mutex<Option<Standing>>,
    offers: AtomicU64,
    /// Attempts handed off that no worker will send, for [`give_back_returned`].
    returned: mpsc::UnboundedSender<Vec<Uuid>>,
}

/// An ingest's hold on the offer: what the worker may take. Answered, or dropped (the ingest
/// failed), the offer stands again unless the worker's wait is over, which then gets its answer.
pub(super) struct Offer {
    hand_off: Arc<HandOff>,
    id: u64,
    pub worker: String,
    pub request: ClaimRequest,
    answered: bool,
}

impl Offer {
    /// Gives the worker the jobs leased to it and returns their attempts, or `None` when it no
    /// longer listens (the jobs are given back then). With no jobs, the offer stands again for
    /// the next ingest.
    pub fn answer(mut self, jobs: Vec<DeliveryJob>) -> Option<HashSet<Uuid>> {
        self.answered = true;
        self.hand_off.settle(self.id, jobs)
    }
}

impl Drop for Offer {
    fn drop(&mut self) {
        if !self.answered {
            self.hand_off.settle(self.id, Vec::new());
        }
    }
}

impl HandOff {
    /// A hand-off whose unsent attempts go to the receiver returned, to be given back at once
    /// ([`give_back_returned`]).
    pub fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<Vec<Uuid>>) {
        let (returned, receiver) = mpsc::unbounded_channel();
        let hand_off = Self {
            slot: Mutex::new(None),
            offers: AtomicU64::new(0),
            returned,
        };
        (Arc::new(hand_off), receiver)
    }

    /// Leased jobs that no worker will send: their attempts are given back, due at once.
    pub fn give_back(&self, jobs: Vec<DeliveryJob>) {
        if jobs.is_empty() {
            return;
        }
        let ids = jobs.iter().map(|j| j.attempt.attempt_id).collect();
        if self.returned.send(ids).is_err() {
            tracing::warn!(attempts = jobs.len(), "could not give back attempts handed off to a worker that stopped; they are due again when their lease ends");
        }
    }

    /// The standing offer, for an ingest about to write.
    pub fn take(self: &Arc<Self>) -> Option<Offer> {
        let mut slot = self.slot();
        let standing = slot.as_mut().filter(|s| s.state == State::Standing)?;
        standing.state = State::Taken;
        Some(Offer {
            hand_off: self.clone(),
            id: standing.id,
            worker: standing.worker.clone(),
            request: standing.request.clone(),
            answered: false,
        })
    }

    /// The end of an ingest's hold on offer `id` (see [`Offer::answer`]).
    fn settle(&self, id: u64, jobs: Vec<DeliveryJob>) -> Option<HashSet<Uuid>> {
        let reply = {
            let mut slot = self.slot();
            let ours = slot.as_mut().filter(|s| s.id == id)?;
            if jobs.is_empty() && ours.state == State::Taken {
                ours.state = State::Standing;
                return Some(HashSet::new());
            }
            slot.take()?.reply
        };
        let ids: HashSet<Uuid> = jobs.iter().map(|j| j.attempt.attempt_id).collect();
        match reply.send(jobs) {
            Ok(()) => Some(ids),
            Err(jobs) => {
                self.give_back(jobs);
                None
            }
        }
    }

    /// Offers `request` to this process's ingests while `wait` runs; returns what one handed
    /// off, or nothing once `wait` is over and no ingest holds the offer.
    pub async fn offer_while(
        &self,
        worker: &str,
        request: &ClaimRequest,
        wait: impl Future<Output = ()>,
    ) -> Vec<DeliveryJob> {
        let (reply, answer) = oneshot::channel();
        let id = self.offers.fetch_add(1, Ordering::Relaxed);
        let offered = {
            let mut slot = self.slot();
            let free = slot.is_none();
            if free {
                *slot = Some(Standing {
                    id,
                    worker: worker.to_owned(),
                    request: request.clone(),
                    reply,
                    state: State::Standing,
                });
            }
            free
        };
        if !offered {
            wait.await;
            return Vec::new();
        }
        // Withdrawn however this ends; a wait cancelled with jobs answered gives them back.
        let mut waiting = Waiting {
            hand_off: self,
            id,
            answer,
            settled: false,
        };
        let answered = tokio::select! {
            jobs = &mut waiting.answer => Some(jobs.unwrap_or_default()),
            () = wait => None,
        };
        let jobs = match answered {
            Some(jobs) => jobs,
            None if self.withdraw(id) => Vec::new(),
            // An ingest holds the offer: its answer comes when its transaction ends.
            None => (&mut waiting.answer).await.unwrap_or_default(),
        };
        waiting.settled = true;
        jobs
    }

    /// Removes offer `id` if it stands (true); if an ingest holds it, asks for its answer.
    fn withdraw(&self, id: u64) -> bool {
        let mut slot = self.slot();
        match slot.as_mut().filter(|s| s.id == id) {
            Some(ours) if ours.state == State::Standing => {
                *slot = None;
                true
            }
            Some(ours) => {
                ours.state = State::Withdrawing;
                false
            }
            None => false,
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Standing>> {
        self.slot
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A worker's wait on its offer. Dropped before it settled (the worker's wait cut short, as at
/// shutdown), it withdraws the offer, and gives back the jobs an ingest answered meanwhile; an
/// ingest answering later finds no one listening and gives them back itself.
struct Waiting<'a> {
    hand_off: &'a HandOff,
    id: u64,
    answer: oneshot::Receiver<Vec<DeliveryJob>>,
    settled: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        self.hand_off.withdraw(self.id);
        if let Ok(jobs) = self.answer.try_recv() {
            self.hand_off.give_back(jobs);
        }
    }
}

/// Gives back what [`HandOff::give_back`] sends, until the hand-off is dropped: the attempts are
/// due at once (those finished or given back meanwhile are left alone), and other processes are
/// told with a `NOTIFY`.
pub(super) async fn give_back_returned(
    pool: PgPool,
    clock: Clock,
    mut returned: mpsc::UnboundedReceiver<Vec<Uuid>>,
) {
    while let Some(ids) = returned.recv().await {
        match release(&pool, &ids, clock.now()).await {
            Ok(()) => tracing::info!(
                attempts = ids.len(),
                "gave back attempts handed off to a worker that stopped"
            ),
            Err(error) => {
                tracing::warn!(%error, attempts = ids.len(), "could not give back attempts handed off to a worker that stopped; they are due again when their lease ends")
            }
        }
    }
}

/// A first attempt an ingest wrote leased to the offer's worker.
#[derive(Clone, Copy, Debug)]
pub(super) struct NewAttempt {
    pub id: Uuid,
    pub subscription_id: Uuid,
}

/// What an ingest hands off, decided before it writes its events: the attempts to write leased
/// to the offer's worker (as `(event's place in the batch, from 1; subscription)`), and what
/// sending them needs.
pub(super) struct Lease {
    pub pairs: Vec<(i64, Uuid)>,
    pub worker: String,
    pub leased_at: DateTime<Utc>,
    pub until: DateTime<Utc>,
    targets: HashMap<Uuid, Target>,
}

/// A subscription's endpoint, as the hand-off read it.
struct Target {
    target: HttpTarget,
    secret: Uuid,
    standard_webhooks: bool,
}

/// The subscriptions each event of the batch matches (enabled, not deleted, type listed, event
/// labels ⊇ theirs, as the batch statement matches them), in the order the batch statement
/// writes their attempts, kept only where the claim lock was taken: of subscriptions with
/// nothing due already (those go first, by a claim), never waited for.
static MATCH_AND_LOCK: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH matched AS MATERIALIZED (
             SELECT e.n, s.id, s.created_at, s.target_method, s.target_url, s.target_headers,
                    s.secret, s.standard_webhooks
             FROM UNNEST($1::uuid[], $2::text[], $3::jsonb[])
                 WITH ORDINALITY AS e(application_id, event_type_name, labels, n)
             JOIN subscription s ON {}),
         locked AS MATERIALIZED (
             SELECT s.id FROM (SELECT DISTINCT id FROM matched) s
             WHERE CASE WHEN EXISTS (
                            SELECT 1 FROM request_attempt r
                            WHERE r.subscription_id = s.id AND r.due_at IS NOT NULL
                              AND r.due_at <= $4)
                        THEN false
                        ELSE pg_try_advisory_xact_lock({CLAIM_LOCK_KEY}) END)
         SELECT m.* FROM matched m JOIN locked l ON l.id = m.id
         ORDER BY m.n, m.created_at, m.id",
        subscriptions::delivered_to("e.application_id", "e")
    )
});

/// Decides, in the ingest transaction `tx` and before the batch `events` is written, what a
/// claim would take now of the attempts it is about to create, under the claim's locks; `None`
/// when nothing. The batch statement then writes those leased ([`Lease::pairs`]); one of them
/// that comes out waiting in its ordering key's line is written waiting, not leased.
pub(super) async fn plan_lease(
    tx: &mut PgConnection,
    offer: &Offer,
    events: &[&Event],
    now: DateTime<Utc>,
) -> StoreResult<Option<Lease>> {
    let request = &offer.request;
    if events.is_empty() || request.limit == 0 {
        return Ok(None);
    }
    let until = fair_claim::lease_until(now, request.lease);
    let rows = sqlx::query(&MATCH_AND_LOCK)
        .bind(events.iter().map(|e| e.application_id).collect::<Vec<_>>())
        .bind(
            events
                .iter()
                .map(|e| e.event_type_name.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(events.iter().map(|e| Json(&e.labels)).collect::<Vec<_>>())
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut matched: Vec<(i64, Uuid)> = Vec::with_capacity(rows.len());
    let mut targets: HashMap<Uuid, Target> = HashMap::new();
    for row in &rows {
        let subscription_id: Uuid = row.get("id");
        matched.push((row.get("n"), subscription_id));
        if let std::collections::hash_map::Entry::Vacant(entry) = targets.entry(subscription_id) {
            entry.insert(Target {
                target: HttpTarget {
                    method: row.get("target_method"),
                    url: row.get("target_url"),
                    headers: json(row, "target_headers")?,
                },
                secret: row.get("secret"),
                standard_webhooks: row.get("standard_webhooks"),
            });
        }
    }
    let mut locked: Vec<Uuid> = targets.keys().copied().collect();
    locked.sort();
    // Read after the locks: another claim of these has committed or not started.
    let read = read_locked(tx, &locked, now).await?;
    // Subscriptions a claim would simply take from: closed circuit, health row not held.
    let admitted: HashSet<Uuid> = locked
        .into_iter()
        .filter(|id| {
            let circuit = read.circuits.get(id).cloned().unwrap_or_default();
            let flying = read.leases.get(id).map_or(0, |l| l.count);
            !read.busy.contains(id)
                && matches!(circuit.admission(now, flying, until), Admission::Admit)
        })
        .collect();
    let due: Vec<DueAttempt<usize>> = matched
        .iter()
        .enumerate()
        .filter(|(_, (_, subscription_id))| admitted.contains(subscription_id))
        .map(|(key, (_, subscription_id))| DueAttempt {
            key,
            subscription_id: *subscription_id,
            retry_count: 0,
        })
        .collect();
    let plan = fair_claim::plan(request, now, until, &due, &read.leases, &read.circuits);
    // Closed circuits: the plan takes within the caps; what it would park (beyond the cap of a
    // stalled subscription) stays due, for a claim to park.
    if plan.claimed.is_empty() {
        return Ok(None);
    }
    Ok(Some(Lease {
        pairs: plan.claimed.iter().map(|&key| matched[key]).collect(),
        worker: offer.worker.clone(),
        leased_at: now,
        until,
        targets,
    }))
}

/// The jobs of the attempts the batch statement wrote leased (`written`: each event with its
/// leased attempts), in batch order.
pub(super) async fn jobs<'a>(
    tx: &mut PgConnection,
    lease: &Lease,
    written: impl Iterator<Item = (&'a Event, &'a [NewAttempt])>,
) -> StoreResult<Vec<DeliveryJob>> {
    let mut jobs = Vec::new();
    for (event, leased) in written {
        for attempt in leased {
            let Some(target) = lease.targets.get(&attempt.subscription_id) else {
                continue;
            };
            jobs.push(DeliveryJob {
                attempt: AttemptRef {
                    attempt_id: attempt.id,
                    application_id: event.application_id,
                    event_id: event.id,
                    subscription_id: attempt.subscription_id,
                    retry_count: 0,
                },
                due_at: event.received_at,
                event_received_at: event.received_at,
                event_type_name: event.event_type_name.clone(),
                payload: event.payload.clone(),
                payload_content_type: event.payload_content_type,
                target: target.target.clone(),
                secret: target.secret,
                standard_webhooks_secrets: Vec::new(),
            });
        }
    }
    let signed: Vec<Uuid> = jobs
        .iter()
        .map(|j| j.attempt.subscription_id)
        .filter(|id| lease.targets.get(id).is_some_and(|t| t.standard_webhooks))
        .collect();
    let secrets = job_secrets(tx, signed, lease.leased_at).await?;
    for job in &mut jobs {
        if let Some(live) = secrets.get(&job.attempt.subscription_id) {
            job.standard_webhooks_secrets = live.clone();
        }
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn request() -> ClaimRequest {
        ClaimRequest::unlimited(4, Duration::from_secs(60))
    }

    fn job() -> DeliveryJob {
        let at = Utc::now();
        DeliveryJob {
            attempt: hook0_core::delivery::AttemptRef {
                attempt_id: Uuid::now_v7(),
                application_id: Uuid::now_v7(),
                event_id: Uuid::now_v7(),
                subscription_id: Uuid::now_v7(),
                retry_count: 0,
            },
            due_at: at,
            event_received_at: at,
            event_type_name: "a.b.c".into(),
            payload: Vec::new(),
            payload_content_type: hook0_core::model::PayloadContentType::Json,
            target: hook0_core::model::HttpTarget {
                method: "POST".into(),
                url: "http://127.0.0.1:9/".into(),
                headers: Default::default(),
            },
            secret: Uuid::now_v7(),
            standard_webhooks_secrets: Vec::new(),
        }
    }

    /// Polls `waiting` once, so that its offer stands.
    async fn stand<F: Future>(waiting: std::pin::Pin<&mut F>) {
        assert!(tokio::time::timeout(Duration::from_millis(5), waiting)
            .await
            .is_err());
    }

    #[tokio::test]
    async fn an_offer_stands_only_while_its_worker_waits() {
        let (hand_off, _) = HandOff::new();
        let jobs = hand_off
            .offer_while(
                "w",
                &request(),
                tokio::time::sleep(Duration::from_millis(5)),
            )
            .await;
        assert!(jobs.is_empty());
        assert!(hand_off.take().is_none(), "withdrawn when the wait ended");

        let wanted = request();
        let waiting = hand_off.offer_while("w", &wanted, std::future::pending());
        let cut = tokio::time::timeout(Duration::from_millis(5), waiting).await;
        assert!(cut.is_err());
        assert!(
            hand_off.take().is_none(),
            "withdrawn when the wait was dropped"
        );
    }

    #[tokio::test]
    async fn an_ingest_with_nothing_to_hand_off_leaves_the_offer_standing() {
        let (hand_off, _) = HandOff::new();
        let wanted = request();
        let waiting = hand_off.offer_while("w", &wanted, std::future::pending());
        tokio::pin!(waiting);
        stand(waiting.as_mut()).await;

        let offer = hand_off.take().expect("the offer stands");
        assert!(hand_off.take().is_none(), "one ingest at a time holds it");
        assert_eq!(offer.answer(Vec::new()), Some(HashSet::new()));
        // An ingest that failed drops its hold: the offer stands again too.
        drop(hand_off.take().expect("it stands again"));
        let offer = hand_off.take().expect("it stands again");
        stand(waiting.as_mut()).await;

        let sent = job();
        let handed = offer.answer(vec![sent.clone()]);
        assert_eq!(handed, Some(HashSet::from([sent.attempt.attempt_id])));
        let jobs = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("the worker gets its jobs");
        assert_eq!(jobs.len(), 1);
        assert!(hand_off.take().is_none(), "answered: gone");
    }

    #[tokio::test]
    async fn a_worker_done_waiting_gets_the_answer_of_the_ingest_holding_its_offer() {
        let (hand_off, _) = HandOff::new();
        let (waiter, offer) = waiting_briefly(&hand_off).await;
        assert_eq!(offer.worker, "w");
        // The ingest's transaction outlasts the wait: the worker waits for the answer.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            offer.answer(vec![job()]).is_some(),
            "the worker still listens"
        );
        assert_eq!(waiter.await.unwrap(), 1);

        // Its wait over, an empty answer (or a failed ingest) ends it too.
        let (waiter, offer) = waiting_briefly(&hand_off).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(offer);
        let done = tokio::time::timeout(Duration::from_secs(1), waiter).await;
        assert_eq!(done.expect("not left waiting").unwrap(), 0);
    }

    /// A worker `w` offering for 20 ms (its task answers how many jobs it got), and the offer,
    /// taken as an ingest takes it.
    async fn waiting_briefly(hand_off: &Arc<HandOff>) -> (tokio::task::JoinHandle<usize>, Offer) {
        let waiter = {
            let hand_off = hand_off.clone();
            tokio::spawn(async move {
                hand_off
                    .offer_while(
                        "w",
                        &request(),
                        tokio::time::sleep(Duration::from_millis(20)),
                    )
                    .await
                    .len()
            })
        };
        loop {
            if let Some(offer) = hand_off.take() {
                return (waiter, offer);
            }
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn jobs_for_a_worker_gone_are_given_back() {
        let (hand_off, mut returned) = HandOff::new();
        let wanted = request();

        // Answered, and the worker's wait dropped before it read the answer (shutdown).
        let sent = job();
        {
            let waiting = hand_off.offer_while("w", &wanted, std::future::pending());
            tokio::pin!(waiting);
            stand(waiting.as_mut()).await;
            let offer = hand_off.take().expect("the offer stands");
            assert!(offer.answer(vec![sent.clone()]).is_some());
        }
        assert_eq!(
            returned.try_recv().ok(),
            Some(vec![sent.attempt.attempt_id]),
            "the leases go back at once"
        );

        // The worker's wait dropped first, then the answer.
        let late = job();
        let offer = {
            let waiting = hand_off.offer_while("w", &wanted, std::future::pending());
            tokio::pin!(waiting);
            stand(waiting.as_mut()).await;
            hand_off.take().expect("the offer stands")
        };
        assert_eq!(offer.answer(vec![late.clone()]), None, "no one listens");
        assert_eq!(
            returned.try_recv().ok(),
            Some(vec![late.attempt.attempt_id])
        );
    }

    #[tokio::test]
    async fn a_second_waiter_of_the_process_only_waits() {
        let (hand_off, _) = HandOff::new();
        let wanted = request();
        let first = hand_off.offer_while("a", &wanted, std::future::pending());
        tokio::pin!(first);
        stand(first.as_mut()).await;
        let second = hand_off
            .offer_while(
                "b",
                &request(),
                tokio::time::sleep(Duration::from_millis(5)),
            )
            .await;
        assert!(second.is_empty());
        assert_eq!(
            hand_off.take().map(|o| o.worker.clone()).as_deref(),
            Some("a")
        );
    }
}
