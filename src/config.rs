//! The one typed configuration: defaults, overridden by a TOML file, then environment, then flags.
//!
//! Every field says what it does and its default. `stackhouse serve --help` lists the flags and
//! the `STACKHOUSE_*` environment variables that set them; the same names (snake_case) work as
//! keys in the TOML file given with `--config` (sections `[ingest]`, `[writer]`, `[grouping]`,
//! `[embedded]`, `[alerts]`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Everything Stackhouse can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on. Default `127.0.0.1:8000`.
    pub listen: SocketAddr,
    /// Base URL clients reach this server at, used to print DSNs. Default `http://{listen}`.
    pub public_url: Option<String>,
    /// ClickHouse HTTP URL (e.g. `http://127.0.0.1:8123`). When absent the embedded engine is
    /// used. Default: absent.
    pub clickhouse_url: Option<String>,
    /// ClickHouse database holding Stackhouse's tables; created if missing. Default `stackhouse`.
    pub clickhouse_database: String,
    /// ClickHouse user. Default: the server's default user.
    pub clickhouse_user: Option<String>,
    /// ClickHouse password. Default: none.
    pub clickhouse_password: Option<String>,
    /// Seconds this instance's in-memory copy of the issue ranking (events, first and last
    /// seen per fingerprint) may age before a list request reloads it from ClickHouse. Its own
    /// events are ranked at once; this is how soon other instances' events move issues in its
    /// list. Default 10.
    pub clickhouse_ranking_refresh_secs: u64,
    /// On ClickHouse, acknowledge a batch of events once it is synced to a local spool
    /// (`{data_dir}/clickhouse-spool`) and ship the spool to ClickHouse in large inserts: an
    /// insert then holds thousands of events rather than the few hundred requests in flight,
    /// which costs ClickHouse a fraction per event. Reads wait until what this instance
    /// acknowledged before them is shipped. The spool directory must survive restarts (what it
    /// holds is shipped at the next start). `false`: a batch is acknowledged once ClickHouse
    /// stored it, and the instance keeps no state of its own. Only `serve` uses it. Default
    /// true.
    pub clickhouse_spool: bool,
    /// Bytes of events (their size in memory) acknowledged but not yet shipped to ClickHouse,
    /// at most; past it, writes wait and ingest answers 503 once the write queue is full too.
    /// Default 256 MiB.
    pub clickhouse_spool_max_bytes: usize,
    /// Milliseconds between the spool's inserts into ClickHouse when fewer than
    /// `clickhouse_spool_ship_bytes` wait; reads wait for about this long more. Default 100.
    pub clickhouse_spool_ship_interval_ms: u64,
    /// Bytes of events (their size in memory) waiting in the spool that start an insert at
    /// once; under load this sets how large an insert is (at most 32 MiB). Larger inserts make
    /// fewer parts for ClickHouse to merge, which is most of its work, but events take longer
    /// to become visible and the server holds more: `benches/load.rs` (envelopes, 256
    /// connections, three 30-45 s pairs) measured ClickHouse at 84-94 µs of CPU per event with
    /// the defaults and 52-69 µs with 1,000 ms and 32 MiB, the server at 83-105 µs and 94-118
    /// µs, peak RSS 120 MiB and 250 MiB, request-to-visible p50 0.3 s and 2 s. With both on
    /// two cores, events/s moved by less than the noise (10.4k and 11.1k on average). Worth
    /// it when ClickHouse has a machine of its own. Default 4 MiB.
    pub clickhouse_spool_ship_bytes: usize,
    /// Directory for the embedded engine's data (write-ahead log, Parquet segments), and for
    /// the ClickHouse spool. Default `./stackhouse-data`.
    pub data_dir: PathBuf,
    /// Ingest limits.
    pub ingest: IngestConfig,
    /// The batch writer between ingest and the engine.
    pub writer: WriterConfig,
    /// Fingerprinting and grouping.
    pub grouping: GroupingSettings,
    /// The embedded engine (used when no ClickHouse URL is set): checkpoint, compaction and
    /// analyst-query limits. Every field is documented with its default in
    /// [`crate::engine::embedded::EmbeddedOptions`].
    pub embedded: crate::engine::embedded::EmbeddedOptions,
    /// Dev mode: requests from 127.0.0.1/::1 without an API token may use GraphQL and SQL on
    /// every project (other addresses still need a token). Never for a shared server.
    /// Default false.
    pub dev: bool,
    /// Analyst SQL (`POST /sql`) bounds.
    pub sql: SqlConfig,
    /// Alerting: the scheduler and webhook deliverer (every field documented with its default
    /// in [`crate::alerting::AlertsConfig`]).
    pub alerts: crate::alerting::AlertsConfig,
}

