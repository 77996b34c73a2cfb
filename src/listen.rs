//! `--listen ADDR`: parsing (refused before anything runs) and binding (before any worker
//! starts), so a typo or a taken port is one line and exit 125 with nothing started.

use std::fmt;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

/// The listen backlog: large, so a burst (or a reload's hand-over) queues in the kernel
/// instead of being refused. Linux caps it at `net.core.somaxconn`.
const BACKLOG: libc::c_int = 4096;

/// Where to listen, as the user wrote it (resolved at bind time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `PORT`: every interface (dual-stack `[::]` where IPv6 exists, else `0.0.0.0`).
    AnyHost(u16),
    /// `HOST:PORT` or `[V6]:PORT`.
    Host(String, u16),
    /// `unix:PATH`.
    Unix(PathBuf),
}

/// One `--listen` value: the endpoint and its `LISTEN_FDNAMES` name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    pub name: String,
    pub endpoint: Endpoint,
}

/// The name systemd gives a socket that was not named (`sd_listen_fds_with_names`).
const UNNAMED: &str = "unknown";

/// `[NAME=]ADDR` with ADDR one of `PORT`, `HOST:PORT`, `[V6]:PORT`, `unix:PATH`.
pub fn parse_listen(s: &str) -> Result<ListenAddr, String> {
    let (name, addr) = match s.split_once('=') {
        Some((n, a)) if is_name(n) => (n.to_string(), a),
        _ => (UNNAMED.to_string(), s),
    };
    let endpoint = parse_endpoint(addr)
        .map_err(|why| format!("invalid --listen '{s}': {why} (try 8080, 127.0.0.1:8080, [::1]:8080 or unix:/run/app.sock)"))?;
    Ok(ListenAddr { name, endpoint })
}

/// A name fit for `LISTEN_FDNAMES` (colon-separated, so no colon; kept to a safe alphabet).
fn is_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 255
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn parse_endpoint(a: &str) -> Result<Endpoint, String> {
    if let Some(path) = a.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("no socket path".into());
        }
        if path.len() >= 108 {
            return Err("socket path longer than 107 bytes".into());
        }
        return Ok(Endpoint::Unix(PathBuf::from(path)));
    }
    if a.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Endpoint::AnyHost(parse_port(a)?));
    }
    let (host, port) = if let Some(inner) = a.strip_prefix('[') {
        let (h, rest) = inner.split_once(']').ok_or("no closing ']'")?;
        let port = rest.strip_prefix(':').ok_or("no :PORT after ']'")?;
        h.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("'{h}' is not an IPv6 address"))?;
        (h, port)
    } else {
        let (h, p) = a.rsplit_once(':').ok_or("no port")?;
        if h.contains(':') {
            return Err("an IPv6 address goes in brackets: [::1]:8080".into());
        }
        (h, p)
    };
    if host.is_empty() {
        return Err("no host before ':'".into());
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("'{host}' is not a host name"));
    }
    Ok(Endpoint::Host(host.to_string(), parse_port(port)?))
}

fn parse_port(p: &str) -> Result<u16, String> {
    if p.is_empty() {
        return Err("no port".into());
    }
    if !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{p}' is not a port number"));
    }
    p.parse::<u16>()
        .map_err(|_| format!("port {p} is out of range (0-65535)"))
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::AnyHost(p) => write!(f, "{p}"),
            Endpoint::Host(h, p) if h.contains(':') => write!(f, "[{h}]:{p}"),
            Endpoint::Host(h, p) => write!(f, "{h}:{p}"),
            Endpoint::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Why a `--listen` address could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("--listen {addr}: cannot resolve the host: {source}")]
    Resolve {
        addr: String,
        source: std::io::Error,
    },
    #[error("--listen {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// A bound, listening socket shared by every worker.
#[derive(Debug)]
pub struct Listener {
    pub name: String,
    /// What it is bound to, with the real port when the user asked for port 0.
    pub local: String,
    pub fd: OwnedFd,
    /// A unix socket path we created, removed when the run ends.
    unix_path: Option<PathBuf>,
}

