//! The local router: the Application Load Balancer's listener rules, as deployed in the emulator,
//! applied to requests on one local port.
//!
//! [`RouteTable::route`] is the ALB's decision, pure: rules in priority order, `host-header`
//! conditions matched case-insensitively with `*` (any run of characters) and `?` (one
//! character), the first matching rule's action (forward to a target group, or a redirect), else
//! the listener's default (404). [`serve`] is the I/O: it forwards a request to one of the target
//! group's registered targets (the containers' published ports) with the headers an ALB adds
//! (`X-Forwarded-For` appended, `X-Forwarded-Proto`, `X-Forwarded-Port`), and answers 503 when a
//! target group has no healthy target, as the ALB does.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Forward to the target group with this ARN.
    Forward(String),
    /// Redirect (ALB `RedirectConfig`): `#{host}`, `#{path}`, `#{query}` placeholders allowed.
    Redirect {
        protocol: String,
        host: String,
        port: String,
        path: String,
        query: String,
        status: u16,
    },
    /// A fixed response.
    Fixed { status: u16, body: String },
}

/// A listener rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub priority: u32,
    /// `host-header` values; empty means any host.
    pub hosts: Vec<String>,
    pub action: Action,
}

/// The rules of the HTTPS listeners and where each target group's targets are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    /// Sorted by priority.
    pub rules: Vec<Rule>,
    /// Target group ARN -> registered targets (healthy containers' published ports).
    pub targets: BTreeMap<String, Vec<SocketAddr>>,
}

/// Whether `host` (without port) matches an ALB host-header pattern.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    fn go(p: &[u8], h: &[u8]) -> bool {
        match (p.first(), h.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], h) || (!h.is_empty() && go(p, &h[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &h[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &h[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), host.as_bytes())
}

impl RouteTable {
    /// Sorts the rules by priority (the ALB evaluates them lowest first).
    pub fn new(mut rules: Vec<Rule>, targets: BTreeMap<String, Vec<SocketAddr>>) -> RouteTable {
        rules.sort_by_key(|r| r.priority);
        RouteTable { rules, targets }
    }

    /// The action for a request to `host` (a Host header, port stripped here).
    pub fn route(&self, host: &str) -> Option<&Action> {
        let host = strip_port(host);
        self.rules
            .iter()
            .find(|r| r.hosts.is_empty() || r.hosts.iter().any(|p| host_matches(p, host)))
            .map(|r| &r.action)
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split(']').next().map(|h| &h[1..]).unwrap_or(host);
    }
    host.rsplit_once(':')
        .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
        .map(|(h, _)| h)
        .unwrap_or(host)
}

/// The `Location` of a redirect for a request to `host` with `path_and_query`.
pub fn redirect_location(action: &Action, host: &str, path: &str, query: Option<&str>) -> String {
    let Action::Redirect {
        protocol,
        host: to_host,
        port,
        path: to_path,
        query: to_query,
        ..
    } = action
    else {
        return String::new();
    };
    let bare = strip_port(host);
    let path_no_slash = path.strip_prefix('/').unwrap_or(path);
    let fill = |s: &str| {
        s.replace("#{host}", bare)
            .replace("#{path}", path_no_slash)
            .replace("#{query}", query.unwrap_or(""))
            .replace("#{port}", port)
            .replace("#{protocol}", &protocol.to_ascii_lowercase())
    };
    let proto = fill(protocol).to_ascii_lowercase();
    let port = fill(port);
    let default_port = (proto == "https" && port == "443") || (proto == "http" && port == "80");
    let mut url = format!("{proto}://{}", fill(to_host));
    if !default_port && !port.is_empty() {
        url.push(':');
        url.push_str(&port);
    }
    let p = fill(to_path);
    if !p.starts_with('/') {
        url.push('/');
    }
    url.push_str(&p);
    let q = fill(to_query);
    if !q.is_empty() {
        url.push('?');
        url.push_str(&q);
    }
    url
}

type Body = BoxBody<Bytes, hyper::Error>;

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Shared router state: the table (replaced as the emulator's rules and the containers change)
/// and a round-robin counter.
#[derive(Debug, Default)]
pub struct Router {
    pub table: RwLock<RouteTable>,
    next: AtomicUsize,
    /// Scheme reported in `X-Forwarded-Proto` (the local port serves the HTTPS listener's rules).
    pub proto: String,
}

impl Router {
    /// A router reporting `proto` (`http` or `https`) to the sites.
    pub fn new(proto: &str) -> Router {
        Router {
            table: RwLock::new(RouteTable::default()),
            next: AtomicUsize::new(0),
            proto: proto.to_string(),
        }
    }

    /// Replaces the table.
    pub fn set(&self, table: RouteTable) {
        if let Ok(mut t) = self.table.write() {
            *t = table;
        }
    }

    async fn handle(
        &self,
        client: &Client<HttpConnector, Incoming>,
        peer: SocketAddr,
        local_port: u16,
        mut req: Request<Incoming>,
    ) -> Response<Body> {
        let host = req
            .headers()
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_string();
        let (action, targets) = {
            let Ok(t) = self.table.read() else {
                return text(StatusCode::INTERNAL_SERVER_ERROR, "router state poisoned\n");
            };
            match t.route(&host).cloned() {
                None => (None, Vec::new()),
                Some(Action::Forward(tg)) => {
                    let targets = t.targets.get(&tg).cloned().unwrap_or_default();
                    (Some(Action::Forward(tg)), targets)
                }
                Some(a) => (Some(a), Vec::new()),
            }
        };
        match action {
            None => text(StatusCode::NOT_FOUND, "Not Found\n"),
            Some(Action::Fixed { status, body }) => text(
                StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND),
                &body,
            ),
            Some(a @ Action::Redirect { .. }) => {
                let status = match &a {
                    Action::Redirect { status, .. } => *status,
                    _ => 301,
                };
                let location = redirect_location(&a, &host, req.uri().path(), req.uri().query());
                let mut r = text(
                    StatusCode::from_u16(status).unwrap_or(StatusCode::MOVED_PERMANENTLY),
                    "",
                );
                if let Ok(v) = hyper::header::HeaderValue::from_str(&location) {
                    r.headers_mut().insert(hyper::header::LOCATION, v);
                }
                r
            }
            Some(Action::Forward(_)) if targets.is_empty() => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "503 Service Temporarily Unavailable\n",
            ),
            Some(Action::Forward(_)) => {
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                let Some(target) = first_reachable(&targets, start).await else {
                    return text(StatusCode::BAD_GATEWAY, "502 Bad Gateway\n");
                };
                let path = req
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/".into());
                let Ok(uri) = format!("http://{target}{path}").parse::<hyper::Uri>() else {
                    return text(StatusCode::BAD_REQUEST, "bad request target\n");
                };
                *req.uri_mut() = uri;
                let headers = req.headers_mut();
                let forwarded_for =
                    match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
                        Some(prior) => format!("{prior}, {}", peer.ip()),
                        None => peer.ip().to_string(),
                    };
                for (name, value) in [
                    ("x-forwarded-for", forwarded_for),
                    ("x-forwarded-proto", self.proto.clone()),
                    ("x-forwarded-port", local_port.to_string()),
                ] {
                    if let Ok(v) = hyper::header::HeaderValue::from_str(&value) {
                        headers.insert(name, v);
                    }
                }
                match client.request(req).await {
                    Ok(resp) => resp.map(|b| b.boxed()),
                    Err(_) => text(StatusCode::BAD_GATEWAY, "502 Bad Gateway\n"),
                }
            }
        }
    }
}

