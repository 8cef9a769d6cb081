//! Context normalization: request paths templated, user agents reduced to a family, regions kept coarse.
//!
//! These feed the context part of similarity scoring ([`crate::similarity`]); they never feed a
//! fingerprint hash.

use stackhouse_protocol::ErrorEvent;

/// The normalized context of an event, as `kind:value` features.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NormalizedContext {
    /// Templated request path (`/users/{id}/orders/{id}`), else the templated transaction.
    pub path: Option<String>,
    /// User-agent family (`Chrome`, `Firefox`, `python-requests`, ...).
    pub user_agent: Option<&'static str>,
    /// Operating system name as sent (`Windows`, `iOS`, `Linux`).
    pub os: Option<String>,
    /// Runtime name as sent (`CPython`, `node`, `.NET`).
    pub runtime: Option<String>,
    /// Coarse region (`us-east`, `europe`), see [`coarse_region`].
    pub region: Option<String>,
    pub environment: Option<String>,
}

impl NormalizedContext {
    pub fn from_event(event: &ErrorEvent) -> NormalizedContext {
        let request_path = event
            .request
            .as_ref()
            .and_then(|request| request.url.as_deref())
            .map(template_path)
            .filter(|path| !path.is_empty());
        let path = request_path.or_else(|| {
            event
                .transaction
                .as_deref()
                .map(template_path)
                .filter(|path| !path.is_empty())
        });
        let header_user_agent = event.request.as_ref().and_then(|request| {
            request
                .headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("user-agent"))
                .map(|(_, value)| user_agent_family(value))
        });
        let user_agent = header_user_agent.or_else(|| {
            let browser = event.contexts.browser.as_ref()?.name.as_deref()?;
            Some(user_agent_family(browser))
        });
        let named = |context: &Option<stackhouse_protocol::NamedVersion>| {
            context
                .as_ref()
                .and_then(|context| context.name.clone())
                .filter(|name| !name.is_empty())
        };
        NormalizedContext {
            path,
            user_agent,
            os: named(&event.contexts.os),
            runtime: named(&event.contexts.runtime),
            region: event_region(event).map(|region| coarse_region(&region)),
            environment: event.environment.clone(),
        }
    }

    /// `kind:value` strings, one per known part.
    pub fn features(&self) -> Vec<String> {
        let mut features = Vec::with_capacity(6);
        let parts: [(&str, Option<&str>); 6] = [
            ("path", self.path.as_deref()),
            ("ua", self.user_agent),
            ("os", self.os.as_deref()),
            ("runtime", self.runtime.as_deref()),
            ("region", self.region.as_deref()),
            ("env", self.environment.as_deref()),
        ];
        for (kind, value) in parts {
            if let Some(value) = value {
                features.push(format!("{kind}:{value}"));
            }
        }
        features
    }
}

/// Tags and contexts that name where the event came from, in order of preference.
const REGION_TAGS: [&str; 6] = [
    "region",
    "cloud.region",
    "aws.region",
    "server_region",
    "geo.region",
    "geo.country_code",
];

fn event_region(event: &ErrorEvent) -> Option<String> {
    for tag in REGION_TAGS {
        if let Some(value) = event.tag(tag).filter(|value| !value.is_empty()) {
            return Some(value.to_owned());
        }
    }
    let other = &event.contexts.other;
    let cloud_region = other
        .get("cloud_resource")
        .and_then(|cloud| cloud.get("cloud.region"))
        .and_then(|region| region.as_str());
    let timezone = other
        .get("culture")
        .and_then(|culture| culture.get("timezone"))
        .and_then(|timezone| timezone.as_str());
    cloud_region.or(timezone).map(str::to_owned)
}

/// A region reduced to its coarse part: cloud regions lose their zone number (`us-east-1` →
/// `us-east`, `europe-west4` → `europe-west`, `eastus2` → `eastus`), time zones keep their
/// continent (`Europe/Berlin` → `europe`), anything else is lowercased.
pub fn coarse_region(region: &str) -> String {
    let region = region.trim().to_ascii_lowercase();
    if let Some((continent, _city)) = region.split_once('/') {
        return continent.to_owned();
    }
    // `us-east-1a` is an availability zone of `us-east-1`: drop the zone letter first.
    let bytes = region.as_bytes();
    let mut end = bytes.len();
    if end >= 2 && bytes[end - 1].is_ascii_lowercase() && bytes[end - 2].is_ascii_digit() {
        end -= 1;
    }
    let trimmed = region[..end]
        .trim_end_matches(|character: char| character.is_ascii_digit() || character == '-');
    if trimmed.is_empty() {
        region
    } else {
        trimmed.to_owned()
    }
}

/// A request path (or URL, or transaction name) with its ids templated:
/// `https://shop.example.com/users/123/orders/9?x=1` → `/users/{id}/orders/{id}`. Numbers,
/// UUIDs, hex ids, long random tokens and emails are ids; words, versions (`v2`) and existing
/// templates (`{id}`, `:id`, `<int:id>`) are kept.
pub fn template_path(url_or_path: &str) -> String {
    let mut path = url_or_path.trim();
    if let Some(scheme_end) = path.find("://") {
        let after = &path[scheme_end + 3..];
        path = after.find('/').map_or("/", |slash| &after[slash..]);
    }
    if let Some(end) = path.find(['?', '#']) {
        path = &path[..end];
    }
    if !path.contains('/') {
        // A transaction that is not a path (`app.tasks.send_email`): kept as is.
        return path.to_owned();
    }
    let mut templated = String::with_capacity(path.len());
    for (index, segment) in path.split('/').enumerate() {
        if index > 0 {
            templated.push('/');
        }
        if is_id_segment(segment) {
            templated.push_str("{id}");
        } else {
            templated.push_str(segment);
        }
    }
    templated
}

