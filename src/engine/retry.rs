//! Retry delays: the task's retryConfig (maxRetries, retryDelaySeconds,
//! exponentialBackoff) with jitter, and the server's `Retry-After` when it gives one.

use std::time::Duration;

use crate::compile::ir::RetryConfig;
use crate::connectors::ConnectorError;

/// The longest single wait, whatever the config says (an hour).
const MAX_DELAY: Duration = Duration::from_secs(3600);

/// How long to wait before retry number `attempt` (1-based) after `error`, or `None`
/// when the error is not worth retrying or the retries are used up.
pub fn delay(
    config: &RetryConfig,
    attempt: u32,
    error: &ConnectorError,
    jitter: f64,
) -> Option<Duration> {
    if !error.is_retryable() || attempt > config.max_retries {
        return None;
    }
    let base = Duration::from_secs(config.retry_delay_seconds);
    let backoff = if config.exponential_backoff {
        base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(20)))
    } else {
        base
    };
    // ±20% jitter, so that tasks failing together do not retry in lockstep.
    let jittered = backoff.mul_f64((0.8 + 0.4 * jitter.clamp(0.0, 1.0)).max(0.0));
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
