//! Alerting in GraphQL (issue 7): rules (create, update, delete, test), their group states,
//! the `alert_events` log and the webhook deliveries. Every field checks the rule's project
//! against the caller's [`crate::access::Access`]; an invalid rule is `BAD_REQUEST` with the
//! reason.

use async_graphql::{Context, Enum, InputObject, Json, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

use super::issues::PageInfo;
use super::{coded, engine_error, parse_id, project_allowed, GraphqlContext, MAX_PAGE_SIZE};
use crate::alerting::rules::{self, Comparison, Condition, RuleSpec, Webhook};
use crate::alerting::{self, evaluate::spec_of, RuleError};
use crate::engine::{
    AlertDeliveryQuery, AlertDeliveryRecord, AlertEventQuery, AlertEventRecord, AlertRuleRecord,
    AlertStateRecord,
};

/// What a rule watches.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AlertRuleKind {
    /// Read-only SQL returning one number, or one row per group key (key first, number last).
    Sql,
    NewIssue,
    Regression,
    /// More than `threshold` events of one issue in the window.
    Frequency,
    /// More than `threshold` distinct users of one issue in the window.
    UserImpact,
    /// More than `factor` times the issue's baseline rate, and at least `floor` events.
    Spike,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AlertComparison {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Ne,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "WebhookFormat")]
pub enum WebhookFormatKind {
    /// Stackhouse's JSON document.
    Json,
    /// A Slack incoming-webhook message.
    Slack,
}

/// A rule as written by its author. SQL rules bind the window with `{window_start}` and
/// `{window_end}`.
#[derive(InputObject, Debug, Clone)]
pub struct AlertRuleInput {
    pub project_id: ID,
    pub name: String,
    pub kind: AlertRuleKind,
    /// SQL rules: the query.
    pub sql: Option<String>,
    /// SQL rules: how the value compares with the threshold (default GT).
    pub comparison: Option<AlertComparison>,
    /// SQL, FREQUENCY and USER_IMPACT rules.
    pub threshold: Option<f64>,
    /// SPIKE rules: how many times the baseline rate (required).
    pub factor: Option<f64>,
    /// SPIKE rules: seconds before the window that make the baseline (default 86400).
    pub baseline_seconds: Option<i32>,
    /// SPIKE rules: events needed at least, whatever the baseline (default 10).
    pub floor: Option<i32>,
    /// Seconds between evaluations (default 60, at least 1).
    pub interval_seconds: Option<i32>,
    /// Seconds of data each evaluation reads (default: the interval; twice the interval for
    /// NEW_ISSUE and REGRESSION).
    pub window_seconds: Option<i32>,
    /// Seconds after a notification during which the same group firing again is not sent
    /// (default 300).
    pub cooldown_seconds: Option<i32>,
    /// Notifications per rule per hour at most; 0 = no limit (default 20).
    pub max_notifications_per_hour: Option<i32>,
    /// Whether resolutions are notified (default true; false for NEW_ISSUE and REGRESSION).
    pub notify_on_resolve: Option<bool>,
    pub webhook_url: Option<String>,
    /// Signs each body: header `X-Stackhouse-Signature: sha256=<hex HMAC-SHA256>`. On update,
    /// absent keeps the current secret and "" removes it.
    pub webhook_secret: Option<String>,
    pub webhook_format: Option<WebhookFormatKind>,
    pub enabled: Option<bool>,
}

fn bad_request(message: impl Into<String>) -> async_graphql::Error {
    coded(message, "BAD_REQUEST")
}

fn non_negative(value: Option<i32>, name: &str, default: u64) -> Result<u64> {
    match value {
        None => Ok(default),
        Some(value) => {
            u64::try_from(value).map_err(|_| bad_request(format!("{name} must not be negative")))
        }
    }
}

