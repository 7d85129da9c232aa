//! One log stream per app across nodes. Each node keeps the lines it wrote
//! (its dynos', its router's, its API's) in its own Logplex; a log session
//! opened on any node collates every live node's lines of the app:
//!
//! - `GET /node-logs/{app}` ([`serve`]) gives another node this node's lines,
//!   as JSON lines: the backlog, an end-of-backlog mark, then (with `tail`)
//!   each new line, and an empty line every [`KEEPALIVE`]. Only a caller
//!   with the platform's node token may read it.
//! - [`backlog`] merges every node's backlog by time; [`tail`] then merges the
//!   live lines, holding each for [`WINDOW`] so lines from several nodes come
//!   out in timestamp order. A node that joins, or whose stream broke, is
//!   (re)opened from the last line read from it, so no line is lost or
//!   doubled.
//!
//! Each line exists on exactly one node, which is also the one whose drains
//! send it: drains get every line once.

use super::{ApiError, Platform};
use crate::logplex::{Backlog, Filter, LogLine, Source};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::mpsc;

/// How long a live line is held for lines of other nodes written before it.
pub const WINDOW: Duration = Duration::from_millis(200);
/// How often a quiet node stream gets an empty line.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// How long the backlog waits for a node's lines.
const BACKLOG_WAIT: Duration = Duration::from_secs(3);
/// How often a tail looks for nodes that joined or whose stream broke.
const RESCAN: Duration = Duration::from_secs(2);

/// What another node asks of this one's lines.
#[derive(Deserialize, Default, Clone)]
pub struct NodeQuery {
    /// The last `lines` lines first (unless `since_us`).
    #[serde(default)]
    lines: usize,
    /// Every line after this time, in µs since the epoch, instead.
    since_us: Option<i64>,
    #[serde(default)]
    tail: bool,
    source: Option<String>,
    dyno: Option<String>,
}

impl NodeQuery {
    fn filter(&self) -> Filter {
        Filter {
            source: match self.source.as_deref() {
                Some("app") => Some(Source::App),
                Some("kumo") => Some(Source::Kumo),
                _ => None,
            },
            dyno: self.dyno.clone(),
        }
    }

    fn add_to(&self, url: &mut url::Url) {
        let mut pairs = url.query_pairs_mut();
        pairs.append_pair("lines", &self.lines.to_string());
        pairs.append_pair("tail", if self.tail { "true" } else { "false" });
        if let Some(us) = self.since_us {
            pairs.append_pair("since_us", &us.to_string());
        }
        if let Some(source) = &self.source {
            pairs.append_pair("source", source);
        }
        if let Some(dyno) = &self.dyno {
            pairs.append_pair("dyno", dyno);
        }
    }

    fn of(backlog: Backlog, filter: &Filter, tail: bool) -> NodeQuery {
        let (lines, since_us) = match backlog {
            Backlog::Last(n) => (n, None),
            Backlog::After(_) => (0, None),
            Backlog::Since(at) => (0, Some(micros(at))),
        };
        NodeQuery {
            lines,
            since_us,
            tail,
            source: filter.source.map(|s| s.as_str().to_string()),
            dyno: filter.dyno.clone(),
        }
    }
}

/// One line on the wire between nodes; an empty object ends the backlog.
#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at_us: Option<i64>,
    #[serde(default)]
    source: String,
    #[serde(default)]
    dyno: String,
    #[serde(default)]
    text: String,
}

/// A line's time in µs since the epoch: the id of a collated stream's event.
pub fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

pub fn from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn wire(line: &LogLine) -> Bytes {
    let wire = Wire {
        at_us: Some(micros(line.at)),
        source: line.source.as_str().to_string(),
        dyno: line.dyno.clone(),
        text: line.text.clone(),
    };
    let mut text = serde_json::to_vec(&wire).unwrap_or_default();
    text.push(b'\n');
    Bytes::from(text)
}

