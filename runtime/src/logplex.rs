//! Logplex: one stream of lines per app, from dynos (`app[web.1]`), the API
//! (`app[api]`) and the platform (`kumo[router]`, `kumo[web.1]`).
//!
//! Each app keeps its last [`HISTORY`] lines; tail subscribers get every new line
//! through a bounded queue. A subscriber that falls behind never blocks a dyno:
//! its lines are dropped and, once it catches up, it is told how many with an L11 line.
//!
//! A line is made once: the history and every drain's queue hold the same
//! `Arc<LogLine>`, so a line costs a writer the same whatever the number of
//! drains (a tail, which gets its own copy, is rare and short-lived). Nothing
//! is copied for a queue that is full.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;
use tokio::sync::mpsc;

/// Lines kept per app, as Heroku keeps.
pub const HISTORY: usize = 1500;
/// Longer lines are split into pieces of this many bytes.
pub const MAX_LINE_BYTES: usize = 10_000;
/// Lines a tail subscriber may have queued before new ones are dropped.
pub const SUBSCRIBER_QUEUE: usize = 1024;

/// Who wrote a line: the app's own processes and API events, or the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    App,
    Kumo,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::App => "app",
            Source::Kumo => "kumo",
        }
    }
}

/// One log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// The line's place in its app's stream, from 1 (0: a notice to one reader).
    pub seq: u64,
    pub at: OffsetDateTime,
    pub source: Source,
    /// `web.1`, `router`, `api`, `run.1`…
    pub dyno: String,
    pub text: String,
}

impl fmt::Display for LogLine {
    /// Heroku's display format: `2026-11-24T10:00:00.000000+00:00 app[web.1]: text`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}[{}]: {}",
            Timestamp(self.at),
            self.source.as_str(),
            self.dyno,
            self.text
        )
    }
}

/// RFC 3339 with microseconds and an explicit `+00:00`, as Heroku prints.
pub fn timestamp(at: OffsetDateTime) -> String {
    Timestamp(at).to_string()
}

/// [`timestamp`] written where it is wanted, without a `String` of its own
/// and, for any year from 0 to 9999, without the formatting machinery: a
/// drain writes one per line per drain, so its digits are put by hand.
pub struct Timestamp(pub OffsetDateTime);

impl Timestamp {
    /// The timestamp's 32 bytes, or `None` for a year outside 0–9999, which
    /// only its [`Display`](fmt::Display) writes.
    pub fn digits(&self) -> Option<[u8; 32]> {
        let t = self.0.to_offset(time::UtcOffset::UTC);
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let mut out = *b"0000-00-00T00:00:00.000000+00:00";
        let mut put = |end: usize, mut n: u32, width: usize| {
            for digit in out[end - width..end].iter_mut().rev() {
                *digit = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(4, year, 4);
        put(7, u32::from(u8::from(t.month())), 2);
        put(10, u32::from(t.day()), 2);
        put(13, u32::from(t.hour()), 2);
        put(16, u32::from(t.minute()), 2);
        put(19, u32::from(t.second()), 2);
        put(26, t.microsecond(), 6);
        Some(out)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.digits() {
            Some(digits) => f.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?),
            None => formatted(f, self.0),
        }
    }
}

/// [`timestamp`] by the formatting machinery: any year, and the reference
/// the digits put by hand are tested against.
fn formatted(out: &mut impl fmt::Write, at: OffsetDateTime) -> fmt::Result {
    let t = at.to_offset(time::UtcOffset::UTC);
    write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Which lines a reader wants.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub source: Option<Source>,
    /// A dyno name (`web.1`) or a process type (`web`), which matches all its dynos.
    pub dyno: Option<String>,
}

impl Filter {
    pub fn matches(&self, line: &LogLine) -> bool {
        if self.source.is_some_and(|s| s != line.source) {
            return false;
        }
        match &self.dyno {
            None => true,
            Some(d) if d.contains('.') => &line.dyno == d,
            Some(d) => line.dyno.split('.').next() == Some(d.as_str()),
        }
    }
}

/// The log streams of every app.
#[derive(Default)]
pub struct Logplex {
    apps: Mutex<HashMap<String, Arc<AppLog>>>,
}

impl Logplex {
    pub fn new() -> Arc<Logplex> {
        Arc::new(Logplex::default())
    }

