//! The router's failure codes (Heroku's H-codes), their pages, and its log line.

use std::fmt::Write as _;
use std::sync::Arc;

/// A routing failure, answered with Heroku's code, status and page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// App crashed.
    H10,
    /// Request timeout.
    H12,
    /// Connection closed without response.
    H13,
    /// No web dynos running.
    H14,
    /// Idle connection: the dyno sent nothing for the idle window after its response began.
    H15,
    /// Bad response from the app.
    H17,
    /// Server request interrupted.
    H18,
    /// App boot timeout.
    H20,
    /// Request error: the client's request was malformed past its headers (a bad chunk).
    H26,
    /// Client request interrupted.
    H27,
    /// Client connection idle: the client took or sent nothing for the idle window.
    H28,
    /// Maintenance mode.
    H80,
    /// Blank app: nothing deployed.
    H81,
    /// Platform error.
    H99,
}

impl Code {
    /// Every code, for [`Code::named`].
    pub const ALL: [Code; 14] = [
        Code::H10,
        Code::H12,
        Code::H13,
        Code::H14,
        Code::H15,
        Code::H17,
        Code::H18,
        Code::H20,
        Code::H26,
        Code::H27,
        Code::H28,
        Code::H80,
        Code::H81,
        Code::H99,
    ];

    /// The code written `name` (`H13`).
    pub fn named(name: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Code::H10 => "H10",
            Code::H12 => "H12",
            Code::H13 => "H13",
            Code::H14 => "H14",
            Code::H15 => "H15",
            Code::H17 => "H17",
            Code::H18 => "H18",
            Code::H20 => "H20",
            Code::H26 => "H26",
            Code::H27 => "H27",
            Code::H28 => "H28",
            Code::H80 => "H80",
            Code::H81 => "H81",
            Code::H99 => "H99",
        }
    }

    pub fn desc(self) -> &'static str {
        match self {
            Code::H10 => "App crashed",
            Code::H12 => "Request timeout",
            Code::H13 => "Connection closed without response",
            Code::H14 => "No web processes running",
            Code::H15 => "Idle connection",
            Code::H17 => "Poorly formatted HTTP response",
            Code::H18 => "Server Request Interrupted",
            Code::H20 => "App boot timeout",
            Code::H26 => "Request Error",
            Code::H27 => "Client Request Interrupted",
            Code::H28 => "Client Connection Idle",
            Code::H80 => "Maintenance mode",
            Code::H81 => "Blank app",
            Code::H99 => "Platform error",
        }
    }

    /// The status the client gets.
    pub fn status(self) -> u16 {
        match self {
            Code::H26 => 400,
            Code::H27 | Code::H28 => 499,
            Code::H81 => 502,
            _ => 503,
        }
    }

    /// The log level of the router line: H27 and H28 are warnings, H80 is information.
    pub fn level(self) -> &'static str {
        match self {
            Code::H27 | Code::H28 => "warning",
            Code::H80 => "info",
            _ => "error",
        }
    }

    /// The HTML page sent with the status.
    pub fn page(self) -> String {
        let (title, text) = match self {
            Code::H80 => (
                "Offline for Maintenance",
                "This app is in maintenance mode. Please check back soon.",
            ),
            Code::H81 => (
                "Nothing deployed yet",
                "No code has been deployed to this app. Deploy with <code>kumo deploy</code>.",
            ),
            _ => (
                "Application Error",
                "An error occurred in the application and your page could not be served. \
                 If you are the application owner, check your logs for details with <code>kumo logs --tail</code>.",
            ),
        };
        page(title, text, self.as_str())
    }
}

/// The page for a host that names no app.
pub fn no_such_app_page() -> String {
    page(
        "No such app",
        "There is no app configured at that hostname.",
        "",
    )
}

fn page(title: &str, text: &str, code: &str) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body><h1>{title}</h1><p>{text}</p>"
    );
    if !code.is_empty() {
        let _ = write!(html, "<p><small>kumo {code}</small></p>");
    }
    html.push_str("</body></html>\n");
    html
}

/// One request as the router logs it, in Heroku's router format. What is known
/// when the request arrives (method, path, host, request id, `fwd`) is written
/// into the line then, so the request's own strings need no copies while it is
/// served, and a request that ends well appends the rest to that same string.
#[derive(Clone, Debug, Default)]
pub struct RouterLine {
    pub code: Option<Code>,
    /// `at=info method=GET path="/" host=… request_id=… fwd="…"`.
    head: String,
    pub dyno: Arc<str>,
    pub connect_ms: u128,
    pub service_ms: u128,
    pub status: u16,
    pub bytes: u64,
    pub protocol: &'static str,
    /// Which side closed the connection, for H18 (`backend`).
    pub sock: Option<&'static str>,
    /// What was wrong with the request, for H26 (`bad chunk`).
    pub cause: Option<&'static str>,
}

/// How every line without a code starts; a line with one is rewritten behind it.
const INFO: &str = "at=info ";

