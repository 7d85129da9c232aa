//! Heroku's Platform API rate limit: each account holds a bucket of request
//! tokens, as many as it may make in an hour (4,500 by default), refilled
//! continuously at that rate per hour (75 a minute). Every authenticated request
//! takes one, except `GET /account/rate-limits`; with the bucket empty the
//! request is a 429 `rate_limit` before its handler runs, so it changes nothing.
//! Every authenticated response says what is left in `RateLimit-Remaining`.
//!
//! The buckets live in memory, one per account that has called since the server
//! started: a restart fills them all. `governor` was the first choice, but it
//! reports what is left only by taking a token (it has no way to look without
//! counting), and `GET /account/rate-limits` must answer without counting; the
//! bucket is a few lines of arithmetic, table-tested below.

use super::{ApiError, Caller, Platform};
use axum::Json;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, Request, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

/// The one request that is not counted: how many are left.
pub const RATE_LIMITS_PATH: &str = "/account/rate-limits";

/// Heroku's words for a request over the limit.
pub const MESSAGE: &str =
    "Your account reached the API rate limit. Please wait a few minutes before making new requests";

/// The per-account buckets.
pub struct RateLimit {
    /// Requests per hour per account, which is also what a bucket holds;
    /// `None` when the limit is off (`--api-rate-limit 0`).
    per_hour: Option<f64>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// What the limit says about one request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// It may go on; this many requests are left.
    Remaining(u32),
    /// Over the limit: a token is back in this many seconds.
    Limited { retry_after: u64 },
}

impl RateLimit {
    /// `per_hour` requests an hour per account; 0 turns the limit off.
    pub fn new(per_hour: u32) -> RateLimit {
        RateLimit {
            per_hour: (per_hour > 0).then_some(f64::from(per_hour)),
            buckets: Mutex::default(),
        }
    }

    /// Takes a token from `account`'s bucket if it has one; `None` when the limit is off.
    pub fn take(&self, account: &str) -> Option<Verdict> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        Some(take_at(
            &mut buckets,
            account,
            self.per_hour?,
            Instant::now(),
        ))
    }

    /// How many requests `account` has left, without counting; `None` when the limit is off.
    pub fn remaining(&self, account: &str) -> Option<u32> {
        let per_hour = self.per_hour?;
        let buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let level = buckets
            .get(account)
            .map_or(per_hour, |b| b.level(per_hour, Instant::now()));
        Some(level as u32)
    }

    /// Counts the request of `parts` against `account` (the one in `Caller`, once its
    /// token is checked) and notes the verdict for [`headers`]; over the limit, the
    /// request's rejection.
    pub(super) fn count(&self, parts: &mut Parts, account: &str) -> Result<(), ApiError> {
        let uncounted = (parts.method == Method::GET || parts.method == Method::HEAD)
            && parts.uri.path() == RATE_LIMITS_PATH;
        let verdict = if uncounted {
            self.remaining(account).map(Verdict::Remaining)
        } else {
            self.take(account)
        };
        let Some(verdict) = verdict else {
            return Ok(());
        };
        if let Some(slot) = parts.extensions.get::<Slot>() {
            let _ = slot.0.set(verdict);
        }
        match verdict {
            Verdict::Remaining(_) => Ok(()),
            Verdict::Limited { .. } => {
                tracing::debug!(account, "kumo.api.rate_limit: over the limit");
                Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit",
                    MESSAGE,
                ))
            }
        }
    }
}

/// `GET /account/rate-limits`: `{"remaining": N}`, not counted. With the limit
/// off there is no count to give: 404.
pub async fn info(
    State(platform): State<Arc<Platform>>,
    Caller(account, _): Caller,
) -> Result<Json<Value>, ApiError> {
    match platform.rate_limit.remaining(&account.id) {
        Some(remaining) => Ok(Json(json!({ "remaining": remaining }))),
        None => Err(ApiError::not_found(
            "this server has no API rate limit (it runs with `--api-rate-limit 0`)",
        )),
    }
}

/// Where `Caller` leaves the verdict for [`headers`], one per request.
#[derive(Clone, Default)]
struct Slot(Arc<OnceLock<Verdict>>);

