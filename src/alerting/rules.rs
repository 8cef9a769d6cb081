//! The alert rule model and its validation (pure: no I/O). A rule says what to watch
//! ([`Condition`]: an analyst SQL threshold or one of the built-in issue alerts), how often
//! ([`RuleSpec::interval_secs`]) over which window, how to keep the noise down (cooldown, hourly
//! cap) and where to send notifications ([`Webhook`]).
//!
//! SQL rules bind the evaluation window into the query through two placeholders,
//! `{window_start}` and `{window_end}`, which become time literals of the active engine's
//! dialect ([`bind_window`]): the same rule text runs on ClickHouse and on the embedded engine.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The placeholder for the start of the evaluation window (inclusive).
pub const WINDOW_START: &str = "{window_start}";
/// The placeholder for the end of the evaluation window (exclusive): the evaluation time.
pub const WINDOW_END: &str = "{window_end}";
/// The placeholder for the start of a spike rule's baseline period (built-in rules only).
pub const BASELINE_START: &str = "{baseline_start}";

/// Longest interval or window a rule may have: one week.
pub const MAX_PERIOD_SECS: u64 = 7 * 24 * 3600;

/// How a value is compared with a SQL rule's threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    #[default]
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Ne,
}

impl Comparison {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Gt => value > threshold,
            Comparison::Gte => value >= threshold,
            Comparison::Lt => value < threshold,
            Comparison::Lte => value <= threshold,
            Comparison::Eq => value == threshold,
            Comparison::Ne => value != threshold,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Gt => ">",
            Comparison::Gte => ">=",
            Comparison::Lt => "<",
            Comparison::Lte => "<=",
            Comparison::Eq => "=",
            Comparison::Ne => "!=",
        }
    }
}

/// What a rule watches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Condition {
    /// Read-only SQL over the documented tables returning one number, or one row per group key
    /// (first column the key, last column the number); fires where `value comparison threshold`.
    Sql {
        query: String,
        comparison: Comparison,
        threshold: f64,
    },
    /// An issue opened within the window (one group per issue).
    NewIssue,
    /// An issue regressed within the window (one group per issue).
    Regression,
    /// More than `threshold` events of one issue within the window.
    Frequency { threshold: u64 },
    /// More than `threshold` distinct users of one issue within the window.
    UserImpact { threshold: u64 },
    /// An issue's events in the window exceed `factor` times its own rate over the
    /// `baseline_secs` before the window (scaled to the window), and at least `floor` events
    /// (the floor alone decides for issues without a baseline).
    Spike {
        factor: f64,
        baseline_secs: u64,
        floor: u64,
    },
}

impl Condition {
    /// The stored `kind` name.
    pub fn kind(&self) -> &'static str {
        match self {
            Condition::Sql { .. } => "sql",
            Condition::NewIssue => "new_issue",
            Condition::Regression => "regression",
            Condition::Frequency { .. } => "frequency",
            Condition::UserImpact { .. } => "user_impact",
            Condition::Spike { .. } => "spike",
        }
    }

    /// Kinds that report occurrences (a new issue, a regression) rather than a level: their
    /// resolution is not news, so by default it is not notified.
    pub fn is_occurrence(&self) -> bool {
        matches!(self, Condition::NewIssue | Condition::Regression)
    }
}

/// How notifications are shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// Stackhouse's JSON document (see `notify::payload`).
    #[default]
    Json,
    /// A Slack incoming-webhook message (`{"text": ..., "blocks": [...]}`).
    Slack,
}

/// Where notifications go. The signing secret is stored apart from the rule (see
/// [`crate::engine::AlertRuleRecord::webhook_secret`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub url: String,
    #[serde(default)]
    pub format: WebhookFormat,
}

/// A rule as defined by its author.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSpec {
    pub project_id: u64,
    pub name: String,
    pub condition: Condition,
    /// Seconds between evaluations (>= 1).
    pub interval_secs: u64,
    /// Seconds of data each evaluation looks at, ending at the evaluation time. For new-issue
    /// and regression rules the default is twice the interval, so an occurrence written just
    /// as an evaluation ran is still seen by the next one (de-duplication keeps it one alert).
    pub window_secs: u64,
    /// After notifying a group, further firings of that group within this many seconds are
    /// recorded but not sent.
    pub cooldown_secs: u64,
    /// Notifications (firing and resolved) one rule sends per hour at most; 0 = no limit.
    pub max_notifications_per_hour: u32,
    /// Whether a group going back to normal is notified.
    pub notify_on_resolve: bool,
    pub webhook: Option<Webhook>,
    pub enabled: bool,
}

/// Why a rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid alert rule: {0}")]
pub struct InvalidRule(pub String);

fn invalid<T>(message: impl Into<String>) -> Result<T, InvalidRule> {
    Err(InvalidRule(message.into()))
}

