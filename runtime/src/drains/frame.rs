//! A log line as a drain receives it: RFC 5424 in Heroku's field layout,
//! framed with RFC 6587 octet counting (`LEN SP MSG`).

use crate::logplex::{LogLine, Source, timestamp};

/// `<PRI>`: facility local7 for the app's own lines, local3 for the
/// platform's (router, dyno states), severity info; as Heroku sends them.
fn priority(source: Source) -> u8 {
    match source {
        Source::App => 23 * 8 + 6,
        Source::Kumo => 19 * 8 + 6,
    }
}

/// A syslog drain's frame: `LEN <PRI>1 TIMESTAMP TOKEN APP PROCID - - MSG`,
/// the drain token as the host, the source (`app`, `kumo`) as the app name and
/// the dyno (`web.1`, `router`) as the process id.
pub fn syslog(line: &LogLine, token: &str) -> String {
    counted(line, token, "- - ")
}

/// An HTTPS drain's frame, as Logplex batches them (`application/logplex-1`):
/// no structured data, so one `-` fewer: `LEN <PRI>1 TIMESTAMP host APP PROCID - MSG`.
pub fn https(line: &LogLine) -> String {
    counted(line, "host", "- ")
}

/// The line as RFC 5424 with `host`, and `nil` (the message id and structured
/// data) before its text, octet counted.
fn counted(line: &LogLine, host: &str, nil: &str) -> String {
    let message = format!(
        "<{}>1 {} {host} {} {} {nil}{}",
        priority(line.source),
        timestamp(line.at),
        line.source.as_str(),
        procid(&line.dyno),
        line.text
    );
    format!("{} {message}", message.len())
}

/// A process id has no spaces (RFC 5424 `PRINTUSASCII`); a name that is empty
/// or odd is written as `-`.
fn procid(dyno: &str) -> &str {
    if dyno.is_empty() || !dyno.bytes().all(|b| b.is_ascii_graphic()) {
        "-"
    } else {
        dyno
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(source: Source, dyno: &str, text: &str) -> LogLine {
        LogLine {
            seq: 1,
            at: time::macros::datetime!(2026-12-06 10:00:00.000042 UTC),
            source,
            dyno: dyno.into(),
            text: text.into(),
        }
    }

    #[test]
    fn frames_count_their_bytes() {
        let frame = syslog(&line(Source::App, "web.1", "héllo"), "d.1234");
        let message = "<190>1 2026-12-06T10:00:00.000042+00:00 d.1234 app web.1 - - héllo";
        assert_eq!(frame, format!("{} {message}", message.len()));
        let frame = https(&line(Source::Kumo, "router", "at=info"));
        let message = "<158>1 2026-12-06T10:00:00.000042+00:00 host kumo router - at=info";
        assert_eq!(frame, format!("{} {message}", message.len()));
        assert!(syslog(&line(Source::Kumo, "", "x"), "d.1").contains(" kumo - - - x"));
    }
}
