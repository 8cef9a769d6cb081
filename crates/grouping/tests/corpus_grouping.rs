//! Grouping quality on the labelled corpus: pairwise precision and recall of v2 (fingerprint + similarity), compared with v1 and with naive type+message grouping.
//!
//! Pairwise: over all pairs of events, precision is the share of pairs grouped together that
//! belong to the same bug, recall the share of same-bug pairs grouped together. Run with
//! `--nocapture` to see the table.
#![allow(clippy::unwrap_used)]

mod corpus;

use std::collections::{BTreeMap, HashMap, HashSet};

use stackhouse_grouping::{
    fingerprint_event, FingerprintVersion, GroupingConfig, GroupingFeatures, SimilarityIndex,
};
use stackhouse_protocol::ErrorEvent;

#[derive(Debug, Clone, Copy)]
struct Quality {
    precision: f64,
    recall: f64,
    groups: usize,
}

/// Pairwise precision and recall of `predicted` (one group key per event) against `labels`.
fn pairwise_quality<K: std::hash::Hash + Eq + Clone>(labels: &[&str], predicted: &[K]) -> Quality {
    let pairs = |count: usize| (count * count.saturating_sub(1) / 2) as f64;
    let mut by_cell: HashMap<(K, &str), usize> = HashMap::new();
    let mut by_group: HashMap<K, usize> = HashMap::new();
    let mut by_label: HashMap<&str, usize> = HashMap::new();
    for (label, group) in labels.iter().zip(predicted) {
        *by_cell.entry((group.clone(), label)).or_default() += 1;
        *by_group.entry(group.clone()).or_default() += 1;
        *by_label.entry(label).or_default() += 1;
    }
    let together_and_same: f64 = by_cell.values().map(|&count| pairs(count)).sum();
    let together: f64 = by_group.values().map(|&count| pairs(count)).sum();
    let same: f64 = by_label.values().map(|&count| pairs(count)).sum();
    Quality {
        precision: if together == 0.0 {
            1.0
        } else {
            together_and_same / together
        },
        recall: if same == 0.0 {
            1.0
        } else {
            together_and_same / same
        },
        groups: by_group.len(),
    }
}

/// What the server does: exact fingerprint match, else the best similar issue, else a new one.
fn group_like_the_server(
    events: &[&ErrorEvent],
    config: &GroupingConfig,
    use_similarity: bool,
) -> Vec<u64> {
    let mut issue_of_fingerprint: HashMap<u64, u64> = HashMap::new();
    let mut index = SimilarityIndex::new();
    let mut next_issue = 1;
    let mut assigned = Vec::with_capacity(events.len());
    for event in events {
        let fingerprint = fingerprint_event(event, config);
        if let Some(&issue) = issue_of_fingerprint.get(&fingerprint.hash) {
            assigned.push(issue);
            continue;
        }
        let features = GroupingFeatures::from_event(event);
        let similar = (use_similarity && fingerprint.similarity_applies())
            .then(|| index.best_match(&features, &config.similarity))
            .flatten();
        let issue = match similar {
            Some(found) => found.issue_id,
            None => {
                next_issue += 1;
                next_issue
            }
        };
        issue_of_fingerprint.insert(fingerprint.hash, issue);
        index.insert(issue, &features);
        assigned.push(issue);
    }
    assigned
}

/// Bugs split over several groups, and groups holding several bugs: what to look at when a
/// number drops.
fn report_errors(labels: &[&str], predicted: &[u64]) {
    let mut groups_of_label: BTreeMap<&str, HashSet<u64>> = BTreeMap::new();
    let mut labels_of_group: BTreeMap<u64, HashSet<&str>> = BTreeMap::new();
    for (label, group) in labels.iter().zip(predicted) {
        groups_of_label.entry(label).or_default().insert(*group);
        labels_of_group.entry(*group).or_default().insert(label);
    }
    for (label, groups) in &groups_of_label {
        if groups.len() > 1 {
            println!("    split:  {label} over {} groups", groups.len());
        }
    }
    for labels in labels_of_group.values() {
        if labels.len() > 1 {
            let mut labels: Vec<_> = labels.iter().collect();
            labels.sort();
            println!("    merged: {labels:?}");
        }
    }
}

#[test]
fn corpus_grouping_quality() {
    let corpus = corpus::corpus();
    let labels: Vec<&str> = corpus.iter().map(|labelled| labelled.label).collect();
    let events: Vec<&ErrorEvent> = corpus.iter().map(|labelled| &labelled.event).collect();

    let platforms: HashSet<&str> = events.iter().map(|event| event.platform.as_str()).collect();
    let bugs: HashSet<&str> = labels.iter().copied().collect();
    assert!(events.len() >= 600, "corpus has {} events", events.len());
    for platform in [
        "python",
        "javascript",
        "node",
        "java",
        "go",
        "rust",
        "ruby",
        "php",
        "csharp",
    ] {
        assert!(platforms.contains(platform), "no {platform} events");
    }

    let v2 = GroupingConfig::default();
    let v1 = GroupingConfig {
        version: FingerprintVersion::V1,
        ..GroupingConfig::default()
    };
    let v2_grouped = group_like_the_server(&events, &v2, true);
    let v2_fingerprint_only = group_like_the_server(&events, &v2, false);
    let v1_grouped = group_like_the_server(&events, &v1, false);
    let naive: Vec<(String, String)> = events
        .iter()
        .map(|event| match event.main_exception() {
            Some(exception) => (
                exception.ty.clone(),
                exception.value.clone().unwrap_or_default(),
            ),
            None => (String::new(), event.message.clone().unwrap_or_default()),
        })
        .collect();

    let rows = [
        (
            "v2 fingerprint + similarity",
            pairwise_quality(&labels, &v2_grouped),
        ),
        (
            "v2 fingerprint only",
            pairwise_quality(&labels, &v2_fingerprint_only),
        ),
        ("v1 fingerprint", pairwise_quality(&labels, &v1_grouped)),
        (
            "type + raw message (naive)",
            pairwise_quality(&labels, &naive),
        ),
    ];
    println!(
        "corpus: {} events, {} bugs, {} platforms",
        events.len(),
        bugs.len(),
        platforms.len()
    );
    println!(
        "{:<30} {:>9} {:>9} {:>7}",
        "grouping", "precision", "recall", "groups"
    );
    for (name, quality) in rows {
        println!(
            "{name:<30} {:>9.4} {:>9.4} {:>7}",
            quality.precision, quality.recall, quality.groups
        );
    }
    println!("  v2 errors:");
    report_errors(&labels, &v2_grouped);

    let quality = rows[0].1;
    assert!(
        quality.precision >= 0.98,
        "v2 precision {:.4}",
        quality.precision
    );
    assert!(quality.recall >= 0.98, "v2 recall {:.4}", quality.recall);
}
