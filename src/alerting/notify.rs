//! Webhook notifications: the payloads (Stackhouse JSON or Slack-compatible), their HMAC-SHA256
//! signature, and the deliverer that drains the persisted delivery queue (`alert_deliveries`)
//! with retries and exponential backoff.
//!
//! A notification becomes a `pending` delivery row in the same write as the evaluation that
//! decided it, so a receiver outage or a restart loses nothing: the deliverer (a task of its
//! own, never in the way of ingest or of other rules' evaluations) picks up due rows, POSTs
//! them with a timeout, and writes the outcome as a new version of the row — `delivered`,
//! `pending` again with the next attempt time, or `failed` after the last attempt. Each
//! delivery carries its id in `X-Stackhouse-Delivery`, so a receiver can drop the rare
//! duplicate (a crash between its 2xx and our write of `delivered`: delivery is at least once).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, Semaphore};

use super::rules::{Condition, RuleSpec, WebhookFormat};
use super::state::Outcome;
use super::AlertsConfig;
use crate::engine::{AlertClaim, AlertDeliveryQuery, AlertDeliveryRecord, Engine};

/// The header carrying `sha256=<hex HMAC of the body>` when the rule has a secret.
pub const SIGNATURE_HEADER: &str = "x-stackhouse-signature";
/// The header carrying the delivery id (the same on every retry of one notification).
pub const DELIVERY_HEADER: &str = "x-stackhouse-delivery";

/// What a notification says.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationContent<'a> {
    pub rule_id: u64,
    pub rule: &'a RuleSpec,
    pub group_key: &'a str,
    pub outcome: Outcome,
    pub value: f64,
    pub alert_event_id: &'a str,
    pub at: DateTime<Utc>,
}

/// A one-line summary of the condition, for messages.
pub fn describe(rule: &RuleSpec) -> String {
    let window = rule.window_secs;
    match &rule.condition {
        Condition::Sql {
            comparison,
            threshold,
            ..
        } => format!("SQL value {} {threshold}", comparison.symbol()),
        Condition::NewIssue => format!("new issue in the last {window} s"),
        Condition::Regression => format!("issue regressed in the last {window} s"),
        Condition::Frequency { threshold } => {
            format!("more than {threshold} events in {window} s")
        }
        Condition::UserImpact { threshold } => {
            format!("more than {threshold} users in {window} s")
        }
        Condition::Spike {
            factor,
            baseline_secs,
            floor,
        } => format!(
            "more than {factor}x the rate of the previous {baseline_secs} s (at least {floor} events) in {window} s"
        ),
    }
}

/// The message of a notification.
pub fn message(content: &NotificationContent<'_>) -> String {
    let state = match content.outcome {
        Outcome::Resolved => "RESOLVED",
        _ => "FIRING",
    };
    let group = if content.group_key.is_empty() {
        String::new()
    } else {
        format!(" [{}]", content.group_key)
    };
    format!(
        "[{state}] {}{group}: value {} ({})",
        content.rule.name,
        content.value,
        describe(content.rule)
    )
}

