//! Group commit for ingest. SQLite makes a commit durable with an fsync, and one fsync per event
//! would cap ingest at the disk's fsync rate. Concurrent ingests are therefore queued to one task
//! that writes every queued event in a single transaction (each under a savepoint, so a
//! duplicate or unknown event type fails only its own request) and commits once. Each caller is
//! answered only after that commit: acknowledgements stay durable.

use hook0_core::model::Event;
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::convert::{micros, now};
use super::events::insert_event;
use crate::{Ingested, StoreError, StoreResult};

/// Most events written in one transaction.
const MAX_BATCH: usize = 512;

struct Request {
    event: Event,
    reply: oneshot::Sender<StoreResult<Ingested>>,
}

pub(super) struct IngestBatcher {
    queue: mpsc::Sender<Request>,
}

impl IngestBatcher {
    /// Starts the committing task; it ends when the batcher is dropped.
    pub fn start(writer: SqlitePool, on_commit: impl Fn() + Send + 'static) -> Self {
        let (queue, mut requests) = mpsc::channel::<Request>(4 * MAX_BATCH);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while requests.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let results = write_batch(&writer, &batch).await;
                let any_attempts = results.iter().any(|r| matches!(r, Ok(i) if i.request_attempts > 0));
                if any_attempts {
                    on_commit();
                }
                for (request, result) in batch.drain(..).zip(results) {
                    let _ = request.reply.send(result);
                }
            }
        });
        Self { queue }
    }

    pub async fn ingest(&self, event: Event) -> StoreResult<Ingested> {
        let (reply, answer) = oneshot::channel();
        let closed = || StoreError::Unavailable("the ingest writer stopped".into());
        self.queue.send(Request { event, reply }).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

/// One transaction for the whole batch; per-event outcomes, or the commit error for all.
async fn write_batch(writer: &SqlitePool, batch: &[Request]) -> Vec<StoreResult<Ingested>> {
    match try_write_batch(writer, batch).await {
        Ok(results) => results,
        Err(e) => {
            let message = e.to_string();
            let unavailable = matches!(e, StoreError::Unavailable(_));
            batch
                .iter()
                .map(|_| {
                    Err(if unavailable {
                        StoreError::Unavailable(message.clone())
                    } else {
                        StoreError::Database(message.clone())
                    })
                })
                .collect()
        }
    }
}

async fn try_write_batch(writer: &SqlitePool, batch: &[Request]) -> StoreResult<Vec<StoreResult<Ingested>>> {
    let mut tx = writer.begin().await?;
    let mut results = Vec::with_capacity(batch.len());
    for request in batch {
        let received_at = now();
        sqlx::query("SAVEPOINT ingest").execute(&mut *tx).await?;
        match insert_event(&mut tx, &request.event, micros(received_at)).await {
            Ok(request_attempts) => {
                sqlx::query("RELEASE ingest").execute(&mut *tx).await?;
                results.push(Ok(Ingested { received_at, request_attempts }));
            }
            Err(e) => {
                sqlx::query("ROLLBACK TO ingest").execute(&mut *tx).await?;
                sqlx::query("RELEASE ingest").execute(&mut *tx).await?;
                results.push(Err(e));
            }
        }
    }
    tx.commit().await?;
    Ok(results)
}
