//! Fingerprint `v2`: client fingerprint, else server-side rule, else exception chain types + normalized in-app frames, else types + parameterized message.
//!
//! The automatic fingerprint (also what `{{ default }}` expands to):
//! - the type of every exception of the chain, root cause first (synthetic exceptions' types,
//!   which SDKs make up, are ignored), with addresses and proxy suffixes removed;
//! - the frames of every exception that has frames (else the event-level stack trace),
//!   normalized per platform by [`crate::stack`]: only in-app frames when any frame is in-app,
//!   consecutive identical frames (recursion) collapsed, at most the innermost
//!   [`MAX_FRAMES_PER_STACK`] of each stack;
//! - only when no frame contributes, or no contributing frame has a function name (minified
//!   code without source maps): the message (outermost exception value, else the message
//!   template, else the message), parameterized by [`crate::parameterize()`].

use stackhouse_protocol::{ErrorEvent, Frame, Stacktrace};

use super::{HashInput, IgnoredFrames};
use crate::explanation::{Basis, ComponentKind, Explanation, Ignored};
use crate::parameterize::parameterize;
use crate::stack::{normalize_frame, FramePlatform, NormalizedFrame};
use crate::{FingerprintVersion, GroupingConfig};

/// Frames beyond this many (counting from the innermost) of one stack do not contribute: deep
/// recursion or framework plumbing far from the error adds noise, not identity.
pub const MAX_FRAMES_PER_STACK: usize = 50;

pub(super) fn fingerprint(event: &ErrorEvent, config: &GroupingConfig) -> (u64, Explanation) {
    let mut input = HashInput::new(FingerprintVersion::V2);
    let mut ignored = Vec::new();

    // 1. The client knows best: it sent a fingerprint (possibly extending the default).
    let client_fingerprint = event
        .fingerprint
        .as_deref()
        .filter(|values| values.iter().any(|value| !value.trim().is_empty()));
    if let Some(values) = client_fingerprint {
        let uses_default = push_values(
            event,
            values,
            ComponentKind::ClientFingerprint,
            &mut input,
            &mut ignored,
        );
        if !uses_default {
            ignored.push(Ignored::new(
                "automatic fingerprint",
                "replaced by the client fingerprint",
            ));
        }
        if let Some(rule) = config.rules.first_match(event) {
            ignored.push(Ignored::new(
                format!("rule on line {}", rule.line),
                "the client fingerprint takes precedence",
            ));
        }
        return finish(input, Basis::ClientFingerprint, ignored, None);
    }

    // 2. The project's server-side rules, first match wins.
    if let Some(rule) = config.rules.first_match(event) {
        let uses_default = push_values(
            event,
            &rule.fingerprint,
            ComponentKind::Rule,
            &mut input,
            &mut ignored,
        );
        if !uses_default {
            ignored.push(Ignored::new(
                "automatic fingerprint",
                "replaced by the matching rule",
            ));
        }
        return finish(input, Basis::Rule, ignored, Some(rule.text.clone()));
    }

    // 3. The automatic fingerprint.
    let basis = push_default(event, &mut input, &mut ignored);
    finish(input, basis, ignored, None)
}

fn finish(
    input: HashInput,
    basis: Basis,
    ignored: Vec<Ignored>,
    rule: Option<String>,
) -> (u64, Explanation) {
    let (hash, contributing) = input.finish();
    let explanation = Explanation {
        basis,
        contributing,
        ignored,
        rule,
        similarity: None,
    };
    (hash, explanation)
}

/// Pushes client-fingerprint or rule values, expanding `{{ ... }}` variables. Returns whether
/// `{{ default }}` was among them.
fn push_values(
    event: &ErrorEvent,
    values: &[String],
    kind: ComponentKind,
    input: &mut HashInput,
    ignored: &mut Vec<Ignored>,
) -> bool {
    let mut uses_default = false;
    for value in values {
        let value = value.trim();
        let Some(variable) = variable_name(value) else {
            input.push(kind, value.to_owned());
            continue;
        };
        if variable == "default" {
            if !uses_default {
                push_default(event, input, ignored);
            }
            uses_default = true;
            continue;
        }
        let expansion = expand_variable(event, &variable).unwrap_or_default();
        input.push(kind, format!("{{{{ {variable} }}}}={expansion}"));
    }
    uses_default
}

