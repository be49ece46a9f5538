//! Point reads that arrive together, read together. Under load many `Get` calls are in flight
//! at once, and a database round trip each costs more than the rest of the call: on two cores,
//! GetInitiative answered a quarter as many calls a second as Health/Check. A [`Coalescer`]
//! hands each key to a worker that reads every key waiting at that moment in one batch read (up
//! to `max_batch` keys), with at most `concurrency` batch reads in flight; the keys that arrive
//! meanwhile wait for the next one.
//!
//! A read that finds the worker idle is read almost at once (after the runtime has run the
//! tasks already ready, see [`GATHER_YIELDS`]), so a quiet service answers as fast as before.
//! Every read starts after its call arrived, so an answer is as fresh as a read of its own:
//! nothing is cached, so nothing needs invalidating when another process writes.

use std::{
    collections::HashMap,
    future::Future,
    hash::Hash,
    pin::Pin,
    sync::{Arc, OnceLock},
};

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::ServiceResult;

/// One batch read: the values of the keys that exist (a key may be absent from the map).
pub type BatchRead<K, V> =
    Arc<dyn Fn(Vec<K>) -> Pin<Box<dyn Future<Output = ServiceResult<HashMap<K, V>>> + Send>> + Send + Sync>;

/// What a waiting read is sent: `Some(value or None when absent)`, or `None` when the batch
/// read failed (the caller then reads alone, to get its own error).
type Reply<V> = oneshot::Sender<Option<Option<V>>>;

pub struct Coalescer<K, V> {
    read: BatchRead<K, V>,
    max_batch: usize,
    concurrency: usize,
    /// The worker's queue, started on first use (within the runtime that serves the calls).
    queue: OnceLock<mpsc::UnboundedSender<(K, Reply<V>)>>,
}

impl<K, V> Coalescer<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    /// Batches of at most `max_batch` keys, at most `concurrency` of them read at once.
    pub fn new(read: BatchRead<K, V>, max_batch: usize, concurrency: usize) -> Self {
        Coalescer {
            read,
            max_batch: max_batch.max(1),
            concurrency: concurrency.max(1),
            queue: OnceLock::new(),
        }
    }

    /// The value of `key` (`None` when it has none), read with the keys waiting beside it. `Err`
    /// only when the batch read failed: the caller reads `key` alone then, and reports its own
    /// error.
    pub async fn read(&self, key: K) -> Result<Option<V>, BatchFailed> {
        let queue = self.queue.get_or_init(|| self.start());
        let (reply, answer) = oneshot::channel();
        if queue.send((key, reply)).is_err() {
            return Err(BatchFailed);
        }
        answer.await.ok().flatten().ok_or(BatchFailed)
    }

    fn start(&self) -> mpsc::UnboundedSender<(K, Reply<V>)> {
        let (queue, waiting) = mpsc::unbounded_channel();
        tokio::spawn(work(waiting, Arc::clone(&self.read), self.max_batch, self.concurrency));
        queue
    }
}

/// The batch read failed, or the worker is gone (its runtime shut down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchFailed;

/// How many times a worker lets the runtime run ready tasks before taking the waiting keys.
/// Measured on GetInitiative at 16 connections (two cores, release build), none against four:
/// PostgreSQL 19–21k calls a second against 23–26k (larger batches, fewer round trips), SQLite
/// 27–28k against 29–30k. One, two, eight or sixteen did no better than four.
const GATHER_YIELDS: usize = 4;

