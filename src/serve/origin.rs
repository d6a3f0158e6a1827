//! Where requests may come from: the `Host` check against DNS rebinding and the
//! cross-origin check against pages that change state (CSRF), applied to every request
//! before its handler (docs/serve.md, "Origins").
//!
//! A browser that visits a hostile page can be made to send requests to the server two
//! ways, and each is refused here:
//!
//! - **DNS rebinding**: the page's own name is made to resolve to the server (say
//!   `127.0.0.1`), so the browser sends it `Host: evil.example:8080` and treats the
//!   answers as the page's own. A request is served only when its `Host` is an IP
//!   literal, `localhost` (or a name under `.localhost`, RFC 6761 §6.3), or the host of
//!   the configured public URL (`--public-url`): a name the attacker controls is never
//!   one of them. 421 otherwise.
//! - **Cross-origin state changes**: a form or `fetch` on another site POSTs to the
//!   server (no preflight is needed for a simple POST). A request with a method that may
//!   change state (anything but GET, HEAD, OPTIONS) that a browser marks as coming from
//!   another origin (`Origin` not the server's own, `Origin: null`, or `Sec-Fetch-Site:
//!   cross-site` / `same-site`) is refused with 403. The server's own origins are the
//!   request's `Host` on either scheme and the public URL's origin. Requests with neither
//!   header (curl, scripts, other servers) are not a browser's, and pass on to the
//!   handler's own checks. Webhooks (`/webhooks/...`) are exempt from this one: their
//!   senders are other servers, and each delivery carries its own token or signature.
//!
//! Reading is not guarded here: the browser's same-origin policy keeps a foreign page
//! from reading the answers (the server sends no CORS headers).

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::http::ApiError;

/// The URL users, browsers and OAuth providers reach the server at (`--public-url`):
/// `http` or `https`, a host, an optional port, and nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl {
    url: url::Url,
}

impl PublicUrl {
    /// Parses and checks `text`. Errors say what to pass instead.
    pub fn parse(text: &str) -> Result<PublicUrl, String> {
        let url = url::Url::parse(text.trim()).map_err(|e| {
            format!("`{text}` is not a URL ({e}); pass e.g. https://cmap.example.com")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "`{text}` is not an http or https URL; pass e.g. https://cmap.example.com"
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!(
                "`{text}` has no host; pass e.g. https://cmap.example.com"
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "`{text}` holds a user name or password; the public URL is given to browsers and providers: pass it without them"
            ));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "`{text}` has a path, query or fragment; cmap serves at the root of its public URL: pass only the scheme, host and port (e.g. https://cmap.example.com)"
            ));
        }
        Ok(PublicUrl { url })
    }

    /// `scheme://host[:port]`, as browsers send it in `Origin` (the default port left out).
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }

    /// The host, lower-case (IPv6 in brackets).
    fn host(&self) -> String {
        match self.url.host() {
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
            Some(h) => h.to_string().to_ascii_lowercase(),
            None => String::new(),
        }
    }
}

impl std::fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.origin())
    }
}

/// What the guard allows (built once, from `--public-url`).
#[derive(Clone, Debug, Default)]
pub struct Origins {
    pub public_url: Option<PublicUrl>,
}

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No `Host` header, or one that is not a host.
    BadHost,
    /// A `Host` that is none of the server's names (DNS rebinding, or a missing
    /// `--public-url`).
    ForeignHost(String),
    /// A state change a browser sent from another origin.
    CrossOrigin(String),
}

impl Origins {
    /// Whether a request with `method`, `path` and `headers` may go on to its handler.
    pub fn check(&self, method: &Method, path: &str, headers: &HeaderMap) -> Result<(), Refusal> {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(split_authority)
            .ok_or(Refusal::BadHost)?;
        if !self.is_own_host(&host.0) {
            return Err(Refusal::ForeignHost(host.0));
        }
        let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !changes_state || path.starts_with("/webhooks/") {
            return Ok(());
        }
        if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site") {
                return Err(Refusal::CrossOrigin(format!("Sec-Fetch-Site: {site}")));
            }
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            if !self.is_own_origin(origin, &host.1) {
                return Err(Refusal::CrossOrigin(format!("Origin: {origin}")));
            }
        }
        Ok(())
    }

    fn is_own_host(&self, host: &str) -> bool {
        let ipv6 = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
        ipv6 || host.parse::<std::net::Ipv4Addr>().is_ok()
            || host == "localhost"
            || host.ends_with(".localhost")
            || self.public_url.as_ref().is_some_and(|p| p.host() == host)
    }

    /// Whether `origin` is the server's own: the request's own `Host` (`authority`) on
    /// http or https, or the public URL's origin.
    fn is_own_origin(&self, origin: &str, authority: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        if self
            .public_url
            .as_ref()
            .is_some_and(|p| p.origin() == origin)
        {
            return true;
        }
        match origin.split_once("://") {
            Some(("http" | "https", rest)) => rest == authority,
            _ => false,
        }
    }
}