impl AlertRuleInput {
    fn to_spec(&self) -> Result<RuleSpec> {
        let project_id = parse_id(&self.project_id, "project")?;
        let threshold = |what: &str| {
            self.threshold
                .ok_or_else(|| bad_request(format!("a {what} rule needs a threshold")))
        };
        let count_threshold = |what: &str| -> Result<u64> {
            let value = threshold(what)?;
            if value < 0.0 || value.fract() != 0.0 {
                return Err(bad_request(format!(
                    "a {what} threshold is a whole number >= 0"
                )));
            }
            Ok(value as u64)
        };
        let condition = match self.kind {
            AlertRuleKind::Sql => Condition::Sql {
                query: self
                    .sql
                    .clone()
                    .ok_or_else(|| bad_request("a SQL rule needs `sql`"))?,
                comparison: match self.comparison.unwrap_or(AlertComparison::Gt) {
                    AlertComparison::Gt => Comparison::Gt,
                    AlertComparison::Gte => Comparison::Gte,
                    AlertComparison::Lt => Comparison::Lt,
                    AlertComparison::Lte => Comparison::Lte,
                    AlertComparison::Eq => Comparison::Eq,
                    AlertComparison::Ne => Comparison::Ne,
                },
                threshold: threshold("SQL")?,
            },
            AlertRuleKind::NewIssue => Condition::NewIssue,
            AlertRuleKind::Regression => Condition::Regression,
            AlertRuleKind::Frequency => Condition::Frequency {
                threshold: count_threshold("frequency")?,
            },
            AlertRuleKind::UserImpact => Condition::UserImpact {
                threshold: count_threshold("user impact")?,
            },
            AlertRuleKind::Spike => Condition::Spike {
                factor: self
                    .factor
                    .ok_or_else(|| bad_request("a spike rule needs a factor"))?,
                baseline_secs: non_negative(self.baseline_seconds, "baselineSeconds", 86_400)?,
                floor: non_negative(self.floor, "floor", 10)?,
            },
        };
        if self.sql.is_some() && self.kind != AlertRuleKind::Sql {
            return Err(bad_request("`sql` is only for SQL rules"));
        }
        let interval_secs = non_negative(self.interval_seconds, "intervalSeconds", 60)?;
        let occurrence = condition.is_occurrence();
        let default_window = if occurrence {
            interval_secs.saturating_mul(2)
        } else {
            interval_secs
        };
        let webhook = match &self.webhook_url {
            Some(url) if !url.trim().is_empty() => Some(Webhook {
                url: url.trim().to_owned(),
                format: match self.webhook_format.unwrap_or(WebhookFormatKind::Json) {
                    WebhookFormatKind::Json => rules::WebhookFormat::Json,
                    WebhookFormatKind::Slack => rules::WebhookFormat::Slack,
                },
            }),
            _ => None,
        };
        Ok(RuleSpec {
            project_id,
            name: self.name.clone(),
            condition,
            interval_secs,
            window_secs: non_negative(self.window_seconds, "windowSeconds", default_window)?,
            cooldown_secs: non_negative(self.cooldown_seconds, "cooldownSeconds", 300)?,
            max_notifications_per_hour: u32::try_from(non_negative(
                self.max_notifications_per_hour,
                "maxNotificationsPerHour",
                20,
            )?)
            .unwrap_or(u32::MAX),
            notify_on_resolve: self.notify_on_resolve.unwrap_or(!occurrence),
            webhook,
            enabled: self.enabled.unwrap_or(true),
        })
    }
}

fn rule_error(error: RuleError) -> async_graphql::Error {
    match error {
        RuleError::Invalid(invalid) => bad_request(invalid.to_string()),
        RuleError::NotFound(id) => coded(format!("there is no alert rule {id}"), "NOT_FOUND"),
        RuleError::Engine(error) => engine_error(error),
    }
}

/// A stored rule.
pub struct AlertRule {
    record: AlertRuleRecord,
    spec: RuleSpec,
}

impl AlertRule {
    fn new(record: AlertRuleRecord) -> Result<AlertRule> {
        let spec = spec_of(&record).map_err(engine_error)?;
        Ok(AlertRule { record, spec })
    }
}

