//! Retry delays: the task's retryConfig (maxRetries, retryDelaySeconds,
//! exponentialBackoff) with jitter, and the server's `Retry-After` when it gives one.
//!
//! Every input is from outside (a pipeline's numbers, a server's header, a random
//! jitter), so the arithmetic is total: no input panics, and every wait is at most
//! [`MAX_DELAY`].

use std::time::Duration;

use crate::compile::ir::RetryConfig;
use crate::connectors::ConnectorError;

/// The longest single wait, whatever the config or the server says (an hour).
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

/// Backoff doubles at most this many times (2^20 × any delay of a second or more is
/// already past [`MAX_DELAY`]).
const MAX_DOUBLINGS: u32 = 20;

/// Jitter spreads a wait over ±this share of it, so that tasks failing together do not
/// retry in lockstep.
const JITTER: f64 = 0.2;

/// How long to wait before retry number `attempt` (1-based) after `error`, or `None`
/// when the error is not worth retrying or the retries are used up.
///
/// `jitter` is a draw in `[0, 1]` (anything else, NaN included, counts as the middle):
/// the wait is the backoff times `1 - JITTER + 2 * JITTER * jitter`. A `Retry-After`
/// longer than that wins. The result never exceeds [`MAX_DELAY`].
pub fn delay(
    config: &RetryConfig,
    attempt: u32,
    error: &ConnectorError,
    jitter: f64,
) -> Option<Duration> {
    if !error.is_retryable() || attempt > config.max_retries {
        return None;
    }
    // Capped before any arithmetic: nothing below can overflow, and nothing longer than
    // MAX_DELAY would be used anyway.
    let base = Duration::from_secs(config.retry_delay_seconds).min(MAX_DELAY);
    let doublings = attempt.saturating_sub(1).min(MAX_DOUBLINGS);
    let backoff = if config.exponential_backoff {
        base.saturating_mul(1u32 << doublings).min(MAX_DELAY)
    } else {
        base
    };
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let factor = 1.0 - JITTER + 2.0 * JITTER * jitter;
    // backoff <= 1 h and factor <= 1.2: the product is finite and small. Should it not
    // be representable all the same, the cap is the answer.
    let jittered = Duration::try_from_secs_f64(backoff.as_secs_f64() * factor).unwrap_or(MAX_DELAY);
    let wait = match error {
        ConnectorError::RateLimited {
            retry_after: Some(after),
            ..
        } => jittered.max(*after),
        _ => jittered,
    };
    Some(wait.min(MAX_DELAY))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(config: (u32, u64, bool), attempt: u32, error: ConnectorError, expect: Option<u64>) {
        let config = RetryConfig {
            max_retries: config.0,
            retry_delay_seconds: config.1,
            exponential_backoff: config.2,
        };
        assert_eq!(
            delay(&config, attempt, &error, 0.5).map(|d| d.as_secs()),
            expect,
            "attempt {attempt}"
        );
    }

    fn transient() -> ConnectorError {
        ConnectorError::Transient {
            message: "503".into(),
        }
    }

    #[test]
    fn delays() {
        check((3, 300, true), 1, transient(), Some(300));
        check((3, 300, true), 2, transient(), Some(600));
        check((3, 300, true), 3, transient(), Some(1200));
        check((3, 300, true), 4, transient(), None);
        check((3, 300, false), 3, transient(), Some(300));
        check((0, 300, false), 1, transient(), None);
        check(
            (3, 10, false),
            1,
            ConnectorError::RateLimited {
                message: "429".into(),
                retry_after: Some(Duration::from_secs(42)),
            },
            Some(42),
        );
        check(
            (3, 10, false),
            1,
            ConnectorError::Permanent {
                message: "400".into(),
            },
            None,
        );
        check(
            (3, 10, false),
            1,
            ConnectorError::Auth {
                message: "401".into(),
            },
            None,
        );
        check(
            (3, 10, false),
            1,
            ConnectorError::LimitReached {
                message: "limit".into(),
                resets_at: chrono::DateTime::UNIX_EPOCH,
            },
            None,
        );
        check((30, 3000, true), 30, transient(), Some(3600));
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        let config = RetryConfig {
            max_retries: 1,
            retry_delay_seconds: 100,
            exponential_backoff: false,
        };
        let low = delay(&config, 1, &transient(), 0.0).map(|d| d.as_secs_f64());
        let high = delay(&config, 1, &transient(), 1.0).map(|d| d.as_secs_f64());
        assert_eq!(low, Some(80.0));
        assert_eq!(high, Some(120.0));
    }
}