/// `{{ Default }}` → `default`; not a variable → `None`.
fn variable_name(value: &str) -> Option<String> {
    let inner = value.strip_prefix("{{")?.strip_suffix("}}")?;
    Some(inner.trim().to_ascii_lowercase())
}

/// The value of a fingerprint variable; `None` when the event has no such value.
fn expand_variable(event: &ErrorEvent, variable: &str) -> Option<String> {
    let main_exception = event.main_exception();
    match variable {
        "type" | "error.type" => main_exception.map(|exception| normalize_type(&exception.ty)),
        "message" | "error.value" => message_for_grouping(event).map(parameterize),
        "transaction" => event.transaction.clone(),
        "level" => Some(event.level.as_str().to_owned()),
        "logger" => event.logger.clone(),
        "platform" => Some(event.platform.clone()),
        "function" => innermost_in_app_frame(event).map(|frame| frame.function.into_owned()),
        "module" => innermost_in_app_frame(event).map(|frame| frame.module.into_owned()),
        _ => {
            let tag = variable.strip_prefix("tags.")?;
            event.tag(tag).map(str::to_owned)
        }
    }
}

/// Pushes the automatic fingerprint's components and says what it was built from.
fn push_default(event: &ErrorEvent, input: &mut HashInput, ignored: &mut Vec<Ignored>) -> Basis {
    let event_platform = FramePlatform::from_sdk_platform(&event.platform);

    let mut type_count = 0;
    for (index, exception) in event.exceptions.iter().enumerate() {
        let synthetic = exception
            .mechanism
            .as_ref()
            .is_some_and(|mechanism| mechanism.synthetic == Some(true));
        if synthetic {
            ignored.push(Ignored::new(
                format!("type of exception {index} ({})", exception.ty),
                "synthetic: made up by the SDK",
            ));
            continue;
        }
        if exception.ty.trim().is_empty() {
            continue;
        }
        input.push(ComponentKind::ExceptionType, normalize_type(&exception.ty));
        type_count += 1;
    }

    let stacks = contributing_stacks(event);
    let any_in_app = stacks
        .iter()
        .flat_map(|(_, stacktrace)| stacktrace.frames.iter())
        .any(|frame| frame.in_app == Some(true));
    let several_stacks = stacks.len() > 1;
    let normalized: Vec<NormalizedStack> = stacks
        .iter()
        .map(|(label, stacktrace)| {
            let prefix = if several_stacks {
                label.explanation_prefix()
            } else {
                String::new()
            };
            normalize_stack(&stacktrace.frames, event_platform, any_in_app, prefix)
        })
        .collect();
    // Anonymous and minified functions only say which file ran; when named frames exist
    // they say more, and wrappers that come and go (promise callbacks) must not split groups.
    let drop_unnamed = normalized.iter().any(NormalizedStack::has_named_frame);
    let mut frame_count = 0;
    for stack in normalized {
        let (frames, ignored_frames) = stack.finish(drop_unnamed);
        ignored_frames.into_explanation(ignored);
        frame_count += frames.len();
        for frame in frames {
            input.push(ComponentKind::Frame, frame.key());
        }
    }

    let message = message_for_grouping(event);
    if frame_count > 0 && drop_unnamed {
        if message.is_some() {
            ignored.push(Ignored::new("message", "stack trace contributes"));
        }
        return Basis::Stack;
    }
    if frame_count > 0 {
        // Frames with no function name (minified bundles without source maps) only say which
        // file failed, and every bug in that file would share them: the message must
        // contribute too.
        if let Some(message) = message {
            input.push(ComponentKind::Message, parameterize(message));
        }
        return Basis::Stack;
    }
    if let Some(message) = message {
        let parameterized = parameterize(message);
        if !parameterized.is_empty() {
            input.push(ComponentKind::Message, parameterized);
            return Basis::Message;
        }
    }
    if type_count > 0 {
        Basis::ExceptionType
    } else {
        Basis::Nothing
    }
}

