//! Finding the DSN public key a request authenticates with: the `sentry_key` query parameter,
//! or the `X-Sentry-Auth` (or `Authorization: Sentry ...`) header.

use axum::http::{header, HeaderMap};

/// The public key the request carries, if any.
pub fn public_key(query_key: Option<&str>, headers: &HeaderMap) -> Option<String> {
    if let Some(key) = query_key.filter(|key| !key.is_empty()) {
        return Some(key.to_owned());
    }
    ["x-sentry-auth", header::AUTHORIZATION.as_str()]
        .iter()
        .filter_map(|name| headers.get(*name)?.to_str().ok())
        .find_map(key_from_auth_header)
}

/// `Sentry sentry_key=abc, sentry_version=7, sentry_client=x/1.0` → `abc`.
pub fn key_from_auth_header(value: &str) -> Option<String> {
    let value = value.trim();
    let pairs = value
        .strip_prefix("Sentry ")
        .or_else(|| value.strip_prefix("sentry "))
        .unwrap_or(value);
    pairs.split(',').find_map(|pair| {
        let (name, key) = pair.trim().split_once('=')?;
        (name.trim() == "sentry_key" && !key.trim().is_empty()).then(|| key.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_comes_from_query_or_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(public_key(None, &headers), None);
        headers.insert(
            "x-sentry-auth",
            "Sentry sentry_version=7, sentry_key=abc123, sentry_client=raven-python/1.0"
                .parse()
                .expect("header"),
        );
        assert_eq!(public_key(None, &headers).as_deref(), Some("abc123"));
        assert_eq!(public_key(Some("q"), &headers).as_deref(), Some("q"));
        assert_eq!(key_from_auth_header("Sentry sentry_version=7"), None);
    }
}
