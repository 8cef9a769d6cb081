//! Similarity grouping for new fingerprints: features per event, a bounded inverted index of issues, and scoring.
//!
//! When an event's fingerprint is new, it may still be a known bug whose stack changed a little
//! (a refactor renamed an outer function, a new caller reached the same failing code). The
//! server keeps one [`SimilarityIndex`] per project and asks it for the best existing issue:
//!
//! 1. [`GroupingFeatures::from_event`] extracts hashed features: the outermost exception type,
//!    the contributing frames innermost first, the parameterized message's tokens and the
//!    normalized context ([`crate::context`]).
//! 2. Candidates come from an inverted index keyed by exception type + innermost frame, type +
//!    second frame, type + MinHash bands of the frame set and of the message tokens, and type
//!    alone for stackless events. Each
//!    posting list keeps the [`MAX_POSTINGS_PER_KEY`] most recent representatives and a lookup
//!    scores at most [`MAX_CANDIDATES`], so its cost does not grow with the number of issues.
//! 3. Each candidate of the same exception type is scored
//!    `stack_weight * stack_overlap + message_weight * message_similarity + context_weight *
//!    context_similarity`; the best one at or above the threshold is the match. When neither
//!    event has a stack, `stack_overlap` is whether their messages share a skeleton (the same
//!    words, values aside).

use std::collections::HashMap;
use std::hash::Hasher;

use serde::{Deserialize, Serialize};
use stackhouse_protocol::ErrorEvent;
use twox_hash::XxHash64;

use crate::context::NormalizedContext;
use crate::explanation::SimilarityExplanation;
use crate::fingerprint::v2::{contributing_frames, message_for_grouping, normalize_type};
use crate::parameterize::parameterize;
use crate::stack::FramePlatform;

/// Frames kept per event, innermost first: the frames nearest the error say most about it.
pub const MAX_FEATURE_FRAMES: usize = 16;
/// Distinct message tokens kept per event.
pub const MAX_MESSAGE_TOKENS: usize = 24;
/// Representatives kept per index key (most recent first out last). Bounds lookup cost.
pub const MAX_POSTINGS_PER_KEY: usize = 32;
/// Candidates scored per lookup, at most.
pub const MAX_CANDIDATES: usize = 128;
/// Events kept per issue as representatives (the first ones: the issue's founding shapes).
pub const MAX_REPRESENTATIVES_PER_ISSUE: usize = 4;

/// How similarity grouping scores and decides. Part of [`crate::GroupingConfig`].
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarityConfig {
    /// Whether a new fingerprint is compared with existing issues at all. Default: `true`.
    pub enabled: bool,
    /// Weight of the stack overlap (weighted Jaccard of frames, a frame's weight halving with
    /// each step away from the error). Default: 0.7.
    pub stack_weight: f64,
    /// Weight of the message similarity (Jaccard of parameterized message tokens). Default: 0.2.
    pub message_weight: f64,
    /// Weight of the context similarity (path template, user agent, OS, runtime, region,
    /// environment). Default: 0.1.
    pub context_weight: f64,
    /// A candidate at or above this score joins; below, the event opens a new issue.
    /// Default: 0.6, from the labelled corpus in `tests/corpus/`: there, events of one bug
    /// whose fingerprints differ (a renamed function, another caller) score 0.6 to 0.85
    /// against their issue, and the best-scoring other bug stays below 0.5.
    pub threshold: f64,
}

impl Default for SimilarityConfig {
    fn default() -> Self {
        SimilarityConfig {
            enabled: true,
            stack_weight: 0.7,
            message_weight: 0.2,
            context_weight: 0.1,
            threshold: 0.6,
        }
    }
}

/// What similarity looks at in one event, hashed. Serializable so the server can persist it
/// with the issue and rebuild the index on start.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupingFeatures {
    /// Hash of the normalized outermost exception type (of the empty string for message
    /// events). Only issues with the same type are candidates.
    pub type_hash: u32,
    /// Hashes of the contributing frames (normalized as in fingerprint `v2`) that name a
    /// function, innermost first, consecutive repeats collapsed, at most
    /// [`MAX_FEATURE_FRAMES`].
    pub frames: Vec<u32>,
    /// Hashes of the distinct tokens of the parameterized message, sorted.
    pub message_tokens: Vec<u32>,
    /// Hashes of the normalized context features, sorted.
    pub context: Vec<u32>,
    /// Hash of the message's skeleton: its words, with every value-like token (one holding a
    /// digit, a quote, `@` or a placeholder) as a wildcard; 0 without a message. Stands in for
    /// the stack when neither event has one.
    #[serde(default)]
    pub message_skeleton: u32,
}