#[Object]
impl AlertRule {
    async fn id(&self) -> ID {
        ID(self.record.rule_id.to_string())
    }
    async fn project_id(&self) -> ID {
        ID(self.record.project_id.to_string())
    }
    async fn name(&self) -> &str {
        &self.record.name
    }
    async fn kind(&self) -> AlertRuleKind {
        match self.spec.condition {
            Condition::Sql { .. } => AlertRuleKind::Sql,
            Condition::NewIssue => AlertRuleKind::NewIssue,
            Condition::Regression => AlertRuleKind::Regression,
            Condition::Frequency { .. } => AlertRuleKind::Frequency,
            Condition::UserImpact { .. } => AlertRuleKind::UserImpact,
            Condition::Spike { .. } => AlertRuleKind::Spike,
        }
    }
    /// The rule's condition in words.
    async fn description(&self) -> String {
        crate::alerting::notify::describe(&self.spec)
    }
    async fn sql(&self) -> Option<&str> {
        match &self.spec.condition {
            Condition::Sql { query, .. } => Some(query),
            _ => None,
        }
    }
    async fn comparison(&self) -> Option<AlertComparison> {
        match &self.spec.condition {
            Condition::Sql { comparison, .. } => Some(match comparison {
                Comparison::Gt => AlertComparison::Gt,
                Comparison::Gte => AlertComparison::Gte,
                Comparison::Lt => AlertComparison::Lt,
                Comparison::Lte => AlertComparison::Lte,
                Comparison::Eq => AlertComparison::Eq,
                Comparison::Ne => AlertComparison::Ne,
            }),
            _ => None,
        }
    }
    async fn threshold(&self) -> Option<f64> {
        match &self.spec.condition {
            Condition::Sql { threshold, .. } => Some(*threshold),
            Condition::Frequency { threshold } | Condition::UserImpact { threshold } => {
                Some(*threshold as f64)
            }
            _ => None,
        }
    }
    async fn factor(&self) -> Option<f64> {
        match &self.spec.condition {
            Condition::Spike { factor, .. } => Some(*factor),
            _ => None,
        }
    }
    async fn baseline_seconds(&self) -> Option<u64> {
        match &self.spec.condition {
            Condition::Spike { baseline_secs, .. } => Some(*baseline_secs),
            _ => None,
        }
    }
    async fn floor(&self) -> Option<u64> {
        match &self.spec.condition {
            Condition::Spike { floor, .. } => Some(*floor),
            _ => None,
        }
    }
    async fn interval_seconds(&self) -> u64 {
        self.spec.interval_secs
    }
    async fn window_seconds(&self) -> u64 {
        self.spec.window_secs
    }
    async fn cooldown_seconds(&self) -> u64 {
        self.spec.cooldown_secs
    }
    async fn max_notifications_per_hour(&self) -> u32 {
        self.spec.max_notifications_per_hour
    }
    async fn notify_on_resolve(&self) -> bool {
        self.spec.notify_on_resolve
    }
    async fn webhook_url(&self) -> Option<&str> {
        self.spec.webhook.as_ref().map(|w| w.url.as_str())
    }
    async fn webhook_format(&self) -> Option<WebhookFormatKind> {
        self.spec.webhook.as_ref().map(|w| match w.format {
            rules::WebhookFormat::Json => WebhookFormatKind::Json,
            rules::WebhookFormat::Slack => WebhookFormatKind::Slack,
        })
    }
    /// Whether bodies are signed (the secret itself is never shown).
    async fn has_webhook_secret(&self) -> bool {
        !self.record.webhook_secret.is_empty()
    }
    async fn enabled(&self) -> bool {
        self.record.enabled
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.record.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.record.updated_at
    }
    /// The state of each group key that ever fired.
    async fn states(&self, ctx: &Context<'_>) -> Result<Vec<AlertGroupState>> {
        let context = ctx.data::<GraphqlContext>()?;
        Ok(context
            .engine
            .alert_states(&[self.record.rule_id])
            .await
            .map_err(engine_error)?
            .into_iter()
            .map(AlertGroupState::from)
            .collect())
    }
}

/// The state of one group key of a rule.
#[derive(SimpleObject)]
pub struct AlertGroupState {
    /// "" for rules returning one number.
    pub group_key: String,
    /// ok, firing or resolved.
    pub status: String,
    pub since: DateTime<Utc>,
    pub last_notified_at: Option<DateTime<Utc>>,
    pub value: f64,
}

impl From<AlertStateRecord> for AlertGroupState {
    fn from(state: AlertStateRecord) -> Self {
        AlertGroupState {
            group_key: state.group_key,
            status: state.status,
            since: state.since,
            last_notified_at: state.last_notified_at,
            value: state.value,
        }
    }
}

