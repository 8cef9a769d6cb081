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
use std::hash::{BuildHasherDefault, Hasher};

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
    // 0.5^depth, exactly, without `powi`.
    let weight = |depth: usize| 1.0 / (1u64 << depth.min(63)) as f64;
    let mut shared = 0.0;
    let mut total = 0.0;
    for (depth, &key) in a.iter().enumerate() {
        if a[..depth].contains(&key) {
            continue; // a repeat further out: counted at its innermost occurrence
        }
        let weight_a = weight(depth);
        match b.iter().position(|&frame| frame == key) {
            Some(depth_b) => {
                let weight_b = weight(depth_b);
                shared += weight_a.min(weight_b);
                total += weight_a.max(weight_b);
            }
            None => total += weight_a,
        }
    }
    for (depth, &key) in b.iter().enumerate() {
        if !b[..depth].contains(&key) && !a.contains(&key) {
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

impl crate::Fingerprint {
    /// Records in the explanation that the event joined `found`'s issue by similarity (score,
    /// breakdown, threshold). The hash is unchanged: the server maps it to the issue.
    pub fn record_similarity(&mut self, found: &SimilarityMatch, config: &SimilarityConfig) {
        self.explanation.similarity = Some(found.explanation(config));
    }
}

/// One project's issues, indexed for similarity lookups. Pure in-memory state: the server
/// owns it (one per project), feeds it with [`SimilarityIndex::insert`] when an issue opens,
/// and rebuilds it from persisted [`GroupingFeatures`] on start.
///
/// Representatives live in one contiguous arena so scoring a candidate costs one memory access,
/// not a pointer chase: at a million issues the index no longer fits in CPU caches, and misses,
/// not arithmetic, are what a lookup pays for.
#[derive(Debug, Default)]
pub struct SimilarityIndex {
    slots: Vec<Representative>,
    /// Frames, message tokens and context of every representative, back to back.
    arena: Vec<u32>,
    free_slots: Vec<u32>,
    postings: HashMap<u64, Posting, MixBuildHasher>,
    issue_slots: HashMap<u64, Vec<u32>, MixBuildHasher>,
}

/// Posting lists up to this long live inline in the hash table: most keys name one or two
/// issues, and a lookup then costs one memory access per key instead of two.
const INLINE_POSTINGS: usize = 4;

/// The representatives filed under one key, oldest first, at most [`MAX_POSTINGS_PER_KEY`].
#[derive(Debug)]
enum Posting {
    Inline {
        len: u8,
        slots: [u32; INLINE_POSTINGS],
    },
    Heap(Vec<u32>),
}

impl Default for Posting {
    fn default() -> Self {
        Posting::Inline {
            len: 0,
            slots: [0; INLINE_POSTINGS],
        }
    }
}

impl Posting {
    fn as_slice(&self) -> &[u32] {
        match self {
            Posting::Inline { len, slots } => &slots[..usize::from(*len)],
            Posting::Heap(slots) => slots,
        }
    }

    fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// Adds a representative; when full, the oldest goes (recent issues are likelier to recur).
    fn push_bounded(&mut self, slot: u32) {
        match self {
            Posting::Inline { len, slots } if usize::from(*len) < INLINE_POSTINGS => {
                slots[usize::from(*len)] = slot;
                *len += 1;
            }
            Posting::Inline { .. } => {
                let mut slots = Vec::with_capacity(INLINE_POSTINGS * 2);
                slots.extend_from_slice(self.as_slice());
                slots.push(slot);
                *self = Posting::Heap(slots);
            }
            Posting::Heap(slots) => {
                if slots.len() >= MAX_POSTINGS_PER_KEY {
                    slots.remove(0);
                }
                slots.push(slot);
            }
        }
    }

    fn remove(&mut self, slot: u32) {
        let kept: Vec<u32> = self
            .as_slice()
            .iter()
            .copied()
            .filter(|&other| other != slot)
            .collect();
        *self = Posting::default();
        for other in kept {
            self.push_bounded(other);
        }
    }
}

/// Context features kept per representative.
const MAX_CONTEXT_FEATURES: usize = 8;

#[derive(Debug, Clone, Copy)]
struct Representative {
    issue_id: u64,
    type_hash: u32,
    message_skeleton: u32,
    /// Where its features start in the arena.
    offset: u32,
    frame_count: u8,
    token_count: u8,
    context_count: u8,
    /// False once removed (the slot is then reused; its arena space is not).
    live: bool,
}

impl Representative {
    fn parts<'a>(&self, arena: &'a [u32]) -> FeatureParts<'a> {
        let start = self.offset as usize;
        let frames_end = start + usize::from(self.frame_count);
        let tokens_end = frames_end + usize::from(self.token_count);
        let context_end = tokens_end + usize::from(self.context_count);
        let slice = |from: usize, to: usize| arena.get(from..to).unwrap_or_default();
        (
            self.type_hash,
            slice(start, frames_end),
            slice(frames_end, tokens_end),
            slice(tokens_end, context_end),
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
        let frames = &features.frames[..features.frames.len().min(MAX_FEATURE_FRAMES)];
        let tokens =
            &features.message_tokens[..features.message_tokens.len().min(MAX_MESSAGE_TOKENS)];
        let context = &features.context[..features.context.len().min(MAX_CONTEXT_FEATURES)];
        let representative = Representative {
            issue_id,
            type_hash: features.type_hash,
            message_skeleton: features.message_skeleton,
            offset: self.arena.len() as u32,
            frame_count: frames.len() as u8,
            token_count: tokens.len() as u8,
            context_count: context.len() as u8,
            live: true,
        };
        self.arena.extend_from_slice(frames);
        self.arena.extend_from_slice(tokens);
        self.arena.extend_from_slice(context);
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                if let Some(free) = self.slots.get_mut(slot as usize) {
                    *free = representative;
                }
                slot
            }
            None => {
                self.slots.push(representative);
                (self.slots.len() - 1) as u32
            }
        };
        representatives.push(slot);
        for key in candidate_keys(
            features.type_hash,
            &features.frames,
            &features.message_tokens,
        )
        .iter()
        {
            self.postings.entry(key).or_default().push_bounded(slot);
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
        )
        .iter()
        {
            let Some(posting) = self.postings.get(&key) else {
                continue;
            };
            // Newest first, so the bound keeps the most recent.
            for &slot in posting.as_slice().iter().rev() {
                if candidates.len() >= MAX_CANDIDATES {
                    break 'keys;
                }
                if !candidates.contains(&slot) {
                    candidates.push(slot);
                }
            }
        }

        // Candidates are few (bounded by MAX_CANDIDATES): a vector beats a map here.
        let mut matches: Vec<SimilarityMatch> = Vec::with_capacity(candidates.len());
        for slot in candidates {
            let Some(representative) = self.slots.get(slot as usize).filter(|slot| slot.live)
            else {
                continue;
            };
            let score = score_parts(query, representative.parts(&self.arena), config);
            let issue_id = representative.issue_id;
            match matches.iter_mut().find(|found| found.issue_id == issue_id) {
                Some(found) if score.score > found.score.score => found.score = score,
                Some(_) => {}
                None => matches.push(SimilarityMatch { issue_id, score }),
            }
        }
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
            let Some(representative) = self.slots.get_mut(slot as usize).filter(|slot| slot.live)
            else {
                continue;
            };
            representative.live = false;
            let (type_hash, frames, tokens, _, _) = representative.parts(&self.arena);
            for key in candidate_keys(type_hash, frames, tokens).iter() {
                if let Some(posting) = self.postings.get_mut(&key) {
                    posting.remove(slot);
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
            if let Some(representative) = self.slots.get_mut(slot as usize) {
                representative.issue_id = into;
            }
        }
        self.issue_slots.entry(into).or_default().extend(slots);
    }
}

