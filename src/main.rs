//! The `stackhouse` binary: command-line parsing and the error edge (anyhow lives only here).

mod cli_alerts;

/// jemalloc, not the system allocator: the embedded engine allocates and frees large
/// short-lived buffers (a write's Arrow batch and log record, a merge's batches) on several
/// threads, and glibc's per-thread arenas kept them resident; see `benches/embedded.rs`. Its
/// options are compiled in from `.cargo/config.toml`.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use stackhouse::config::Config;
use stackhouse::engine::clickhouse::{ClickHouseEngine, ClickHouseSettings, SpoolSettings};
use stackhouse::engine::embedded::EmbeddedEngine;
use stackhouse::engine::Engine;
use stackhouse::projects::{format_dsn, generate_public_key};
use stackhouse::server::{self, AppState};
use stackhouse::tokens::new_token;

/// Stackhouse: an error tracker on a columnar engine. Sentry SDKs send to it; SQL reads it.
#[derive(Parser)]
#[command(name = "stackhouse", version, about)]
struct Cli {
    /// TOML configuration file (values there are overridden by environment and flags).
    #[arg(long, global = true, env = "STACKHOUSE_CONFIG")]
    config: Option<PathBuf>,
    /// ClickHouse HTTP URL, e.g. http://127.0.0.1:8123. Without it the embedded engine is used.
    #[arg(long, global = true, env = "STACKHOUSE_CLICKHOUSE_URL")]
    clickhouse_url: Option<String>,
    /// ClickHouse database (default `stackhouse`).
    #[arg(long, global = true, env = "STACKHOUSE_CLICKHOUSE_DATABASE")]
    clickhouse_database: Option<String>,
    /// ClickHouse user.
    #[arg(long, global = true, env = "STACKHOUSE_CLICKHOUSE_USER")]
    clickhouse_user: Option<String>,
    /// ClickHouse password.
    #[arg(
        long,
        global = true,
        env = "STACKHOUSE_CLICKHOUSE_PASSWORD",
        hide_env_values = true
    )]
    clickhouse_password: Option<String>,
    /// Seconds this instance's copy of the issue ranking may age before a list request reloads
    /// it: how soon other instances' events move issues in this one's list (default 10).
    #[arg(
        long,
        global = true,
        env = "STACKHOUSE_CLICKHOUSE_RANKING_REFRESH_SECS"
    )]
    clickhouse_ranking_refresh_secs: Option<u64>,
    /// `serve` on ClickHouse: acknowledge events once synced to a local spool in the data
    /// directory and ship them in large inserts (default true); false: once ClickHouse stored
    /// them, keeping no local state.
    #[arg(long, global = true, env = "STACKHOUSE_CLICKHOUSE_SPOOL")]
    clickhouse_spool: Option<bool>,
    /// Directory for the embedded engine's data and the ClickHouse spool (default
    /// ./stackhouse-data).
    #[arg(long, global = true, env = "STACKHOUSE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Base URL SDKs reach this server at, used in printed DSNs (default http://LISTEN).
    #[arg(long, global = true, env = "STACKHOUSE_PUBLIC_URL")]
    public_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: ingest, GraphQL, dashboard.
    Serve {
        /// Address to listen on (default 127.0.0.1:8000).
        #[arg(long, env = "STACKHOUSE_LISTEN")]
        listen: Option<SocketAddr>,
        /// Dev mode: GraphQL and SQL from 127.0.0.1/::1 need no API token.
        #[arg(long, env = "STACKHOUSE_DEV")]
        dev: bool,
    },
    /// Create or upgrade the schema, then exit.
    Migrate,
    /// Manage projects.
    Project {
        #[command(subcommand)]
        command: ProjectCommand,
    },
    /// Merge and unmerge issues on a running server (through its GraphQL API).
    Issue {
        /// The server's base URL (default: the configured public URL).
        #[arg(long, env = "STACKHOUSE_SERVER")]
        server: Option<String>,
        /// API token (`stackhouse token create`); not needed for a dev-mode server on loopback.
        #[arg(long, env = "STACKHOUSE_TOKEN", hide_env_values = true)]
        token: Option<String>,
        #[command(subcommand)]
        command: IssueCommand,
    },
    /// Manage API tokens for GraphQL and SQL (stored hashed; the secret is printed once).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Run a read-only SQL query on a running server: `stackhouse sql "SELECT ..."`.
    /// The tables are documented in sql/README.md.
    Sql {
        /// The query (one SELECT or WITH statement).
        query: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: SqlOutput,
        /// The server's base URL (default: the configured public URL).
        #[arg(long, env = "STACKHOUSE_SERVER")]
        url: Option<String>,
        /// API token; not needed for a dev-mode server on loopback.
        #[arg(long, env = "STACKHOUSE_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Print the GraphQL schema (SDL).
    GraphqlSchema,
    /// Manage alert rules: create, list, delete, test (see `stackhouse alert create --help`).
    Alert {
        #[command(subcommand)]
        command: cli_alerts::AlertCommand,
    },
}

