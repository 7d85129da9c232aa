//! A log line as a drain receives it: RFC 5424 in Heroku's field layout,
//! framed with RFC 6587 octet counting (`LEN SP MSG`).

use crate::logplex::{LogLine, Source, Timestamp};

/// `<PRI>`: facility local7 for the app's own lines, local3 for the
/// platform's (router, dyno states), severity info; as Heroku sends them.
fn priority(source: Source) -> u8 {
    match source {
        Source::App => 23 * 8 + 6,
        Source::Kumo => 19 * 8 + 6,
    }
}

/// Appends a syslog drain's frame to `out`:
/// `LEN <PRI>1 TIMESTAMP TOKEN APP PROCID - - MSG`, the drain token as the
/// host, the source (`app`, `kumo`) as the app name and the dyno (`web.1`,
/// `router`) as the process id.
pub fn syslog(out: &mut Vec<u8>, line: &LogLine, token: &str) {
    counted(out, line, token, "- - ")
}

/// Appends an HTTPS drain's frame to `out`, as Logplex batches them
/// (`application/logplex-1`): no structured data, so one `-` fewer:
/// `LEN <PRI>1 TIMESTAMP host APP PROCID - MSG`.
pub fn https(out: &mut Vec<u8>, line: &LogLine) {
    counted(out, line, "host", "- ")
}

/// Appends the line as RFC 5424 with `host`, and `nil` (the message id and
/// structured data) before its text, octet counted. Its pieces are copied in
/// one after the other, the length (their sum) first: no `String` and no
/// formatting machinery per frame, which a busy app's drains write by the
/// thousand a second.
fn counted(out: &mut Vec<u8>, line: &LogLine, host: &str, nil: &str) {
    let mut priority_digits = itoa::Buffer::new();
    let priority = priority_digits.format(priority(line.source));
    let stamp = Timestamp(line.at);
    let digits = stamp.digits();
    let written;
    let stamped: &[u8] = match &digits {
        Some(digits) => digits,
        None => {
            written = stamp.to_string();
            written.as_bytes()
        }
    };
    let pieces: [&[u8]; 12] = [
        b"<",
        priority.as_bytes(),
        b">1 ",
        stamped,
        b" ",
        host.as_bytes(),
        b" ",
        line.source.as_str().as_bytes(),
        b" ",
        procid(&line.dyno).as_bytes(),
        b" ",
        nil.as_bytes(),
    ];
    let length = pieces.iter().map(|p| p.len()).sum::<usize>() + line.text.len();
    let mut length_digits = itoa::Buffer::new();
    out.extend_from_slice(length_digits.format(length).as_bytes());
    out.push(b' ');
    for piece in pieces {
        out.extend_from_slice(piece);
    }
    out.extend_from_slice(line.text.as_bytes());
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
        // Frames are appended to what is already there.
        let mut out = b"before".to_vec();
        syslog(&mut out, &line(Source::App, "web.1", "héllo"), "d.1234");
        let message = "<190>1 2026-12-06T10:00:00.000042+00:00 d.1234 app web.1 - - héllo";
        assert_eq!(out, format!("before{} {message}", message.len()).as_bytes());
        let mut out = Vec::new();
        https(&mut out, &line(Source::Kumo, "router", "at=info"));
        let message = "<158>1 2026-12-06T10:00:00.000042+00:00 host kumo router - at=info";
        assert_eq!(out, format!("{} {message}", message.len()).as_bytes());
        let mut out = Vec::new();
        syslog(&mut out, &line(Source::Kumo, "", "x"), "d.1");
        assert!(String::from_utf8(out).unwrap().contains(" kumo - - - x"));
    }
}
