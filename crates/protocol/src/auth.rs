//! Sentry DSNs and `X-Sentry-Auth` headers: which project key a client authenticates with.

use std::fmt;
use std::str::FromStr;

/// A parsed DSN: `{scheme}://{public_key}[:{secret_key}]@{host}[:{port}]{path}{project_id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    /// `http` or `https`.
    pub scheme: String,
    pub public_key: String,
    /// Legacy DSNs carry a secret key; modern SDKs ignore it.
    pub secret_key: Option<String>,
    /// The host name or IP address (IPv6 without its brackets).
    pub host: String,
    pub port: Option<u16>,
    /// The path before the project id, starting and ending with `/` (usually just `/`).
    pub path: String,
    pub project_id: u64,
}

/// Why a DSN could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsnError {
    #[error("DSN has no scheme (expected http:// or https://)")]
    MissingScheme,
    #[error("DSN scheme {0:?} is not http or https")]
    UnsupportedScheme(String),
    #[error("DSN has no public key (expected scheme://PUBLIC_KEY@host/PROJECT_ID)")]
    MissingPublicKey,
    #[error("DSN has no host")]
    MissingHost,
    #[error("DSN port {0:?} is not a port number")]
    InvalidPort(String),
    #[error("DSN has no project id (expected scheme://PUBLIC_KEY@host/PROJECT_ID)")]
    MissingProjectId,
    #[error("DSN project id {0:?} is not a number")]
    InvalidProjectId(String),
}

/// Parses a DSN such as `http://PUBLIC_KEY@HOST:PORT/PROJECT_ID`.
pub fn parse_dsn(text: &str) -> Result<Dsn, DsnError> {
    let text = text.trim();
    let (scheme, rest) = text.split_once("://").ok_or(DsnError::MissingScheme)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(DsnError::UnsupportedScheme(scheme));
    }
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    let (user_info, host_and_port) = authority
        .rsplit_once('@')
        .ok_or(DsnError::MissingPublicKey)?;
    let (public_key, secret_key) = match user_info.split_once(':') {
        Some((public_key, secret_key)) => (public_key, Some(secret_key)),
        None => (user_info, None),
    };
    if public_key.is_empty() {
        return Err(DsnError::MissingPublicKey);
    }
    let (host, port) = split_host_and_port(host_and_port)?;
    if host.is_empty() {
        return Err(DsnError::MissingHost);
    }
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let path = path.trim_end_matches('/');
    let (prefix, project_id) = match path.rfind('/') {
        Some(slash) => (&path[..=slash], &path[slash + 1..]),
        None => ("/", path),
    };
    if project_id.is_empty() {
        return Err(DsnError::MissingProjectId);
    }
    let project_id = project_id
        .parse::<u64>()
        .map_err(|_| DsnError::InvalidProjectId(project_id.to_owned()))?;
    Ok(Dsn {
        scheme,
        public_key: public_key.to_owned(),
        secret_key: secret_key
            .filter(|secret| !secret.is_empty())
            .map(str::to_owned),
        host: host.to_owned(),
        port,
        path: prefix.to_owned(),
        project_id,
    })
}

fn split_host_and_port(host_and_port: &str) -> Result<(&str, Option<u16>), DsnError> {
    let (host, port) = if let Some(bracketed) = host_and_port.strip_prefix('[') {
        // IPv6: [::1]:9000
        let (host, after) = bracketed.split_once(']').ok_or(DsnError::MissingHost)?;
        (host, after.strip_prefix(':'))
    } else {
        match host_and_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_and_port, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(port) => Some(
            port.parse::<u16>()
                .map_err(|_| DsnError::InvalidPort(port.to_owned()))?,
        ),
    };
    Ok((host, port))
}

impl FromStr for Dsn {
    type Err = DsnError;

    fn from_str(text: &str) -> Result<Dsn, DsnError> {
        parse_dsn(text)
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}://{}", self.scheme, self.public_key)?;
        if let Some(secret) = &self.secret_key {
            write!(formatter, ":{secret}")?;
        }
        if self.host.contains(':') {
            write!(formatter, "@[{}]", self.host)?;
        } else {
            write!(formatter, "@{}", self.host)?;
        }
        if let Some(port) = self.port {
            write!(formatter, ":{port}")?;
        }
        write!(formatter, "{}{}", self.path, self.project_id)
    }
}

/// The fields of an `X-Sentry-Auth` (or `Authorization: Sentry ...`) header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SentryAuth {
    /// `sentry_key`: the DSN public key. Always non-empty.
    pub key: String,
    /// `sentry_secret` (legacy).
    pub secret: Option<String>,
    /// `sentry_version`: the protocol version (7 for current SDKs).
    pub version: Option<String>,
    /// `sentry_client`: the SDK, e.g. `sentry.python/2.19.0`.
    pub client: Option<String>,
    /// `sentry_timestamp` (legacy).
    pub timestamp: Option<String>,
}

/// Why an auth header could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthHeaderError {
    #[error("auth header is empty")]
    Empty,
    #[error("auth header has no sentry_key")]
    MissingKey,
}