impl GroupingFeatures {
    pub fn from_event(event: &ErrorEvent) -> GroupingFeatures {
        let type_hash = hash32(
            event
                .main_exception()
                .map(|exception| normalize_type(&exception.ty))
                .unwrap_or_default()
                .as_bytes(),
        );

        let platform = FramePlatform::from_sdk_platform(&event.platform);
        let frames: Vec<u32> = event
            .primary_stacktrace()
            .map(|stacktrace| contributing_frames(stacktrace, platform))
            .unwrap_or_default()
            .iter()
            // A frame with no function name (minified code) only names a file that every bug
            // in it shares: as stack evidence it would join unrelated errors.
            .filter(|frame| !frame.function.is_empty())
            .rev()
            .take(MAX_FEATURE_FRAMES)
            .map(|frame| hash32(frame.key().as_bytes()))
            .collect();

        let parameterized = message_for_grouping(event).map(parameterize);
        let message_skeleton = parameterized.as_deref().map_or(0, skeleton_hash);
        let mut message_tokens: Vec<u32> = parameterized
            .map(|message| {
                message
                    .split(|character: char| {
                        !(character.is_alphanumeric() || matches!(character, '<' | '>' | '_'))
                    })
                    .filter(|token| !token.is_empty())
                    .map(|token| hash32(token.to_lowercase().as_bytes()))
                    .collect()
            })
            .unwrap_or_default();
        message_tokens.sort_unstable();
        message_tokens.dedup();
        message_tokens.truncate(MAX_MESSAGE_TOKENS);

        let mut context: Vec<u32> = NormalizedContext::from_event(event)
            .features()
            .iter()
            .map(|feature| hash32(feature.as_bytes()))
            .collect();
        context.sort_unstable();
        context.dedup();

        GroupingFeatures {
            type_hash,
            frames,
            message_tokens,
            context,
            message_skeleton,
        }
    }
}

/// The hash of a message's words in order, value-like tokens replaced by `*`. Two messages
/// with one skeleton come from one format string with different values (`user 42` and
/// `user "alice"`); `fetch user *` and `fetch order *` do not.
fn skeleton_hash(message: &str) -> u32 {
    let mut hasher = XxHash64::with_seed(0x5e1e);
    for token in message.split_whitespace() {
        let is_value = token.bytes().any(|byte| {
            byte.is_ascii_digit() || matches!(byte, b'"' | b'\'' | b'`' | b'@' | b'<' | b'>')
        });
        hasher.write(if is_value { b"*" } else { token.as_bytes() });
        hasher.write_u8(0xFF);
    }
    (hasher.finish() as u32).max(1)
}

/// How similar two events are, part by part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimilarityScore {
    pub score: f64,
    pub stack_overlap: f64,
    pub message_similarity: f64,
    pub context_similarity: f64,
}

/// Scores two events' features with `config`'s weights. Different exception types score 0.
pub fn similarity(
    a: &GroupingFeatures,
    b: &GroupingFeatures,
    config: &SimilarityConfig,
) -> SimilarityScore {
    score_parts(
        (
            a.type_hash,
            &a.frames,
            &a.message_tokens,
            &a.context,
            a.message_skeleton,
        ),
        (
            b.type_hash,
            &b.frames,
            &b.message_tokens,
            &b.context,
            b.message_skeleton,
        ),
        config,
    )
}

type FeatureParts<'a> = (u32, &'a [u32], &'a [u32], &'a [u32], u32);

