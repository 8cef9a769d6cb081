//! The explanation stored with every fingerprint: which components contributed, which were ignored and why.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which components contributed to a fingerprint and which were ignored, and why.
///
/// Stored as JSON with every event and shown in the UI as "why is this grouped here". It never
/// feeds the hash: two events with the same hash can carry different explanations (e.g. they
/// ignored different non-in-app frames).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Explanation {
    /// What the fingerprint was built from.
    pub basis: Basis,
    /// The components that went into the hash, in hash order.
    pub contributing: Vec<Component>,
    /// The components that were looked at and left out, with the reason.
    #[serde(default)]
    pub ignored: Vec<Ignored>,
    /// The server-side rule that matched, as written (basis `rule` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Set when the event joined an existing issue by similarity rather than by exact fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<SimilarityExplanation>,
}

/// What a fingerprint was built from, in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The client sent a `fingerprint` (possibly extending `{{ default }}`).
    ClientFingerprint,
    /// A server-side fingerprint rule matched.
    Rule,
    /// Exception type(s) and stack frames.
    Stack,
    /// Exception type(s) and the parameterized message, because no stack frame contributes.
    Message,
    /// Only the exception type(s): no frame and no message.
    ExceptionType,
    /// Nothing usable: every such event groups together.
    #[default]
    Nothing,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::ClientFingerprint => "client fingerprint",
            Basis::Rule => "fingerprint rule",
            Basis::Stack => "stack trace",
            Basis::Message => "message",
            Basis::ExceptionType => "exception type",
            Basis::Nothing => "nothing",
        }
    }
}

/// One component that went into the hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    pub kind: ComponentKind,
    /// The normalized value that was hashed.
    pub value: String,
}

impl Component {
    pub fn new(kind: ComponentKind, value: impl Into<String>) -> Self {
        Component {
            kind,
            value: value.into(),
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} {}", self.kind.as_str(), self.value)
    }
}

/// The kinds of component a fingerprint is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    ExceptionType,
    Frame,
    Message,
    ClientFingerprint,
    Rule,
}

impl ComponentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::ExceptionType => "type",
            ComponentKind::Frame => "frame",
            ComponentKind::Message => "message",
            ComponentKind::ClientFingerprint => "client fingerprint",
            ComponentKind::Rule => "rule",
        }
    }
}

/// A component that was looked at and left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ignored {
    /// What was left out, e.g. `frames 0-11` or `message`.
    pub component: String,
    /// Why, e.g. `not in-app` or `stack trace contributes`.
    pub reason: String,
}

impl Ignored {
    pub fn new(component: impl Into<String>, reason: impl Into<String>) -> Self {
        Ignored {
            component: component.into(),
            reason: reason.into(),
        }
    }
}

/// How an event joined an issue by similarity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarityExplanation {
    /// The issue the event joined.
    pub issue_id: u64,
    /// `w_stack * stack + w_message * message + w_context * context`.
    pub score: f64,
    pub stack_overlap: f64,
    pub message_similarity: f64,
    pub context_similarity: f64,
    /// The threshold in force when the decision was made.
    pub threshold: f64,
}

impl Explanation {
    /// One line for humans, e.g. `stack trace: type ValueError, 3 frames (innermost app.views
    /// in handle); ignored: frames 0-11 (not in-app), message (stack trace contributes)`.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let frames: Vec<&Component> = self
            .contributing
            .iter()
            .filter(|component| component.kind == ComponentKind::Frame)
            .collect();
        for component in &self.contributing {
            if component.kind != ComponentKind::Frame {
                parts.push(component.to_string());
            }
        }
        if let Some(innermost) = frames.last() {
            let noun = if frames.len() == 1 { "frame" } else { "frames" };
            parts.push(format!(
                "{} {noun} (innermost {})",
                frames.len(),
                innermost.value
            ));
        }
        if parts.is_empty() {
            parts.push("no components, so every event like this one groups together".to_owned());
        }
        let mut summary = format!("{}: {}", self.basis.as_str(), parts.join(", "));
        if let Some(rule) = &self.rule {
            summary.push_str(&format!(" [rule `{rule}`]"));
        }
        if !self.ignored.is_empty() {
            let ignored: Vec<String> = self
                .ignored
                .iter()
                .map(|ignored| format!("{} ({})", ignored.component, ignored.reason))
                .collect();
            summary.push_str("; ignored: ");
            summary.push_str(&ignored.join(", "));
        }
        if let Some(similarity) = &self.similarity {
            summary.push_str(&format!(
                "; joined issue {} by similarity {:.2} (threshold {:.2})",
                similarity.issue_id, similarity.score, similarity.threshold
            ));
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_frames_and_lists_ignored() {
        let explanation = Explanation {
            basis: Basis::Stack,
            contributing: vec![
                Component::new(ComponentKind::ExceptionType, "ValueError"),
                Component::new(ComponentKind::Frame, "app.views in handle"),
                Component::new(ComponentKind::Frame, "app.models in save"),
            ],
            ignored: vec![Ignored::new("message", "stack trace contributes")],
            rule: None,
            similarity: None,
        };
        assert_eq!(
            explanation.summary(),
            "stack trace: type ValueError, 2 frames (innermost app.models in save); \
             ignored: message (stack trace contributes)"
        );
    }

    #[test]
    fn round_trips_through_json() {
        let explanation = Explanation {
            basis: Basis::Message,
            contributing: vec![Component::new(
                ComponentKind::Message,
                "timeout after <int>",
            )],
            ignored: vec![],
            rule: Some("type:X -> y".into()),
            similarity: None,
        };
        let json = serde_json::to_string(&explanation).unwrap_or_default();
        let back: Explanation = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, explanation);
    }
}
