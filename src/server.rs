//! Wiring: the shared state, the router (one function, so tests drive it with `oneshot` too),
//! and `serve`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, Method};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use tower_http::cors::{AllowHeaders, Any, CorsLayer};

use crate::config::Config;
use crate::engine::Engine;
use crate::graphql::{build_schema, GraphqlContext};
use crate::group::Grouper;
use crate::ingest::envelope_items::ItemCounters;
use crate::pipeline::Pipeline;
use crate::projects::ProjectRegistry;
use crate::ratelimit::RateLimiter;
use crate::tokens::TokenRegistry;
use crate::tracker::StatusTracker;
use crate::writer::BatchWriter;

/// Everything a handler may need.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub engine: Arc<dyn Engine>,
    pub projects: Arc<ProjectRegistry>,
    pub pipeline: Arc<Pipeline>,
    /// Per-project event rate limits (`ingest.rate_limit_events_per_minute`).
    pub rate_limiter: Arc<RateLimiter>,
    /// Sentry envelope items received, by type.
    pub item_counters: Arc<ItemCounters>,
    /// API tokens for GraphQL and SQL.
    pub tokens: Arc<TokenRegistry>,
    /// The alert scheduler and webhook deliverer (`None` when `alerts.enabled` is false).
    pub alerts: Option<Arc<crate::alerting::scheduler::AlertRuntime>>,
}

impl AppState {
    /// Migrates the engine, loads grouping state and starts the batch writer.
    pub async fn start(config: Config, engine: Arc<dyn Engine>) -> anyhow::Result<AppState> {
        config.validate()?;
        engine.migrate().await?;
        let grouping = config.grouping_config()?;
        let grouper = Arc::new(Grouper::new(
            grouping,
            engine.fingerprint_mappings().await?,
            &engine.issue_records().await?,
        ));
        let tracker = Arc::new(StatusTracker::load(engine.as_ref()).await?);
        let writer = BatchWriter::start(
            engine.clone(),
            grouper.clone(),
            tracker.clone(),
            config.writer.clone(),
        );
        let projects = Arc::new(ProjectRegistry::new(engine.clone()));
        projects.refresh().await?;
        let alerts = config
            .alerts
            .enabled
            .then(|| crate::alerting::scheduler::start(engine.clone(), config.alerts.clone()));
        Ok(AppState {
            alerts,
            rate_limiter: Arc::new(RateLimiter::new(config.ingest.rate_limit_events_per_minute)),
            item_counters: Arc::new(ItemCounters::default()),
            tokens: Arc::new(TokenRegistry::new(engine.clone())),
            config: Arc::new(config),
            engine,
            projects,
            pipeline: Arc::new(Pipeline::new(grouper, tracker, writer)),
        })
    }
}

/// The HTTP routes.
pub fn router(state: AppState) -> Router {
    let schema = build_schema(GraphqlContext {
        engine: state.engine.clone(),
        projects: state.projects.clone(),
        pipeline: state.pipeline.clone(),
        public_url: state.config.public_url(),
    });
    Router::new()
        .route(
            "/api/{project_id}/events",
            post(crate::ingest::native::ingest_events),
        )
        .route(
            "/api/{project_id}/events/",
            post(crate::ingest::native::ingest_events),
        )
        // The Sentry protocol; SDKs add the trailing slash, hand-written clients may not.
        .route(
            "/api/{project_id}/envelope/",
            post(crate::ingest::sentry::ingest_envelope),
        )
        .route(
            "/api/{project_id}/envelope",
            post(crate::ingest::sentry::ingest_envelope),
        )
        .route(
            "/api/{project_id}/store/",
            post(crate::ingest::sentry::ingest_store),
        )
        .route(
            "/api/{project_id}/store",
            post(crate::ingest::sentry::ingest_store),
        )
        // OTLP/HTTP traces (key in a header: the path names no project).
        .route("/v1/traces", post(crate::ingest::otlp::ingest_traces))
        // GraphQL and analyst SQL need an API token (or dev mode on loopback): see `access`.
        .route(
            "/graphql",
            post(crate::access::graphql_http)
                .get(crate::access::graphql_http)
                .layer(Extension(schema.clone())),
        )
        // Subscriptions (graphql-transport-ws and graphql-ws protocols), token in connection_init.
        .route(
            "/graphql/ws",
            get(crate::access::graphql_ws).layer(Extension(schema)),
        )
        .route("/sql", post(crate::sql::sql_endpoint))
        .route("/health", get(health))
        .fallback(crate::dashboard::serve_dashboard)
        // Ingest enforces its own, configurable body limits while streaming.
        .layer(DefaultBodyLimit::disable())
        .layer(cors())
        .with_state(state)
}

/// CORS for browser SDKs and the dashboard: any origin; preflights echo the requested headers
/// (`X-Sentry-Auth`, `Authorization` and `Content-Encoding` must be named explicitly, a `*`
/// does not cover `Authorization`); the rate-limit headers are exposed so browser SDKs can
/// read them and back off.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            HeaderName::from_static(crate::error::X_SENTRY_RATE_LIMITS),
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(3600))
}

async fn health(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    Json(serde_json::json!({
        "status": "ok",
        "engine": state.engine.name(),
        "envelope_items": state.item_counters.snapshot(),
    }))
}

/// Serves until Ctrl-C / SIGTERM.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(state.config.listen).await?;
    tracing::info!(
        listen = %state.config.listen,
        engine = state.engine.name(),
        "stackhouse is serving"
    );
    let engine = state.engine.clone();
    // Connection info gives ingest the client address SDKs ask for with `{{auto}}`.
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    // Every request has been answered: let what was acknowledged reach storage before the
    // process ends (ClickHouse's spool ships it; what it cannot ship in its read wait ships at
    // the next start).
    engine.caught_up().await;
    tracing::info!("stackhouse stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
