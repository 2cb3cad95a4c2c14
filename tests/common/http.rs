//! A loopback HTTP/1.1 server for the pages and APIs tests load: fixed routes or a
//! handler, one thread per connection, `Connection: close`, until the test process ends.
//! It keeps every request's head, so that a test can see what came through a proxy.

use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};

/// One request: its head (request line and headers) and its path. A proxy sends an
/// absolute target; the path is then the part after the host.
pub struct Request {
    pub head: String,
    pub path: String,
    /// The server's own port.
    pub port: u16,
}

/// What the server answers.
pub struct Response {
    pub status: &'static str,
    pub content_type: &'static str,
    /// Further header lines, each ending in `\r\n`.
    pub headers: String,
    pub body: String,
}

pub struct HttpServer {
    pub port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

impl HttpServer {
    /// Fixed routes (path, content type, body; `{port}` in a body becomes the server's
    /// port); anything else is 404.
    pub fn start(routes: Vec<(&'static str, &'static str, String)>) -> HttpServer {
        Self::start_on(0, routes)
    }

    /// On a given port (0: any free one).
    pub fn start_on(port: u16, routes: Vec<(&'static str, &'static str, String)>) -> HttpServer {
        Self::routes(port, routes, "")
    }

    /// Fixed routes whose answers may be cached for an hour.
    pub fn cacheable(routes: Vec<(&'static str, &'static str, String)>) -> HttpServer {
        Self::routes(0, routes, "Cache-Control: max-age=3600\r\n")
    }

    fn routes(port: u16, routes: Vec<(&'static str, &'static str, String)>, headers: &'static str) -> HttpServer {
        Self::handle_on(port, move |req| match routes.iter().find(|(p, _, _)| *p == req.path) {
            Some((_, content_type, body)) => Response {
                status: "200 OK",
                content_type,
                headers: headers.to_string(),
                body: body.replace("{port}", &req.port.to_string()),
            },
            None => Response {
                status: "404 Not Found",
                content_type: "text/plain",
                headers: String::new(),
                body: "not found".into(),
            },
        })
    }

    /// Every request answered by `handler`, on any free port.
    pub fn handle(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> HttpServer {
        Self::handle_on(0, handler)
    }

    pub fn handle_on(port: u16, handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> HttpServer {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&heads);
        let handler = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (seen, handler) = (Arc::clone(&seen), Arc::clone(&handler));
                std::thread::spawn(move || {
                    let Ok(clone) = stream.try_clone() else { return };
                    let mut reader = BufReader::new(clone);
                    let mut head = String::new();
                    let mut line = String::new();
                    while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                        head.push_str(&line);
                        line.clear();
                    }
                    let target = head.split_whitespace().nth(1).unwrap_or("/");
                    let path = match target.find("://") {
                        Some(i) => target[i + 3..].find('/').map_or("/", |j| &target[i + 3 + j..]),
                        None => target,
                    }
                    .to_string();
                    seen.lock().expect("lock").push(head.clone());
                    let a = handler(&Request { head, path, port });
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {}\r\nContent-Type: {}\r\n{}Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                        a.status,
                        a.content_type,
                        a.headers,
                        a.body.len(),
                        a.body
                    );
                });
            }
        });
        HttpServer { port, heads }
    }

    /// The heads of the requests for `path` so far.
    pub fn heads_for(&self, path: &str) -> Vec<String> {
        let needle = format!("{path} HTTP/1.");
        let heads = self.heads.lock().expect("lock");
        heads.iter().filter(|h| h.lines().next().is_some_and(|l| l.contains(&needle))).cloned().collect()
    }
}