fn score_parts(
    a: FeatureParts<'_>,
    b: FeatureParts<'_>,
    config: &SimilarityConfig,
) -> SimilarityScore {
    let (type_a, frames_a, tokens_a, context_a, skeleton_a) = a;
    let (type_b, frames_b, tokens_b, context_b, skeleton_b) = b;
    if type_a != type_b {
        return SimilarityScore {
            score: 0.0,
            stack_overlap: 0.0,
            message_similarity: 0.0,
            context_similarity: 0.0,
        };
    }
    let message_similarity = jaccard_sorted(tokens_a, tokens_b);
    let stack_overlap = match (frames_a.is_empty(), frames_b.is_empty()) {
        // Neither has a stack: the message stands in for it, as it does in the fingerprint, but
        // by its skeleton: shared words alone (`fetch user *` vs `fetch order *`) are not
        // the same code.
        (true, true) if skeleton_a != 0 && skeleton_a == skeleton_b => 1.0,
        (true, true) => 0.0,
        (false, false) => weighted_frame_overlap(frames_a, frames_b),
        _ => 0.0,
    };
    let context_similarity = if context_a.is_empty() || context_b.is_empty() {
        0.5 // unknown: neither for nor against
    } else {
        jaccard_sorted(context_a, context_b)
    };
    let score = config.stack_weight * stack_overlap
        + config.message_weight * message_similarity
        + config.context_weight * context_similarity;
    SimilarityScore {
        score,
        stack_overlap,
        message_similarity,
        context_similarity,
    }
}

/// Weighted Jaccard of two frame lists (innermost first): a frame at depth `d` weighs
/// `0.5^d`, so the frames nearest the error decide (the innermost two carry three quarters of
/// any stack's weight) and callers far out, which differ with the entry point, barely count.
fn weighted_frame_overlap(a: &[u32], b: &[u32]) -> f64 {
    let weight = |depth: usize| 0.5f64.powi(depth.min(64) as i32);
    let first_depth = |frames: &[u32], key: u32| frames.iter().position(|&frame| frame == key);
    let mut shared = 0.0;
    let mut total = 0.0;
    for (depth, &key) in a.iter().enumerate() {
        if first_depth(a, key) != Some(depth) {
            continue; // a repeat further out: counted at its innermost occurrence
        }
        let weight_a = weight(depth);
        match first_depth(b, key) {
            Some(depth_b) => {
                let weight_b = weight(depth_b);
                shared += weight_a.min(weight_b);
                total += weight_a.max(weight_b);
            }
            None => total += weight_a,
        }
    }
    for (depth, &key) in b.iter().enumerate() {
        let first_here = first_depth(b, key) == Some(depth);
        if first_here && first_depth(a, key).is_none() {
            total += weight(depth);
        }
    }
    if total == 0.0 {
        0.0
    } else {
        shared / total
    }
}

/// Jaccard similarity of two sorted, deduplicated lists; two empty lists are identical.
fn jaccard_sorted(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - shared;
    shared as f64 / union as f64
}

/// The best existing issue for a new fingerprint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimilarityMatch {
    pub issue_id: u64,
    pub score: SimilarityScore,
}

impl SimilarityMatch {
    /// What to store in [`crate::Explanation::similarity`] when the event joins this issue.
    pub fn explanation(&self, config: &SimilarityConfig) -> SimilarityExplanation {
        SimilarityExplanation {
            issue_id: self.issue_id,
            score: self.score.score,
            stack_overlap: self.score.stack_overlap,
            message_similarity: self.score.message_similarity,
            context_similarity: self.score.context_similarity,
            threshold: config.threshold,
        }
    }
}

/// One project's issues, indexed for similarity lookups. Pure in-memory state: the server
/// owns it (one per project), feeds it with [`SimilarityIndex::insert`] when an issue opens,
/// and rebuilds it from persisted [`GroupingFeatures`] on start.
#[derive(Debug, Default)]
pub struct SimilarityIndex {
    /// Representatives; `None` once removed (the slot is reused).
    slots: Vec<Option<Representative>>,
    free_slots: Vec<u32>,
    postings: HashMap<u64, Vec<u32>>,
    issue_slots: HashMap<u64, Vec<u32>>,
}

#[derive(Debug)]
struct Representative {
    issue_id: u64,
    type_hash: u32,
    message_skeleton: u32,
    frame_count: u16,
    token_count: u16,
    /// Frames, then message tokens, then context, in one allocation.
    data: Box<[u32]>,
}