/// Parses `Sentry sentry_key=KEY, sentry_version=7, sentry_client=sdk/1.0` (the `Sentry `
/// prefix is optional; spaces around `,` and `=` are tolerated; unknown fields are ignored).
pub fn parse_sentry_auth(header: &str) -> Result<SentryAuth, AuthHeaderError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(AuthHeaderError::Empty);
    }
    let fields = match header.split_once(char::is_whitespace) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("sentry") => rest,
        _ => header,
    };
    let mut auth = SentryAuth::default();
    for field in fields.split(',') {
        let Some((name, value)) = field.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        if value.is_empty() {
            continue;
        }
        let value = value.to_owned();
        match name.trim() {
            "sentry_key" => auth.key = value,
            "sentry_secret" => auth.secret = Some(value),
            "sentry_version" => auth.version = Some(value),
            "sentry_client" => auth.client = Some(value),
            "sentry_timestamp" => auth.timestamp = Some(value),
            _ => {}
        }
    }
    if auth.key.is_empty() {
        return Err(AuthHeaderError::MissingKey);
    }
    Ok(auth)
}

/// The `sentry_key` parameter of a URL query string (`sentry_key=KEY&sentry_version=7`), if
/// present and non-empty. Keys are hex, so no percent-decoding is needed.
pub fn sentry_key_from_query(query: &str) -> Option<&str> {
    query
        .trim_start_matches('?')
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "sentry_key")
        .map(|(_, key)| key)
        .filter(|key| !key.is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_a_stackhouse_dsn() {
        let dsn = parse_dsn("http://0123abcd@127.0.0.1:8000/42").unwrap();
        assert_eq!(dsn.scheme, "http");
        assert_eq!(dsn.public_key, "0123abcd");
        assert_eq!(dsn.secret_key, None);
        assert_eq!(dsn.host, "127.0.0.1");
        assert_eq!(dsn.port, Some(8000));
        assert_eq!(dsn.path, "/");
        assert_eq!(dsn.project_id, 42);
        assert_eq!(dsn.to_string(), "http://0123abcd@127.0.0.1:8000/42");
    }

    #[test]
    fn parses_legacy_and_prefixed_dsns() {
        let dsn: Dsn = "https://pub:secret@o1.ingest.example.com/sentry/7/"
            .parse()
            .unwrap();
        assert_eq!(dsn.secret_key.as_deref(), Some("secret"));
        assert_eq!(dsn.port, None);
        assert_eq!(dsn.path, "/sentry/");
        assert_eq!(dsn.project_id, 7);
        assert_eq!(
            dsn.to_string(),
            "https://pub:secret@o1.ingest.example.com/sentry/7"
        );

        let dsn = parse_dsn("http://k@[::1]:9000/3").unwrap();
        assert_eq!(dsn.host, "::1");
        assert_eq!(dsn.port, Some(9000));
        assert_eq!(dsn.to_string(), "http://k@[::1]:9000/3");
    }

    #[test]
    fn dsn_errors_say_what_is_missing() {
        assert_eq!(parse_dsn("localhost/1"), Err(DsnError::MissingScheme));
        assert_eq!(
            parse_dsn("ftp://k@h/1"),
            Err(DsnError::UnsupportedScheme("ftp".to_owned()))
        );
        assert_eq!(parse_dsn("http://h/1"), Err(DsnError::MissingPublicKey));
        assert_eq!(parse_dsn("http://@h/1"), Err(DsnError::MissingPublicKey));
        assert_eq!(parse_dsn("http://k@/1"), Err(DsnError::MissingHost));
        assert_eq!(
            parse_dsn("http://k@h:port/1"),
            Err(DsnError::InvalidPort("port".to_owned()))
        );
        assert_eq!(parse_dsn("http://k@h"), Err(DsnError::MissingProjectId));
        assert_eq!(parse_dsn("http://k@h/"), Err(DsnError::MissingProjectId));
        assert_eq!(
            parse_dsn("http://k@h/abc"),
            Err(DsnError::InvalidProjectId("abc".to_owned()))
        );
    }

    #[test]
    fn parses_auth_headers_as_sdks_send_them() {
        let auth = parse_sentry_auth(
            "Sentry sentry_key=e12d836b15bb49d7, sentry_version=7, sentry_client=sentry.python/2.19.0",
        )
        .unwrap();
        assert_eq!(auth.key, "e12d836b15bb49d7");
        assert_eq!(auth.version.as_deref(), Some("7"));
        assert_eq!(auth.client.as_deref(), Some("sentry.python/2.19.0"));

        let auth = parse_sentry_auth(
            "Sentry sentry_version=7,sentry_timestamp=1709294400.1,sentry_key=abc,sentry_secret=s",
        )
        .unwrap();
        assert_eq!(auth.key, "abc");
        assert_eq!(auth.secret.as_deref(), Some("s"));
        assert_eq!(auth.timestamp.as_deref(), Some("1709294400.1"));

        assert_eq!(parse_sentry_auth("sentry_key=raw").unwrap().key, "raw");
        assert_eq!(parse_sentry_auth("  "), Err(AuthHeaderError::Empty));
        assert_eq!(
            parse_sentry_auth("Sentry sentry_version=7, sentry_key="),
            Err(AuthHeaderError::MissingKey)
        );
    }

    #[test]
    fn key_from_query() {
        assert_eq!(
            sentry_key_from_query("sentry_version=7&sentry_key=abc"),
            Some("abc")
        );
        assert_eq!(sentry_key_from_query("?sentry_key=abc"), Some("abc"));
        assert_eq!(sentry_key_from_query("sentry_key="), None);
        assert_eq!(sentry_key_from_query(""), None);
    }
}