/// `GET /node-logs/{app}`: this node's own lines of `app`, for a node collating them.
pub async fn serve(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    Path(app): Path<String>,
    Query(query): Query<NodeQuery>,
) -> Result<Response, ApiError> {
    from_a_node(&platform, &headers)?;
    let filter = query.filter();
    let backlog = match query.since_us {
        Some(us) => Backlog::Since(from_micros(us)),
        None => Backlog::Last(query.lines),
    };
    let log = platform.manager.logplex().app(&app);
    let end = Bytes::from_static(b"{}\n");
    let body = if query.tail {
        use futures::StreamExt as _;
        let (recent, rx) = log.tail(backlog, filter);
        let head = futures::stream::iter(
            recent
                .iter()
                .map(wire)
                .chain([end])
                .map(Ok::<_, std::convert::Infallible>)
                .collect::<Vec<_>>(),
        );
        let live = futures::stream::unfold(rx, |mut rx| async move {
            let next = tokio::select! {
                line = rx.recv() => line.map(|l| wire(&l)),
                () = tokio::time::sleep(KEEPALIVE) => Some(Bytes::from_static(b"\n")),
            };
            next.map(|bytes| (Ok(bytes), rx))
        });
        Body::from_stream(head.chain(live))
    } else {
        let mut text: Vec<u8> = Vec::new();
        for line in log.lines(backlog, &filter) {
            text.extend_from_slice(&wire(&line));
        }
        text.extend_from_slice(&end);
        Body::from(text)
    };
    Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(body)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .build()
            .expect("a plain HTTP client builds")
    })
}

/// The API URLs of the other nodes that are up, by name; empty for a server
/// that is not one of several nodes (whose log sessions collate nothing).
pub async fn other_nodes(platform: &Platform) -> HashMap<String, String> {
    if platform.node_channel.is_none() {
        return HashMap::new();
    }
    let now = crate::nodes::now_ms();
    match platform.state.nodes().await {
        Ok(nodes) => nodes
            .into_iter()
            .filter(|n| n.is_up(now) && n.name != platform.node)
            .map(|n| (n.name, n.advertise))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "reading the nodes to collate logs from failed");
            HashMap::new()
        }
    }
}

/// The JSON each other live node answers to `GET path` on its API (with the
/// node token); a node that does not answer within [`BACKLOG_WAIT`] is left out.
pub async fn ask_nodes(platform: &Platform, path: &str) -> Vec<serde_json::Value> {
    ask_nodes_with(platform, reqwest::Method::GET, path).await
}

/// [`ask_nodes`] with `method`.
pub async fn ask_nodes_with(
    platform: &Platform,
    method: reqwest::Method,
    path: &str,
) -> Vec<serde_json::Value> {
    let Some(channel) = platform.node_channel.clone() else {
        return Vec::new();
    };
    let asks = other_nodes(platform).await.into_iter().map(|(node, url)| {
        let mut headers = axum::http::HeaderMap::new();
        channel.sign(&mut headers);
        let request = client()
            .request(method.clone(), format!("{url}{path}"))
            .headers(headers)
            .timeout(BACKLOG_WAIT);
        async move {
            let answer = async { request.send().await?.error_for_status()?.bytes().await };
            match answer.await {
                Ok(bytes) => serde_json::from_slice(&bytes).ok(),
                Err(e) => {
                    tracing::warn!(node, path, error = %e, "asking another node failed");
                    None
                }
            }
        }
    });
    futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Whether a request carries the node token (the caller is another node).
pub fn from_a_node(platform: &Platform, headers: &HeaderMap) -> Result<(), ApiError> {
    match &platform.node_channel {
        Some(channel) if channel.verifies(headers) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Only another node of this platform may ask this.",
        )),
        None => Err(ApiError::not_found(
            "This server is not one of several nodes.",
        )),
    }
}

/// What one node's stream sends the collating task.
enum Event {
    Line(LogLine),
    /// The node's backlog is over.
    BacklogEnd,
    /// The node's stream ended or broke.
    Gone,
}