impl Config {
    /// Where the ClickHouse spool lives.
    pub fn clickhouse_spool_dir(&self) -> PathBuf {
        self.data_dir.join("clickhouse-spool")
    }
}

/// Bounds of analyst SQL queries.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqlConfig {
    /// Rows one query returns at most; the answer says `truncated` when there were more.
    /// Default 10,000.
    pub max_rows: usize,
    /// Longest one query may run, in seconds. Default 30.
    pub timeout_secs: u64,
}

impl Default for SqlConfig {
    fn default() -> Self {
        SqlConfig {
            max_rows: 10_000,
            timeout_secs: 30,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            public_url: None,
            clickhouse_url: None,
            clickhouse_database: "stackhouse".to_owned(),
            clickhouse_user: None,
            clickhouse_password: None,
            clickhouse_ranking_refresh_secs: crate::engine::clickhouse::DEFAULT_RANKING_REFRESH
                .as_secs(),
            clickhouse_spool: true,
            clickhouse_spool_max_bytes: crate::engine::clickhouse::DEFAULT_SPOOL_MAX_BYTES,
            clickhouse_spool_ship_interval_ms: crate::engine::clickhouse::DEFAULT_SHIP_INTERVAL
                .as_millis() as u64,
            clickhouse_spool_ship_bytes: crate::engine::clickhouse::DEFAULT_SHIP_BYTES,
            data_dir: PathBuf::from("stackhouse-data"),
            ingest: IngestConfig::default(),
            writer: WriterConfig::default(),
            grouping: GroupingSettings::default(),
            embedded: crate::engine::embedded::EmbeddedOptions::default(),
            dev: false,
            sql: SqlConfig::default(),
            alerts: crate::alerting::AlertsConfig::default(),
        }
    }
}

/// Limits applied to every ingest request before anything is parsed.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest request body accepted as sent (compressed or not), in bytes. Default 20 MiB.
    pub max_body_bytes: usize,
    /// Largest request body after decompression, in bytes; a body that would expand past this
    /// is refused with 413 without being expanded further. Default 100 MiB.
    pub max_decompressed_bytes: usize,
    /// Largest single event after decompression, in bytes. Default 1 MiB.
    pub max_event_bytes: usize,
    /// Most events one native batch request may carry. Default 20,000.
    pub max_events_per_request: usize,
    /// Largest Sentry envelope (`/api/{project}/envelope/`), in bytes, both as sent and after
    /// decompression; one event item inside it is still held to `max_event_bytes`. Default
    /// 100 MiB (Relay's limit).
    pub max_envelope_bytes: usize,
    /// Largest Sentry `/api/{project}/store/` body as sent (usually compressed), in bytes;
    /// after decompression it is held to `max_event_bytes`. Default 200 KiB (Relay's limit).
    pub max_store_body_bytes: usize,
    /// Events one project may send per minute (on this instance); over it, ingest answers 429
    /// with `Retry-After` and `X-Sentry-Rate-Limits`, which Sentry SDKs obey by backing off.
    /// Counts error events of every door (native, store, envelope); transactions, sessions and
    /// other envelope items do not count. Default: no limit.
    pub rate_limit_events_per_minute: Option<u64>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_body_bytes: 20 * 1024 * 1024,
            max_decompressed_bytes: 100 * 1024 * 1024,
            max_event_bytes: 1024 * 1024,
            max_events_per_request: 20_000,
            max_envelope_bytes: 100 * 1024 * 1024,
            max_store_body_bytes: 200 * 1024,
            rate_limit_events_per_minute: None,
        }
    }
}

