//! Load generation shared by `mcp bench` and the `mcp-bench` benchmarks: C callers calling back to back for a
//! while ([`drive`]), what each call came to ([`Outcome`]), and the latency [`Histogram`] they fill.
//!
//! ```
//! use std::time::Duration;
//! use mcp_cli::load::{drive, Outcome};
//!
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! # rt.block_on(async {
//! // Usually each call is `Outcome::of_call(&client.call_tool(name, args).await)`.
//! let report = drive(4, Duration::ZERO, |_caller| async { Outcome::Ok }).await;
//! // Every caller makes at least one call, even when the time is up at once.
//! assert_eq!(report.calls(), 4);
//! assert_eq!(report.failed(), 0);
//! assert!(report.latency.quantile(0.5) <= report.latency.max());
//! # });
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_client::ErrorKind;
use mcp_protocol::types::CallToolResult;

const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// A fixed-bucket log-linear latency histogram: 64 sub-buckets per power of two of nanoseconds, so every
/// quantile is within 1.6% of the true value, in constant memory whatever the number of calls.
///
/// ```
/// use std::time::Duration;
/// use mcp_cli::load::Histogram;
///
/// let mut h = Histogram::default();
/// for ms in 1..=100 {
///     h.record(Duration::from_millis(ms));
/// }
/// assert_eq!(h.count(), 100);
/// assert_eq!(h.max(), Duration::from_millis(100));
/// let p50 = h.quantile(0.5).as_secs_f64() * 1000.0;
/// assert!((49.0..=51.0).contains(&p50));
/// ```
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }
}

fn index(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    let shift = e - SUB_BITS;
    let m = ((v >> shift) as usize) & (SUB - 1);
    ((shift as usize + 1) << SUB_BITS) + m
}

/// The middle of bucket `idx`.
fn value_of(idx: usize) -> u64 {
    if idx < SUB {
        return idx as u64;
    }
    let shift = (idx >> SUB_BITS) - 1;
    let m = idx & (SUB - 1);
    (((SUB + m) as u64) << shift) + ((1u64 << shift) >> 1)
}

impl Histogram {
    /// Count one latency.
    pub fn record(&mut self, d: Duration) {
        let v = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.counts[index(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    /// Add every latency of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest latency recorded, exactly (zero when empty).
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max)
    }

    /// The `q` quantile (0..=1), or zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_nanos(value_of(i).min(self.max));
            }
        }
        Duration::from_nanos(self.max)
    }
}

/// Why a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// The server answered with a JSON-RPC error.
    JsonRpc,
    /// The tool ran and returned a result with `isError: true`.
    IsError,
    /// No answer in time.
    Timeout,
    /// The connection failed: closed, reset, an I/O error, an HTTP error status.
    Transport,
    /// The answer broke the protocol (a malformed result).
    Protocol,
}

impl Failure {
    /// Every kind, in the order reports list them.
    pub const ALL: [Failure; 5] = [
        Failure::JsonRpc,
        Failure::IsError,
        Failure::Timeout,
        Failure::Transport,
        Failure::Protocol,
    ];

    /// A stable camelCase name, for JSON reports.
    pub fn name(self) -> &'static str {
        match self {
            Failure::JsonRpc => "jsonRpc",
            Failure::IsError => "isError",
            Failure::Timeout => "timeout",
            Failure::Transport => "transport",
            Failure::Protocol => "protocol",
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// What one call came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The call succeeded; its latency is recorded.
    Ok,
    /// The call failed; it is counted by kind, and the first message of each kind is kept.
    Failed(Failure, String),
}

impl Outcome {
    /// The outcome of a `tools/call`: a result with `isError: true` is a failure too.
    pub fn of_call(r: &Result<CallToolResult, mcp_client::Error>) -> Outcome {
        match r {
            Ok(result) if result.is_error() => {
                let text = result.text_content();
                let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                Outcome::Failed(Failure::IsError, text)
            }
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::of_error(e),
        }
    }

