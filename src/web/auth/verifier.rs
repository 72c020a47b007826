//! Password verification with bounded CPU and memory, whatever arrives at `/login`.
//!
//! An argon2id verification takes the hash's memory cost (19 MiB by default) and tens of
//! milliseconds of a core. Run on tokio's blocking pool, a spray of logins ran hundreds at once
//! and the allocator kept the memory (11 GB after 2,000 failures). Here a fixed number of worker
//! threads (`workers`, 2) verify, each reusing one buffer of argon2 blocks; at most `queue`
//! attempts wait, and an attempt that waited longer than `max_wait` or whose client went away is
//! dropped unverified. A full queue answers `Busy` at once (the handler says 503). A worker idle
//! for `release_after` frees its buffer and asks the allocator to give memory back to the OS,
//! so a spray leaves no lasting footprint.
//!
//! Attempts of a user from an address with no recent failure (`Lane::Clean`) go first: a spray
//! gets one such attempt per address, so the real user does not wait behind it; when the queue
//! is full, a clean attempt takes the place of the newest other one.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

/// Largest memory cost verified (64 MiB); a stored hash asking for more never matches.
pub const MAX_MEMORY_BLOCKS: usize = 64 * 1024;

/// Why an attempt was not verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("too many logins are being checked; try again in a moment")]
    Busy,
}

#[derive(Debug, Clone, Copy)]
pub struct VerifierLimits {
    pub workers: usize,
    pub queue: usize,
    pub max_wait: Duration,
    pub release_after: Duration,
}

impl Default for VerifierLimits {
    fn default() -> Self {
        VerifierLimits {
            workers: 2,
            queue: 128,
            max_wait: Duration::from_secs(5),
            release_after: Duration::from_secs(10),
        }
    }
}

struct Job {
    password: Wiped,
    /// `None`: the user does not exist; the dummy hash is verified instead (same cost).
    hash: Option<String>,
    queued: Instant,
    reply: oneshot::Sender<bool>,
}

/// A password, zeroed when dropped.
struct Wiped(String);

impl Drop for Wiped {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// Which attempts go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Neither the user at this address nor the address failed recently.
    Clean,
    /// Everything else.
    Suspect,
}

#[derive(Default)]
struct Queue {
    clean: VecDeque<Job>,
    suspect: VecDeque<Job>,
}

impl Queue {
    fn len(&self) -> usize {
        self.clean.len() + self.suspect.len()
    }

    fn pop(&mut self) -> Option<Job> {
        self.clean.pop_front().or_else(|| self.suspect.pop_front())
    }
}

struct Shared {
    limits: VerifierLimits,
    queue: Mutex<Queue>,
    ready: Condvar,
}

/// The pool; worker threads start on first use.
pub struct Verifier {
    shared: Arc<Shared>,
    started: OnceLock<()>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("limits", &self.shared.limits)
            .finish()
    }
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new(VerifierLimits::default())
    }
}

impl Verifier {
    pub fn new(limits: VerifierLimits) -> Verifier {
        Verifier {
            shared: Arc::new(Shared {
                limits: VerifierLimits {
                    workers: limits.workers.max(1),
                    queue: limits.queue.max(1),
                    ..limits
                },
                queue: Mutex::new(Queue::default()),
                ready: Condvar::new(),
            }),
            started: OnceLock::new(),
        }
    }

    /// Whether `password` matches the PHC string `hash` (`None`: a user that does not exist,
    /// which costs the same and never matches); `Busy` when the queue is full or the attempt
    /// waited too long.
    pub async fn verify(
        &self,
        password: String,
        hash: Option<String>,
        lane: Lane,
    ) -> Result<bool, VerifyError> {
        self.start();
        let (reply, answer) = oneshot::channel();
        let job = Job {
            password: Wiped(password),
            hash,
            queued: Instant::now(),
            reply,
        };
        {
            let mut queue = lock(&self.shared.queue);
            if queue.len() >= self.shared.limits.queue {
                // Full: a clean attempt bumps the newest suspect one (its caller hears Busy).
                if lane == Lane::Suspect || queue.suspect.pop_back().is_none() {
                    return Err(VerifyError::Busy);
                }
            }
            match lane {
                Lane::Clean => queue.clean.push_back(job),
                Lane::Suspect => queue.suspect.push_back(job),
            }
        }
        self.shared.ready.notify_one();
        // A dropped reply means the job was dropped unverified (waited too long).
        answer.await.map_err(|_| VerifyError::Busy)
    }

    fn start(&self) {
        self.started.get_or_init(|| {
            for n in 0..self.shared.limits.workers {
                let shared = Arc::clone(&self.shared);
                let spawned = std::thread::Builder::new()
                    .name(format!("lookout-verify-{n}"))
                    .spawn(move || work(&shared));
                if let Err(error) = spawned {
                    tracing::error!(%error, "cannot start a password verification thread");
                }
            }
        });
    }
}

fn lock(queue: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    queue.lock().unwrap_or_else(|e| e.into_inner())
}

