//! Analyst SQL: `POST /sql` and `stackhouse sql`. A query is parsed (sqlparser, in the active
//! engine's dialect), accepted only if it is one read-only `SELECT`/`WITH` over the documented
//! tables, and rewritten so that every table reference reads only the token's projects:
//!
//! ```text
//! SELECT count(*) FROM events         (token for project 1, embedded engine)
//! SELECT count(*) FROM (SELECT * FROM events WHERE project_id IN (1)) AS events
//! ```
//!
//! On ClickHouse every documented name becomes its definition over the raw tables
//! ([`crate::engine::clickhouse::analyst_table_sql`]), filter inside. Refused, whatever the
//! token: any other statement, a second statement, any other table or database (`system.*`,
//! `information_schema.*`, the raw ClickHouse tables), table functions (`url()`, `file()`,
//! `remote()`, ...), functions that read tables or dictionaries (`joinGet`, `dictGet`, `in`),
//! ClickHouse's `x IN table` shorthand, `SETTINGS` and `FORMAT` clauses, `SELECT INTO`.
//! The engines add their own bounds (read-only settings or plan checks, row cap, timeout).

use std::collections::HashSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Ident, ObjectNamePart, Query, SetExpr, Statement, TableAlias, TableFactor, Visit,
    VisitMut, Visitor, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::{ClickHouseDialect, Dialect, GenericDialect};
use datafusion::sql::sqlparser::parser::Parser;

use crate::access::Access;
use crate::engine::clickhouse::analyst_table_sql;
use crate::engine::SqlDialect;

/// The tables analysts query, identical on both engines (see `sql/README.md`).
pub const DOCUMENTED_TABLES: &[&str] = &[
    "events",
    "issues",
    "issue_stats",
    "issue_state",
    "issue_history",
    "issue_fingerprints",
    "projects",
    // Alerting (issue 7).
    "alert_rules",
    "alert_events",
    "alert_deliveries",
    // Traces (issue 9).
    "spans",
];

/// Names a `WITH` table may not take: a CTE of that name would stand in for a table the
/// rewritten query reads (documented tables, and the raw tables their definitions read).
const RESERVED_NAMES: &[&str] = &[
    // Alerting (issue 7): documented, and the raw tables behind them.
    "alert_rules",
    "alert_events",
    "alert_deliveries",
    "alert_states",
    "alert_claims",
    // Traces (issue 9).
    "spans",
    "events",
    "issues",
    "issue_stats",
    "issue_state",
    "issue_history",
    "issue_fingerprints",
    "projects",
    "project_keys",
    "fingerprint_minute",
    "fingerprint_hour",
    "api_tokens",
    "schema_migrations",
];

/// Functions that read tables, dictionaries, files or the network, or are table functions
/// (lower case; a name starting with one of the `PREFIXES` is refused too).
const FORBIDDEN_FUNCTIONS: [&str; 24] = [
    "in",
    "notin",
    "nullin",
    "notnullin",
    "globalin",
    "globalnotin",
    "globalnullin",
    "globalnotnullin",
    "hascolumnintable",
    "file",
    "url",
    "remote",
    "remotesecure",
    "cluster",
    "clusterallreplicas",
    "s3",
    "hdfs",
    "mysql",
    "postgresql",
    "jdbc",
    "odbc",
    "executable",
    "input",
    "getsetting",
];
const FORBIDDEN_PREFIXES: [&str; 3] = ["dict", "joinget", "read_"];

/// Why a query was not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlRejection {
    /// Not valid SQL of the engine's dialect (or the engine could not run it).
    #[error("{0}")]
    Invalid(String),
    /// Valid SQL that analyst access does not allow.
    #[error("{0}")]
    Refused(String),
}