impl BindError {
    /// The errno, negated, as Node's cluster protocol reports it (`-98` for EADDRINUSE).
    pub fn node_errno(&self) -> i32 {
        let (BindError::Resolve { source, .. } | BindError::Bind { source, .. }) = self;
        -source.raw_os_error().unwrap_or(libc::EINVAL)
    }
}

impl Listener {
    /// Whether this socket is the one a Node worker asks for with `listen(port, host)`.
    pub fn serves(&self, host: Option<&str>, port: u16) -> bool {
        let Ok(local) = self.local.parse::<SocketAddr>() else {
            return false;
        };
        let host_ok = match host {
            None => local.ip().is_unspecified(),
            Some(h) => h
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip == local.ip()),
        };
        local.port() == port && host_ok
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(p) = &self.unix_path {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Bind every address in order; the first failure is the error (the sockets bound so far are
/// closed again, so nothing stays behind).
pub fn bind_all(addrs: &[ListenAddr]) -> Result<Vec<Listener>, BindError> {
    addrs.iter().map(bind).collect()
}

/// Bind one address (also for a Node worker's `listen()`, bound on its behalf).
pub fn bind(a: &ListenAddr) -> Result<Listener, BindError> {
    let shown = a.endpoint.to_string();
    let bind_err = |source| BindError::Bind {
        addr: shown.clone(),
        source,
    };
    let (fd, local, unix_path) = match &a.endpoint {
        Endpoint::Unix(path) => {
            let l = UnixListener::bind(path).map_err(bind_err)?;
            (OwnedFd::from(l), shown.clone(), Some(path.clone()))
        }
        Endpoint::AnyHost(port) => {
            let l = TcpListener::bind(("::", *port))
                .or_else(|_| TcpListener::bind(("0.0.0.0", *port)))
                .map_err(bind_err)?;
            tcp_parts(l)
        }
        Endpoint::Host(host, port) => {
            let addr = resolve(host, *port).map_err(|source| BindError::Resolve {
                addr: shown.clone(),
                source,
            })?;
            tcp_parts(TcpListener::bind(addr).map_err(bind_err)?)
        }
    };
    // A second listen(2) on std's listener only raises its backlog.
    crate::process::sys::listen(fd.as_raw_fd(), BACKLOG).map_err(bind_err)?;
    Ok(Listener {
        name: a.name.clone(),
        local,
        fd,
        unix_path,
    })
}

fn tcp_parts(l: TcpListener) -> (OwnedFd, String, Option<PathBuf>) {
    let local = l
        .local_addr()
        .map_or_else(|_| "?".to_string(), |s| s.to_string());
    (OwnedFd::from(l), local, None)
}

fn resolve(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    (host, port).to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "no address for this host")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        let ep = |s: &str| parse_listen(s).unwrap().endpoint;
        assert_eq!(ep("8080"), Endpoint::AnyHost(8080));
        assert_eq!(ep("127.0.0.1:0"), Endpoint::Host("127.0.0.1".into(), 0));
        assert_eq!(ep("[::1]:80"), Endpoint::Host("::1".into(), 80));
        assert_eq!(ep("localhost:80"), Endpoint::Host("localhost".into(), 80));
        assert_eq!(ep("unix:/tmp/a=b"), Endpoint::Unix("/tmp/a=b".into()));
        let named = parse_listen("http=127.0.0.1:80").unwrap();
        assert_eq!(named.name, "http");
        assert_eq!(parse_listen("80").unwrap().name, "unknown");
        assert_eq!(ep("[::1]:80").to_string(), "[::1]:80");
    }

    #[test]
    fn refused_forms() {
        for bad in [
            "",
            "abc",
            "70000",
            "-1",
            "host:",
            ":80",
            "::1:80",
            "[::1]",
            "[::1:80",
            "[zz]:80",
            "unix:",
            "a b:80",
            "1.2.3.4:x",
            "=80",
        ] {
            assert!(parse_listen(bad).is_err(), "{bad:?}");
        }
    }
}