/// Which stack of an event frames come from, named in explanations when there are several.
#[derive(Debug, Clone, Copy)]
enum StackLabel {
    /// The stack of the exception at this index of the chain.
    Exception(usize),
    /// The event-level stack trace.
    Event,
}

impl StackLabel {
    /// `exception 1 ` / `event stack `: what precedes `frames 3-7` in explanations.
    fn explanation_prefix(self) -> String {
        match self {
            StackLabel::Exception(index) => format!("exception {index} "),
            StackLabel::Event => "event stack ".to_owned(),
        }
    }
}

/// The stacks that contribute frames, labelled for explanations: every exception's that has
/// frames (root cause first), else the event-level one.
fn contributing_stacks(event: &ErrorEvent) -> Vec<(StackLabel, &Stacktrace)> {
    let mut stacks: Vec<(StackLabel, &Stacktrace)> = event
        .exceptions
        .iter()
        .enumerate()
        .filter_map(|(index, exception)| {
            let stacktrace = exception.stacktrace.as_ref()?;
            (!stacktrace.frames.is_empty()).then_some((StackLabel::Exception(index), stacktrace))
        })
        .collect();
    if stacks.is_empty() {
        if let Some(stacktrace) = event.stacktrace.as_ref() {
            if !stacktrace.frames.is_empty() {
                stacks.push((StackLabel::Event, stacktrace));
            }
        }
    }
    stacks
}

/// One stack's frames after the in-app filter and per-frame normalization, before the
/// decisions that need the whole event (whether unnamed frames count).
pub(crate) struct NormalizedStack<'a> {
    frames: Vec<(usize, NormalizedFrame<'a>)>,
    ignored: IgnoredFrames,
}

/// Normalizes a stack's frames (outermost first); with `in_app_only`, others are left out.
pub(crate) fn normalize_stack<'a>(
    frames: &'a [Frame],
    event_platform: FramePlatform,
    in_app_only: bool,
    label_prefix: String,
) -> NormalizedStack<'a> {
    let mut ignored = IgnoredFrames::with_prefix(label_prefix);
    let mut kept: Vec<(usize, NormalizedFrame<'a>)> = Vec::with_capacity(frames.len().min(64));
    for (index, frame) in frames.iter().enumerate() {
        if in_app_only && frame.in_app != Some(true) {
            ignored.add(index, "not in-app");
            continue;
        }
        let platform = frame
            .platform
            .as_deref()
            .map_or(event_platform, FramePlatform::from_sdk_platform);
        match normalize_frame(frame, platform) {
            Ok(normalized) => kept.push((index, normalized)),
            Err(skip) => ignored.add(index, skip.as_str()),
        }
    }
    NormalizedStack {
        frames: kept,
        ignored,
    }
}

impl<'a> NormalizedStack<'a> {
    fn has_named_frame(&self) -> bool {
        self.frames
            .iter()
            .any(|(_, frame)| !frame.function.is_empty())
    }