/// One worker: takes jobs until the process ends; frees its buffer when idle.
fn work(shared: &Shared) {
    let mut blocks: Vec<Block> = Vec::new();
    loop {
        let job = {
            let mut queue = lock(&shared.queue);
            loop {
                if let Some(job) = queue.pop() {
                    break Some(job);
                }
                let (guard, timeout) = shared
                    .ready
                    .wait_timeout(queue, shared.limits.release_after)
                    .unwrap_or_else(|e| e.into_inner());
                queue = guard;
                if timeout.timed_out() && queue.len() == 0 {
                    break None;
                }
            }
        };
        let Some(job) = job else {
            if !blocks.is_empty() {
                blocks = Vec::new();
                crate::base::memory::give_back();
            }
            continue;
        };
        if job.reply.is_closed() || job.queued.elapsed() > shared.limits.max_wait {
            continue; // dropping the job drops its reply: the caller hears Busy
        }
        let matches = match &job.hash {
            Some(hash) => verify_with(&job.password.0, hash, &mut blocks),
            None => {
                verify_with(&job.password.0, super::secret::dummy_hash(), &mut blocks);
                false
            }
        };
        let _ = job.reply.send(matches);
    }
}

/// Verifies with `blocks` as argon2's memory, grown to what the hash asks for and reused.
pub fn verify_with(password: &str, hash: &str, blocks: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let needed = params.block_count();
    if needed > MAX_MEMORY_BLOCKS {
        tracing::warn!(
            blocks = needed,
            "a password hash asks for more than 64 MiB; it is never matched"
        );
        return false;
    }
    if blocks.len() < needed {
        blocks.resize(needed, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt.as_ref(),
        &mut out,
        &mut blocks[..needed],
    );
    // `Output`'s equality takes the same time wherever the bytes differ.
    computed.is_ok() && Output::try_from(out.as_slice()).is_ok_and(|out| &out == expected)
}

fn wipe(text: &mut str) {
    // SAFETY: zero bytes are valid UTF-8.
    unsafe { text.as_bytes_mut() }.fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::auth::secret::hash_password;

    #[test]
    fn clean_attempts_go_first_and_bump_suspect_ones_from_a_full_queue() {
        let mut queue = Queue::default();
        let job = |n: usize| {
            let (reply, _) = oneshot::channel();
            Job {
                password: Wiped(n.to_string()),
                hash: None,
                queued: Instant::now(),
                reply,
            }
        };
        queue.suspect.push_back(job(1));
        queue.suspect.push_back(job(2));
        queue.clean.push_back(job(3));
        let order: Vec<String> = std::iter::from_fn(|| queue.pop())
            .map(|j| j.password.0.clone())
            .collect();
        assert_eq!(order, ["3", "1", "2"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_clean_attempt_gets_in_when_suspect_ones_fill_the_queue() {
        let hash = hash_password("correct horse battery").unwrap();
        let verifier = Arc::new(Verifier::new(VerifierLimits {
            workers: 1,
            queue: 4,
            max_wait: Duration::from_secs(60),
            release_after: Duration::from_secs(60),
        }));
        let mut spray = Vec::new();
        for _ in 0..8 {
            let (verifier, hash) = (Arc::clone(&verifier), hash.clone());
            spray.push(tokio::spawn(async move {
                verifier
                    .verify("nope".into(), Some(hash), Lane::Suspect)
                    .await
            }));
        }
        tokio::task::yield_now().await;
        let real = verifier
            .verify("correct horse battery".into(), Some(hash), Lane::Clean)
            .await;
        assert_eq!(real, Ok(true));
        for task in spray {
            let _ = task.await.unwrap();
        }
    }

    #[test]
    fn verifies_what_hash_password_made_reusing_one_buffer() {
        let hash = hash_password("correct horse battery").unwrap();
        let mut blocks = Vec::new();
        assert!(verify_with("correct horse battery", &hash, &mut blocks));
        let capacity = blocks.capacity();
        assert_eq!(blocks.len(), Params::DEFAULT_M_COST as usize);
        assert!(!verify_with("wrong horse battery", &hash, &mut blocks));
        assert_eq!(blocks.capacity(), capacity, "the buffer is reused");
        assert!(!verify_with("x", "not a hash", &mut blocks));
        assert!(!verify_with(
            "x",
            "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
            &mut blocks
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_answers_busy_at_once_and_nothing_is_lost_below_it() {
        let hash = hash_password("correct horse battery").unwrap();
        let verifier = Arc::new(Verifier::new(VerifierLimits {
            workers: 1,
            queue: 2,
            max_wait: Duration::from_secs(60),
            release_after: Duration::from_secs(60),
        }));
        let mut tasks = Vec::new();
        for i in 0..12 {
            let verifier = Arc::clone(&verifier);
            let hash = hash.clone();
            let password = if i == 0 {
                "correct horse battery"
            } else {
                "nope"
            };
            tasks.push(tokio::spawn(async move {
                verifier
                    .verify(password.to_string(), Some(hash), Lane::Suspect)
                    .await
            }));
        }
        let mut busy = 0;
        let mut answered = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => answered += 1,
                Err(VerifyError::Busy) => busy += 1,
            }
        }
        assert!(busy > 0, "12 at once with a queue of 2 must refuse some");
        assert!(answered >= 2, "{answered} answered");
        // Once the queue has room again, the right password is accepted.
        assert_eq!(
            verifier
                .verify(
                    "correct horse battery".into(),
                    Some(hash.clone()),
                    Lane::Clean
                )
                .await,
            Ok(true)
        );
        assert_eq!(
            verifier
                .verify("correct horse battery".into(), None, Lane::Clean)
                .await,
            Ok(false),
            "a user that does not exist never matches"
        );
    }
}
