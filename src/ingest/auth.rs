//! Finding the DSN public key a request authenticates with, using the protocol crate's parsers:
//! the `X-Sentry-Auth` (or `Authorization: Sentry ...`) header, else the `sentry_key` query
//! parameter. (An envelope may also name its key in its header's `dsn`; the envelope endpoint
//! falls back to that once the body is read.)

use axum::http::{header, HeaderMap};
use stackhouse_protocol::{parse_sentry_auth, sentry_key_from_query};

/// The public key the request carries in its headers or query string, if any.
pub fn request_key(raw_query: Option<&str>, headers: &HeaderMap) -> Option<String> {
    let from_headers = ["x-sentry-auth", header::AUTHORIZATION.as_str()]
        .iter()
        .filter_map(|name| headers.get(*name)?.to_str().ok())
        .find_map(|value| parse_sentry_auth(value).ok())
        .map(|auth| auth.key);
    from_headers.or_else(|| raw_query.and_then(sentry_key_from_query).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_comes_from_header_or_query() {
        let mut headers = HeaderMap::new();
        assert_eq!(request_key(None, &headers), None);
        assert_eq!(
            request_key(Some("sentry_version=7&sentry_key=q"), &headers).as_deref(),
            Some("q")
        );
        headers.insert(
            "x-sentry-auth",
            "Sentry sentry_version=7, sentry_key=abc123, sentry_client=raven-python/1.0"
                .parse()
                .expect("header"),
        );
        assert_eq!(request_key(None, &headers).as_deref(), Some("abc123"));
        assert_eq!(
            request_key(Some("sentry_key=q"), &headers).as_deref(),
            Some("abc123")
        );

        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            "Bearer some-token".parse().expect("header"),
        );
        assert_eq!(
            request_key(Some("sentry_key=q"), &headers).as_deref(),
            Some("q")
        );
        headers.insert(
            header::AUTHORIZATION,
            "Sentry sentry_key=from-authorization"
                .parse()
                .expect("header"),
        );
        assert_eq!(
            request_key(None, &headers).as_deref(),
            Some("from-authorization")
        );
    }
}
