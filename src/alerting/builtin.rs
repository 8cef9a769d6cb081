//! The built-in issue alerts as SQL over the documented tables, and the decision each row
//! leads to (pure: text in, decisions out). Built-ins go through the same path as analyst SQL
//! rules (window binding, project scoping, `Engine::sql`), so both engines evaluate them alike.
//!
//! Every built-in query groups by issue: its first column is the issue id (the group key).

use super::rules::{Condition, RuleSpec};

/// The events received in `[from, {window_end})` (`received`, the arrival time, not the SDK's
/// clock: a late or skewed event still alerts), with `columns`, joined to their issue through
/// the current fingerprint mapping. The window is filtered inside the subquery, before the join:
/// ClickHouse 18.16 does not push an outer `WHERE` into a subquery, and joining every stored
/// event before filtering made each rule ~3× slower at 10 million events.
fn events_by_issue(columns: &str, from: &str, extra: &str) -> String {
    format!(
        "FROM (SELECT project_id, fingerprint{columns} FROM events \
               WHERE received >= {from} AND received < {{window_end}}{extra}) AS e \
         JOIN issue_fingerprints AS m ON e.project_id = m.project_id AND e.fingerprint = m.fingerprint"
    )
}

/// The SQL a built-in rule runs, with the window placeholders still in; `None` for SQL rules.
pub fn builtin_query(condition: &Condition) -> Option<String> {
    Some(match condition {
        Condition::Sql { .. } => return None,
        Condition::NewIssue => "SELECT issue_id, count(*) AS opened FROM issues \
             WHERE created_at >= {window_start} AND created_at < {window_end} GROUP BY issue_id"
            .to_owned(),
        Condition::Regression => "SELECT issue_id, count(*) AS regressions FROM issue_history \
             WHERE to_status = 'regressed' AND changed_at >= {window_start} \
             AND changed_at < {window_end} GROUP BY issue_id"
            .to_owned(),
        Condition::Frequency { .. } => format!(
            "SELECT m.issue_id AS issue, count(*) AS event_count {} GROUP BY m.issue_id",
            events_by_issue("", "{window_start}", "")
        ),
        Condition::UserImpact { .. } => format!(
            "SELECT m.issue_id AS issue, count(DISTINCT e.user_key) AS user_count {} \
             GROUP BY m.issue_id",
            events_by_issue(", user_key", "{window_start}", " AND user_key <> ''")
        ),
        Condition::Spike { .. } => format!(
            "SELECT m.issue_id AS issue, \
                    sum(CASE WHEN e.received >= {{window_start}} THEN 1 ELSE 0 END) AS current_events, \
                    sum(CASE WHEN e.received < {{window_start}} THEN 1 ELSE 0 END) AS baseline_events \
             {} GROUP BY m.issue_id",
            events_by_issue(", received", "{baseline_start}", "")
        ),
    })
}

/// Whether one result row breaches the rule, and the value reported for it. `numbers` are the
/// row's numeric columns after the group key (for a one-number SQL rule: that number).
pub fn decide(rule: &RuleSpec, numbers: &[f64]) -> Option<(f64, bool)> {
    let value = *numbers.last()?;
    Some(match &rule.condition {
        Condition::Sql {
            comparison,
            threshold,
            ..
        } => (value, comparison.holds(value, *threshold)),
        Condition::NewIssue | Condition::Regression => (value, value > 0.0),
        Condition::Frequency { threshold } | Condition::UserImpact { threshold } => {
            (value, value > *threshold as f64)
        }
        Condition::Spike {
            factor,
            baseline_secs,
            floor,
        } => {
            let (current, baseline) = match numbers {
                [.., current, baseline] => (*current, *baseline),
                _ => return None,
            };
            // The baseline's rate scaled to the window: what "usual" looks like for this issue.
            let expected = baseline * rule.window_secs as f64 / (*baseline_secs).max(1) as f64;
            (
                current,
                current >= *floor as f64 && current > factor * expected,
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::rules::{Comparison, RuleSpec};

    fn rule(condition: Condition) -> RuleSpec {
        RuleSpec {
            project_id: 1,
            name: "r".into(),
            condition,
            interval_secs: 60,
            window_secs: 600,
            cooldown_secs: 0,
            max_notifications_per_hour: 0,
            notify_on_resolve: true,
            webhook: None,
            enabled: true,
        }
    }

    #[test]
    fn thresholds_are_strictly_more_than() {
        let frequency = rule(Condition::Frequency { threshold: 3 });
        assert_eq!(decide(&frequency, &[3.0]), Some((3.0, false)));
        assert_eq!(decide(&frequency, &[4.0]), Some((4.0, true)));
        let sql = rule(Condition::Sql {
            query: "SELECT 1".into(),
            comparison: Comparison::Lte,
            threshold: 1.0,
        });
        assert_eq!(decide(&sql, &[1.0]), Some((1.0, true)));
        assert_eq!(decide(&sql, &[]), None);
        assert_eq!(
            decide(&rule(Condition::NewIssue), &[1.0]),
            Some((1.0, true))
        );
    }

    #[test]
    fn spikes_need_the_floor_and_k_times_the_baseline() {
        // Window 600 s, baseline 6000 s: 100 baseline events = 10 expected per window.
        let spike = rule(Condition::Spike {
            factor: 3.0,
            baseline_secs: 6000,
            floor: 5,
        });
        assert_eq!(decide(&spike, &[30.0, 100.0]), Some((30.0, false)));
        assert_eq!(decide(&spike, &[31.0, 100.0]), Some((31.0, true)));
        // A new issue: no baseline, the floor decides.
        assert_eq!(decide(&spike, &[4.0, 0.0]), Some((4.0, false)));
        assert_eq!(decide(&spike, &[5.0, 0.0]), Some((5.0, true)));
    }

    #[test]
    fn every_builtin_has_a_windowed_query_grouped_by_issue() {
        for condition in [
            Condition::NewIssue,
            Condition::Regression,
            Condition::Frequency { threshold: 1 },
            Condition::UserImpact { threshold: 1 },
            Condition::Spike {
                factor: 2.0,
                baseline_secs: 3600,
                floor: 1,
            },
        ] {
            let query = builtin_query(&condition).unwrap_or_default();
            assert!(query.contains("{window_start}"), "{query}");
            assert!(query.contains("{window_end}"), "{query}");
            assert!(query.contains("GROUP BY"), "{query}");
        }
    }
}