    /// The stream of `app`, created on first use.
    pub fn app(&self, app: &str) -> Arc<AppLog> {
        let mut apps = self.apps.lock().expect("logplex lock poisoned");
        if let Some(log) = apps.get(app) {
            return log.clone();
        }
        apps.entry(app.to_string()).or_default().clone()
    }

    /// Moves `old`'s stream to `new` (the app was renamed): its history, its
    /// live tails and the dynos still writing to it go with it.
    pub fn rename(&self, old: &str, new: &str) {
        let mut apps = self.apps.lock().expect("logplex lock poisoned");
        if let Some(log) = apps.remove(old) {
            apps.insert(new.to_string(), log);
        }
    }

    /// Drops an app's stream (when the app is destroyed).
    pub fn forget(&self, app: &str) {
        self.apps.lock().expect("logplex lock poisoned").remove(app);
    }

    /// Appends a line to `app`'s stream, splitting it if it is too long.
    pub fn log(&self, app: &str, source: Source, dyno: &str, text: &str) {
        self.app(app).log(source, dyno, text);
    }

    /// As [`Logplex::log`], taking the text by value: a line that needs no
    /// splitting is kept as it is, without a copy (the router's line per request).
    pub fn log_owned(&self, app: &str, source: Source, dyno: &str, text: String) {
        self.app(app).log_owned(source, dyno, text);
    }
}

/// One app's stream: its history and its tail subscribers.
#[derive(Default)]
pub struct AppLog {
    inner: Mutex<AppLogInner>,
}

#[derive(Default)]
struct AppLogInner {
    next_seq: u64,
    history: VecDeque<Arc<LogLine>>,
    subscribers: Vec<Subscriber>,
}

struct Subscriber {
    queue: Queue,
    filter: Filter,
    dropped: u64,
    dropped_since: Option<OffsetDateTime>,
}

/// A subscriber's queue. A drain's shares the line with the history and
/// the other drains, and says L10 when it overflows; a tail's gets a copy
/// and says L11.
enum Queue {
    Tail(mpsc::Sender<LogLine>),
    Drain(mpsc::Sender<Arc<LogLine>>),
}

/// Why a queue took no line.
enum Refused {
    Full,
    Closed,
}

impl Queue {
    fn is_closed(&self) -> bool {
        match self {
            Queue::Tail(tx) => tx.is_closed(),
            Queue::Drain(tx) => tx.is_closed(),
        }
    }

    /// Lines the queue has room for now.
    fn capacity(&self) -> usize {
        match self {
            Queue::Tail(tx) => tx.capacity(),
            Queue::Drain(tx) => tx.capacity(),
        }
    }

    /// Hands `line` over without waiting, copying it (for a tail) only once
    /// there is room.
    fn offer(&self, line: &Arc<LogLine>) -> Result<(), Refused> {
        let refused = |e| match e {
            mpsc::error::TrySendError::Full(()) => Refused::Full,
            mpsc::error::TrySendError::Closed(()) => Refused::Closed,
        };
        match self {
            Queue::Tail(tx) => tx
                .try_reserve()
                .map_err(refused)?
                .send(LogLine::clone(line)),
            Queue::Drain(tx) => tx.try_reserve().map_err(refused)?.send(line.clone()),
        }
        Ok(())
    }
}

impl AppLog {
    pub fn log(&self, source: Source, dyno: &str, text: &str) {
        let at = OffsetDateTime::now_utc();
        let mut inner = self.inner.lock().expect("log lock poisoned");
        for piece in split_line(text) {
            inner.append(at, source, dyno, piece.to_string());
        }
    }

    /// As [`AppLog::log`], keeping `text` itself when it needs no splitting.
    pub fn log_owned(&self, source: Source, dyno: &str, text: String) {
        if text.len() > MAX_LINE_BYTES {
            return self.log(source, dyno, &text);
        }
        let at = OffsetDateTime::now_utc();
        let mut inner = self.inner.lock().expect("log lock poisoned");
        inner.append(at, source, dyno, text);
    }

