//! Log receivers on loopback for the drain tests: a syslog server (RFC 6587
//! octet-counted frames over TCP, or TLS) and an HTTPS endpoint taking
//! Logplex's `application/logplex-1` frames. Each can be stopped (its
//! connections cut) and started again on the same port.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// A certificate authority and a `localhost` certificate it signed, for the
/// TLS receivers; the server trusts `ca_pem` with `--drain-ca-file`.
pub struct Certs {
    pub ca_pem: String,
    pub config: Arc<rustls::ServerConfig>,
}

pub fn certs() -> Certs {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "drain test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    Certs {
        ca_pem: ca_cert.pem(),
        config: Arc::new(config),
    }
}

/// What a receiver got: syslog messages, or HTTPS requests.
#[derive(Clone, Debug)]
pub struct Post {
    pub headers: Vec<(String, String)>,
    pub frames: Vec<String>,
}

impl Post {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub enum Kind {
    Syslog,
    Https,
}

pub struct Receiver {
    pub port: u16,
    kind: Kind,
    tls: Option<Arc<rustls::ServerConfig>>,
    pub messages: mpsc::Receiver<String>,
    tx: mpsc::Sender<String>,
    pub posts: Arc<Mutex<Vec<Post>>>,
    running: Option<Running>,
}

struct Running {
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
}

impl Receiver {
    pub fn start(kind: Kind, tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
        let (tx, messages) = mpsc::channel();
        let mut receiver = Receiver {
            port: 0,
            kind,
            tls,
            messages,
            tx,
            posts: Arc::default(),
            running: None,
        };
        receiver.listen();
        receiver
    }

    /// Stops listening and cuts every connection.
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop.store(true, Ordering::SeqCst);
            // Wake the accept loop so it sees the flag and drops the listener.
            let _ = TcpStream::connect(("127.0.0.1", self.port));
            for conn in running.connections.lock().unwrap().drain(..) {
                let _ = conn.shutdown(Shutdown::Both);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Listens again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.listen();
    }

    fn listen(&mut self) {
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)) {
                Ok(listener) => break listener,
                Err(_) if self.port != 0 => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => panic!("bind: {e}"),
            }
        };
        self.port = listener.local_addr().unwrap().port();
        let running = Running {
            stop: Arc::default(),
            connections: Arc::default(),
        };
        let (stop, connections) = (running.stop.clone(), running.connections.clone());
        let (tx, posts, tls) = (self.tx.clone(), self.posts.clone(), self.tls.clone());
        let https = matches!(self.kind, Kind::Https);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                connections
                    .lock()
                    .unwrap()
                    .push(stream.try_clone().unwrap());
                let (tx, posts, tls) = (tx.clone(), posts.clone(), tls.clone());
                std::thread::spawn(move || {
                    let stream: Box<dyn ReadWrite> = match tls {
                        Some(config) => Box::new(rustls::StreamOwned::new(
                            rustls::ServerConnection::new(config).unwrap(),
                            stream,
                        )),
                        None => Box::new(stream),
                    };
                    let mut reader = BufReader::new(stream);
                    if https {
                        serve_posts(&mut reader, &posts);
                    } else {
                        read_frames(&mut reader, &tx);
                    }
                });
            }
        });
        self.running = Some(running);
    }
}

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

/// `LEN SP MSG` frames, each sent on as it is read.
fn read_frames(reader: &mut impl BufRead, tx: &mpsc::Sender<String>) {
    loop {
        let mut len = Vec::new();
        match reader.read_until(b' ', &mut len) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let Ok(n) = String::from_utf8_lossy(&len).trim().parse::<usize>() else {
            return;
        };
        let mut message = vec![0; n];
        if reader.read_exact(&mut message).is_err() {
            return;
        }
        let _ = tx.send(String::from_utf8_lossy(&message).into_owned());
    }
}

/// HTTP/1.1 `POST`s, each answered 200 and kept with its frames split.
fn serve_posts(reader: &mut BufReader<Box<dyn ReadWrite>>, posts: &Mutex<Vec<Post>>) {
    loop {
        let mut headers = Vec::new();
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut frames = Vec::new();
        read_frames_into(&body, &mut frames);
        posts.lock().unwrap().push(Post { headers, frames });
        let out = reader.get_mut();
        if out
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .and_then(|()| out.flush())
            .is_err()
        {
            return;
        }
    }
}

fn read_frames_into(mut body: &[u8], frames: &mut Vec<String>) {
    while let Some(space) = body.iter().position(|&b| b == b' ') {
        let Ok(n) = std::str::from_utf8(&body[..space])
            .unwrap_or("")
            .parse::<usize>()
        else {
            return;
        };
        let end = (space + 1 + n).min(body.len());
        frames.push(String::from_utf8_lossy(&body[space + 1..end]).into_owned());
        body = &body[end..];
    }
}