#[derive(Subcommand)]
enum IssueCommand {
    /// Merge issues into one: `issue merge --project 1 --into 123 456 789`.
    Merge {
        #[arg(long)]
        project: u64,
        /// The issue that remains.
        #[arg(long)]
        into: u64,
        /// The issues merged into it.
        #[arg(required = true)]
        from: Vec<u64>,
    },
    /// Move fingerprints out of an issue: `issue unmerge --project 1 123 00ab...`.
    Unmerge {
        #[arg(long)]
        project: u64,
        issue: u64,
        /// Fingerprints (16 hex digits, as `Issue.fingerprints` lists them).
        #[arg(required = true)]
        fingerprints: Vec<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print its secret on stdout (only its hash is stored).
    Create {
        /// A project the token may read (repeat for several); none = every project.
        #[arg(long = "project")]
        projects: Vec<u64>,
        /// A name to recognise the token by.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List tokens: id, name, projects, created, revoked.
    List,
    /// Revoke a token by its id (as `token list` shows it).
    Revoke { token_id: String },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SqlOutput {
    Table,
    Csv,
    Json,
}

#[derive(Subcommand)]
enum ProjectCommand {
    /// Create a project and print its DSN on stdout.
    Create {
        /// The project's name.
        name: String,
        /// Address the server listens on, for the DSN (default: the configured listen address).
        #[arg(long, env = "STACKHOUSE_LISTEN")]
        listen: Option<SocketAddr>,
    },
    /// List projects with their DSNs.
    List {
        #[arg(long, env = "STACKHOUSE_LISTEN")]
        listen: Option<SocketAddr>,
    },
}

impl Cli {
    fn load_config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(url) = &self.clickhouse_url {
            config.clickhouse_url = Some(url.clone());
        }
        if let Some(database) = &self.clickhouse_database {
            config.clickhouse_database = database.clone();
        }
        if let Some(user) = &self.clickhouse_user {
            config.clickhouse_user = Some(user.clone());
        }
        if let Some(password) = &self.clickhouse_password {
            config.clickhouse_password = Some(password.clone());
        }
        if let Some(seconds) = self.clickhouse_ranking_refresh_secs {
            config.clickhouse_ranking_refresh_secs = seconds;
        }
        if let Some(spool) = self.clickhouse_spool {
            config.clickhouse_spool = spool;
        }
        if let Some(data_dir) = &self.data_dir {
            config.data_dir = data_dir.clone();
        }
        if let Some(public_url) = &self.public_url {
            config.public_url = Some(public_url.clone());
        }
        let listen = match &self.command {
            Command::Serve { listen, .. }
            | Command::Project {
                command: ProjectCommand::Create { listen, .. } | ProjectCommand::List { listen },
            } => *listen,
            _ => None,
        };
        if let Some(listen) = listen {
            config.listen = listen;
        }
        if let Command::Serve { dev: true, .. } = &self.command {
            config.dev = true;
        }
        Ok(config)
    }
}

/// Runs one GraphQL operation against a running server; prints `data` as JSON.
async fn graphql_call(
    server: &str,
    token: Option<&str>,
    query: &str,
    variables: serde_json::Value,
) -> anyhow::Result<()> {
    let url = format!("{}/graphql", server.trim_end_matches('/'));
    let mut request = reqwest::Client::new()
        .post(&url)
        .json(&serde_json::json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response: serde_json::Value = request
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?
        .json()
        .await
        .context("the server's answer is not JSON")?;
    if let Some(errors) = response.get("errors") {
        bail!("the server refused: {errors}");
    }
    println!("{}", serde_json::to_string_pretty(&response["data"])?);
    Ok(())
}

/// The configured engine. `serving`: for `serve`, the one command that writes event batches,
/// so the only one that opens the ClickHouse spool (other commands may run beside a server).
fn open_engine(config: &Config, serving: bool) -> anyhow::Result<Arc<dyn Engine>> {
    match &config.clickhouse_url {
        Some(url) => Ok(Arc::new(ClickHouseEngine::new(ClickHouseSettings {
            user: config.clickhouse_user.clone(),
            password: config.clickhouse_password.clone(),
            ranking_refresh: Duration::from_secs(config.clickhouse_ranking_refresh_secs),
            spool: (serving && config.clickhouse_spool).then(|| SpoolSettings {
                max_bytes: config.clickhouse_spool_max_bytes,
                ship_interval: Duration::from_millis(config.clickhouse_spool_ship_interval_ms),
                ship_bytes: config.clickhouse_spool_ship_bytes,
                ..SpoolSettings::new(config.clickhouse_spool_dir())
            }),
            ..ClickHouseSettings::new(url.clone(), config.clickhouse_database.clone())
        }))),
        None => {
            let engine = EmbeddedEngine::open(&config.data_dir, config.embedded.clone())
                .with_context(|| {
                    format!(
                        "cannot open the embedded engine's data directory {}",
                        config.data_dir.display()
                    )
                })?;
            Ok(Arc::new(engine))
        }
    }
}

async fn run_token_command(engine: &dyn Engine, command: &TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { projects, name } => {
            let known: Vec<u64> = engine.projects().await?.iter().map(|p| p.id).collect();
            if let Some(unknown) = projects.iter().find(|id| !known.contains(id)) {
                bail!("there is no project {unknown}");
            }
            let (secret, record) = new_token(name, projects);
            engine.store_api_token(&record).await?;
            let scope = if record.project_ids.is_empty() {
                "every project".to_owned()
            } else {
                format!("projects {:?}", record.project_ids)
            };
            eprintln!(
                "created token {} for {scope}; the secret below is shown only once",
                record.token_id
            );
            println!("{secret}");
        }
        TokenCommand::List => {
            println!("id\tname\tprojects\tcreated\trevoked");
            for token in engine.api_tokens().await? {
                let projects = if token.project_ids.is_empty() {
                    "all".to_owned()
                } else {
                    token
                        .project_ids
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    token.token_id,
                    token.name,
                    projects,
                    token.created_at.format("%Y-%m-%d %H:%M:%S"),
                    token.revoked
                );
            }
        }
        TokenCommand::Revoke { token_id } => {
            let Some(mut token) = engine
                .api_tokens()
                .await?
                .into_iter()
                .find(|token| &token.token_id == token_id)
            else {
                bail!("there is no token {token_id}");
            };
            token.revoked = true;
            engine.store_api_token(&token).await?;
            eprintln!("revoked token {token_id}");
        }
    }
    Ok(())
}

/// `stackhouse sql`: sends the query to `/sql` and prints the answer.
async fn run_sql(
    server: &str,
    token: Option<&str>,
    query: &str,
    output: SqlOutput,
) -> anyhow::Result<()> {
    let url = format!("{}/sql", server.trim_end_matches('/'));
    let format = match output {
        SqlOutput::Csv => "csv",
        SqlOutput::Table | SqlOutput::Json => "json",
    };
    let mut request = reqwest::Client::new()
        .post(&url)
        .json(&serde_json::json!({ "query": query, "format": format }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body = response.text().await.context("the answer was cut off")?;
    if !status.is_success() {
        let detail = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|answer| answer["detail"].as_str().map(str::to_owned))
            .unwrap_or(body);
        bail!("the server refused the query ({status}): {detail}");
    }
    match output {
        SqlOutput::Csv => print!("{body}"),
        SqlOutput::Json => println!("{body}"),
        SqlOutput::Table => {
            let answer: serde_json::Value =
                serde_json::from_str(&body).context("the server's answer is not JSON")?;
            print!("{}", stackhouse::sql::render_table(&answer));
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "stackhouse=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = cli.load_config()?;
    match &cli.command {
        Command::Issue {
            server,
            token,
            command,
        } => {
            let server = server.clone().unwrap_or_else(|| config.public_url());
            match command {
                IssueCommand::Merge {
                    project,
                    into,
                    from,
                } => {
                    let from: Vec<String> = from.iter().map(u64::to_string).collect();
                    graphql_call(
                        &server,
                        token.as_deref(),
                        "mutation($p: ID!, $into: ID!, $from: [ID!]!) { mergeIssues(projectId: $p, into: $into, from: $from) { id title count userCount fingerprints } }",
                        serde_json::json!({ "p": project.to_string(), "into": into.to_string(), "from": from }),
                    )
                    .await?;
                }
                IssueCommand::Unmerge {
                    project,
                    issue,
                    fingerprints,
                } => {
                    graphql_call(
                        &server,
                        token.as_deref(),
                        "mutation($p: ID!, $issue: ID!, $fps: [String!]!) { unmergeFingerprints(projectId: $p, issueId: $issue, fingerprints: $fps) }",
                        serde_json::json!({ "p": project.to_string(), "issue": issue.to_string(), "fps": fingerprints }),
                    )
                    .await?;
                }
            }
        }
        Command::Token { command } => {
            let engine = open_engine(&config, false)?;
            engine.migrate().await.context("migration failed")?;
            run_token_command(engine.as_ref(), command).await?;
        }
        Command::Sql {
            query,
            format,
            url,
            token,
        } => {
            let server = url.clone().unwrap_or_else(|| config.public_url());
            run_sql(&server, token.as_deref(), query, *format).await?;
        }
        Command::Alert { command } => {
            let engine = open_engine(&config, false)?;
            engine.migrate().await.context("migration failed")?;
            cli_alerts::run(engine.as_ref(), command).await?;
        }
        Command::GraphqlSchema => {
            print!("{}", stackhouse::graphql::sdl());
        }
        Command::Migrate => {
            let engine = open_engine(&config, false)?;
            engine.migrate().await.context("migration failed")?;
            eprintln!("schema is up to date ({} engine)", engine.name());
        }
        Command::Serve { .. } => {
            let engine = open_engine(&config, true)?;
            let state = AppState::start(config, engine).await?;
            server::serve(state).await?;
        }
        Command::Project { command } => {
            let engine = open_engine(&config, false)?;
            engine.migrate().await.context("migration failed")?;
            match command {
                ProjectCommand::Create { name, .. } => {
                    let key = generate_public_key();
                    let project = engine.create_project(name, &key).await?;
                    eprintln!("created project {} ({:?})", project.id, project.name);
                    println!("{}", format_dsn(&config.public_url(), &key, project.id));
                }
                ProjectCommand::List { .. } => {
                    let keys = engine.project_keys().await?;
                    for project in engine.projects().await? {
                        for key in keys
                            .iter()
                            .filter(|k| k.project_id == project.id && k.active)
                        {
                            println!(
                                "{}\t{}\t{}",
                                project.id,
                                project.name,
                                format_dsn(&config.public_url(), &key.public_key, project.id)
                            );
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