    /// The last `n` lines that pass `filter`, oldest first.
    pub fn recent(&self, n: usize, filter: &Filter) -> Vec<LogLine> {
        self.lines(Backlog::Last(n), filter)
    }

    /// The kept lines of `backlog` that pass `filter`, oldest first.
    pub fn lines(&self, backlog: Backlog, filter: &Filter) -> Vec<LogLine> {
        let inner = self.inner.lock().expect("log lock poisoned");
        inner.backlog(backlog, filter)
    }

    /// The matching lines of `backlog`, then every new matching line as it arrives.
    pub fn tail(
        &self,
        backlog: Backlog,
        filter: Filter,
    ) -> (Vec<LogLine>, mpsc::Receiver<LogLine>) {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let mut inner = self.inner.lock().expect("log lock poisoned");
        let lines = inner.backlog(backlog, &filter);
        inner.subscribers.push(Subscriber {
            queue: Queue::Tail(tx),
            filter,
            dropped: 0,
            dropped_since: None,
        });
        (lines, rx)
    }

    /// Every new line from now on, for a drain: a queue of [`SUBSCRIBER_QUEUE`]
    /// lines that never blocks a writer; past it lines are dropped and the
    /// drain is told how many with an L10 line once it has room.
    pub fn drain(&self) -> mpsc::Receiver<Arc<LogLine>> {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let mut inner = self.inner.lock().expect("log lock poisoned");
        inner.subscribers.push(Subscriber {
            queue: Queue::Drain(tx),
            filter: Filter::default(),
            dropped: 0,
            dropped_since: None,
        });
        rx
    }
}

/// Which of the kept lines a reader gets first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backlog {
    /// The last `n`.
    Last(usize),
    /// Every kept line after the one numbered `seq` (a reader resuming).
    After(u64),
    /// Every kept line written after this time (a reader resuming a stream
    /// collated from several nodes, whose numbers are their own).
    Since(OffsetDateTime),
}

impl AppLogInner {
    fn backlog(&self, backlog: Backlog, filter: &Filter) -> Vec<LogLine> {
        let matching = self.history.iter().filter(|l| filter.matches(l));
        let copy = |l: &Arc<LogLine>| LogLine::clone(l);
        match backlog {
            Backlog::Last(n) => {
                let mut lines: Vec<LogLine> = matching.rev().take(n).map(copy).collect();
                lines.reverse();
                lines
            }
            Backlog::After(seq) => matching.filter(|l| l.seq > seq).map(copy).collect(),
            Backlog::Since(at) => matching.filter(|l| l.at > at).map(copy).collect(),
        }
    }

    /// Numbers a line and adds it to the history and the tails.
    fn append(&mut self, at: OffsetDateTime, source: Source, dyno: &str, text: String) {
        self.next_seq += 1;
        let line = Arc::new(LogLine {
            seq: self.next_seq,
            at,
            source,
            dyno: dyno.to_string(),
            text,
        });
        self.push(line);
    }

    fn push(&mut self, line: Arc<LogLine>) {
        self.subscribers.retain_mut(|sub| sub.offer(&line));
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(line);
    }
}

impl Subscriber {
    /// Hands `line` over without waiting; returns false once the reader has gone.
    fn offer(&mut self, line: &Arc<LogLine>) -> bool {
        if self.queue.is_closed() {
            return false;
        }
        if !self.filter.matches(line) {
            return true;
        }
        // A full queue costs the writer a count, nothing built or copied: a
        // drain that is down meets this on every line.
        if self.queue.capacity() == 0 {
            self.lose(line);
            return true;
        }
        if self.dropped > 0 {
            // Tell the reader what it missed before anything new, when there is room.
            match self.queue.offer(&Arc::new(self.notice(line.at))) {
                Ok(()) => {
                    self.dropped = 0;
                    self.dropped_since = None;
                }
                Err(Refused::Closed) => return false,
                Err(Refused::Full) => {
                    self.lose(line);
                    return true;
                }
            }
        }
        match self.queue.offer(line) {
            Ok(()) => true,
            Err(Refused::Full) => {
                self.lose(line);
                true
            }
            Err(Refused::Closed) => false,
        }
    }