/// `Host`'s host (lower-case; IPv6 kept in brackets) and the whole authority
/// (lower-case), or `None` when it is no `host[:port]`.
fn split_authority(value: &str) -> Option<(String, String)> {
    let authority = value.trim().to_ascii_lowercase();
    if authority.is_empty()
        || authority
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '/' | '@' | '?' | '#' | '\\'))
    {
        return None;
    }
    let host = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let rest = &authority[end + 1..];
        if !(rest.is_empty() || port_ok(rest.strip_prefix(':')?)) {
            return None;
        }
        authority[..=end].to_string()
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if port_ok(port) => host.to_string(),
            Some(_) => return None,
            None => authority.clone(),
        }
    };
    (!host.is_empty()).then_some((host, authority))
}

fn port_ok(port: &str) -> bool {
    !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
}

/// The middleware: refuses what [`Origins::check`] refuses, before any handler runs.
pub async fn guard(
    State(origins): State<std::sync::Arc<Origins>>,
    request: Request,
    next: Next,
) -> Response {
    match origins.check(request.method(), request.uri().path(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            tracing::warn!(
                method = %request.method(),
                path = %request.uri().path(),
                reason = ?refusal,
                "request refused by the origin guard"
            );
            refused(refusal, origins.public_url.as_ref()).into_response()
        }
    }
}

