//! The numbered schema migrations in `sql/`, embedded in the binary and applied in order.

/// One migration file.
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order. A new schema change is a new file here, never an edit of an old one.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_events.sql",
        sql: include_str!("../../../sql/0001_events.sql"),
    },
    Migration {
        version: 2,
        name: "0002_aggregates.sql",
        sql: include_str!("../../../sql/0002_aggregates.sql"),
    },
    Migration {
        version: 3,
        name: "0003_side_tables.sql",
        sql: include_str!("../../../sql/0003_side_tables.sql"),
    },
    Migration {
        version: 4,
        name: "0004_issue_features.sql",
        sql: include_str!("../../../sql/0004_issue_features.sql"),
    },
    Migration {
        version: 5,
        name: "0005_lifecycle.sql",
        sql: include_str!("../../../sql/0005_lifecycle.sql"),
    },
    Migration {
        version: 6,
        name: "0006_api_tokens.sql",
        sql: include_str!("../../../sql/0006_api_tokens.sql"),
    },
    Migration {
        version: 7,
        name: "0007_alerting.sql",
        sql: include_str!("../../../sql/0007_alerting.sql"),
    },
    Migration {
        version: 8,
        name: "0008_spans.sql",
        sql: include_str!("../../../sql/0008_spans.sql"),
    },
    Migration {
        version: 9,
        name: "0009_fingerprint_totals.sql",
        sql: include_str!("../../../sql/0009_fingerprint_totals.sql"),
    },
    Migration {
        version: 10,
        name: "0010_events_by_arrival.sql",
        sql: include_str!("../../../sql/0010_events_by_arrival.sql"),
    },
];

/// The table a `RENAME TABLE from TO to` statement creates, if `statement` is one.
///
/// A migration runs again from its first statement when one further down failed, so each
/// statement must be harmless the second time: `CREATE ... IF NOT EXISTS`, `DROP ... IF
/// EXISTS`. ClickHouse has no `RENAME ... IF EXISTS`, so the runner skips a rename whose
/// target already exists: it happened on the earlier run.
pub fn rename_target(statement: &str) -> Option<&str> {
    let words: Vec<&str> = statement.split_whitespace().collect();
    match words.as_slice() {
        [rename, table, _, to, target]
            if rename.eq_ignore_ascii_case("RENAME")
                && table.eq_ignore_ascii_case("TABLE")
                && to.eq_ignore_ascii_case("TO") =>
        {
            Some(target.trim_matches('`'))
        }
        _ => None,
    }
}

/// The statements of a migration file: split on `;` at the end of a line, comments dropped.
/// (ClickHouse's HTTP interface takes one statement per request.)
pub fn statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let code = line.trim_end();
        if code.trim_start().starts_with("--") || code.trim().is_empty() {
            continue;
        }
        current.push_str(code);
        current.push('\n');
        if code.ends_with(';') {
            let statement = current.trim().trim_end_matches(';').trim().to_owned();
            if !statement.is_empty() {
                statements.push(statement);
            }
            current.clear();
        }
    }
    let rest = current.trim();
    if !rest.is_empty() {
        statements.push(rest.to_owned());
    }
    statements
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_split_into_statements() {
        let mut previous = 0;
        for migration in MIGRATIONS {
            assert!(migration.version > previous, "versions must increase");
            previous = migration.version;
            assert!(migration
                .name
                .starts_with(&format!("{:04}_", migration.version)));
            let statements = statements(migration.sql);
            assert!(!statements.is_empty());
            for statement in statements {
                // Schema changes, backfills of a new aggregate table, and the statements the
                // runner can repeat: `IF EXISTS` drops, renames (skipped once done).
                assert!(
                    ["CREATE", "ALTER", "INSERT INTO", "DROP TABLE IF EXISTS"]
                        .iter()
                        .any(|start| statement.starts_with(start))
                        || rename_target(&statement).is_some(),
                    "{statement}"
                );
                assert!(!statement.contains(';'));
            }
        }
    }

    #[test]
    fn a_rename_names_its_target() {
        assert_eq!(
            rename_target("RENAME TABLE events TO events_v1"),
            Some("events_v1")
        );
        assert_eq!(rename_target("rename table `a`\nTO `b`"), Some("b"));
        assert_eq!(rename_target("RENAME TABLE a TO b, c TO d"), None);
        assert_eq!(rename_target("CREATE TABLE a AS b"), None);
    }
}