    /// Counts `line` as dropped (a drain's, in the metrics too).
    fn lose(&mut self, line: &LogLine) {
        self.dropped += 1;
        self.dropped_since.get_or_insert(line.at);
        if matches!(self.queue, Queue::Drain(_)) {
            crate::metrics::global().drain_dropped.inc();
        }
    }

    /// The L10 (drain) or L11 (tail) line saying what was dropped.
    fn notice(&self, at: OffsetDateTime) -> LogLine {
        let since = Timestamp(self.dropped_since.unwrap_or(at));
        let text = match self.queue {
            Queue::Drain(_) => format!(
                "Error L10 (output buffer overflow): {} messages dropped since {since}",
                self.dropped
            ),
            Queue::Tail(_) => format!(
                "Error L11 (Tail buffer overflow) -> This tail session dropped {} messages since {since}",
                self.dropped
            ),
        };
        LogLine {
            seq: 0,
            at,
            source: Source::Kumo,
            dyno: "logplex".to_string(),
            text,
        }
    }
}

/// Splits `text` into pieces of at most [`MAX_LINE_BYTES`], on character boundaries.
fn split_line(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    let mut first = true;
    std::iter::from_fn(move || {
        if rest.is_empty() && !first {
            return None;
        }
        first = false;
        let mut end = rest.len().min(MAX_LINE_BYTES);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_app_keeps_its_stream() {
        let logplex = Logplex::new();
        let writer = logplex.app("old-name");
        writer.log(Source::App, "web.1", "before");
        logplex.rename("old-name", "new-name");
        // A dyno still holding the stream writes on into the new name's.
        writer.log(Source::App, "web.1", "after");
        let texts = |app: &str| -> Vec<String> {
            logplex
                .app(app)
                .recent(10, &Filter::default())
                .into_iter()
                .map(|l| l.text)
                .collect()
        };
        assert_eq!(texts("new-name"), ["before", "after"]);
        assert!(texts("old-name").is_empty());
        // Renaming an app that never logged leaves nothing behind.
        logplex.rename("quiet", "still-quiet");
        assert!(texts("still-quiet").is_empty());
    }

    #[test]
    fn display_format() {
        let line = LogLine {
            seq: 1,
            at: time::macros::datetime!(2026-11-24 10:00:00.000042 UTC),
            source: Source::App,
            dyno: "web.1".into(),
            text: "hello".into(),
        };
        assert_eq!(
            line.to_string(),
            "2026-11-24T10:00:00.000042+00:00 app[web.1]: hello"
        );
        // The digits put by hand and the formatter's agree, padding and all.
        for at in [
            time::macros::datetime!(0007-01-02 03:04:05.000006 UTC),
            time::macros::datetime!(9999-12-31 23:59:59.999999 UTC),
            time::macros::datetime!(2026-11-24 10:00:00.5 +02:00),
        ] {
            let mut reference = String::new();
            formatted(&mut reference, at).unwrap();
            assert_eq!(timestamp(at), reference);
            assert_eq!(Timestamp(at).digits().unwrap(), reference.as_bytes());
        }
        assert_eq!(
            timestamp(time::macros::datetime!(-0001-01-01 00:00 UTC)),
            "-001-01-01T00:00:00.000000+00:00"
        );
    }

    #[test]
    fn keeps_last_1500_and_splits_long_lines() {
        let log = AppLog::default();
        for i in 0..1600 {
            log.log(Source::App, "web.1", &format!("line {i}"));
        }
        let all = log.recent(5000, &Filter::default());
        assert_eq!(all.len(), HISTORY);
        assert_eq!(all[0].text, "line 100");
        assert_eq!(all.last().map(|l| l.text.as_str()), Some("line 1599"));

        let long = "é".repeat(MAX_LINE_BYTES); // 20,000 bytes
        log.log(Source::App, "web.1", &long);
        let tail = log.recent(3, &Filter::default());
        assert!(tail[1].text.len() <= MAX_LINE_BYTES && tail[2].text.len() <= MAX_LINE_BYTES);
        assert_eq!(format!("{}{}", tail[1].text, tail[2].text), long);
        log.log(Source::App, "web.1", "");
        assert_eq!(log.recent(1, &Filter::default())[0].text, "");

        // Given by value, a line is kept as it is, or split the same way.
        log.log_owned(Source::Kumo, "router", "at=info".to_string());
        assert_eq!(log.recent(1, &Filter::default())[0].text, "at=info");
        log.log_owned(Source::App, "web.1", long.clone());
        let tail = log.recent(2, &Filter::default());
        assert_eq!(format!("{}{}", tail[0].text, tail[1].text), long);
        assert_eq!(tail[1].seq, tail[0].seq + 1);
    }

    #[test]
    fn a_resuming_reader_gets_what_came_after_its_last_line() {
        let log = AppLog::default();
        for text in ["a", "b", "c"] {
            log.log(Source::App, "web.1", text);
        }
        let seen = log.recent(2, &Filter::default());
        assert_eq!(seen[0].seq, 2);
        log.log(Source::App, "web.1", "d");
        let (missed, _rx) = log.tail(Backlog::After(seen[1].seq), Filter::default());
        let texts: Vec<&str> = missed.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["d"]);
        assert_eq!(missed[0].seq, 4);
    }

    #[test]
    fn filters() {
        let log = AppLog::default();
        log.log(Source::App, "web.1", "a");
        log.log(Source::App, "web.2", "b");
        log.log(Source::Kumo, "router", "c");
        log.log(Source::App, "worker.1", "d");
        let texts = |f: Filter| {
            log.recent(10, &f)
                .into_iter()
                .map(|l| l.text)
                .collect::<String>()
        };
        assert_eq!(
            texts(Filter {
                source: Some(Source::App),
                dyno: None
            }),
            "abd"
        );
        assert_eq!(
            texts(Filter {
                source: None,
                dyno: Some("web".into())
            }),
            "ab"
        );
        assert_eq!(
            texts(Filter {
                source: None,
                dyno: Some("web.2".into())
            }),
            "b"
        );
        assert_eq!(
            texts(Filter {
                source: Some(Source::Kumo),
                dyno: None
            }),
            "c"
        );
    }

    #[tokio::test]
    async fn slow_subscriber_never_blocks_and_hears_l11() {
        let log = AppLog::default();
        let (_, mut rx) = log.tail(Backlog::Last(0), Filter::default());
        // Far more than the queue holds, without anyone reading: must not block.
        for i in 0..(SUBSCRIBER_QUEUE + 500) {
            log.log(Source::App, "web.1", &format!("n{i}"));
        }
        let mut got = Vec::new();
        while let Ok(line) = rx.try_recv() {
            got.push(line);
        }
        assert_eq!(got.len(), SUBSCRIBER_QUEUE);
        log.log(Source::App, "web.1", "after");
        let notice = rx.recv().await.unwrap();
        assert!(
            notice.text.starts_with("Error L11 (Tail buffer overflow)"),
            "{}",
            notice.text
        );
        assert!(
            notice.text.contains("dropped 500 messages"),
            "{}",
            notice.text
        );
        assert_eq!(rx.recv().await.unwrap().text, "after");
    }

    #[test]
    fn a_drain_that_falls_behind_is_told_with_l10() {
        let log = AppLog::default();
        let mut rx = log.drain();
        for i in 0..SUBSCRIBER_QUEUE + 5 {
            log.log(Source::App, "web.1", &format!("line {i}"));
        }
        let mut got = 0;
        while rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, SUBSCRIBER_QUEUE);
        log.log(Source::App, "web.1", "after");
        let notice = rx.try_recv().unwrap();
        assert!(
            notice
                .text
                .starts_with("Error L10 (output buffer overflow): 5 messages dropped since "),
            "{}",
            notice.text
        );
        assert_eq!(rx.try_recv().unwrap().text, "after");
    }
}