/// Opens `node`'s lines of `app` as asked and sends them to `to`, tagged
/// with the node's name.
fn open(
    platform: &Platform,
    node: String,
    url: String,
    app: &str,
    query: NodeQuery,
    to: mpsc::Sender<(String, Event)>,
) {
    let Some(channel) = platform.node_channel.clone() else {
        return;
    };
    let Ok(mut url) = url::Url::parse(&format!("{url}/node-logs/{app}")) else {
        tracing::warn!(node, url, "a node's advertised address is not a URL");
        return;
    };
    query.add_to(&mut url);
    tokio::spawn(async move {
        let mut headers = axum::http::HeaderMap::new();
        channel.sign(&mut headers);
        let request = client().get(url).headers(headers);
        let request = if query.tail {
            request
        } else {
            request.timeout(BACKLOG_WAIT)
        };
        match request.send().await.and_then(|r| r.error_for_status()) {
            Ok(response) => {
                use futures::StreamExt as _;
                let mut body = response.bytes_stream();
                let mut pending: Vec<u8> = Vec::new();
                while let Some(Ok(chunk)) = body.next().await {
                    let chunk: bytes::Bytes = chunk;
                    pending.extend_from_slice(&chunk);
                    while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                        let piece: Vec<u8> = pending.drain(..=end).collect();
                        let Some(event) = event(&piece[..end]) else {
                            continue;
                        };
                        if to.send((node.clone(), event)).await.is_err() {
                            return;
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(node, error = %e, "reading another node's log lines failed");
            }
        }
        let _ = to.send((node, Event::Gone)).await;
    });
}

/// The event one wire line carries; `None` for a keep-alive.
fn event(piece: &[u8]) -> Option<Event> {
    if piece.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let wire: Wire = serde_json::from_slice(piece).ok()?;
    let Some(at_us) = wire.at_us else {
        return Some(Event::BacklogEnd);
    };
    Some(Event::Line(LogLine {
        seq: 0,
        at: from_micros(at_us),
        source: if wire.source == "kumo" {
            Source::Kumo
        } else {
            Source::App
        },
        dyno: wire.dyno,
        text: wire.text,
    }))
}

/// This node's and the `others`' lines of `backlog` for `app`, merged in
/// timestamp order.
pub async fn backlog(
    platform: &Platform,
    others: HashMap<String, String>,
    app: &str,
    backlog: Backlog,
    filter: &Filter,
) -> Vec<LogLine> {
    let mut lines = platform.manager.logplex().app(app).lines(backlog, filter);
    let (tx, mut rx) = mpsc::channel(1024);
    for (node, url) in &others {
        let query = NodeQuery::of(backlog, filter, false);
        open(platform, node.clone(), url.clone(), app, query, tx.clone());
    }
    drop(tx);
    while let Some((_, event)) = rx.recv().await {
        if let Event::Line(line) = event {
            lines.push(line);
        }
    }
    merged(lines, backlog)
}

/// Sorts lines of several nodes by time, keeping the last `n` of `Last(n)`.
fn merged(mut lines: Vec<LogLine>, backlog: Backlog) -> Vec<LogLine> {
    lines.sort_by_key(|l| l.at);
    if let Backlog::Last(n) = backlog {
        let extra = lines.len().saturating_sub(n);
        lines.drain(..extra);
    }
    lines
}

/// This node's and the `others`' lines of `app` — the backlog, then each new
/// line (from nodes that join too) — merged in timestamp order, until the
/// receiver is dropped.
pub fn tail(
    platform: Arc<Platform>,
    others: HashMap<String, String>,
    app: String,
    backlog: Backlog,
    filter: Filter,
) -> mpsc::Receiver<LogLine> {
    let (out, merged_rx) = mpsc::channel(crate::logplex::SUBSCRIBER_QUEUE);
    tokio::spawn(async move {
        let started = OffsetDateTime::now_utc();
        let (recent, mut local) = platform
            .manager
            .logplex()
            .app(&app)
            .tail(backlog, filter.clone());
        let (tx, mut remote) = mpsc::channel::<(String, Event)>(4096);
        // The last line read from each node, which a reopened stream starts after.
        let mut last: HashMap<String, OffsetDateTime> = HashMap::new();
        // The nodes whose stream is open.
        let mut open_nodes: HashSet<String> = HashSet::new();
        for (node, url) in &others {
            open_nodes.insert(node.clone());
            let query = NodeQuery::of(backlog, &filter, true);
            open(
                &platform,
                node.clone(),
                url.clone(),
                &app,
                query,
                tx.clone(),
            );
        }
        // The backlog: every node's, merged, before any live line.
        let mut lines = recent;
        let mut waiting = others.len();
        let deadline = tokio::time::Instant::now() + BACKLOG_WAIT;
        while waiting > 0 {
            match tokio::time::timeout_at(deadline, remote.recv()).await {
                Ok(Some((node, Event::Line(line)))) => {
                    last.insert(node, line.at);
                    lines.push(line);
                }
                Ok(Some((_, Event::BacklogEnd | Event::Gone))) => waiting -= 1,
                Ok(None) | Err(_) => break,
            }
        }
        for line in merged(lines, backlog) {
            if out.send(line).await.is_err() {
                return;
            }
        }
        // Live lines, each held for WINDOW so later ones from other nodes
        // written before it go out first.
        let mut order: BTreeMap<(OffsetDateTime, u64), LogLine> = BTreeMap::new();
        let mut arrival = 0u64;
        let mut hold = |line: LogLine, order: &mut BTreeMap<(OffsetDateTime, u64), LogLine>| {
            arrival += 1;
            order.insert((line.at, arrival), line);
        };
        let mut rescan = tokio::time::interval(RESCAN);
        rescan.tick().await;
        loop {
            let next_due = order
                .keys()
                .next()
                .map(|(at, _)| due_in(*at))
                .unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                line = local.recv() => match line {
                    Some(line) => hold(line, &mut order),
                    None => return,
                },
                Some((node, event)) = remote.recv() => match event {
                    Event::Line(line) => {
                        last.insert(node, line.at);
                        hold(line, &mut order);
                    }
                    Event::BacklogEnd => {}
                    Event::Gone => {
                        open_nodes.remove(&node);
                    }
                },
                () = tokio::time::sleep(next_due) => {}
                _ = rescan.tick() => {
                    for (node, url) in other_nodes(&platform).await {
                        if open_nodes.contains(&node) {
                            continue;
                        }
                        let since = last.get(&node).copied().unwrap_or(started);
                        let query = NodeQuery::of(Backlog::Since(since), &filter, true);
                        open_nodes.insert(node.clone());
                        open(&platform, node, url, &app, query, tx.clone());
                    }
                }
            }
            while let Some(entry) = order.first_entry() {
                if !due_in(entry.key().0).is_zero() {
                    break;
                }
                if out.send(entry.remove()).await.is_err() {
                    return;
                }
            }
        }
    });
    merged_rx
}

/// How long until a line written at `at` has been held for [`WINDOW`].
fn due_in(at: OffsetDateTime) -> Duration {
    let due = at + WINDOW;
    Duration::try_from(due - OffsetDateTime::now_utc()).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(us: i64, text: &str) -> LogLine {
        LogLine {
            seq: 0,
            at: from_micros(us),
            source: Source::App,
            dyno: "web.1".into(),
            text: text.into(),
        }
    }

    #[test]
    fn backlogs_of_several_nodes_merge_by_time() {
        let lines = vec![line(30, "c"), line(10, "a"), line(40, "d"), line(20, "b")];
        let texts = |lines: Vec<LogLine>| lines.into_iter().map(|l| l.text).collect::<Vec<_>>();
        assert_eq!(
            texts(merged(lines.clone(), Backlog::Last(3))),
            ["b", "c", "d"]
        );
        assert_eq!(
            texts(merged(lines, Backlog::Last(10))),
            ["a", "b", "c", "d"]
        );
    }

    #[test]
    fn a_line_crosses_the_wire_whole() {
        let sent = line(1_765_000_000_123_456, "héllo \"there\"");
        let Some(Event::Line(got)) = event(wire(&sent).trim_ascii_end()) else {
            panic!("not a line");
        };
        assert_eq!(got, sent);
        assert!(matches!(event(b"{}"), Some(Event::BacklogEnd)));
        assert!(event(b"").is_none());
    }
}