/// Property tests over the whole input space of [`delay`]: any config, attempt, error
/// (with any `Retry-After`) and jitter, NaN and infinities included.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn error() -> impl Strategy<Value = ConnectorError> {
        let after = proptest::option::of(
            (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        );
        prop_oneof![
            Just(ConnectorError::Transient {
                message: "503".into()
            }),
            after.prop_map(|retry_after| ConnectorError::RateLimited {
                message: "429".into(),
                retry_after,
            }),
            Just(ConnectorError::Permanent {
                message: "400".into()
            }),
            Just(ConnectorError::Auth {
                message: "401".into()
            }),
            Just(ConnectorError::LimitReached {
                message: "quota".into(),
                resets_at: chrono::DateTime::UNIX_EPOCH,
            }),
        ]
    }

    fn config() -> impl Strategy<Value = RetryConfig> {
        (any::<u32>(), any::<u64>(), any::<bool>()).prop_map(|(m, d, e)| RetryConfig {
            max_retries: m,
            retry_delay_seconds: d,
            exponential_backoff: e,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn total_bounded_and_honours_the_config(
            config in config(),
            attempt in any::<u32>(),
            error in error(),
            jitter in proptest::num::f64::ANY,
        ) {
            let got = delay(&config, attempt, &error, jitter);
            let retry = error.is_retryable() && attempt <= config.max_retries;
            prop_assert_eq!(got.is_some(), retry);
            let Some(wait) = got else { return Ok(()) };
            prop_assert!(wait <= MAX_DELAY);
            // A server's Retry-After is waited for (up to the cap).
            if let ConnectorError::RateLimited { retry_after: Some(after), .. } = &error {
                prop_assert!(wait >= (*after).min(MAX_DELAY));
            }
            // Never shorter than the jitter allows of the (capped) backoff.
            let base = Duration::from_secs(config.retry_delay_seconds).min(MAX_DELAY);
            prop_assert!(wait.as_secs_f64() >= base.as_secs_f64() * (1.0 - JITTER) - 1e-6);
        }

        #[test]
        fn backoff_never_shrinks_as_attempts_grow(
            delay_seconds in any::<u64>(),
            attempt in 1u32..u32::MAX,
            jitter in 0.0f64..=1.0,
        ) {
            let config = RetryConfig {
                max_retries: u32::MAX,
                retry_delay_seconds: delay_seconds,
                exponential_backoff: true,
            };
            let error = ConnectorError::Transient { message: "503".into() };
            let now = delay(&config, attempt, &error, jitter);
            let next = delay(&config, attempt + 1, &error, jitter);
            prop_assert!(now.is_some() && next >= now, "{now:?} then {next:?}");
        }
    }

    /// The edges, spelt out (each panicked before the arithmetic was made total).
    #[test]
    fn edges() {
        let huge = RetryConfig {
            max_retries: u32::MAX,
            retry_delay_seconds: u64::MAX,
            exponential_backoff: true,
        };
        let transient = ConnectorError::Transient {
            message: "503".into(),
        };
        for (attempt, jitter) in [
            (1, 1.0),
            (u32::MAX, 1.0),
            (30, f64::NAN),
            (2, f64::INFINITY),
            (2, f64::NEG_INFINITY),
        ] {
            assert_eq!(
                delay(&huge, attempt, &transient, jitter),
                Some(MAX_DELAY),
                "attempt {attempt}, jitter {jitter}"
            );
        }
        let small = RetryConfig {
            max_retries: 3,
            retry_delay_seconds: 10,
            exponential_backoff: false,
        };
        assert_eq!(
            delay(&small, 1, &transient, f64::NAN),
            Some(Duration::from_secs(10)),
            "a jitter that is not a number counts as the middle"
        );
        let far = ConnectorError::RateLimited {
            message: "429".into(),
            retry_after: Some(Duration::MAX),
        };
        assert_eq!(delay(&small, 1, &far, 0.5), Some(MAX_DELAY));
    }
}