impl Representative {
    fn new(issue_id: u64, features: &GroupingFeatures) -> Representative {
        let mut data = Vec::with_capacity(
            features.frames.len() + features.message_tokens.len() + features.context.len(),
        );
        let frames = &features.frames[..features.frames.len().min(MAX_FEATURE_FRAMES)];
        let tokens =
            &features.message_tokens[..features.message_tokens.len().min(MAX_MESSAGE_TOKENS)];
        data.extend_from_slice(frames);
        data.extend_from_slice(tokens);
        data.extend_from_slice(&features.context);
        Representative {
            issue_id,
            type_hash: features.type_hash,
            message_skeleton: features.message_skeleton,
            frame_count: frames.len() as u16,
            token_count: tokens.len() as u16,
            data: data.into_boxed_slice(),
        }
    }

    fn parts(&self) -> FeatureParts<'_> {
        let frames_end = usize::from(self.frame_count);
        let tokens_end = frames_end + usize::from(self.token_count);
        (
            self.type_hash,
            &self.data[..frames_end],
            &self.data[frames_end..tokens_end],
            &self.data[tokens_end..],
            self.message_skeleton,
        )
    }
}

impl SimilarityIndex {
    pub fn new() -> SimilarityIndex {
        SimilarityIndex::default()
    }

    /// Number of issues indexed.
    pub fn issue_count(&self) -> usize {
        self.issue_slots.len()
    }

    /// Adds an event's features as a representative of `issue_id`: call it when an event opens
    /// a new issue, and (optionally) when an event joins one by similarity, so the issue's
    /// variants are found too. Beyond [`MAX_REPRESENTATIVES_PER_ISSUE`] per issue it does
    /// nothing.
    pub fn insert(&mut self, issue_id: u64, features: &GroupingFeatures) {
        let representatives = self.issue_slots.entry(issue_id).or_default();
        if representatives.len() >= MAX_REPRESENTATIVES_PER_ISSUE {
            return;
        }
        let representative = Representative::new(issue_id, features);
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(representative);
                slot
            }
            None => {
                self.slots.push(Some(representative));
                (self.slots.len() - 1) as u32
            }
        };
        representatives.push(slot);
        for key in candidate_keys(
            features.type_hash,
            &features.frames,
            &features.message_tokens,
        ) {
            let posting = self.postings.entry(key).or_default();
            if posting.len() >= MAX_POSTINGS_PER_KEY {
                posting.remove(0); // the oldest goes: recent issues are likelier to recur
            }
            posting.push(slot);
        }
    }

    /// The best issue at or above `config.threshold`, if any.
    pub fn best_match(
        &self,
        features: &GroupingFeatures,
        config: &SimilarityConfig,
    ) -> Option<SimilarityMatch> {
        if !config.enabled {
            return None;
        }
        self.best_candidates(features, config, 1)
            .into_iter()
            .next()
            .filter(|found| found.score.score >= config.threshold)
    }

    /// The `limit` best-scoring issues among the candidates, best first, whatever their score
    /// (for "similar issues" in the UI and for debugging thresholds).
    pub fn best_candidates(
        &self,
        features: &GroupingFeatures,
        config: &SimilarityConfig,
        limit: usize,
    ) -> Vec<SimilarityMatch> {
        let query = (
            features.type_hash,
            features.frames.as_slice(),
            features.message_tokens.as_slice(),
            features.context.as_slice(),
            features.message_skeleton,
        );
        let mut candidates: Vec<u32> = Vec::with_capacity(MAX_CANDIDATES);
        'keys: for key in candidate_keys(
            features.type_hash,
            &features.frames,
            &features.message_tokens,
        ) {
            let Some(posting) = self.postings.get(&key) else {
                continue;
            };
            // Newest first, so the bound keeps the most recent.
            for &slot in posting.iter().rev() {
                if candidates.len() >= MAX_CANDIDATES {
                    break 'keys;
                }
                if !candidates.contains(&slot) {
                    candidates.push(slot);
                }
            }
        }

        let mut best: HashMap<u64, SimilarityScore> = HashMap::with_capacity(candidates.len());
        for slot in candidates {
            let Some(Some(representative)) = self.slots.get(slot as usize) else {
                continue;
            };
            let score = score_parts(query, representative.parts(), config);
            let entry = best.entry(representative.issue_id).or_insert(score);
            if score.score > entry.score {
                *entry = score;
            }
        }
        let mut matches: Vec<SimilarityMatch> = best
            .into_iter()
            .map(|(issue_id, score)| SimilarityMatch { issue_id, score })
            .collect();
        // Best score first; ties go to the oldest issue (lowest id), deterministically.
        matches.sort_by(|a, b| {
            b.score
                .score
                .total_cmp(&a.score.score)
                .then(a.issue_id.cmp(&b.issue_id))
        });
        matches.truncate(limit);
        matches
    }

    /// Forgets an issue (deleted, or merged away with its events re-fingerprinted).
    pub fn remove_issue(&mut self, issue_id: u64) {
        let Some(slots) = self.issue_slots.remove(&issue_id) else {
            return;
        };
        for slot in slots {
            let Some(representative) = self.slots.get_mut(slot as usize).and_then(Option::take)
            else {
                continue;
            };
            let (type_hash, frames, tokens, _, _) = representative.parts();
            for key in candidate_keys(type_hash, frames, tokens) {
                if let Some(posting) = self.postings.get_mut(&key) {
                    posting.retain(|&other| other != slot);
                    if posting.is_empty() {
                        self.postings.remove(&key);
                    }
                }
            }
            self.free_slots.push(slot);
        }
    }

    /// Moves `from`'s representatives to `into` (issue merge): later lookups that match them
    /// answer `into`. Unmerge is `remove_issue` on the merged issue and re-inserting the parts.
    pub fn merge_issues(&mut self, from: u64, into: u64) {
        if from == into {
            return;
        }
        let Some(slots) = self.issue_slots.remove(&from) else {
            return;
        };
        for &slot in &slots {
            if let Some(Some(representative)) = self.slots.get_mut(slot as usize) {
                representative.issue_id = into;
            }
        }
        self.issue_slots.entry(into).or_default().extend(slots);
    }
}