/// Checks `query` and rewrites it for `access`; the result is what the engine runs.
pub fn prepare(query: &str, dialect: SqlDialect, access: &Access) -> Result<String, SqlRejection> {
    let parser_dialect: Box<dyn Dialect> = match dialect {
        SqlDialect::ClickHouse => Box::new(ClickHouseDialect {}),
        SqlDialect::DataFusion => Box::new(GenericDialect {}),
    };
    if query.to_lowercase().contains("__stackhouse") {
        return Err(SqlRejection::Refused(
            "names starting with __stackhouse are reserved".to_owned(),
        ));
    }
    let first_word = first_keyword(query);
    if NOT_READS.contains(&first_word.as_str()) {
        // Refused before parsing: the parser may not know every dialect's write syntax.
        return Err(SqlRejection::Refused(format!(
            "only read-only SELECT / WITH queries are accepted, not {}",
            first_word.to_uppercase()
        )));
    }
    let mut statements = Parser::parse_sql(parser_dialect.as_ref(), query)
        .map_err(|error| SqlRejection::Invalid(format!("cannot parse the query: {error}")))?;
    if statements.len() != 1 {
        return Err(SqlRejection::Refused(format!(
            "exactly one statement is accepted, found {}",
            statements.len()
        )));
    }
    let mut statement = statements.remove(0);
    if !matches!(statement, Statement::Query(_)) {
        return Err(SqlRejection::Refused(
            "only read-only SELECT / WITH queries are accepted".to_owned(),
        ));
    }
    let mut checks = Checks::default();
    if let ControlFlow::Break(refusal) = Visit::visit(&statement, &mut checks) {
        return Err(refusal);
    }
    let mut rewriter = Rewriter {
        dialect,
        parser_dialect: parser_dialect.as_ref(),
        projects: access.project_ids(),
        cte_names: checks.cte_names,
        definitions: Vec::new(),
    };
    if let ControlFlow::Break(refusal) = VisitMut::visit(&mut statement, &mut rewriter) {
        return Err(refusal);
    }
    let mut sql = statement.to_string();
    // The closing parenthesis keeps `..._1` from matching the start of `..._12`.
    for (placeholder, definition) in &rewriter.definitions {
        sql = sql.replace(
            &format!("(SELECT * FROM {placeholder})"),
            &format!("({definition})"),
        );
    }
    debug_assert!(!sql.contains(PLACEHOLDER_PREFIX));
    Ok(sql)
}

/// Statements that are not reads, recognised by their first word.
const NOT_READS: [&str; 40] = [
    "insert", "update", "delete", "alter", "drop", "create", "truncate", "rename", "attach",
    "detach", "optimize", "grant", "revoke", "set", "use", "kill", "system", "merge", "replace",
    "upsert", "copy", "call", "exec", "execute", "show", "describe", "desc", "explain", "exists",
    "check", "backup", "restore", "undrop", "exchange", "install", "load", "pragma", "vacuum",
    "analyze", "begin",
];

/// The first word of a query, lower case, after blanks, comments and opening parentheses.
fn first_keyword(query: &str) -> String {
    let mut rest = query;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        if let Some(comment) = rest.strip_prefix("--") {
            rest = comment.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(comment) = rest.strip_prefix("/*") {
            rest = comment.split_once("*/").map_or("", |(_, after)| after);
        } else {
            break;
        }
    }
    rest.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_lowercase()
}

fn refused<T>(message: impl Into<String>) -> ControlFlow<SqlRejection, T> {
    ControlFlow::Break(SqlRejection::Refused(message.into()))
}

/// The read-only checks on every query and expression; also collects `WITH` names.
#[derive(Default)]
struct Checks {
    cte_names: HashSet<String>,
}