/// The bounded queue and batch writer in front of the engine.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriterConfig {
    /// Events that may wait in the queue at once; when full, ingest answers 503 with
    /// `Retry-After` instead of growing memory. Default 100,000.
    pub queue_capacity_events: usize,
    /// ... and bytes of events (their size in memory, about 2-4 times their JSON): large
    /// events fill the queue before the event count does. Default 256 MiB.
    pub queue_capacity_bytes: usize,
    /// A batch holds at most this many events (default 20,000) ...
    pub batch_max_events: usize,
    /// ... and about this many bytes of events (their size in memory). Default: the engine's
    /// own ([`Engine::write_batch_bytes`](crate::engine::Engine::write_batch_bytes)): 32 MiB
    /// on ClickHouse, where fewer, larger inserts cost it much less, and 8 MiB on the embedded
    /// engine, which converts, logs and indexes a write in memory as a whole (so this bounds
    /// what one write needs there, and larger writes were no faster).
    pub batch_max_bytes: Option<usize>,
    /// How long, in milliseconds, a batch waits for more events after its first before it is
    /// written. Default 0: group commit — the writer writes at once whatever is queued, and the
    /// requests that arrive during a write make up the next batch, so batches grow with the
    /// load and a lone event is not held back. A positive value trades latency for fewer,
    /// larger inserts (for a ClickHouse fed by many tiny requests).
    pub flush_interval_ms: u64,
    /// How many times a batch that failed for an infrastructure reason (engine unreachable) is
    /// retried before the waiting requests are answered 503. Default 5.
    pub max_retries: u32,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            queue_capacity_events: 100_000,
            queue_capacity_bytes: 256 << 20,
            batch_max_events: 20_000,
            batch_max_bytes: None,
            flush_interval_ms: 0,
            max_retries: 5,
        }
    }
}

/// Fingerprinting and grouping settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupingSettings {
    /// Fingerprint algorithm version for new events (`v1`, ...). Default: the latest.
    pub version: Option<String>,
}

impl Config {
    /// Reads a TOML file over the defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config: Config = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            message: source.to_string(),
        })?;
        config.validate().map_err(|error| ConfigError::Parse {
            path: path.to_owned(),
            message: error.to_string(),
        })?;
        Ok(config)
    }

    /// Checks values the types alone allow but that mean nothing (`serve` refuses to start
    /// with them).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.alerts.validate().map_err(ConfigError::Invalid)
    }

    /// The URL clients use to reach this server (for DSNs).
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    /// The grouping configuration this config selects.
    pub fn grouping_config(&self) -> Result<stackhouse_grouping::GroupingConfig, ConfigError> {
        let mut grouping = stackhouse_grouping::GroupingConfig::default();
        if let Some(version) = &self.grouping.version {
            grouping.version =
                stackhouse_grouping::FingerprintVersion::parse(version).ok_or_else(|| {
                    ConfigError::Invalid(format!("unknown grouping version {version:?}"))
                })?;
        }
        Ok(grouping)
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_overrides_defaults_and_rejects_unknown_keys() {
        let config: Config =
            toml::from_str("listen = \"127.0.0.1:9999\"\n[writer]\nbatch_max_events = 5\n")
                .expect("valid toml");
        assert_eq!(config.listen.port(), 9999);
        assert_eq!(config.writer.batch_max_events, 5);
        assert_eq!(config.writer.flush_interval_ms, 0);
        assert!(toml::from_str::<Config>("lisen = 1").is_err());
    }

    #[test]
    fn alert_history_days_defaults_to_30_and_must_be_at_least_1() {
        assert_eq!(Config::default().alerts.history_days, 30);
        assert!(Config::default().validate().is_ok());
        let config: Config = toml::from_str("[alerts]\nhistory_days = 7\n").expect("valid toml");
        assert_eq!(config.alerts.history_days, 7);
        assert!(config.validate().is_ok());
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("stackhouse.toml");
        std::fs::write(&path, "[alerts]\nhistory_days = 0\n").expect("write");
        let error = Config::from_file(&path).expect_err("zero days of history is refused");
        let message = error.to_string();
        assert!(
            message.contains("alerts.history_days must be at least 1"),
            "{message}"
        );
        assert!(message.contains("stackhouse.toml"), "{message}");
        let config: Config = toml::from_str("[alerts]\nhistory_days = 0\n").expect("valid toml");
        assert!(matches!(config.validate(), Err(ConfigError::Invalid(_))));
    }
}