/// The keys an event is filed under and looked up by. All include the exception type, since
/// only same-type issues are candidates.
fn candidate_keys(type_hash: u32, frames: &[u32], tokens: &[u32]) -> Vec<u64> {
    let mut keys = Vec::with_capacity(8);
    let key = |tag: u8, value: u64| -> u64 {
        let mut hasher = XxHash64::with_seed(u64::from(tag));
        hasher.write_u32(type_hash);
        hasher.write_u64(value);
        hasher.finish()
    };
    // Type + innermost frame, type + second frame: the same failing code reached differently.
    if let Some(&innermost) = frames.first() {
        keys.push(key(1, u64::from(innermost)));
    }
    if let Some(&second) = frames.get(1) {
        keys.push(key(2, u64::from(second)));
    }
    // MinHash bands over the frame set: stacks sharing most frames share a band.
    if frames.len() >= 3 {
        let signature = minhash::<4>(frames);
        keys.push(key(
            3,
            u64::from(signature[0]) << 32 | u64::from(signature[1]),
        ));
        keys.push(key(
            4,
            u64::from(signature[2]) << 32 | u64::from(signature[3]),
        ));
    }
    // MinHash bands over the message tokens: for stackless events, and stacks that moved.
    if !tokens.is_empty() {
        let signature = minhash::<6>(tokens);
        for (band, pair) in signature.chunks_exact(2).enumerate() {
            keys.push(key(
                5 + band as u8,
                u64::from(pair[0]) << 32 | u64::from(pair[1]),
            ));
        }
    }
    // Stackless events of one type also meet in one bucket (the most recent ones), so a lookup
    // does not depend on MinHash luck alone.
    if frames.is_empty() {
        keys.push(key(8, 0));
    }
    keys
}

/// `N` MinHash values of a set of hashes.
fn minhash<const N: usize>(values: &[u32]) -> [u32; N] {
    let mut signature = [u32::MAX; N];
    for &value in values {
        for (seed, minimum) in signature.iter_mut().enumerate() {
            let hashed =
                mix(u64::from(value) ^ (0x9E37_79B9_7F4A_7C15u64.wrapping_mul(seed as u64 + 1)));
            *minimum = (*minimum).min(hashed as u32);
        }
    }
    signature
}