impl Visitor for Checks {
    type Break = SqlRejection;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<SqlRejection> {
        if query.settings.is_some() {
            return refused("SETTINGS clauses are not accepted (limits are the server's)");
        }
        if query.format_clause.is_some() {
            return refused("FORMAT clauses are not accepted; ask for a format with \"format\"");
        }
        if !query.locks.is_empty() || query.for_clause.is_some() {
            return refused("FOR UPDATE / FOR XML clauses are not accepted");
        }
        if !query.pipe_operators.is_empty() {
            return refused("pipe operators are not accepted");
        }
        check_set_expr(&query.body)?;
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                let name = cte.alias.name.value.to_lowercase();
                if RESERVED_NAMES.contains(&name.as_str()) {
                    return refused(format!(
                        "a WITH table may not be named {:?}: that is a table name",
                        cte.alias.name.value
                    ));
                }
                self.cte_names.insert(cte.alias.name.value.clone());
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<SqlRejection> {
        match expr {
            Expr::Function(function) => {
                if function.name.0.len() != 1 {
                    return refused(format!("function {} is not allowed", function.name));
                }
                let name = function.name.to_string().to_lowercase();
                let name = name.trim_matches(|c| c == '`' || c == '"');
                if FORBIDDEN_FUNCTIONS.contains(&name)
                    || FORBIDDEN_PREFIXES
                        .iter()
                        .any(|prefix| name.starts_with(prefix))
                {
                    return refused(format!(
                        "function {} is not allowed in analyst SQL",
                        function.name
                    ));
                }
            }
            // ClickHouse reads `x IN (name)` / `x IN (db.name)` as "x in the table name".
            Expr::InList { list, .. }
                if list.len() == 1
                    && matches!(list[0], Expr::Identifier(_) | Expr::CompoundIdentifier(_)) =>
            {
                return refused(
                    "IN with a single name is not accepted (ClickHouse reads it as a table); \
                     write `= name` or IN (SELECT ...)",
                );
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

fn check_set_expr(body: &SetExpr) -> ControlFlow<SqlRejection> {
    match body {
        SetExpr::Select(select) => {
            if select.into.is_some() {
                return refused("SELECT INTO is not accepted");
            }
            ControlFlow::Continue(())
        }
        SetExpr::SetOperation { left, right, .. } => {
            check_set_expr(left)?;
            check_set_expr(right)
        }
        SetExpr::Query(_) | SetExpr::Values(_) => ControlFlow::Continue(()),
        SetExpr::Table(_) => refused("TABLE statements are not accepted; write SELECT * FROM"),
        SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => {
            refused("only read-only SELECT / WITH queries are accepted")
        }
    }
}

/// Replaces every documented table by its project-scoped definition; refuses any other
/// table and every table function.
struct Rewriter<'a> {
    dialect: SqlDialect,
    parser_dialect: &'a dyn Dialect,
    /// `None`: every project.
    projects: Option<Vec<u64>>,
    cte_names: HashSet<String>,
    /// (placeholder table name, definition) of every replaced table.
    definitions: Vec<(String, String)>,
}

/// Placeholder tables stand for definitions until the query is printed.
const PLACEHOLDER_PREFIX: &str = "__stackhouse_scoped_";

impl Rewriter<'_> {
    /// The documented table `name` refers to, if any. ClickHouse names are case-sensitive;
    /// DataFusion folds unquoted names to lower case.
    fn documented(&self, name: &Ident) -> Option<&'static str> {
        let folded = match (self.dialect, name.quote_style) {
            (SqlDialect::DataFusion, None) => name.value.to_lowercase(),
            _ => name.value.clone(),
        };
        DOCUMENTED_TABLES
            .iter()
            .copied()
            .find(|table| *table == folded)
    }

    fn definition(&self, table: &str) -> Option<String> {
        let ids = self.projects.as_deref();
        match self.dialect {
            SqlDialect::ClickHouse => analyst_table_sql(table, ids),
            SqlDialect::DataFusion => {
                let ids = ids?;
                let column = if table == "projects" {
                    "id"
                } else {
                    "project_id"
                };
                let list = ids
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                Some(format!("SELECT * FROM {table} WHERE {column} IN ({list})"))
            }
        }
    }
}

impl VisitorMut for Rewriter<'_> {
    type Break = SqlRejection;

    fn post_visit_table_factor(
        &mut self,
        table_factor: &mut TableFactor,
    ) -> ControlFlow<SqlRejection> {
        let (name, alias) = match table_factor {
            TableFactor::Table {
                name,
                alias,
                args,
                with_hints,
                version,
                partitions,
                json_path,
                sample,
                index_hints,
                with_ordinality,
            } => {
                if args.is_some() {
                    return refused(format!("table function {name} is not allowed"));
                }
                if !with_hints.is_empty()
                    || version.is_some()
                    || !partitions.is_empty()
                    || json_path.is_some()
                    || sample.is_some()
                    || !index_hints.is_empty()
                    || *with_ordinality
                {
                    return refused(format!("table modifiers on {name} are not accepted"));
                }
                (name.clone(), alias.clone())
            }
            TableFactor::Derived { .. } | TableFactor::NestedJoin { .. } => {
                return ControlFlow::Continue(())
            }
            other => {
                return refused(format!(
                    "only tables and subqueries may appear in FROM; {other} is not allowed"
                ))
            }
        };
        let ident = match name.0.as_slice() {
            [ObjectNamePart::Identifier(ident)] => ident.clone(),
            _ => {
                return refused(format!(
                    "table {name} is not available: only the documented tables ({}) can be read",
                    DOCUMENTED_TABLES.join(", ")
                ))
            }
        };
        let Some(table) = self.documented(&ident) else {
            if self.cte_names.contains(&ident.value) {
                return ControlFlow::Continue(());
            }
            return refused(format!(
                "table {name} is not available: only the documented tables ({}) can be read",
                DOCUMENTED_TABLES.join(", ")
            ));
        };
        let Some(definition) = self.definition(table) else {
            // Every project, and the engine's table is the documented one as it stands.
            return ControlFlow::Continue(());
        };
        // A placeholder now, the definition's text after printing: definitions are kept
        // verbatim (sqlparser need not parse every ClickHouse construct in them), and no
        // query can contain a placeholder itself (`prepare` refuses the prefix).
        let placeholder = format!("{PLACEHOLDER_PREFIX}{}", self.definitions.len());
        self.definitions.push((placeholder.clone(), definition));
        let subquery = match Parser::new(self.parser_dialect)
            .try_with_sql(&format!("SELECT * FROM {placeholder}"))
            .and_then(|mut parser| parser.parse_query())
        {
            Ok(query) => query,
            Err(error) => {
                return ControlFlow::Break(SqlRejection::Invalid(format!(
                    "cannot build the scoped {table}: {error}"
                )))
            }
        };
        *table_factor = TableFactor::Derived {
            lateral: false,
            subquery,
            alias: Some(alias.unwrap_or(TableAlias {
                explicit: true,
                name: ident,
                columns: Vec::new(),
                at: None,
            })),
            sample: None,
        };
        ControlFlow::Continue(())
    }
}

/// What `POST /sql` takes as JSON (a `text/plain` body is the query alone).
#[derive(Debug, serde::Deserialize)]
pub struct SqlRequest {
    pub query: String,
    #[serde(default)]
    pub format: SqlFormat,
}

/// How the answer is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqlFormat {
    #[default]
    Json,
    Csv,
}