/// Gives every counted (or looked-at) request's response `RateLimit-Remaining`,
/// and a refused one `Retry-After` in seconds. A request with no valid token
/// never reaches the limit, so its response has neither.
pub(super) async fn headers(mut request: Request<axum::body::Body>, next: Next) -> Response {
    let slot = Slot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let (remaining, retry_after) = match slot.0.get() {
        None => return response,
        Some(Verdict::Remaining(n)) => (*n, None),
        Some(Verdict::Limited { retry_after }) => (0, Some(*retry_after)),
    };
    let headers = response.headers_mut();
    headers.insert("ratelimit-remaining", HeaderValue::from(remaining));
    if let Some(seconds) = retry_after {
        headers.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// An account's tokens as of `at`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// The tokens at `now`: those held, plus the refill since, up to a full bucket.
    fn level(&self, per_hour: f64, now: Instant) -> f64 {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * per_hour / 3600.0;
        (self.tokens + refill).min(per_hour)
    }
}

/// Takes a token from `account`'s bucket at `now`; a new account's bucket starts full.
fn take_at(
    buckets: &mut HashMap<String, Bucket>,
    account: &str,
    per_hour: f64,
    now: Instant,
) -> Verdict {
    let bucket = buckets.entry(account.to_string()).or_insert(Bucket {
        tokens: per_hour,
        at: now,
    });
    let level = bucket.level(per_hour, now);
    *bucket = Bucket {
        tokens: level,
        at: now,
    };
    if level >= 1.0 {
        bucket.tokens -= 1.0;
        Verdict::Remaining(bucket.tokens as u32)
    } else {
        // A whole token takes 3600 / per_hour seconds to come back.
        let wait = (1.0 - level) * 3600.0 / per_hour;
        Verdict::Limited {
            retry_after: (wait.ceil() as u64).max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Runs `steps` of (seconds since the start, account) against a bucket of
    /// `per_hour` and checks each verdict.
    fn check(per_hour: f64, steps: &[(f64, &str, Verdict)]) {
        let start = Instant::now();
        let mut buckets = HashMap::new();
        for (i, &(at, account, expected)) in steps.iter().enumerate() {
            let now = start + Duration::from_secs_f64(at);
            let verdict = take_at(&mut buckets, account, per_hour, now);
            assert_eq!(verdict, expected, "step {i}: {account} at {at} s");
        }
    }

    use Verdict::{Limited, Remaining};

    #[test]
    fn a_bucket_of_five_an_hour() {
        check(
            5.0,
            &[
                (0.0, "a", Remaining(4)),
                (0.0, "a", Remaining(3)),
                (0.0, "a", Remaining(2)),
                (0.0, "a", Remaining(1)),
                (0.0, "a", Remaining(0)),
                // One token comes back every 720 s.
                (0.0, "a", Limited { retry_after: 720 }),
                (700.5, "a", Limited { retry_after: 20 }),
                // Another account has its own bucket.
                (700.5, "b", Remaining(4)),
                (721.0, "a", Remaining(0)),
                (721.5, "a", Limited { retry_after: 719 }),
                // Refused requests take nothing, and the refill stops at a full bucket.
                (100_000.0, "a", Remaining(4)),
            ],
        );
    }

    #[test]
    fn herokus_bucket_refills_at_75_a_minute() {
        let mut steps = vec![(0.0, "a", Remaining(4499))];
        steps.extend((1..4500).map(|n| (0.0, "a", Remaining(4499 - n))));
        steps.push((0.0, "a", Limited { retry_after: 1 }));
        steps.push((60.0, "a", Remaining(74)));
        check(4500.0, &steps);
    }

    #[test]
    fn off() {
        let limit = RateLimit::new(0);
        assert_eq!(limit.take("a"), None);
        assert_eq!(limit.remaining("a"), None);
        let limit = RateLimit::new(2);
        assert_eq!(limit.remaining("a"), Some(2));
        assert_eq!(limit.take("a"), Some(Remaining(1)));
        assert_eq!(limit.remaining("a"), Some(1));
    }
}