/// The first of `targets`, in round-robin order from `start`, that accepts a connection. A
/// container that just stopped is still registered until the next health pass; the ALB would
/// stop sending it requests within its health check interval, and a request that never reached
/// a target is safe to send to the next one, so the site keeps answering meanwhile.
async fn first_reachable(targets: &[SocketAddr], start: usize) -> Option<SocketAddr> {
    for i in 0..targets.len() {
        let target = targets[(start + i) % targets.len()];
        let attempt = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            tokio::net::TcpStream::connect(target),
        );
        if let Ok(Ok(_)) = attempt.await {
            return Some(target);
        }
    }
    None
}

/// Serves `router` on `listener` until the task is dropped.
pub async fn serve(router: Arc<Router>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let client: Client<HttpConnector, Incoming> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let local_port = listener.local_addr()?.port();
    loop {
        let (stream, peer) = listener.accept().await?;
        let router = router.clone();
        let client = client.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let router = router.clone();
                let client = client.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(
                        router.handle(&client, peer, local_port, req).await,
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_target_that_stopped_is_skipped() {
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (live_addr, gone_addr) = (live.local_addr().unwrap(), gone.local_addr().unwrap());
        drop(gone);
        let targets = [gone_addr, live_addr];
        assert_eq!(first_reachable(&targets, 0).await, Some(live_addr));
        assert_eq!(first_reachable(&targets, 1).await, Some(live_addr));
        assert_eq!(first_reachable(&[gone_addr], 0).await, None);
    }

    fn fwd(priority: u32, hosts: &[&str], tg: &str) -> Rule {
        Rule {
            priority,
            hosts: hosts.iter().map(|s| s.to_string()).collect(),
            action: Action::Forward(tg.into()),
        }
    }

    #[test]
    fn host_patterns_match_as_the_alb_does() {
        let check =
            |p: &str, h: &str, want: bool| assert_eq!(host_matches(p, h), want, "{p} vs {h}");
        check("shop.example.com", "shop.example.com", true);
        check("shop.example.com", "SHOP.Example.com", true);
        check("shop.example.com", "www.shop.example.com", false);
        check("*.example.com", "a.b.example.com", true);
        check("*.example.com", "example.com", false);
        check("shop?.example.com", "shop1.example.com", true);
        check("shop?.example.com", "shop.example.com", false);
        check("*", "anything", true);
    }

    #[test]
    fn the_lowest_priority_matching_rule_wins_and_ports_are_ignored() {
        let t = RouteTable::new(
            vec![
                fwd(200, &["*.example.com"], "wild"),
                fwd(10, &["shop.example.com"], "shop"),
            ],
            BTreeMap::new(),
        );
        assert_eq!(
            t.route("shop.example.com:8080"),
            Some(&Action::Forward("shop".into()))
        );
        assert_eq!(
            t.route("blog.example.com"),
            Some(&Action::Forward("wild".into()))
        );
        assert_eq!(t.route("example.org"), None);
    }

    #[test]
    fn redirects_fill_the_alb_placeholders() {
        let a = Action::Redirect {
            protocol: "HTTPS".into(),
            host: "shop.example.com".into(),
            port: "443".into(),
            path: "/#{path}".into(),
            query: "#{query}".into(),
            status: 301,
        };
        assert_eq!(
            redirect_location(&a, "www.shop.example.com:8080", "/a/b", Some("x=1")),
            "https://shop.example.com/a/b?x=1"
        );
        assert_eq!(
            redirect_location(&a, "www.shop.example.com", "/", None),
            "https://shop.example.com/"
        );
    }
}
