//! Wiring: the shared state, the router (one function, so tests drive it with `oneshot` too),
//! and `serve`.

use std::sync::Arc;

use async_graphql_axum::GraphQL;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::{get, post, post_service};
use axum::{Json, Router};
use tower_http::cors::CorsLayer;

use crate::config::Config;
use crate::engine::Engine;
use crate::graphql::{build_schema, GraphqlContext};
use crate::group::Grouper;
use crate::pipeline::Pipeline;
use crate::projects::ProjectRegistry;
use crate::writer::BatchWriter;

/// Everything a handler may need.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub engine: Arc<dyn Engine>,
    pub projects: Arc<ProjectRegistry>,
    pub pipeline: Arc<Pipeline>,
}

impl AppState {
    /// Migrates the engine, loads grouping state and starts the batch writer.
    pub async fn start(config: Config, engine: Arc<dyn Engine>) -> anyhow::Result<AppState> {
        engine.migrate().await?;
        let grouping = config.grouping_config()?;
        let grouper = Arc::new(Grouper::new(
            grouping,
            engine.fingerprint_mappings().await?,
            &engine.issue_records().await?,
        ));
        let writer = BatchWriter::start(engine.clone(), grouper.clone(), config.writer.clone());
        let projects = Arc::new(ProjectRegistry::new(engine.clone()));
        projects.refresh().await?;
        Ok(AppState {
            config: Arc::new(config),
            engine,
            projects,
            pipeline: Arc::new(Pipeline::new(grouper, writer)),
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
        .route(
            "/graphql",
            post_service(GraphQL::new(schema.clone())).get_service(GraphQL::new(schema)),
        )
        .route("/health", get(health))
        // Ingest enforces its own, configurable body limits while streaming.
        .layer(DefaultBodyLimit::disable())
        .layer(CorsLayer::permissive())
        .with_state(state)
}

async fn health(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok", "engine": state.engine.name() }))
}

/// Serves until Ctrl-C / SIGTERM.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(state.config.listen).await?;
    tracing::info!(
        listen = %state.config.listen,
        engine = state.engine.name(),
        "stackhouse is serving"
    );
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
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