fn refused(refusal: Refusal, public: Option<&PublicUrl>) -> ApiError {
    match refusal {
        Refusal::BadHost => ApiError::new(
            StatusCode::BAD_REQUEST,
            "the request has no valid Host header",
            "send `Host: HOST[:PORT]`, the address the server was reached at",
        )
.code("bad_host"),
        Refusal::ForeignHost(host) => ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!("this server does not answer to the name `{host}`"),
            match public {
                Some(p) => format!(
                    "reach it at {p} or at an IP address; if `{host}` is its public name, start it with --public-url set to that"
                ),
                None => format!(
                    "reach it at an IP address or localhost; if `{host}` is its public name, start it with --public-url https://{host}"
                ),
            },
        )
.code("foreign_host"),
        Refusal::CrossOrigin(what) => ApiError::new(
            StatusCode::FORBIDDEN,
            format!("a state change from another site was refused ({what})"),
            "call the API from a script or from a page the server itself serves",
        )
.code("cross_origin"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn hosts_are_ip_literals_localhost_or_the_public_name() {
        let none = Origins::default();
        let public = Origins {
            public_url: Some(PublicUrl::parse("https://CMAP.example.com").unwrap()),
        };
        let cases: &[(&str, bool, bool)] = &[
            // Host, allowed without a public URL, allowed with https://cmap.example.com
            ("127.0.0.1:8080", true, true),
            ("10.1.2.3", true, true),
            ("[::1]:8080", true, true),
            ("[fe80::1]", true, true),
            ("localhost:8080", true, true),
            ("LOCALHOST", true, true),
            ("app.localhost:3000", true, true),
            ("cmap.example.com", false, true),
            ("cmap.example.com:443", false, true),
            ("CMAP.Example.Com", false, true),
            ("evil.example:8080", false, false),
            ("cmap.example.com.evil.example", false, false),
            ("localhost.evil.example", false, false),
            ("127.0.0.1.nip.io", false, false),
            ("[evil.example]", false, false),
            ("::1", false, false),
        ];
        for (host, without, with) in cases {
            let h = headers(&[("host", host)]);
            assert_eq!(
                none.check(&Method::GET, "/healthz", &h).is_ok(),
                *without,
                "{host}"
            );
            assert_eq!(
                public.check(&Method::GET, "/healthz", &h).is_ok(),
                *with,
                "{host}"
            );
        }
    }

    #[test]
    fn a_missing_or_malformed_host_is_refused() {
        let o = Origins::default();
        for bad in [
            "",
            " ",
            "a b",
            "evil.example/x",
            "user@127.0.0.1",
            "127.0.0.1:80x",
            "[::1",
            "[::1]x",
            "host:",
            ":80",
            "127.0.0.1:123456",
        ] {
            let h = headers(&[("host", bad)]);
            assert_eq!(
                o.check(&Method::GET, "/", &h),
                Err(Refusal::BadHost),
                "{bad:?}"
            );
        }
        assert_eq!(
            o.check(&Method::GET, "/", &HeaderMap::new()),
            Err(Refusal::BadHost)
        );
    }

    #[test]
    fn state_changes_from_other_origins_are_refused_and_the_rest_pass() {
        let o = Origins {
            public_url: Some(PublicUrl::parse("https://cmap.example.com").unwrap()),
        };
        let post = Method::POST;
        // Method, path, headers, whether it passes.
        type Case<'a> = (&'a Method, &'a str, &'a [(&'a str, &'a str)], bool);
        let cases: &[Case] = &[
            // curl and scripts send neither header
            (
                &post,
                "/api/tasks/t/pause",
                &[("host", "127.0.0.1:8080")],
                true,
            ),
            // the server's own pages
            (
                &post,
                "/api/tasks/t/pause",
                &[
                    ("host", "127.0.0.1:8080"),
                    ("origin", "http://127.0.0.1:8080"),
                ],
                true,
            ),
            (
                &post,
                "/api/tasks/t/pause",
                &[
                    ("host", "cmap.example.com"),
                    ("origin", "https://cmap.example.com"),
                ],
                true,
            ),
            (
                &post,
                "/api/tasks/t/pause",
                &[
                    ("host", "127.0.0.1:8080"),
                    ("origin", "https://cmap.example.com"),
                ],
                true,
            ),
            (
                &post,
                "/api/tasks/t/pause",
                &[
                    ("host", "127.0.0.1:8080"),
                    ("sec-fetch-site", "same-origin"),
                ],
                true,
            ),
            (
                &post,
                "/api/tasks/t/pause",
                &[("host", "127.0.0.1:8080"), ("sec-fetch-site", "none")],
                true,
            ),
            // another site's page
            (
                &post,
                "/api/tasks/t/pause",
                &[
                    ("host", "127.0.0.1:8080"),
                    ("origin", "https://evil.example"),
                ],
                false,
            ),
            (
                &post,
                "/api/tasks/t/pause",
                &[
                    ("host", "127.0.0.1:8080"),
                    ("origin", "http://127.0.0.1:9999"),
                ],
                false,
            ),
            (
                &post,
                "/api/tasks/t/pause",
                &[("host", "127.0.0.1:8080"), ("origin", "null")],
                false,
            ),
            (
                &post,
                "/api/tasks/t/pause",
                &[("host", "127.0.0.1:8080"), ("sec-fetch-site", "cross-site")],
                false,
            ),
            (
                &post,
                "/api/tasks/t/pause",
                &[("host", "127.0.0.1:8080"), ("sec-fetch-site", "same-site")],
                false,
            ),
            (
                &Method::DELETE,
                "/api/x",
                &[
                    ("host", "127.0.0.1:8080"),
                    ("origin", "https://evil.example"),
                ],
                false,
            ),
            (
                &Method::PATCH,
                "/api/x",
                &[
                    ("host", "127.0.0.1:8080"),
                    ("origin", "https://evil.example"),
                ],
                false,
            ),
            // reads are the browser's to keep from the page
            (
                &Method::GET,
                "/api/executions",
                &[
                    ("host", "127.0.0.1:8080"),
                    ("origin", "https://evil.example"),
                ],
                true,
            ),
            (
                &Method::OPTIONS,
                "/api/executions",
                &[
                    ("host", "127.0.0.1:8080"),
                    ("origin", "https://evil.example"),
                ],
                true,
            ),
            // webhooks are sent by servers and carry their own token
            (
                &post,
                "/webhooks/t",
                &[
                    ("host", "127.0.0.1:8080"),
                    ("origin", "https://evil.example"),
                ],
                true,
            ),
        ];
        for (method, path, h, ok) in cases {
            let result = o.check(method, path, &headers(h));
            assert_eq!(result.is_ok(), *ok, "{method} {path} {h:?}: {result:?}");
        }
    }

    #[test]
    fn public_urls_are_checked() {
        for good in [
            "https://cmap.example.com",
            "http://10.0.0.5:8080/",
            "https://cmap.example.com:8443",
        ] {
            assert!(PublicUrl::parse(good).is_ok(), "{good}");
        }
        assert_eq!(
            PublicUrl::parse("https://cmap.example.com:443")
                .unwrap()
                .origin(),
            "https://cmap.example.com"
        );
        for bad in [
            "cmap.example.com",
            "ftp://cmap.example.com",
            "https://",
            "https://u:p@cmap.example.com",
            "https://cmap.example.com/api",
            "https://cmap.example.com/?a=1",
            "https://cmap.example.com/#x",
        ] {
            let err = PublicUrl::parse(bad).unwrap_err();
            assert!(
                err.contains("e.g.") || err.contains("pass it without"),
                "{bad}: {err}"
            );
        }
    }
}