/// Largest query text accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;

/// `POST /sql`: one read-only query over the documented tables, scoped to the token's
/// projects. JSON answer: `{columns, rows, rowCount, truncated, elapsedMs}`; CSV: a header
/// line and the rows (`X-Stackhouse-Truncated: true` when rows were cut).
pub async fn sql_endpoint(
    axum::extract::State(state): axum::extract::State<crate::server::AppState>,
    access: Access,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, crate::error::ApiError> {
    use crate::error::ApiError;
    use axum::response::IntoResponse;

    if body.len() > MAX_QUERY_BYTES {
        return Err(ApiError::PayloadTooLarge(format!(
            "the query is larger than {MAX_QUERY_BYTES} bytes"
        )));
    }
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let request = if content_type.starts_with("text/plain") {
        SqlRequest {
            query: String::from_utf8(body.to_vec())
                .map_err(|_| ApiError::BadRequest("the query is not UTF-8".to_owned()))?,
            format: SqlFormat::Json,
        }
    } else {
        serde_json::from_slice::<SqlRequest>(&body).map_err(|error| {
            ApiError::BadRequest(format!(
                "expected JSON {{\"query\": \"SELECT ...\", \"format\": \"json\"|\"csv\"}} \
                 or a text/plain body: {error}"
            ))
        })?
    };
    let started = std::time::Instant::now();
    let prepared = prepare(&request.query, state.engine.sql_dialect(), &access)?;
    let limits = crate::engine::SqlLimits {
        max_rows: state.config.sql.max_rows,
        timeout_secs: state.config.sql.timeout_secs,
        max_threads: None,
        read_own_writes: true,
    };
    let result = match state.engine.sql(&prepared, &limits).await {
        Ok(result) => result,
        Err(crate::engine::EngineError::Rejected(message)) => {
            return Err(ApiError::SqlInvalid(message))
        }
        Err(other) => return Err(other.into()),
    };
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(match request.format {
        SqlFormat::Json => axum::Json(serde_json::json!({
            "columns": result.columns,
            "rowCount": result.rows.len(),
            "rows": result.rows,
            "truncated": result.truncated,
            "elapsedMs": elapsed_ms,
        }))
        .into_response(),
        SqlFormat::Csv => (
            [
                (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    axum::http::HeaderName::from_static("x-stackhouse-truncated"),
                    if result.truncated { "true" } else { "false" },
                ),
            ],
            to_csv(&result),
        )
            .into_response(),
    })
}

/// The result as CSV (RFC 4180 quoting; arrays and objects as their JSON text).
pub fn to_csv(result: &crate::engine::SqlResult) -> String {
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        out.push_str(
            &cells
                .iter()
                .map(|cell| csv_cell(cell))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    };
    line(
        result.columns.iter().map(|c| c.name.clone()).collect(),
        &mut out,
    );
    for row in &result.rows {
        line(row.iter().map(cell_text).collect(), &mut out);
    }
    out
}

/// A JSON cell as plain text: strings unquoted, null empty, everything else as JSON.
pub fn cell_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A `/sql` JSON answer as an aligned text table, for the terminal.
pub fn render_table(answer: &serde_json::Value) -> String {
    let names: Vec<String> = answer["columns"]
        .as_array()
        .map(|columns| {
            columns
                .iter()
                .map(|column| column["name"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = answer["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|row| {
                    row.as_array()
                        .map(|cells| cells.iter().map(cell_text).collect())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    let mut widths: Vec<usize> = names.iter().map(|name| name.chars().count()).collect();
    for row in &rows {
        for (index, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(index) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("{}\n", padded.join(" | ").trim_end())
    };
    let mut out = line(&names);
    out.push_str(&format!(
        "{}\n",
        widths
            .iter()
            .map(|width| "-".repeat(*width))
            .collect::<Vec<_>>()
            .join("-+-")
    ));
    for row in &rows {
        out.push_str(&line(row));
    }
    let count = rows.len();
    out.push_str(&format!(
        "({count} row{}{})\n",
        if count == 1 { "" } else { "s" },
        if answer["truncated"].as_bool() == Some(true) {
            ", truncated: more rows matched"
        } else {
            ""
        }
    ));
    out
}

fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project_one() -> Access {
        Access::projects([1])
    }

    fn refused_text(query: &str, dialect: SqlDialect) -> String {
        match prepare(query, dialect, &project_one()) {
            Err(SqlRejection::Refused(message)) => message,
            other => panic!("{query}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn documented_tables_are_scoped_to_the_token_projects() {
        let sql = prepare(
            "SELECT count(*) FROM events e JOIN issues ON e.project_id = issues.project_id",
            SqlDialect::DataFusion,
            &project_one(),
        )
        .expect("accepted");
        assert_eq!(
            sql,
            "SELECT count(*) FROM (SELECT * FROM events WHERE project_id IN (1)) e \
             JOIN (SELECT * FROM issues WHERE project_id IN (1)) AS issues ON e.project_id = issues.project_id"
        );
        let nested = prepare(
            "SELECT title FROM issues WHERE issue_id IN (SELECT issue_id FROM issue_stats)",
            SqlDialect::DataFusion,
            &project_one(),
        )
        .expect("accepted");
        assert!(
            nested.contains(
                "FROM (SELECT * FROM issue_stats WHERE project_id IN (1)) AS issue_stats"
            ),
            "{nested}"
        );
        let projects = prepare(
            "SELECT * FROM projects",
            SqlDialect::DataFusion,
            &project_one(),
        )
        .expect("accepted");
        assert!(projects.contains("WHERE id IN (1)"), "{projects}");
        let all = prepare("SELECT * FROM events", SqlDialect::DataFusion, &Access::All)
            .expect("accepted");
        assert_eq!(all, "SELECT * FROM events");
        let clickhouse = prepare(
            "SELECT count() FROM issues",
            SqlDialect::ClickHouse,
            &project_one(),
        )
        .expect("accepted");
        assert!(
            clickhouse.contains("FROM issues WHERE project_id IN (1)"),
            "{clickhouse}"
        );
        assert!(clickhouse.contains("fingerprint_hour"), "{clickhouse}");
    }

    #[test]
    fn writes_and_scope_escapes_are_refused_on_both_dialects() {
        for dialect in [SqlDialect::ClickHouse, SqlDialect::DataFusion] {
            for query in [
                "INSERT INTO events (project_id) VALUES (2)",
                "ALTER TABLE events DELETE WHERE 1",
                "DROP TABLE events",
                "CREATE TABLE x (a INT)",
                "SELECT 1; SELECT 2",
                "SELECT * FROM system.tables",
                "SELECT * FROM stackhouse.events",
                "SELECT * FROM information_schema.tables",
                "SELECT * FROM fingerprint_hour",
                "SELECT * FROM api_tokens",
                "SELECT * FROM url('http://x', CSV, 'a String')",
                "SELECT * FROM file('/etc/passwd')",
                "SELECT * FROM remote('127.0.0.1', system.one)",
                "SELECT project_id FROM events UNION ALL SELECT project_id FROM project_keys",
                "SELECT 1 FROM events WHERE 0 IN (system.one)",
                "SELECT joinGet('t', 'c', 1)",
                "SELECT dictGetString('d', 'a', toUInt64(1))",
                "WITH events AS (SELECT 1 AS project_id) SELECT * FROM events",
                "SELECT * FROM (SELECT * FROM issue_state_raw) AS s",
            ] {
                let message = refused_text(query, dialect);
                assert!(!message.is_empty(), "{query}");
            }
        }
        assert!(prepare(
            "SELECT 1 SETTINGS readonly = 0",
            SqlDialect::ClickHouse,
            &project_one()
        )
        .is_err());
        assert!(matches!(
            prepare("SELEKT 1", SqlDialect::DataFusion, &project_one()),
            Err(SqlRejection::Invalid(_))
        ));
    }

    #[test]
    fn with_tables_of_other_names_stay_and_their_bodies_are_scoped() {
        let sql = prepare(
            "WITH recent AS (SELECT * FROM events) SELECT count(*) FROM recent",
            SqlDialect::DataFusion,
            &project_one(),
        )
        .expect("accepted");
        assert!(sql.contains("WITH recent AS (SELECT * FROM (SELECT * FROM events WHERE project_id IN (1)) AS events)"), "{sql}");
        assert!(sql.ends_with("FROM recent"), "{sql}");
    }
}