    /// The contributing frames, outermost first, and the ones left out: unnamed frames
    /// (anonymous or minified functions) when `drop_unnamed`, repeats of the previous frame
    /// (recursion), and frames beyond the innermost [`MAX_FRAMES_PER_STACK`].
    pub(crate) fn finish(self, drop_unnamed: bool) -> (Vec<NormalizedFrame<'a>>, IgnoredFrames) {
        let NormalizedStack {
            frames: mut kept,
            mut ignored,
        } = self;
        // Filtered in place: the first `kept_count` entries are the frames kept so far.
        let mut kept_count = 0;
        for position in 0..kept.len() {
            let (index, frame) = &kept[position];
            let skip = if drop_unnamed && frame.function.is_empty() {
                Some("anonymous or minified function")
            } else if kept_count > 0 && kept[kept_count - 1].1 == *frame {
                Some("repeats the frame before it (recursion)")
            } else {
                None
            };
            match skip {
                Some(reason) => ignored.add(*index, reason),
                None => {
                    kept.swap(kept_count, position);
                    kept_count += 1;
                }
            }
        }
        kept.truncate(kept_count);
        if kept.len() > MAX_FRAMES_PER_STACK {
            let dropped = kept.len() - MAX_FRAMES_PER_STACK;
            for (index, _) in kept.drain(..dropped) {
                ignored.add(index, "beyond the innermost 50 contributing frames");
            }
        }
        ignored.sort();
        (kept.into_iter().map(|(_, frame)| frame).collect(), ignored)
    }
}

/// The contributing frames of one stack on its own (outermost first): in-app ones when any
/// frame is in-app, unnamed ones only when no frame is named.
pub(crate) fn contributing_frames(
    stacktrace: &Stacktrace,
    platform: FramePlatform,
) -> Vec<NormalizedFrame<'_>> {
    let in_app_only = stacktrace
        .frames
        .iter()
        .any(|frame| frame.in_app == Some(true));
    let stack = normalize_stack(&stacktrace.frames, platform, in_app_only, String::new());
    let drop_unnamed = stack.has_named_frame();
    stack.finish(drop_unnamed).0
}

/// The innermost contributing frame of the primary stack, for `{{ function }}`/`{{ module }}`.
fn innermost_in_app_frame(event: &ErrorEvent) -> Option<NormalizedFrame<'_>> {
    let stacktrace = event.primary_stacktrace()?;
    let platform = FramePlatform::from_sdk_platform(&event.platform);
    contributing_frames(stacktrace, platform).pop()
}

/// The message that stands for the event when no frame does: the outermost exception's value,
/// else the message template (the best grouping key: no parameters applied), else the message.
pub(crate) fn message_for_grouping(event: &ErrorEvent) -> Option<&str> {
    let exception_value = event
        .main_exception()
        .and_then(|exception| exception.value.as_deref());
    exception_value
        .into_iter()
        .chain(event.message_template.as_deref())
        .chain(event.message.as_deref())
        .find(|message| !message.trim().is_empty())
}

/// Exception types with their variable parts removed: addresses (`#<Class:0x00005581>` →
/// `#<Class:0x>`) and generated proxy suffixes (`Foo$$EnhancerByCGLIB$$1a2b` → `Foo`).
pub(crate) fn normalize_type(ty: &str) -> String {
    let ty = ty.trim();
    let ty = find_ascii_pair(ty, b"$$").map_or(ty, |index| &ty[..index]);
    let mut normalized = String::with_capacity(ty.len());
    let mut rest = ty;
    while let Some(index) = find_ascii_pair(rest, b"0x") {
        normalized.push_str(&rest[..index + 2]);
        rest = rest[index + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    normalized.push_str(rest);
    normalized
}

/// Where `pair` (two ASCII bytes) first occurs in `text`: `str::find` without the setup of a
/// substring searcher, which costs more than scanning a type name.
fn find_ascii_pair(text: &str, pair: &[u8; 2]) -> Option<usize> {
    debug_assert!(pair.is_ascii());
    text.as_bytes().windows(2).position(|window| window == pair)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_normalization() {
        assert_eq!(normalize_type("#<Class:0x000055d5c0a1b2c8>"), "#<Class:0x>");
        assert_eq!(
            normalize_type("com.acme.Err$$EnhancerBySpringCGLIB$$1a2b"),
            "com.acme.Err"
        );
        assert_eq!(normalize_type(" ValueError "), "ValueError");
    }
}