impl RuleSpec {
    /// Checks everything that needs no engine: names, periods, thresholds, the webhook URL and
    /// the SQL placeholders. (That the SQL parses, only reads and returns a number is checked
    /// by running it: [`crate::alerting::evaluate::validate`].)
    pub fn validate(&self) -> Result<(), InvalidRule> {
        if self.name.trim().is_empty() {
            return invalid("the name is empty");
        }
        if self.name.len() > 200 {
            return invalid("the name is longer than 200 bytes");
        }
        if self.interval_secs == 0 {
            return invalid("the interval must be at least 1 second (got 0)");
        }
        if self.interval_secs > MAX_PERIOD_SECS {
            return invalid(format!(
                "the interval must be at most {MAX_PERIOD_SECS} seconds"
            ));
        }
        if self.window_secs == 0 {
            return invalid("the window must be at least 1 second (got 0)");
        }
        if self.window_secs > MAX_PERIOD_SECS {
            return invalid(format!(
                "the window must be at most {MAX_PERIOD_SECS} seconds"
            ));
        }
        if let Some(webhook) = &self.webhook {
            let url = webhook.url.trim();
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
                return invalid(format!(
                    "the webhook URL {:?} is not an http(s) URL",
                    webhook.url
                ));
            }
        }
        match &self.condition {
            Condition::Sql {
                query, threshold, ..
            } => {
                if query.trim().is_empty() {
                    return invalid("the SQL query is empty");
                }
                if !threshold.is_finite() {
                    return invalid("the threshold must be a finite number");
                }
                if query.contains(BASELINE_START) {
                    return invalid(format!(
                        "{BASELINE_START} is only for built-in spike rules; SQL rules use \
                         {WINDOW_START} and {WINDOW_END}"
                    ));
                }
            }
            // "More than N": every N, 0 included, is a meaningful threshold.
            Condition::NewIssue
            | Condition::Regression
            | Condition::Frequency { .. }
            | Condition::UserImpact { .. } => {}
            Condition::Spike {
                factor,
                baseline_secs,
                ..
            } => {
                if !factor.is_finite() || *factor <= 0.0 {
                    return invalid("the spike factor must be a positive number");
                }
                if *baseline_secs == 0 || *baseline_secs > 30 * 24 * 3600 {
                    return invalid("the spike baseline must be between 1 second and 30 days");
                }
            }
        }
        Ok(())
    }
}

/// Inserts the evaluation window into rule SQL as time literals of `dialect`:
/// ClickHouse `toDateTime(<epoch seconds>)`, DataFusion `to_timestamp_seconds(<epoch>)`
/// (both compare with the `DateTime`/`Timestamp` columns of the documented tables).
pub fn bind_window(
    query: &str,
    dialect: crate::engine::SqlDialect,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    baseline_start: Option<DateTime<Utc>>,
) -> String {
    let literal = |time: DateTime<Utc>| {
        let seconds = time.timestamp().max(0);
        match dialect {
            crate::engine::SqlDialect::ClickHouse => format!("toDateTime({seconds})"),
            crate::engine::SqlDialect::DataFusion => format!("to_timestamp_seconds({seconds})"),
        }
    };
    let mut bound = query
        .replace(WINDOW_START, &literal(window_start))
        .replace(WINDOW_END, &literal(window_end));
    if let Some(baseline_start) = baseline_start {
        bound = bound.replace(BASELINE_START, &literal(baseline_start));
    }
    bound
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn sql_rule(query: &str) -> RuleSpec {
        RuleSpec {
            project_id: 1,
            name: "errors".into(),
            condition: Condition::Sql {
                query: query.into(),
                comparison: Comparison::Gt,
                threshold: 10.0,
            },
            interval_secs: 60,
            window_secs: 300,
            cooldown_secs: 600,
            max_notifications_per_hour: 10,
            notify_on_resolve: true,
            webhook: Some(Webhook {
                url: "http://127.0.0.1:9/hook".into(),
                format: WebhookFormat::Json,
            }),
            enabled: true,
        }
    }

    #[test]
    fn periods_names_urls_and_thresholds_are_checked() {
        let good = sql_rule("SELECT count(*) FROM events");
        assert_eq!(good.validate(), Ok(()));
        let zero = RuleSpec {
            interval_secs: 0,
            ..good.clone()
        };
        assert!(zero
            .validate()
            .expect_err("zero interval")
            .0
            .contains("interval"));
        let unnamed = RuleSpec {
            name: " ".into(),
            ..good.clone()
        };
        assert!(unnamed.validate().is_err());
        let bad_url = RuleSpec {
            webhook: Some(Webhook {
                url: "ftp://x".into(),
                format: WebhookFormat::Slack,
            }),
            ..good.clone()
        };
        assert!(bad_url
            .validate()
            .expect_err("bad url")
            .0
            .contains("webhook"));
        let spike = RuleSpec {
            condition: Condition::Spike {
                factor: 0.0,
                baseline_secs: 3600,
                floor: 5,
            },
            ..good
        };
        assert!(spike
            .validate()
            .expect_err("no factor")
            .0
            .contains("factor"));
    }

    #[test]
    fn the_window_is_bound_in_each_dialect() {
        let start = DateTime::from_timestamp(1_000, 0).unwrap_or_default();
        let end = DateTime::from_timestamp(2_000, 0).unwrap_or_default();
        let query = "SELECT count(*) FROM events WHERE received >= {window_start} AND received < {window_end}";
        assert_eq!(
            bind_window(query, crate::engine::SqlDialect::ClickHouse, start, end, None),
            "SELECT count(*) FROM events WHERE received >= toDateTime(1000) AND received < toDateTime(2000)"
        );
        assert!(bind_window(
            query,
            crate::engine::SqlDialect::DataFusion,
            start,
            end,
            None
        )
        .contains("to_timestamp_seconds(2000)"));
    }

    #[test]
    fn comparisons() {
        assert!(Comparison::Gt.holds(2.0, 1.0));
        assert!(!Comparison::Gt.holds(1.0, 1.0));
        assert!(Comparison::Gte.holds(1.0, 1.0));
        assert!(Comparison::Lt.holds(0.0, 1.0));
        assert!(Comparison::Ne.holds(0.0, 1.0));
    }
}
