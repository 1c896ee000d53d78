//! The background worker: session start and `PUT /events`, off the caller's thread.
//!
//! Callers hand commands over a bounded channel (`try_send`, never blocking):
//! a compact record of the call, which the worker turns into the JSON merge
//! patch. The worker coalesces enrichments per event (JSON merge-patch
//! composition, in call order), sends them, and retries transient failures
//! with exponential backoff, honouring `Retry-After`. What it holds is bounded
//! by the queue capacity; what does not fit is counted as dropped.
//!
//! Wake-ups: the worker parks itself. A caller unparks it only when it is
//! asleep with nothing to do; while enrichments keep coming it polls the
//! queue every millisecond instead, so a burst costs the callers no system
//! call and is coalesced into few requests.

use std::collections::HashMap;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicBool, fence};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::http::{HttpClient, Method, Outcome, backoff};
use crate::record::Body;
use crate::stats::{Counters, Limits, bump_and_should_log};

/// How long the worker polls the queue after it received something, before
/// it goes to sleep (and asks to be woken).
const LINGER: Duration = Duration::from_millis(1);

/// The event an enrichment goes to.
pub(crate) enum Target {
    /// The tracer's own session: the id is shared, not copied.
    Shared(Arc<str>),
    /// An explicit id.
    Owned(String),
}

impl Target {
    fn as_str(&self) -> &str {
        match self {
            Target::Shared(id) => id,
            Target::Owned(id) => id,
        }
    }

    fn into_string(self) -> String {
        match self {
            Target::Shared(id) => id.as_ref().to_owned(),
            Target::Owned(id) => id,
        }
    }
}

pub(crate) enum Command {
    StartSession(Value),
    Enrich {
        target: Target,
        body: Body,
        /// Event updates send the error top-level; sessions in `metadata.error`.
        error_top_level: bool,
    },
    Flush(mpsc::Sender<bool>),
    Shutdown(Instant),
}

/// A request the worker made (or, in test mode, would have made).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// `POST` or `PUT`.
    pub method: &'static str,
    /// The path, e.g. `/events`.
    pub path: &'static str,
    /// The JSON body.
    pub body: Value,
}

pub(crate) enum Transport {
    Http {
        client: HttpClient,
        base_url: String,
    },
    Memory(Arc<Mutex<Vec<RecordedRequest>>>),
}