/// SplitMix64's finalizer: a cheap, well-mixing permutation of 64-bit values.
fn mix(mut value: u64) -> u64 {
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^ (value >> 31)
}

fn hash32(bytes: &[u8]) -> u32 {
    XxHash64::oneshot(0, bytes) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(type_hash: u32, frames: &[u32], tokens: &[u32]) -> GroupingFeatures {
        GroupingFeatures {
            type_hash,
            frames: frames.to_vec(),
            message_tokens: tokens.to_vec(),
            context: vec![],
            message_skeleton: 0,
        }
    }

    #[test]
    fn frame_overlap_weighs_innermost_frames_most() {
        assert_eq!(weighted_frame_overlap(&[1, 2, 3], &[1, 2, 3]), 1.0);
        let same_top = weighted_frame_overlap(&[1, 2, 3], &[1, 2, 9]);
        let same_bottom = weighted_frame_overlap(&[1, 2, 3], &[9, 2, 3]);
        assert!(same_top > same_bottom, "{same_top} vs {same_bottom}");
        assert_eq!(weighted_frame_overlap(&[1], &[2]), 0.0);
    }

    #[test]
    fn skeletons_ignore_values_not_words() {
        assert_eq!(
            skeleton_hash("fetch user <int>: sql: no rows"),
            skeleton_hash("fetch user \"alice.<int>\": sql: no rows")
        );
        assert_ne!(
            skeleton_hash("fetch user <int>: sql: no rows"),
            skeleton_hash("fetch order <int>: sql: no rows")
        );
    }

    #[test]
    fn jaccard() {
        assert_eq!(jaccard_sorted(&[1, 2, 3], &[2, 3, 4]), 0.5);
        assert_eq!(jaccard_sorted(&[], &[]), 1.0);
        assert_eq!(jaccard_sorted(&[1], &[]), 0.0);
    }

    #[test]
    fn best_match_finds_similar_issue_of_same_type_only() {
        let config = SimilarityConfig::default();
        let mut index = SimilarityIndex::new();
        index.insert(1, &features(7, &[10, 11, 12, 13], &[1, 2, 3]));
        index.insert(2, &features(8, &[10, 11, 12, 13], &[1, 2, 3]));
        index.insert(3, &features(7, &[20, 21, 22], &[1, 2, 3]));

        let query = features(7, &[10, 11, 12, 99], &[1, 2, 3]);
        let found = index.best_match(&query, &config);
        assert_eq!(found.map(|found| found.issue_id), Some(1));
        let score = found.map(|found| found.score.score).unwrap_or_default();
        assert!(score >= config.threshold && score < 1.0, "{score}");

        let unrelated = features(7, &[30, 31], &[4, 5]);
        assert_eq!(index.best_match(&unrelated, &config), None);
        let other_type = features(9, &[10, 11, 12, 13], &[1, 2, 3]);
        assert_eq!(index.best_match(&other_type, &config), None);
    }

    #[test]
    fn merge_and_remove() {
        let config = SimilarityConfig::default();
        let mut index = SimilarityIndex::new();
        let shape = features(7, &[10, 11, 12], &[1]);
        index.insert(1, &shape);
        index.merge_issues(1, 5);
        assert_eq!(
            index
                .best_match(&shape, &config)
                .map(|found| found.issue_id),
            Some(5)
        );
        index.remove_issue(5);
        assert_eq!(index.best_match(&shape, &config), None);
        assert_eq!(index.issue_count(), 0);
        assert!(index.postings.is_empty());
    }

    #[test]
    fn posting_lists_stay_bounded() {
        let mut index = SimilarityIndex::new();
        for issue in 0..1000 {
            index.insert(issue, &features(7, &[10, issue as u32 + 100], &[]));
        }
        assert!(index
            .postings
            .values()
            .all(|posting| posting.len() <= MAX_POSTINGS_PER_KEY));
        let candidates = index.best_candidates(
            &features(7, &[10], &[]),
            &SimilarityConfig::default(),
            usize::MAX,
        );
        assert!(candidates.len() <= MAX_CANDIDATES);
    }
}