/// Takes the keys waiting, up to `max_batch`, whenever fewer than `concurrency` batch reads are
/// in flight; ends when every [`Coalescer`] handle is gone.
async fn work<K, V>(
    mut waiting: mpsc::UnboundedReceiver<(K, Reply<V>)>,
    read: BatchRead<K, V>,
    max_batch: usize,
    concurrency: usize,
) where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(concurrency));
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let Some(first) = waiting.recv().await else {
            return;
        };
        // Calls whose requests have already arrived may not have queued their keys yet: let the
        // runtime run what is ready first, so they join this batch rather than wait a whole
        // round trip for the next. On an idle runtime each yield returns at once.
        for _ in 0..GATHER_YIELDS {
            tokio::task::yield_now().await;
        }
        let mut batch = Vec::with_capacity(max_batch.min(64));
        batch.push(first);
        while batch.len() < max_batch {
            match waiting.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let read = Arc::clone(&read);
        // Its own task: a batch outlives any one caller's cancellation.
        tokio::spawn(async move {
            let keys: Vec<K> = batch.iter().map(|(key, _)| key.clone()).collect();
            let found = read(keys).await.ok();
            for (key, reply) in batch {
                // A caller that gave up no longer listens; that is not an error.
                let _ = reply.send(found.as_ref().map(|found| found.get(&key).cloned()));
            }
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn recording(batches: Arc<Mutex<Vec<Vec<u32>>>>, fail: bool) -> BatchRead<u32, String> {
        Arc::new(move |keys: Vec<u32>| {
            let batches = Arc::clone(&batches);
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                batches.lock().expect("the record").push(keys.clone());
                if fail {
                    return Err(crate::ServiceError::unavailable("the database is away"));
                }
                Ok(keys
                    .into_iter()
                    .filter(|key| key % 2 == 0)
                    .map(|key| (key, format!("value {key}")))
                    .collect())
            })
        })
    }

    /// Reads keys 0 to 9 at once, each in a task of its own; each answer with its key.
    async fn ten_reads_at_once(coalescer: Coalescer<u32, String>) -> Vec<(u32, Result<Option<String>, BatchFailed>)> {
        let coalescer = Arc::new(coalescer);
        let reads: Vec<_> = (0..10u32)
            .map(|key| {
                let coalescer = Arc::clone(&coalescer);
                tokio::spawn(async move { (key, coalescer.read(key).await) })
            })
            .collect();
        let mut answers = Vec::with_capacity(reads.len());
        for read in reads {
            answers.push(read.await.expect("the read's task"));
        }
        answers
    }

    #[tokio::test]
    async fn reads_waiting_together_are_read_in_one_batch_and_each_gets_its_own_answer() {
        let batches = Arc::default();
        let answers = ten_reads_at_once(Coalescer::new(recording(Arc::clone(&batches), false), 100, 1)).await;
        for (key, answer) in answers {
            let expected = (key % 2 == 0).then(|| format!("value {key}"));
            assert_eq!(answer, Ok(expected), "key {key}");
        }
        let batches = batches.lock().expect("the record");
        assert!(batches.len() < 10, "ten reads made {} batch reads", batches.len());
        // The first read may find the worker idle and go alone; the others wait for one batch.
        assert!(batches.len() <= 2, "ten reads made {} batch reads", batches.len());
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 10);
    }

    #[tokio::test]
    async fn a_batch_never_exceeds_its_size() {
        let batches = Arc::default();
        for (key, answer) in ten_reads_at_once(Coalescer::new(recording(Arc::clone(&batches), false), 3, 1)).await {
            answer.unwrap_or_else(|failed| panic!("key {key}: {failed:?}"));
        }
        let batches = batches.lock().expect("the record");
        assert!(batches.iter().all(|batch| batch.len() <= 3));
        // Not trivially: the ten reads were batched, three at a time.
        assert_eq!(batches.iter().map(Vec::len).max(), Some(3), "{batches:?}");
    }

    #[tokio::test]
    async fn a_failed_batch_tells_each_caller_to_read_alone() {
        let coalescer = Coalescer::new(recording(Arc::default(), true), 100, 2);
        assert_eq!(coalescer.read(4).await, Err(BatchFailed));
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_does_not_stop_the_others() {
        let batches = Arc::default();
        let coalescer = Arc::new(Coalescer::new(recording(Arc::clone(&batches), false), 100, 1));
        let patient = {
            let coalescer = Arc::clone(&coalescer);
            tokio::spawn(async move { coalescer.read(2).await })
        };
        let impatient = tokio::time::timeout(std::time::Duration::from_millis(1), coalescer.read(4)).await;
        assert!(impatient.is_err(), "the read should still have been in flight");
        assert_eq!(patient.await.expect("the read's task"), Ok(Some("value 2".to_owned())));
        assert_eq!(coalescer.read(6).await, Ok(Some("value 6".to_owned())));
    }
}