impl Transport {
    fn send(&self, method: Method, path: &'static str, body: &Value) -> Outcome {
        match self {
            Transport::Http { client, base_url } => {
                let bytes = match serde_json::to_vec(body) {
                    Ok(bytes) => bytes,
                    Err(err) => {
                        return Outcome::Permanent {
                            reason: format!("body does not serialize: {err}"),
                        };
                    }
                };
                client.send(
                    method,
                    &format!("{base_url}{path}"),
                    "application/json",
                    &bytes,
                )
            }
            Transport::Memory(log) => {
                if let Ok(mut log) = log.lock() {
                    log.push(RecordedRequest {
                        method: match method {
                            Method::Post => "POST",
                            Method::Put => "PUT",
                        },
                        path,
                        body: body.clone(),
                    });
                }
                Outcome::Ok("{}".to_owned())
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct WorkerConfig {
    pub(crate) capacity: usize,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_cap: Duration,
    pub(crate) verbose: bool,
}

/// What the caller and the worker share to decide about wake-ups.
#[derive(Default)]
struct Signal {
    /// The worker is (about to be) parked with nothing to do.
    sleeping: AtomicBool,
    /// The caller's side is gone.
    closed: AtomicBool,
}

/// The caller's side of the worker.
pub(crate) struct WorkerHandle {
    tx: SyncSender<Command>,
    thread: Mutex<Option<JoinHandle<()>>>,
    waker: Option<Thread>,
    signal: Arc<Signal>,
    counters: Arc<Counters>,
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        // The worker only parks: tell it the callers are gone.
        self.signal.closed.store(true, Release);
        self.wake();
    }
}

impl WorkerHandle {
    pub(crate) fn spawn(
        config: WorkerConfig,
        transport: Transport,
        counters: Arc<Counters>,
        limits: Arc<Limits>,
    ) -> WorkerHandle {
        let (tx, rx) = mpsc::sync_channel(config.capacity.max(1));
        let worker_counters = counters.clone();
        let signal = Arc::new(Signal::default());
        let worker_signal = signal.clone();
        let thread = std::thread::Builder::new()
            .name("honeyhive-worker".to_owned())
            .spawn(move || {
                Worker {
                    rx,
                    signal: worker_signal,
                    transport,
                    counters: worker_counters,
                    limits,
                    config,
                    starts: std::collections::VecDeque::new(),
                    pending: Vec::new(),
                    index: HashMap::new(),
                    waiters: Vec::new(),
                    attempt: 0,
                    next_attempt: None,
                    shutdown: None,
                }
                .run()
            });
        let thread = match thread {
            Ok(handle) => Some(handle),
            Err(err) => {
                tracing::error!(error = %err, "honeyhive: cannot start the background worker; session enrichments will be dropped");
                None
            }
        };
        WorkerHandle {
            tx,
            waker: thread.as_ref().map(|t| t.thread().clone()),
            thread: Mutex::new(thread),
            signal,
            counters,
        }
    }

    /// Unparks the worker.
    fn wake(&self) {
        if let Some(thread) = &self.waker {
            thread.unpark();
        }
    }

    /// Unparks the worker if it went to sleep with nothing to do. Pairs with
    /// [`Worker::sleep`]: either the worker sees what we queued when it checks
    /// the queue once more, or we see that it is asleep.
    fn wake_if_sleeping(&self) {
        fence(SeqCst);
        if self.signal.sleeping.load(Relaxed) && self.signal.sleeping.swap(false, AcqRel) {
            self.wake();
        }
    }

    /// Queues an enrichment; never blocks. Returns whether it was accepted.
    pub(crate) fn enqueue(&self, target: Target, body: Body, error_top_level: bool) -> bool {
        match self.tx.try_send(Command::Enrich {
            target,
            body,
            error_top_level,
        }) {
            Ok(()) => {
                self.counters.enqueued.fetch_add(1, Relaxed);
                self.wake_if_sleeping();
                true
            }
            Err(TrySendError::Full(_)) => {
                if bump_and_should_log(&self.counters.dropped, 1) {
                    tracing::warn!(
                        dropped = self.counters.dropped.load(Relaxed),
                        "honeyhive: enrichment queue is full; enrichment dropped"
                    );
                }
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                if bump_and_should_log(&self.counters.dropped, 1) {
                    tracing::warn!("honeyhive: tracer is shut down; enrichment dropped");
                }
                false
            }
        }
    }

    pub(crate) fn start_session(&self, body: Value) {
        if self.tx.try_send(Command::StartSession(body)).is_err() {
            tracing::warn!("honeyhive: could not queue the session start");
        }
        self.wake();
    }

    /// Waits until everything queued so far is delivered, at most `timeout`.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (ack_tx, ack_rx) = mpsc::channel();
        if !self.send_control(Command::Flush(ack_tx), deadline) {
            return false;
        }
        ack_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or(false)
    }

    /// Delivers what it can until `timeout`, then stops the worker. What is
    /// still queued then is counted as dropped.
    pub(crate) fn shutdown(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        let Some(handle) = handle else {
            return true;
        };
        if !self.send_control(Command::Shutdown(deadline), deadline) {
            return false;
        }
        while !handle.is_finished() {
            if Instant::now() >= deadline + Duration::from_millis(200) {
                tracing::warn!("honeyhive: background worker did not stop in time");
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = handle.join();
        true
    }

    fn send_control(&self, mut cmd: Command, deadline: Instant) -> bool {
        loop {
            match self.tx.try_send(cmd) {
                Ok(()) => {
                    self.wake();
                    return true;
                }
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) => {
                    self.wake();
                    if Instant::now() >= deadline {
                        return false;
                    }
                    cmd = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
}

struct Entry {
    event_id: String,
    patch: Map<String, Value>,
    /// How many enrichment calls were coalesced into this patch.
    calls: u64,
}

struct Worker {
    rx: Receiver<Command>,
    signal: Arc<Signal>,
    transport: Transport,
    counters: Arc<Counters>,
    limits: Arc<Limits>,
    config: WorkerConfig,
    /// Session starts not yet delivered, in order (the tracer's own, and
    /// those of `create_session`).
    starts: std::collections::VecDeque<Value>,
    pending: Vec<Entry>,
    /// event id -> index in `pending` of its latest entry.
    index: HashMap<String, usize>,
    waiters: Vec<mpsc::Sender<bool>>,
    attempt: u32,
    next_attempt: Option<Instant>,
    shutdown: Option<Instant>,
}

impl Worker {
    fn run(mut self) {
        loop {
            // Read `closed` before draining: everything sent before it is seen.
            let closed = self.signal.closed.load(Acquire);
            let (received, disconnected) = self.drain();
            if (closed || disconnected) && self.shutdown.is_none() {
                // All handles are gone: deliver what is due one last time,
                // bounded by a deadline.
                self.shutdown = Some(Instant::now() + Duration::from_secs(5));
            }

            let due = self.next_attempt.is_none_or(|t| Instant::now() >= t);
            if due && self.has_work() {
                self.round();
            }
            if !self.has_work() {
                for waiter in self.waiters.drain(..) {
                    let _ = waiter.send(true);
                }
            }
            if let Some(deadline) = self.shutdown {
                if !self.has_work() || Instant::now() >= deadline {
                    self.give_up();
                    return;
                }
            }

            // How long there is nothing to do (`None`: until woken).
            let mut wait = if self.has_work() {
                Some(self.next_attempt.map_or(Duration::ZERO, |t| {
                    t.saturating_duration_since(Instant::now())
                }))
            } else {
                None
            };
            if let Some(deadline) = self.shutdown {
                let left = deadline.saturating_duration_since(Instant::now());
                wait = Some(wait.map_or(left, |w| w.min(left)));
            }
            if wait == Some(Duration::ZERO) {
                continue;
            }
            if received > 0 {
                // Busy: poll instead of asking the callers to wake us.
                std::thread::park_timeout(wait.map_or(LINGER, |w| w.min(LINGER)));
            } else {
                self.sleep(wait);
            }
        }
    }

    fn has_work(&self) -> bool {
        !self.starts.is_empty() || !self.pending.is_empty()
    }

    /// Handles everything queued. Returns how many commands there were and
    /// whether every sender is gone.
    fn drain(&mut self) -> (usize, bool) {
        let mut received = 0;
        loop {
            match self.rx.try_recv() {
                Ok(cmd) => {
                    received += 1;
                    self.handle(cmd);
                }
                Err(TryRecvError::Empty) => return (received, false),
                Err(TryRecvError::Disconnected) => return (received, true),
            }
        }
    }

    /// Parks until woken (or `wait` passes), after telling the callers to
    /// wake us. Pairs with [`WorkerHandle::wake_if_sleeping`].
    fn sleep(&mut self, wait: Option<Duration>) {
        self.signal.sleeping.store(true, SeqCst);
        fence(SeqCst);
        match self.rx.try_recv() {
            Ok(cmd) => {
                self.signal.sleeping.store(false, Relaxed);
                self.handle(cmd);
                return;
            }
            Err(TryRecvError::Disconnected) => {
                self.signal.sleeping.store(false, Relaxed);
                return;
            }
            Err(TryRecvError::Empty) => {}
        }
        if !self.signal.closed.load(Acquire) {
            match wait {
                Some(wait) => std::thread::park_timeout(wait),
                None => std::thread::park(),
            }
        }
        self.signal.sleeping.store(false, Relaxed);
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::StartSession(body) => self.starts.push_back(body),
            Command::Enrich {
                target,
                body,
                error_top_level,
            } => self.add(target, body, error_top_level),
            Command::Flush(waiter) => self.waiters.push(waiter),
            Command::Shutdown(deadline) => {
                self.shutdown = Some(deadline);
                // Do not wait out a backoff past the deadline: try once more now.
                self.next_attempt = None;
            }
        }
    }

    fn add(&mut self, target: Target, body: Body, error_top_level: bool) {
        let mut body = body;
        if let Some(&i) = self.index.get(target.as_str()) {
            if let Some(entry) = self.pending.get_mut(i) {
                match body.compose_into(&mut entry.patch, error_top_level) {
                    Ok(()) => {
                        entry.calls += 1;
                        return;
                    }
                    Err(back) => body = back,
                }
            }
        }
        if self.pending.len() >= self.config.capacity {
            if bump_and_should_log(&self.counters.dropped, 1) {
                tracing::warn!(
                    pending = self.pending.len(),
                    "honeyhive: too many undelivered enrichments; enrichment dropped"
                );
            }
            return;
        }
        let mut patch = Map::new();
        // Onto an empty patch this always composes.
        let _ = body.compose_into(&mut patch, error_top_level);
        let event_id = target.into_string();
        self.index.insert(event_id.clone(), self.pending.len());
        self.pending.push(Entry {
            event_id,
            patch,
            calls: 1,
        });
    }

    /// One delivery attempt of everything pending, session start first.
    fn round(&mut self) {
        let mut transient: Option<(String, Option<Duration>)> = None;

        while let Some(body) = self.starts.pop_front() {
            match self.transport.send(Method::Post, "/session/start", &body) {
                Outcome::Ok(response) => {
                    self.counters.session_started.store(1, Relaxed);
                    self.log_ok("session started", &response);
                }
                Outcome::Transient {
                    reason,
                    retry_after,
                } => {
                    transient = Some((reason, retry_after));
                    self.starts.push_front(body);
                    break;
                }
                Outcome::Permanent { reason } => {
                    tracing::warn!(%reason, "honeyhive: session start rejected; spans and enrichments are still sent");
                }
            }
        }

        let mut kept = Vec::new();
        // While the session start waits for a retry, its enrichments wait
        // too: sent now, one could reach a server that has just come back
        // before the session exists there.
        let entries = if transient.is_some() {
            Vec::new()
        } else {
            std::mem::take(&mut self.pending)
        };
        let mut iter = entries.into_iter();
        for entry in iter.by_ref() {
            let mut body = Map::with_capacity(entry.patch.len() + 1);
            body.insert("event_id".to_owned(), Value::String(entry.event_id.clone()));
            for (k, v) in &entry.patch {
                body.insert(k.clone(), v.clone());
            }
            let body = Value::Object(body);
            self.check_size(&entry.event_id, &body);
            self.counters.requests.fetch_add(1, Relaxed);
            match self.transport.send(Method::Put, "/events", &body) {
                Outcome::Ok(response) => {
                    self.counters.sent.fetch_add(entry.calls, Relaxed);
                    self.log_ok("enrichment sent", &response);
                }
                Outcome::Transient {
                    reason,
                    retry_after,
                } => {
                    transient = Some((reason, retry_after));
                    kept.push(entry);
                    // The server is failing: stop this round rather than
                    // hammer it.
                    break;
                }
                Outcome::Permanent { reason } => {
                    self.counters.dropped.fetch_add(entry.calls, Relaxed);
                    tracing::warn!(event_id = %entry.event_id, %reason, "honeyhive: enrichment rejected by the server; dropped");
                }
            }
        }
        kept.extend(iter);
        // Anything enqueued meanwhile is not in `self.pending` yet (we hold it
        // in this thread), so the kept entries, or those not tried, are
        // the pending list.
        kept.append(&mut self.pending);
        self.pending = kept;
        self.index = self
            .pending
            .iter()
            .enumerate()
            .map(|(i, e)| (e.event_id.clone(), i))
            .collect();

        match transient {
            None => {
                self.attempt = 0;
                self.next_attempt = None;
            }
            Some((reason, retry_after)) => {
                let wait = backoff(
                    self.attempt,
                    self.config.backoff_base,
                    self.config.backoff_cap,
                );
                // The server's Retry-After wins over our own backoff.
                let wait = retry_after.unwrap_or(wait);
                self.attempt = self.attempt.saturating_add(1);
                self.next_attempt = Some(Instant::now() + wait);
                if bump_and_should_log(&self.counters.retried, 1) {
                    tracing::warn!(
                        %reason,
                        retry_in_ms = wait.as_millis() as u64,
                        pending = self.pending.len(),
                        "honeyhive: server unavailable; will retry"
                    );
                }
            }
        }
    }

    fn check_size(&self, event_id: &str, body: &Value) {
        let len = serde_json::to_vec(body).map(|b| b.len()).unwrap_or(0);
        self.limits.check_enrichment(event_id, len);
        check_fields(body, &self.limits, &mut String::new());
    }

    fn log_ok(&self, what: &str, response: &str) {
        if self.config.verbose {
            tracing::info!(response, "honeyhive: {what}");
        } else {
            tracing::debug!(response, "honeyhive: {what}");
        }
    }

    fn give_up(&mut self) {
        let lost: u64 = self.pending.iter().map(|e| e.calls).sum();
        if lost > 0 {
            self.counters.dropped.fetch_add(lost, Relaxed);
            tracing::warn!(
                lost,
                "honeyhive: shutting down with undelivered enrichments"
            );
        }
        self.pending.clear();
        // Enrichments still in the channel are lost too.
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Command::Enrich { .. } => {
                    self.counters.dropped.fetch_add(1, Relaxed);
                }
                Command::Flush(waiter) => self.waiters.push(waiter),
                _ => {}
            }
        }
        let delivered = lost == 0 && self.starts.is_empty();
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(delivered);
        }
    }
}

fn check_fields(value: &Value, limits: &Limits, path: &mut String) {
    match value {
        Value::String(s) if s.len() > limits.max_field_bytes => limits.check_field(path, s.len()),
        Value::Object(map) => {
            for (k, v) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                check_fields(v, limits, path);
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!(".{i}"));
                check_fields(v, limits, path);
                path.truncate(len);
            }
        }
        _ => {}
    }
}