/// The keys an event is filed under and looked up by. All include the exception type, since
/// only same-type issues are candidates.
fn candidate_keys(type_hash: u32, frames: &[u32], tokens: &[u32]) -> CandidateKeys {
    let mut keys = CandidateKeys::default();
    let type_seed = mix(u64::from(type_hash) ^ 0x7970_655F_6B65_7973);
    let key = |tag: u64, value: u64| mix(type_seed ^ mix(value ^ (tag << 56)));
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
        for (band, pair) in (5u64..).zip(signature.chunks_exact(2)) {
            keys.push(key(band, u64::from(pair[0]) << 32 | u64::from(pair[1])));
        }
    }
    // Stackless events of one type also meet in one bucket (the most recent ones), so a lookup
    // does not depend on MinHash luck alone.
    if frames.is_empty() {
        keys.push(key(8, 0));
    }
    keys
}

/// At most 8 keys per event, kept inline (no allocation per lookup).
#[derive(Default)]
struct CandidateKeys {
    keys: [u64; 8],
    len: usize,
}

impl CandidateKeys {
    fn push(&mut self, key: u64) {
        if let Some(slot) = self.keys.get_mut(self.len) {
            *slot = key;
            self.len += 1;
        }
    }

    fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.keys[..self.len].iter().copied()
    }
}

/// Hashes keys that are already well-mixed 64-bit values (candidate keys, issue ids after
/// [`mix`]) without SipHash's cost.
#[derive(Default, Clone, Copy)]
struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = mix(self.0 ^ u64::from(byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = mix(self.0 ^ value);
    }
}

type MixBuildHasher = BuildHasherDefault<MixHasher>;

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
            .all(|posting| posting.as_slice().len() <= MAX_POSTINGS_PER_KEY));
        let candidates = index.best_candidates(
            &features(7, &[10], &[]),
            &SimilarityConfig::default(),
            usize::MAX,
        );
        assert!(candidates.len() <= MAX_CANDIDATES);
    }
}
