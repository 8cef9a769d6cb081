//! Who may read what: the [`Access`] a request carries, from its `Authorization: Bearer`
//! token ([`crate::tokens`]) or, in dev mode, from being a loopback request without a token.
//!
//! Every GraphQL door (`POST`/`GET /graphql`, the WebSocket at `/graphql/ws`, where the token
//! comes in the `connection_init` payload) and `POST /sql` require it; the GraphQL request
//! data carries it so each resolver can check the project it touches ([`ensure_project`]).
//! Ingest keeps its DSN keys.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use async_graphql::{Data, ErrorExtensions};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use axum::response::{IntoResponse, Response};
use axum::Extension;

use crate::engine::ApiTokenRecord;
use crate::error::ApiError;
use crate::graphql::StackhouseSchema;
use crate::server::AppState;

/// The projects a request may read and change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Every project (an admin token, or dev mode on loopback).
    All,
    /// Only these projects.
    Projects(BTreeSet<u64>),
}

impl Access {
    pub fn projects(ids: impl IntoIterator<Item = u64>) -> Access {
        Access::Projects(ids.into_iter().collect())
    }

    /// A token with no projects may read every project.
    pub fn for_token(token: &ApiTokenRecord) -> Access {
        if token.project_ids.is_empty() {
            Access::All
        } else {
            Access::projects(token.project_ids.iter().copied())
        }
    }

    pub fn allows(&self, project_id: u64) -> bool {
        match self {
            Access::All => true,
            Access::Projects(ids) => ids.contains(&project_id),
        }
    }

    /// The allowed project ids, `None` for every project.
    pub fn project_ids(&self) -> Option<Vec<u64>> {
        match self {
            Access::All => None,
            Access::Projects(ids) => Some(ids.iter().copied().collect()),
        }
    }
}

/// The GraphQL error for a project outside the token's scope (`extensions.code = FORBIDDEN`).
pub fn forbidden(project_id: u64) -> async_graphql::Error {
    async_graphql::Error::new(format!("this token has no access to project {project_id}"))
        .extend_with(|_, extensions| extensions.set("code", "FORBIDDEN"))
}

/// In a resolver: fails with FORBIDDEN unless the request may touch `project_id`.
pub fn ensure_project(
    ctx: &async_graphql::Context<'_>,
    project_id: u64,
) -> async_graphql::Result<()> {
    let access = ctx.data::<Access>().map_err(|_| {
        async_graphql::Error::new("no access information in the request")
            .extend_with(|_, extensions| extensions.set("code", "UNAUTHENTICATED"))
    })?;
    if access.allows(project_id) {
        Ok(())
    } else {
        Err(forbidden(project_id))
    }
}

/// The request's access, from a bearer secret or dev mode.
pub async fn resolve(
    state: &AppState,
    bearer: Option<&str>,
    peer: Option<SocketAddr>,
) -> Result<Access, ApiError> {
    match bearer.map(str::trim).filter(|secret| !secret.is_empty()) {
        Some(secret) => Ok(state.tokens.authenticate(secret).await?),
        None if state.config.dev && peer.is_some_and(|peer| peer.ip().is_loopback()) => {
            Ok(Access::All)
        }
        None => Err(ApiError::Unauthenticated(
            "an API token is required: send `Authorization: Bearer <token>` \
             (create one with `stackhouse token create`)"
                .to_owned(),
        )),
    }
}

/// The secret of `Authorization: Bearer <secret>`; a header of another scheme is an error.
fn bearer_of(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    match text.split_once(' ') {
        Some((scheme, secret)) if scheme.eq_ignore_ascii_case("bearer") => Ok(Some(secret.trim())),
        _ => Err(ApiError::Unauthenticated(
            "the Authorization header must be `Bearer <token>`".to_owned(),
        )),
    }
}

fn peer_of(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| *address)
}

impl FromRequestParts<AppState> for Access {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Access, ApiError> {
        let bearer = bearer_of(&parts.headers)?;
        resolve(state, bearer, peer_of(parts)).await
    }
}

/// Longest a GraphQL operation over HTTP may run.
pub const GRAPHQL_TIMEOUT: Duration = Duration::from_secs(30);

/// `POST /graphql` and `GET /graphql?query=...`: the operation runs with the caller's access.
pub async fn graphql_http(
    Extension(schema): Extension<StackhouseSchema>,
    access: Access,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let request = request.into_inner().data(access);
    match tokio::time::timeout(GRAPHQL_TIMEOUT, schema.execute(request)).await {
        Ok(response) => response.into(),
        Err(_) => {
            let mut error = async_graphql::ServerError::new(
                format!(
                    "the query ran longer than {} seconds",
                    GRAPHQL_TIMEOUT.as_secs()
                ),
                None,
            );
            let mut extensions = async_graphql::ErrorExtensionValues::default();
            extensions.set("code", "TIMEOUT");
            error.extensions = Some(extensions);
            async_graphql::Response::from_errors(vec![error]).into()
        }
    }
}

/// `/graphql/ws` (graphql-transport-ws and graphql-ws): the token comes in the
/// `connection_init` payload, `{"Authorization": "Bearer ..."}` or `{"token": "..."}`; an
/// `Authorization` header on the upgrade request works too.
pub async fn graphql_ws(
    State(state): State<AppState>,
    Extension(schema): Extension<StackhouseSchema>,
    request: axum::extract::Request,
) -> Response {
    let (mut parts, _body) = request.into_parts();
    let peer = peer_of(&parts);
    let header_bearer = match bearer_of(&parts.headers) {
        Ok(bearer) => bearer.map(str::to_owned),
        Err(error) => return error.into_response(),
    };
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(protocol) => protocol,
        Err(rejection) => return rejection.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let bearer = payload_bearer(&payload).or(header_bearer);
                    let access =
                        resolve(&state, bearer.as_deref(), peer)
                            .await
                            .map_err(|error| {
                                let code = match error.status().as_u16() {
                                    401 => "UNAUTHENTICATED",
                                    403 => "FORBIDDEN",
                                    _ => "INTERNAL",
                                };
                                async_graphql::Error::new(error.to_string())
                                    .extend_with(|_, extensions| extensions.set("code", code))
                            })?;
                    let mut data = Data::default();
                    data.insert(access);
                    Ok(data)
                })
                .serve()
        })
}

/// The secret in a `connection_init` payload, if any.
fn payload_bearer(payload: &serde_json::Value) -> Option<String> {
    let field = |name: &str| {
        payload.as_object().and_then(|object| {
            object
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .and_then(|(_, value)| value.as_str())
        })
    };
    if let Some(value) = field("authorization") {
        let value = value.trim();
        return Some(match value.split_once(' ') {
            Some((scheme, secret)) if scheme.eq_ignore_ascii_case("bearer") => {
                secret.trim().to_owned()
            }
            _ => value.to_owned(),
        });
    }
    field("token").map(|token| token.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_of_tokens_and_connection_payloads() {
        let mut token = crate::tokens::new_token("t", &[2]).1;
        assert_eq!(Access::for_token(&token), Access::projects([2]));
        assert!(!Access::for_token(&token).allows(1));
        token.project_ids.clear();
        assert!(Access::for_token(&token).allows(1));
        assert_eq!(
            payload_bearer(&serde_json::json!({"Authorization": "Bearer sh_x"})).as_deref(),
            Some("sh_x")
        );
        assert_eq!(
            payload_bearer(&serde_json::json!({"token": "sh_y"})).as_deref(),
            Some("sh_y")
        );
        assert_eq!(payload_bearer(&serde_json::json!({})), None);
    }
}