/// One evaluation outcome of one group key, and what was done about notifying it.
#[derive(SimpleObject)]
pub struct AlertEvent {
    pub id: ID,
    pub rule_id: ID,
    pub project_id: ID,
    pub group_key: String,
    /// ok, firing, still_firing, resolved or error.
    pub outcome: String,
    pub value: f64,
    /// sent, suppressed_cooldown, suppressed_cap, or "" when there was nothing to send.
    pub notification: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

impl From<AlertEventRecord> for AlertEvent {
    fn from(event: AlertEventRecord) -> Self {
        AlertEvent {
            id: ID(event.event_id),
            rule_id: ID(event.rule_id.to_string()),
            project_id: ID(event.project_id.to_string()),
            group_key: event.group_key,
            outcome: event.outcome,
            value: event.value,
            notification: event.notification,
            message: event.message,
            at: event.at,
        }
    }
}

/// One webhook notification and its delivery attempts.
#[derive(SimpleObject)]
pub struct AlertDelivery {
    pub id: ID,
    pub rule_id: ID,
    pub alert_event_id: ID,
    pub url: String,
    /// The body sent.
    pub payload: Json<serde_json::Value>,
    /// pending, delivered or failed.
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: String,
    /// HTTP status of the last attempt (0: no answer).
    pub last_status_code: u16,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<AlertDeliveryRecord> for AlertDelivery {
    fn from(delivery: AlertDeliveryRecord) -> Self {
        AlertDelivery {
            id: ID(delivery.delivery_id),
            rule_id: ID(delivery.rule_id.to_string()),
            alert_event_id: ID(delivery.alert_event_id),
            url: delivery.url,
            payload: Json(serde_json::from_str(&delivery.payload).unwrap_or_default()),
            status: delivery.status,
            attempts: delivery.attempts,
            next_attempt_at: delivery.next_attempt_at,
            last_error: delivery.last_error,
            last_status_code: delivery.last_status_code,
            created_at: delivery.created_at,
            updated_at: delivery.updated_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct AlertEventConnection {
    pub nodes: Vec<AlertEvent>,
    pub page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct AlertDeliveryConnection {
    pub nodes: Vec<AlertDelivery>,
    pub page_info: PageInfo,
}

/// What an evaluation now would record and send (nothing is stored or sent).
#[derive(SimpleObject)]
pub struct AlertTestResult {
    pub events: Vec<AlertEvent>,
    /// The notifications it would send.
    pub deliveries: Vec<AlertDelivery>,
}

/// Page size and offset from `first`/`after` (the cursor is the offset of the next row).
fn page_bounds(first: i32, after: Option<&str>) -> Result<(usize, usize)> {
    if !(0..=MAX_PAGE_SIZE).contains(&first) {
        return Err(bad_request(format!(
            "first must be between 0 and {MAX_PAGE_SIZE}"
        )));
    }
    let offset = match after {
        None => 0,
        Some(cursor) => cursor
            .parse::<usize>()
            .map_err(|_| bad_request(format!("invalid cursor {cursor:?}")))?,
    };
    Ok((first as usize, offset))
}

fn page_info(offset: usize, returned: usize, wanted: usize) -> (bool, PageInfo) {
    let has_next_page = returned > wanted;
    (
        has_next_page,
        PageInfo {
            has_next_page,
            end_cursor: (wanted > 0).then(|| (offset + returned.min(wanted)).to_string()),
        },
    )
}

/// The rule `id`, if the caller may see its project.
async fn visible_rule(ctx: &Context<'_>, id: &ID) -> Result<Option<AlertRuleRecord>> {
    let context = ctx.data::<GraphqlContext>()?;
    let rule_id = parse_id(id, "alert rule")?;
    let Some(rule) = alerting::find_rule(context.engine.as_ref(), rule_id)
        .await
        .map_err(engine_error)?
    else {
        return Ok(None);
    };
    project_allowed(ctx, rule.project_id)?;
    Ok(Some(rule))
}

async fn existing_rule(ctx: &Context<'_>, id: &ID) -> Result<AlertRuleRecord> {
    visible_rule(ctx, id).await?.ok_or_else(|| {
        coded(
            format!("there is no alert rule {}", id.as_str()),
            "NOT_FOUND",
        )
    })
}

#[derive(Default)]
pub struct AlertQueries;

#[Object]
impl AlertQueries {
    /// A project's alert rules.
    async fn alert_rules(&self, ctx: &Context<'_>, project_id: ID) -> Result<Vec<AlertRule>> {
        let context = ctx.data::<GraphqlContext>()?;
        let project_id = parse_id(&project_id, "project")?;
        project_allowed(ctx, project_id)?;
        context
            .engine
            .alert_rules()
            .await
            .map_err(engine_error)?
            .into_iter()
            .filter(|rule| rule.project_id == project_id)
            .map(AlertRule::new)
            .collect()
    }

    async fn alert_rule(&self, ctx: &Context<'_>, id: ID) -> Result<Option<AlertRule>> {
        visible_rule(ctx, &id)
            .await?
            .map(AlertRule::new)
            .transpose()
    }

    /// A rule's evaluation outcomes and notifications, newest first.
    async fn alert_events(
        &self,
        ctx: &Context<'_>,
        rule_id: ID,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Result<AlertEventConnection> {
        let context = ctx.data::<GraphqlContext>()?;
        let rule = existing_rule(ctx, &rule_id).await?;
        let (limit, offset) = page_bounds(first, after.as_deref())?;
        let mut rows = context
            .engine
            .alert_events(&AlertEventQuery {
                rule_id: Some(rule.rule_id),
                limit: limit + 1,
                offset,
                ..AlertEventQuery::default()
            })
            .await
            .map_err(engine_error)?;
        let (_, page_info) = page_info(offset, rows.len(), limit);
        rows.truncate(limit);
        Ok(AlertEventConnection {
            nodes: rows.into_iter().map(AlertEvent::from).collect(),
            page_info,
        })
    }

    /// A rule's webhook deliveries, newest first.
    async fn alert_deliveries(
        &self,
        ctx: &Context<'_>,
        rule_id: ID,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Result<AlertDeliveryConnection> {
        let context = ctx.data::<GraphqlContext>()?;
        let rule = existing_rule(ctx, &rule_id).await?;
        let (limit, offset) = page_bounds(first, after.as_deref())?;
        let mut rows = context
            .engine
            .alert_deliveries(&AlertDeliveryQuery::OfRule {
                rule_id: rule.rule_id,
                limit: limit + 1,
                offset,
            })
            .await
            .map_err(engine_error)?;
        let (_, page_info) = page_info(offset, rows.len(), limit);
        rows.truncate(limit);
        Ok(AlertDeliveryConnection {
            nodes: rows.into_iter().map(AlertDelivery::from).collect(),
            page_info,
        })
    }
}

#[derive(Default)]
pub struct AlertMutations;

#[Object]
impl AlertMutations {
    /// Creates a rule after checking it (its SQL runs once over an empty window).
    async fn create_alert_rule(
        &self,
        ctx: &Context<'_>,
        input: AlertRuleInput,
    ) -> Result<AlertRule> {
        let context = ctx.data::<GraphqlContext>()?;
        let spec = input.to_spec()?;
        project_allowed(ctx, spec.project_id)?;
        let record =
            alerting::create_rule(context.engine.as_ref(), &spec, input.webhook_secret.clone())
                .await
                .map_err(rule_error)?;
        AlertRule::new(record)
    }

    /// Replaces a rule's definition (its state and history stay).
    async fn update_alert_rule(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: AlertRuleInput,
    ) -> Result<AlertRule> {
        let context = ctx.data::<GraphqlContext>()?;
        let current = existing_rule(ctx, &id).await?;
        let spec = input.to_spec()?;
        project_allowed(ctx, spec.project_id)?;
        let record = alerting::update_rule(
            context.engine.as_ref(),
            current.rule_id,
            &spec,
            input.webhook_secret.clone(),
        )
        .await
        .map_err(rule_error)?;
        AlertRule::new(record)
    }

    /// Deletes a rule; false if there was none.
    async fn delete_alert_rule(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let context = ctx.data::<GraphqlContext>()?;
        let Some(rule) = visible_rule(ctx, &id).await? else {
            return Ok(false);
        };
        alerting::delete_rule(context.engine.as_ref(), rule.rule_id)
            .await
            .map_err(engine_error)
    }

    /// Evaluates a stored rule (`id`) or an unsaved one (`input`) now, against the stored
    /// state, and returns what it would record and send — storing and sending nothing.
    async fn test_alert_rule(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        input: Option<AlertRuleInput>,
    ) -> Result<AlertTestResult> {
        let context = ctx.data::<GraphqlContext>()?;
        let record = match (id, input) {
            (Some(id), None) => existing_rule(ctx, &id).await?,
            (None, Some(input)) => {
                let spec = input.to_spec()?;
                project_allowed(ctx, spec.project_id)?;
                crate::alerting::evaluate::validate(context.engine.as_ref(), &spec)
                    .await
                    .map_err(|invalid| bad_request(invalid.to_string()))?;
                AlertRuleRecord {
                    rule_id: 0,
                    project_id: spec.project_id,
                    name: spec.name.clone(),
                    kind: spec.condition.kind().to_owned(),
                    definition: serde_json::to_string(&spec)?,
                    webhook_secret: String::new(),
                    interval_secs: spec.interval_secs,
                    enabled: spec.enabled,
                    deleted: false,
                    created_at: Utc::now(),
                    updated_at: Utc::now(),
                }
            }
            _ => return Err(bad_request("give either `id` or `input`")),
        };
        let write = alerting::test_rule(context.engine.as_ref(), &record)
            .await
            .map_err(engine_error)?;
        Ok(AlertTestResult {
            events: write.events.into_iter().map(AlertEvent::from).collect(),
            deliveries: write
                .deliveries
                .into_iter()
                .map(AlertDelivery::from)
                .collect(),
        })
    }
}