fn is_id_segment(segment: &str) -> bool {
    if segment.is_empty() {
        return false;
    }
    let digits = segment.bytes().filter(u8::is_ascii_digit).count();
    let letters = segment.bytes().filter(u8::is_ascii_alphabetic).count();
    if digits == segment.len() {
        return true;
    }
    if segment.contains('@') && segment.contains('.') {
        return true; // an email
    }
    let hex_or_dash = segment
        .bytes()
        .all(|byte| byte.is_ascii_hexdigit() || byte == b'-');
    if hex_or_dash && digits > 0 && segment.len() >= 8 {
        return true; // UUID, hex id, hash
    }
    // Version segments (`v2`, `v10`) are part of the route.
    let is_version = segment.len() <= 4
        && segment.starts_with(['v', 'V'])
        && segment[1..].bytes().all(|byte| byte.is_ascii_digit());
    if is_version {
        return false;
    }
    // Slugs with a numeric id (`order-123`, `ord_9f8e7d`) and random tokens (base62, base64url)
    // that mix letters and digits.
    let token_alphabet = segment
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~'));
    token_alphabet
        && digits >= 2
        && (letters == 0 || segment.len() >= 10 || digits * 3 >= segment.len())
}

/// The family of a user agent: the browser, bot or HTTP client that sent the request, without
/// versions or platform details. `Other` when unknown.
pub fn user_agent_family(user_agent: &str) -> &'static str {
    // Order matters: Edge and Opera also say `Chrome`, Chrome also says `Safari`.
    const FAMILIES: [(&str, &str); 26] = [
        ("bot", "Bot"),
        ("spider", "Bot"),
        ("crawler", "Bot"),
        ("Edg/", "Edge"),
        ("Edge/", "Edge"),
        ("EdgA/", "Edge"),
        ("OPR/", "Opera"),
        ("Opera", "Opera"),
        ("SamsungBrowser", "Samsung Internet"),
        ("YaBrowser", "Yandex Browser"),
        ("Firefox/", "Firefox"),
        ("FxiOS", "Firefox"),
        ("CriOS", "Chrome"),
        ("HeadlessChrome", "Headless Chrome"),
        ("Electron/", "Electron"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chrome"),
        ("MSIE ", "IE"),
        ("Trident/", "IE"),
        ("Version/", "Safari"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python-requests", "python-requests"),
        ("okhttp", "okhttp"),
        ("Go-http-client", "Go-http-client"),
        ("axios", "axios"),
    ];
    let lowercase_bot = user_agent.to_ascii_lowercase();
    for (needle, family) in FAMILIES {
        let found = if family == "Bot" {
            lowercase_bot.contains(needle)
        } else {
            user_agent.contains(needle)
        };
        if found {
            return family;
        }
    }
    // Browser context names (`Chrome`, `Mobile Safari`) are already families.
    match user_agent.trim() {
        "Chrome" | "Chrome Mobile" | "Chrome Mobile iOS" => "Chrome",
        "Firefox" | "Firefox Mobile" => "Firefox",
        "Safari" | "Mobile Safari" => "Safari",
        "Edge" | "Microsoft Edge" => "Edge",
        "Opera" => "Opera",
        "Samsung Internet" => "Samsung Internet",
        "IE" | "Internet Explorer" => "IE",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_templated() {
        assert_eq!(
            template_path("/users/123/orders/9"),
            "/users/{id}/orders/{id}"
        );
        assert_eq!(
            template_path("https://shop.example.com/api/v2/orders/3fa85f64-5717-4562-b3fc-2c963f66afa6/items?x=1"),
            "/api/v2/orders/{id}/items"
        );
        assert_eq!(
            template_path("/blobs/507f1f77bcf86cd799439011"),
            "/blobs/{id}"
        );
        assert_eq!(
            template_path("/invoices/INV-2024-00042/pdf"),
            "/invoices/{id}/pdf"
        );
        assert_eq!(template_path("/share/aZ3kP9xQ2mW7bR"), "/share/{id}");
        assert_eq!(template_path("/users/bob@example.com"), "/users/{id}");
        assert_eq!(
            template_path("/users/{id}/settings"),
            "/users/{id}/settings"
        );
        assert_eq!(
            template_path("/en/products/blue-shoes"),
            "/en/products/blue-shoes"
        );
        assert_eq!(
            template_path("app.tasks.send_email"),
            "app.tasks.send_email"
        );
        assert_eq!(template_path("https://example.com"), "/");
    }

    #[test]
    fn user_agents_reduce_to_families() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91";
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1";
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
        let googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        assert_eq!(user_agent_family(chrome), "Chrome");
        assert_eq!(user_agent_family(edge), "Edge");
        assert_eq!(user_agent_family(safari), "Safari");
        assert_eq!(user_agent_family(firefox), "Firefox");
        assert_eq!(user_agent_family(googlebot), "Bot");
        assert_eq!(
            user_agent_family("python-requests/2.31.0"),
            "python-requests"
        );
        assert_eq!(user_agent_family("Mobile Safari"), "Safari");
        assert_eq!(user_agent_family("something"), "Other");
    }

    #[test]
    fn regions_are_coarse() {
        assert_eq!(coarse_region("us-east-1"), "us-east");
        assert_eq!(coarse_region("us-east-1a"), "us-east");
        assert_eq!(coarse_region("europe-west4"), "europe-west");
        assert_eq!(coarse_region("eastus2"), "eastus");
        assert_eq!(coarse_region("Europe/Berlin"), "europe");
        assert_eq!(coarse_region("DE"), "de");
    }
}