/// The body POSTed for a notification.
pub fn payload(content: &NotificationContent<'_>) -> Value {
    let text = message(content);
    let format = content
        .rule
        .webhook
        .as_ref()
        .map(|webhook| webhook.format)
        .unwrap_or_default();
    match format {
        WebhookFormat::Slack => json!({
            "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        }),
        WebhookFormat::Json => json!({
            "alertEventId": content.alert_event_id,
            "status": if content.outcome == Outcome::Resolved { "resolved" } else { "firing" },
            "rule": {
                "id": content.rule_id.to_string(),
                "name": content.rule.name,
                "kind": content.rule.condition.kind(),
                "condition": describe(content.rule),
            },
            "projectId": content.rule.project_id.to_string(),
            "groupKey": content.group_key,
            "value": content.value,
            "at": content.at.to_rfc3339(),
            "message": text,
        }),
    }
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut key_block = [0u8; BLOCK];
    if key.len() > BLOCK {
        key_block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        key_block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| key_block.map(|k| k ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The signature header's value: `sha256=` and the lower-case hex HMAC of the body.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mac = hmac_sha256(secret.as_bytes(), body);
    let hex: String = mac.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256={hex}")
}

/// How long to wait after failed attempt number `attempts` (1-based): the base doubled each
/// time, capped.
pub fn backoff(attempts: u32, base_ms: u64, max_ms: u64) -> Duration {
    let factor = 1u64 << attempts.saturating_sub(1).min(30);
    Duration::from_millis(base_ms.saturating_mul(factor).min(max_ms))
}

/// Drains due deliveries: one task, each POST in a task of its own (bounded), so one slow
/// receiver delays nobody else.
pub struct Deliverer {
    engine: Arc<dyn Engine>,
    config: AlertsConfig,
    instance: String,
    http: reqwest::Client,
    wake: Arc<Notify>,
    in_flight: Arc<Mutex<HashSet<String>>>,
    permits: Arc<Semaphore>,
}

impl Deliverer {
    pub fn new(
        engine: Arc<dyn Engine>,
        config: AlertsConfig,
        instance: String,
        wake: Arc<Notify>,
    ) -> Deliverer {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.delivery_timeout_ms.max(1)))
            .build()
            .unwrap_or_default();
        Deliverer {
            permits: Arc::new(Semaphore::new(config.max_concurrent_deliveries.max(1))),
            engine,
            config,
            instance,
            http,
            wake,
            in_flight: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// Runs until the process ends.
    pub async fn run(self: Arc<Self>) {
        let tick = Duration::from_millis(self.config.tick_ms.max(10));
        loop {
            if let Err(error) = self.clone().dispatch_due().await {
                tracing::warn!(%error, "alert deliveries: cannot read the queue; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// Starts a POST for every due delivery not already in flight.
    async fn dispatch_due(self: Arc<Self>) -> crate::engine::EngineResult<()> {
        let due = self
            .engine
            .alert_deliveries(&AlertDeliveryQuery::DueBy {
                time: Utc::now(),
                limit: 500,
            })
            .await?;
        if due.is_empty() {
            return Ok(());
        }
        let secrets: HashMap<u64, String> = self
            .engine
            .alert_rules()
            .await?
            .into_iter()
            .map(|rule| (rule.rule_id, rule.webhook_secret))
            .collect();
        for delivery in due {
            if !self.in_flight.lock().insert(delivery.delivery_id.clone()) {
                continue;
            }
            let this = self.clone();
            let secret = secrets.get(&delivery.rule_id).cloned().unwrap_or_default();
            tokio::spawn(async move {
                let id = delivery.delivery_id.clone();
                if let Ok(_permit) = this.permits.clone().acquire_owned().await {
                    if let Err(error) = this.attempt(delivery, &secret).await {
                        tracing::warn!(%error, delivery = %id, "alert delivery: cannot record the attempt");
                    }
                }
                this.in_flight.lock().remove(&id);
            });
        }
        Ok(())
    }

    /// One attempt: claimed first (so of several instances one sends it), then POSTed, then
    /// its outcome stored.
    async fn attempt(
        &self,
        delivery: AlertDeliveryRecord,
        secret: &str,
    ) -> crate::engine::EngineResult<()> {
        let claim = AlertClaim {
            claim_key: format!("delivery:{}:{}", delivery.delivery_id, delivery.attempts),
            instance: self.instance.clone(),
            nonce: rand::random(),
            claimed_at_ms: now_ms(),
        };
        let settle = Duration::from_millis(self.config.claim_settle_ms);
        if !self.engine.claim_one_alert_work(&claim, settle).await? {
            return Ok(());
        }
        let body = delivery.payload.clone().into_bytes();
        let mut request = self
            .http
            .post(&delivery.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::USER_AGENT, "stackhouse-alerts/1")
            .header(DELIVERY_HEADER, &delivery.delivery_id);
        if !secret.is_empty() {
            request = request.header(SIGNATURE_HEADER, signature(secret, &body));
        }
        let (status_code, error) = match request.body(body).send().await {
            Ok(response) if response.status().is_success() => (response.status().as_u16(), None),
            Ok(response) => (
                response.status().as_u16(),
                Some(format!("the receiver answered {}", response.status())),
            ),
            Err(error) => (0, Some(format!("cannot reach the receiver: {error}"))),
        };
        let now = Utc::now();
        let attempts = delivery.attempts + 1;
        let updated = match error {
            None => AlertDeliveryRecord {
                status: "delivered".into(),
                attempts,
                last_error: String::new(),
                last_status_code: status_code,
                updated_at: now,
                ..delivery
            },
            Some(error) => {
                let gave_up = attempts >= self.config.max_attempts.max(1);
                let wait = backoff(
                    attempts,
                    self.config.retry_base_ms,
                    self.config.retry_max_ms,
                );
                AlertDeliveryRecord {
                    status: if gave_up { "failed" } else { "pending" }.into(),
                    attempts,
                    next_attempt_at: now
                        + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::zero()),
                    last_error: error,
                    last_status_code: status_code,
                    updated_at: now,
                    ..delivery
                }
            }
        };
        self.engine.put_alert_deliveries(&[updated]).await
    }
}

pub fn now_ms() -> u64 {
    u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let long_key = [0xaau8; 131];
        let mac = hmac_sha256(
            &long_key,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1, 100, 1000), Duration::from_millis(100));
        assert_eq!(backoff(2, 100, 1000), Duration::from_millis(200));
        assert_eq!(backoff(4, 100, 1000), Duration::from_millis(800));
        assert_eq!(backoff(5, 100, 1000), Duration::from_millis(1000));
        assert_eq!(backoff(60, 100, 1000), Duration::from_millis(1000));
    }
}