    /// The outcome of a request that failed.
    pub fn of_error(e: &mcp_client::Error) -> Outcome {
        let kind = match e.kind() {
            ErrorKind::Rpc => Failure::JsonRpc,
            ErrorKind::Timeout => Failure::Timeout,
            ErrorKind::Protocol | ErrorKind::InvalidResult | ErrorKind::Unsupported => {
                Failure::Protocol
            }
            _ => Failure::Transport,
        };
        let text = e.to_string();
        Outcome::Failed(kind, text.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

/// What a [`drive`] came to: latencies of the calls that succeeded, failures by kind.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// From the start of the run until the last call ended.
    pub elapsed: Duration,
    /// The latency of every call that succeeded.
    pub latency: Histogram,
    failures: [u64; Failure::ALL.len()],
    first_errors: [Option<String>; Failure::ALL.len()],
}

impl Report {
    /// Count one call.
    pub fn add(&mut self, outcome: Outcome, latency: Duration) {
        match outcome {
            Outcome::Ok => self.latency.record(latency),
            Outcome::Failed(kind, message) => {
                self.failures[kind.slot()] += 1;
                self.first_errors[kind.slot()].get_or_insert(message);
            }
        }
    }

    /// Add the calls of `other` (a run of the same length, by other callers).
    pub fn merge(&mut self, other: Report) {
        self.elapsed = self.elapsed.max(other.elapsed);
        self.latency.merge(&other.latency);
        for (i, (n, first)) in other
            .failures
            .into_iter()
            .zip(other.first_errors)
            .enumerate()
        {
            self.failures[i] += n;
            if self.first_errors[i].is_none() {
                self.first_errors[i] = first;
            }
        }
    }

    /// Calls made, successful or not.
    pub fn calls(&self) -> u64 {
        self.ok() + self.failed()
    }

    /// Calls that succeeded.
    pub fn ok(&self) -> u64 {
        self.latency.count()
    }

    /// Calls that failed, of every kind.
    pub fn failed(&self) -> u64 {
        self.failures.iter().sum()
    }

    /// Calls that failed this way.
    pub fn failed_with(&self, kind: Failure) -> u64 {
        self.failures[kind.slot()]
    }

    /// The message of the first failure of this kind.
    pub fn first_error(&self, kind: Failure) -> Option<&str> {
        self.first_errors[kind.slot()].as_deref()
    }

    /// Calls made per second of [`elapsed`](Self::elapsed) (zero for an empty run).
    pub fn calls_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.calls() as f64 / secs
        } else {
            0.0
        }
    }
}

/// Run `callers` tasks, each calling `call(its index)` back to back, until `duration` has passed: each makes at
/// least one call, and none starts a call after the deadline (calls under way are waited for; bound them
/// with the client's request timeout). The latency of a call is the time its future took.
pub async fn drive<F, Fut>(callers: usize, duration: Duration, call: F) -> Report
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let start = Instant::now();
    let deadline = start + duration;
    let call = Arc::new(call);
    let mut tasks = tokio::task::JoinSet::new();
    for caller in 0..callers.max(1) {
        let call = call.clone();
        tasks.spawn(async move {
            let mut report = Report::default();
            loop {
                let t0 = Instant::now();
                let outcome = call(caller).await;
                report.add(outcome, t0.elapsed());
                if Instant::now() >= deadline {
                    break;
                }
            }
            report
        });
    }
    let mut total = Report::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(r) => total.merge(r),
            // A caller that panicked: its calls are lost, the others still count.
            Err(e) => tracing::warn!("a load caller ended abnormally: {e}"),
        }
    }
    total.elapsed = start.elapsed();
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn buckets_round_trip_within_two_percent() {
        for v in [
            1u64,
            63,
            64,
            65,
            127,
            128,
            1000,
            12_345,
            987_654_321,
            1 << 40,
        ] {
            let got = value_of(index(v)) as f64;
            assert!((got - v as f64).abs() / v as f64 <= 0.016, "{v} -> {got}");
        }
    }

    #[test]
    fn quantiles_and_max() {
        let mut h = Histogram::default();
        assert_eq!((h.quantile(0.5), h.max()), (Duration::ZERO, Duration::ZERO));
        for us in 1..=100u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile(0.5).as_micros();
        let p90 = h.quantile(0.9).as_micros();
        let p99 = h.quantile(0.99).as_micros();
        assert!((49..=51).contains(&p50), "{p50}");
        assert!((89..=91).contains(&p90), "{p90}");
        assert!((98..=100).contains(&p99), "{p99}");
        assert_eq!(h.max(), Duration::from_micros(100));
        assert!(h.quantile(1.0) <= h.max());
    }

    #[test]
    fn merged_histograms_count_both() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(Duration::from_millis(1));
        b.record(Duration::from_millis(9));
        b.record(Duration::from_millis(9));
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.max(), Duration::from_millis(9));
        assert!(a.quantile(0.1) < Duration::from_millis(2));
    }

    #[test]
    fn reports_count_failures_by_kind_and_keep_the_first_message() {
        let mut r = Report::default();
        r.add(Outcome::Ok, Duration::from_micros(5));
        r.add(
            Outcome::Failed(Failure::IsError, "first".into()),
            Duration::ZERO,
        );
        r.add(
            Outcome::Failed(Failure::IsError, "second".into()),
            Duration::ZERO,
        );
        let mut other = Report::default();
        other.add(
            Outcome::Failed(Failure::Timeout, "slow".into()),
            Duration::ZERO,
        );
        other.add(
            Outcome::Failed(Failure::IsError, "third".into()),
            Duration::ZERO,
        );
        other.elapsed = Duration::from_secs(2);
        r.merge(other);
        assert_eq!((r.calls(), r.ok(), r.failed()), (5, 1, 4));
        assert_eq!(r.failed_with(Failure::IsError), 3);
        assert_eq!(r.failed_with(Failure::Timeout), 1);
        assert_eq!(r.failed_with(Failure::JsonRpc), 0);
        assert_eq!(r.first_error(Failure::IsError), Some("first"));
        assert_eq!(r.first_error(Failure::Timeout), Some("slow"));
        assert_eq!(r.first_error(Failure::Transport), None);
        assert_eq!(r.calls_per_second(), 2.5);
        assert_eq!(Report::default().calls_per_second(), 0.0);
    }

    #[test]
    fn tool_results_with_is_error_are_failures() {
        let ok: CallToolResult =
            serde_json::from_value(serde_json::json!({"content": []})).unwrap();
        assert_eq!(Outcome::of_call(&Ok(ok)), Outcome::Ok);
        let bad: CallToolResult = serde_json::from_value(serde_json::json!({
            "content": [{"type": "text", "text": "it\nbroke"}], "isError": true
        }))
        .unwrap();
        assert_eq!(
            Outcome::of_call(&Ok(bad)),
            Outcome::Failed(Failure::IsError, "it broke".into())
        );
    }

    #[test]
    fn every_caller_calls_and_every_outcome_is_counted() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let made = Arc::new(AtomicU64::new(0));
        let callers_seen = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
        let (m, seen) = (made.clone(), callers_seen.clone());
        // A zero duration: each of the 3 callers makes exactly its one call.
        let report = rt.block_on(drive(3, Duration::ZERO, move |caller| {
            let n = m.fetch_add(1, Ordering::SeqCst);
            seen.lock().unwrap().insert(caller);
            async move {
                if n == 0 {
                    Outcome::Failed(Failure::JsonRpc, "no".into())
                } else {
                    Outcome::Ok
                }
            }
        }));
        assert_eq!(made.load(Ordering::SeqCst), 3);
        assert_eq!(
            *callers_seen.lock().unwrap(),
            std::collections::BTreeSet::from([0, 1, 2])
        );
        assert_eq!((report.calls(), report.ok()), (3, 2));
        assert_eq!(report.failed_with(Failure::JsonRpc), 1);
    }
}
