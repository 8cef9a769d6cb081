//! `stackhouse alert create|list|delete|test`: the same operations as the GraphQL mutations
//! ([`stackhouse::alerting`]), run directly on the engine (like `token`: on the embedded
//! engine, while the server is stopped; on ClickHouse, at any time — the running scheduler
//! picks changes up on its next tick).

use anyhow::bail;
use clap::{Subcommand, ValueEnum};
use stackhouse::alerting::rules::{Comparison, Condition, RuleSpec, Webhook, WebhookFormat};
use stackhouse::alerting::{self, evaluate::spec_of};
use stackhouse::engine::Engine;

#[derive(Clone, Copy, ValueEnum)]
pub enum KindArg {
    Sql,
    NewIssue,
    Regression,
    Frequency,
    UserImpact,
    Spike,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ComparisonArg {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Ne,
}

#[derive(Subcommand)]
pub enum AlertCommand {
    /// Create a rule (checked first: its SQL runs once over an empty window). Prints its id.
    Create {
        #[arg(long)]
        project: u64,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        kind: KindArg,
        /// SQL rules: the query; bind the window with {window_start} and {window_end}.
        #[arg(long)]
        sql: Option<String>,
        #[arg(long, value_enum, default_value = "gt")]
        comparison: ComparisonArg,
        /// SQL, frequency and user-impact rules.
        #[arg(long)]
        threshold: Option<f64>,
        /// Spike rules: times the baseline rate.
        #[arg(long)]
        factor: Option<f64>,
        /// Spike rules: seconds of baseline before the window.
        #[arg(long, default_value_t = 86_400)]
        baseline_secs: u64,
        /// Spike rules: events needed at least.
        #[arg(long, default_value_t = 10)]
        floor: u64,
        #[arg(long, default_value_t = 60)]
        interval_secs: u64,
        /// Default: the interval (twice the interval for new-issue and regression rules).
        #[arg(long)]
        window_secs: Option<u64>,
        #[arg(long, default_value_t = 300)]
        cooldown_secs: u64,
        /// 0 = no limit.
        #[arg(long, default_value_t = 20)]
        max_per_hour: u32,
        #[arg(long)]
        webhook: Option<String>,
        /// HMAC-SHA256 signing secret for the webhook.
        #[arg(long)]
        secret: Option<String>,
        /// Send Slack-compatible messages.
        #[arg(long)]
        slack: bool,
        /// Do not notify resolutions.
        #[arg(long)]
        no_resolve: bool,
    },
    /// List rules: id, project, kind, interval, name.
    List {
        #[arg(long)]
        project: Option<u64>,
    },
    /// Delete a rule.
    Delete { id: u64 },
    /// Evaluate a rule now and print what it would record and send (nothing is stored/sent).
    Test { id: u64 },
}

pub async fn run(engine: &dyn Engine, command: &AlertCommand) -> anyhow::Result<()> {
    match command {
        AlertCommand::Create {
            project,
            name,
            kind,
            sql,
            comparison,
            threshold,
            factor,
            baseline_secs,
            floor,
            interval_secs,
            window_secs,
            cooldown_secs,
            max_per_hour,
            webhook,
            secret,
            slack,
            no_resolve,
        } => {
            let need_threshold = || match threshold {
                Some(value) => Ok(*value),
                None => bail!("this kind of rule needs --threshold"),
            };
            let condition = match kind {
                KindArg::Sql => Condition::Sql {
                    query: match sql {
                        Some(sql) => sql.clone(),
                        None => bail!("a SQL rule needs --sql"),
                    },
                    comparison: match comparison {
                        ComparisonArg::Gt => Comparison::Gt,
                        ComparisonArg::Gte => Comparison::Gte,
                        ComparisonArg::Lt => Comparison::Lt,
                        ComparisonArg::Lte => Comparison::Lte,
                        ComparisonArg::Eq => Comparison::Eq,
                        ComparisonArg::Ne => Comparison::Ne,
                    },
                    threshold: need_threshold()?,
                },
                KindArg::NewIssue => Condition::NewIssue,
                KindArg::Regression => Condition::Regression,
                KindArg::Frequency => Condition::Frequency {
                    threshold: need_threshold()?.max(0.0) as u64,
                },
                KindArg::UserImpact => Condition::UserImpact {
                    threshold: need_threshold()?.max(0.0) as u64,
                },
                KindArg::Spike => Condition::Spike {
                    factor: match factor {
                        Some(factor) => *factor,
                        None => bail!("a spike rule needs --factor"),
                    },
                    baseline_secs: *baseline_secs,
                    floor: *floor,
                },
            };
            let occurrence = condition.is_occurrence();
            let spec = RuleSpec {
                project_id: *project,
                name: name.clone(),
                window_secs: window_secs.unwrap_or(if occurrence {
                    interval_secs.saturating_mul(2)
                } else {
                    *interval_secs
                }),
                condition,
                interval_secs: *interval_secs,
                cooldown_secs: *cooldown_secs,
                max_notifications_per_hour: *max_per_hour,
                notify_on_resolve: !no_resolve && !occurrence,
                webhook: webhook.as_ref().map(|url| Webhook {
                    url: url.clone(),
                    format: if *slack {
                        WebhookFormat::Slack
                    } else {
                        WebhookFormat::Json
                    },
                }),
                enabled: true,
            };
            let record = alerting::create_rule(engine, &spec, secret.clone()).await?;
            eprintln!("created alert rule {:?}", record.name);
            println!("{}", record.rule_id);
        }
        AlertCommand::List { project } => {
            println!("id\tproject\tkind\tinterval_secs\tenabled\tname");
            for rule in engine.alert_rules().await? {
                if project.is_some_and(|p| p != rule.project_id) {
                    continue;
                }
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    rule.rule_id,
                    rule.project_id,
                    rule.kind,
                    rule.interval_secs,
                    rule.enabled,
                    rule.name
                );
            }
        }
        AlertCommand::Delete { id } => {
            if !alerting::delete_rule(engine, *id).await? {
                bail!("there is no alert rule {id}");
            }
            eprintln!("deleted alert rule {id}");
        }
        AlertCommand::Test { id } => {
            let Some(record) = alerting::find_rule(engine, *id).await? else {
                bail!("there is no alert rule {id}");
            };
            let spec = spec_of(&record)?;
            let write = alerting::test_rule(engine, &record).await?;
            eprintln!(
                "rule {} ({}): {}",
                record.rule_id,
                spec.name,
                alerting::notify::describe(&spec)
            );
            for event in &write.events {
                println!(
                    "{}\t{}\t{}\t{}",
                    event.outcome, event.group_key, event.value, event.notification
                );
            }
            for delivery in &write.deliveries {
                println!("would POST to {}: {}", delivery.url, delivery.payload);
            }
        }
    }
    Ok(())
}