impl RouterLine {
    pub fn new(method: &str, path: &str, host: &str, request_id: &str, fwd: &str) -> RouterLine {
        let mut head = String::with_capacity(256);
        // Pieces pushed one by one: this runs once per request, and `write!` costs
        // several times as much as the copies.
        for (key, value) in [
            (INFO, ""),
            ("method=", method),
            (" path=\"", &escape(path)),
            ("\" host=", host),
            (" request_id=", request_id),
            (" fwd=\"", &escape(fwd)),
        ] {
            head.push_str(key);
            head.push_str(value);
        }
        head.push('"');
        RouterLine {
            head,
            protocol: "http",
            ..RouterLine::default()
        }
    }

    /// `at=info method=GET path="/" host=… request_id=… fwd="…" dyno=web.1 connect=0ms service=3ms status=200 bytes=42 protocol=http`
    pub fn render(self) -> String {
        let mut line = match self.code {
            None => self.head,
            Some(code) => {
                let mut line = String::with_capacity(self.head.len() + 64);
                let _ = write!(
                    line,
                    "at={} code={} desc=\"{}\" ",
                    code.level(),
                    code.as_str(),
                    code.desc()
                );
                line.push_str(self.head.strip_prefix(INFO).unwrap_or(&self.head));
                line
            }
        };
        let mut number = itoa::Buffer::new();
        line.push_str(" dyno=");
        line.push_str(&self.dyno);
        line.push_str(" connect=");
        line.push_str(number.format(self.connect_ms));
        line.push_str("ms service=");
        line.push_str(number.format(self.service_ms));
        line.push_str("ms status=");
        line.push_str(number.format(self.status));
        line.push_str(" bytes=");
        line.push_str(number.format(self.bytes));
        line.push_str(" protocol=");
        line.push_str(self.protocol);
        if let Some(sock) = self.sock {
            let _ = write!(line, " sock={sock}");
        }
        if let Some(cause) = self.cause {
            let _ = write!(line, " cause=\"{cause}\"");
        }
        line
    }
}

fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\\', '"']) {
        s.replace('\\', "\\\\").replace('"', "\\\"").into()
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back_from_their_names() {
        for code in Code::ALL {
            assert_eq!(Code::named(code.as_str()), Some(code));
        }
        assert_eq!(Code::named("H11"), None);
    }

    fn check(line: RouterLine, expected: &str) {
        assert_eq!(line.render(), expected);
    }

    fn base(path: &str) -> RouterLine {
        RouterLine {
            dyno: "web.1".into(),
            connect_ms: 0,
            service_ms: 3,
            status: 200,
            bytes: 42,
            ..RouterLine::new(
                "GET",
                path,
                "myapp.localhost",
                "f9ed4675-f4f1-4a4e-9a8d-12d6e9f6bca7",
                "127.0.0.1",
            )
        }
    }

    #[test]
    fn router_lines() {
        check(
            base("/"),
            "at=info method=GET path=\"/\" host=myapp.localhost request_id=f9ed4675-f4f1-4a4e-9a8d-12d6e9f6bca7 \
             fwd=\"127.0.0.1\" dyno=web.1 connect=0ms service=3ms status=200 bytes=42 protocol=http",
        );
        check(
            RouterLine {
                code: Some(Code::H12),
                service_ms: 30001,
                status: 503,
                bytes: 0,
                ..base("/")
            },
            "at=error code=H12 desc=\"Request timeout\" method=GET path=\"/\" host=myapp.localhost \
             request_id=f9ed4675-f4f1-4a4e-9a8d-12d6e9f6bca7 fwd=\"127.0.0.1\" dyno=web.1 connect=0ms \
             service=30001ms status=503 bytes=0 protocol=http",
        );
        check(
            RouterLine {
                code: Some(Code::H80),
                dyno: "".into(),
                status: 503,
                ..base("/a\"b")
            },
            "at=info code=H80 desc=\"Maintenance mode\" method=GET path=\"/a\\\"b\" host=myapp.localhost \
             request_id=f9ed4675-f4f1-4a4e-9a8d-12d6e9f6bca7 fwd=\"127.0.0.1\" dyno= connect=0ms service=3ms \
             status=503 bytes=42 protocol=http",
        );
        check(
            RouterLine {
                code: Some(Code::H26),
                cause: Some("bad chunk"),
                status: 400,
                ..base("/")
            },
            "at=error code=H26 desc=\"Request Error\" method=GET path=\"/\" host=myapp.localhost \
             request_id=f9ed4675-f4f1-4a4e-9a8d-12d6e9f6bca7 fwd=\"127.0.0.1\" dyno=web.1 connect=0ms service=3ms \
             status=400 bytes=42 protocol=http cause=\"bad chunk\"",
        );
        check(
            RouterLine {
                code: Some(Code::H18),
                sock: Some("backend"),
                ..base("/")
            },
            "at=error code=H18 desc=\"Server Request Interrupted\" method=GET path=\"/\" host=myapp.localhost \
             request_id=f9ed4675-f4f1-4a4e-9a8d-12d6e9f6bca7 fwd=\"127.0.0.1\" dyno=web.1 connect=0ms service=3ms \
             status=200 bytes=42 protocol=http sock=backend",
        );
        assert_eq!(Code::H27.status(), 499);
        assert_eq!(Code::H27.level(), "warning");
        assert!(Code::H10.page().contains("Application Error"));
    }
}
