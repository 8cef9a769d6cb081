//! The dashboard: the React app of `dashboard/` (built by `npm run build` into
//! `dashboard/dist`), served at `/` by the router's fallback.
//!
//! Release builds embed the built files in the binary; debug builds read them from
//! `dashboard/dist` at every request, so a rebuilt dashboard shows without recompiling. When
//! the dashboard was never built the binary still compiles and `/` says how to build it.
//!
//! Routing: a path naming a built file answers that file (with its content type; Vite's
//! content-hashed `assets/` are cached for a year, the rest must be revalidated by ETag).
//! Any other GET that is not an API path answers `index.html`, so the app's own URLs
//! (`/issues/42?status=NEW`) can be shared and reloaded. API paths the router does not know
//! stay a JSON 404.

use std::fmt::Write as _;

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

#[derive(rust_embed::Embed)]
#[folder = "dashboard/dist/"]
#[allow_missing = true]
struct DashboardFiles;

/// Path prefixes that belong to the API, never to the app.
const API_PREFIXES: [&str; 4] = ["/api", "/graphql", "/sql", "/health"];

/// Vite names every built script, stylesheet and image after its content under `assets/`.
const HASHED_ASSETS_DIR: &str = "assets/";

/// The router's fallback: a built file, the app's `index.html`, or a JSON 404.
pub async fn serve_dashboard(method: Method, uri: Uri, request_headers: HeaderMap) -> Response {
    let path = uri.path();
    let is_api_path = API_PREFIXES.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    });
    if is_api_path || (method != Method::GET && method != Method::HEAD) {
        return ApiError::NotFound(format!("no route for {method} {path}")).into_response();
    }
    let file_path = path.trim_start_matches('/');
    if !file_path.is_empty() && file_path != "index.html" {
        if let Some(file) = DashboardFiles::get(file_path) {
            return file_response(file_path, file, &request_headers);
        }
        // A missing hashed asset is an old page asking for a file a newer build replaced:
        // index.html in its place would be parsed as a script.
        if file_path.starts_with(HASHED_ASSETS_DIR) {
            return ApiError::NotFound(format!("no dashboard file {path}")).into_response();
        }
    }
    match DashboardFiles::get("index.html") {
        Some(index) => file_response("index.html", index, &request_headers),
        None => not_built_page(),
    }
}

/// A built file with its content type (by extension), ETag and cache policy; 304 when the
/// client's copy is current.
fn file_response(
    file_path: &str,
    file: rust_embed::EmbeddedFile,
    request_headers: &HeaderMap,
) -> Response {
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let cache_control = if file_path.starts_with(HASHED_ASSETS_DIR) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    let unchanged = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    if let Ok(value) = HeaderValue::from_str(file.metadata.mimetype()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    (headers, axum::body::Body::from(file.data)).into_response()
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// What `/` shows when the binary was built without the dashboard.
fn not_built_page() -> Response {
    let page = "<!doctype html><meta charset=utf-8><title>Stackhouse</title>\
        <body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\">\
        <h1>Stackhouse is running</h1>\
        <p>The dashboard was not built into this binary. Build it, then build the binary again \
        (release builds embed it; debug builds read <code>dashboard/dist</code> directly):</p>\
        <pre>bash scripts/build-dashboard.sh\ncargo build --release</pre>\
        <p>The GraphQL API is at <a href=\"/graphql\">/graphql</a>.</p>";
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        page,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn api_paths_and_other_methods_are_json_404s() {
        for (method, path) in [
            (Method::GET, "/api/1/unknown"),
            (Method::GET, "/graphql/nope"),
            (Method::GET, "/sql"),
            (Method::POST, "/issues"),
        ] {
            let uri: Uri = path.parse().expect("a valid uri");
            let response = serve_dashboard(method.clone(), uri, HeaderMap::new()).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "application/json",
                "{method} {path}"
            );
        }
    }

    #[tokio::test]
    async fn app_urls_answer_the_app_or_the_build_instructions() {
        let uri: Uri = "/issues/42?status=NEW".parse().expect("a valid uri");
        let response = serve_dashboard(Method::GET, uri, HeaderMap::new()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/html");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
    }
}
