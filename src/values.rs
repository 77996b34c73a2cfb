//! Parsers for option values (durations, sizes, signals, environment pairs). Each returns a
//! one-line message clap shows as a usage error, so bad input is refused before anything runs.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::str::FromStr;
use std::time::Duration;

/// A validated signal number with its conventional name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal(nix::sys::signal::Signal);

impl Signal {
    pub const TERM: Signal = Signal(nix::sys::signal::Signal::SIGTERM);
    pub const KILL: Signal = Signal(nix::sys::signal::Signal::SIGKILL);

    pub fn number(self) -> i32 {
        self.0 as i32
    }

    pub fn nix(self) -> nix::sys::signal::Signal {
        self.0
    }

    /// The name of a signal number as Node reports it (`SIGTERM`), if it is a known one.
    pub fn name_of(number: i32) -> Option<&'static str> {
        nix::sys::signal::Signal::try_from(number)
            .ok()
            .map(|s| s.as_str())
    }

    pub fn from_number(number: i32) -> Option<Signal> {
        nix::sys::signal::Signal::try_from(number).ok().map(Signal)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// Accepts `TERM`, `SIGTERM`, `sigterm` and `15`.
pub fn parse_signal(s: &str) -> Result<Signal, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let n: i32 = t
            .parse()
            .map_err(|_| format!("unknown signal number '{s}'"))?;
        return Signal::from_number(n)
            .ok_or_else(|| format!("unknown signal number '{s}' (valid: 1-31, e.g. 15 for TERM)"));
    }
    let upper = t.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    nix::sys::signal::Signal::from_str(&name)
        .map(Signal)
        .map_err(|_| format!("unknown signal '{s}' (try TERM, INT, HUP, KILL or a number)"))
}

/// A duration: `500ms`, `5s`, `2m`, `1h`, or a bare whole number of milliseconds (as in Node).
/// Zero is allowed and means "none" for the options that take this parser.
pub fn parse_duration_or_zero(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration (try 500ms, 5s, 2m or a number of milliseconds)".into());
    }
    if t.starts_with('-') {
        return Err(format!("negative duration '{s}'"));
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        let ms: u64 = t
            .parse()
            .map_err(|_| format!("duration '{s}' is too large"))?;
        return Ok(Duration::from_millis(ms));
    }
    if t.contains('.') {
        return Err(format!(
            "fractional duration '{s}' (use a smaller unit: 1500ms instead of 1.5s)"
        ));
    }
    humantime::parse_duration(t).map_err(|e| {
        format!("invalid duration '{s}': {e} (try 500ms, 5s, 2m or a number of milliseconds)")
    })
}

/// A positive duration (zero refused), for options where zero makes no sense.
pub fn parse_duration_positive(s: &str) -> Result<Duration, String> {
    let d = parse_duration_or_zero(s)?;
    if d.is_zero() {
        return Err(format!("duration must be greater than zero, got '{s}'"));
    }
    Ok(d)
}

/// A byte size: `1048576`, `64KiB`, `1MiB`, `1MB`, `1.5KiB`; zero allowed.
///
/// The value must come to an exact whole number of bytes: `2.5`, `1e-3KiB` and `1 2` are
/// refused rather than rounded (a byte limit that silently becomes 3, 0 or 12 is a trap).
/// Units as `parse-size` and coreutils read them: `K`/`KB` = 1000, `KiB` = 1024, and so on up
/// to `E`; case does not matter; `B` alone is bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = |why: &str| format!("invalid size '{s}': {why} (try 1048576, 64KiB or 1MiB)");
    let t = s.trim();
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (&t[..num_end], t[num_end..].trim_start());
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(bad("no number"));
    }
    if !unit.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(bad("not a plain number with an optional unit"));
    }
    let scale = size_unit(unit).ok_or_else(|| bad(&format!("unknown unit '{unit}'")))?;
    let whole = |digits: &str| -> Option<u128> {
        if digits.is_empty() {
            Some(0)
        } else {
            digits.parse::<u128>().ok()
        }
    };
    let too_big = || bad("too large");
    let int = whole(int).ok_or_else(too_big)?;
    let frac_digits = u32::try_from(frac.len())
        .ok()
        .filter(|&n| n <= 30)
        .ok_or_else(too_big)?;
    let frac = whole(frac).ok_or_else(too_big)?;
    let denom = 10u128.pow(frac_digits);
    let frac_bytes = frac.checked_mul(scale as u128).ok_or_else(too_big)?;
    if frac_bytes % denom != 0 {
        return Err(format!("'{s}' is not a whole number of bytes"));
    }
    let total = int
        .checked_mul(scale as u128)
        .and_then(|b| b.checked_add(frac_bytes / denom))
        .ok_or_else(too_big)?;
    u64::try_from(total).map_err(|_| too_big())
}

/// Bytes per unit: decimal prefixes (`K`, `KB`) and binary ones (`KiB`), `B` or nothing = 1.
fn size_unit(unit: &str) -> Option<u64> {
    let u = unit.to_ascii_lowercase();
    let (prefix, rest) = match u.char_indices().nth(1) {
        _ if u.is_empty() || u == "b" => return Some(1),
        Some((i, _)) => u.split_at(i),
        None => (u.as_str(), ""),
    };
    let power = "kmgtpe".find(prefix)? as u32 + 1;
    match rest {
        "" | "b" => 1000u64.checked_pow(power),
        "ib" => 1024u64.checked_pow(power),
        _ => None,
    }
}

/// `KEY=VALUE` (VALUE may be empty, and may be any bytes: values are `OsString`s).
#[derive(Debug, Clone, Copy)]
pub struct EnvPairParser;

impl clap::builder::TypedValueParser for EnvPairParser {
    type Value = (OsString, OsString);

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Self::Value, clap::Error> {
        parse_env_os(value).map_err(|msg| {
            let name = arg.map_or_else(|| "--env".to_string(), |a| a.to_string());
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for '{name}': {msg}\n"),
            )
            .with_cmd(cmd)
        })
    }
}

/// `KEY=VALUE` from a string (tests and callers that already have UTF-8).
pub fn parse_env_pair(s: &str) -> Result<(OsString, OsString), String> {
    parse_env_os(OsStr::new(s))
}

fn parse_env_os(s: &OsStr) -> Result<(OsString, OsString), String> {
    let bytes = s.as_bytes();
    if bytes.contains(&0) {
        return Err("environment entries cannot contain NUL bytes".into());
    }
    let Some(eq) = bytes.iter().position(|&b| b == b'=') else {
        return Err(format!(
            "'{}' has no '=': use KEY=VALUE (KEY= sets an empty value)",
            s.to_string_lossy()
        ));
    };
    if eq == 0 {
        return Err(format!(
            "'{}' has an empty variable name: use KEY=VALUE",
            s.to_string_lossy()
        ));
    }
    Ok((
        OsString::from_vec(bytes[..eq].to_vec()),
        OsString::from_vec(bytes[eq + 1..].to_vec()),
    ))
}

/// When our side of the channel is half-closed (`--disconnect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disconnect {
    /// Never: the run ends when the child closes the channel (usually: exits).
    Never,
    /// Once input has ended and the child has read it all and been quiet (the default).
    OnInputEnd,
    /// Once input has ended and the child has sent this many messages.
    After(u64),
}

/// `never`, `on-input-end` or `after:N` (N ≥ 1).
pub fn parse_disconnect(s: &str) -> Result<Disconnect, String> {
    match s {
        "never" => Ok(Disconnect::Never),
        "on-input-end" => Ok(Disconnect::OnInputEnd),
        _ => match s.strip_prefix("after:").map(str::parse::<u64>) {
            Some(Ok(n)) if n >= 1 => Ok(Disconnect::After(n)),
            Some(_) => Err("after:N needs a whole number of messages, at least 1".into()),
            None => {
                Err("expected never, on-input-end or after:N (N messages from the child)".into())
            }
        },
    }
}

/// The channel's wire format (Node's `serialization` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Serialization {
    /// One JSON text per line.
    #[default]
    Json,
    /// V8's structured clone, each message framed by a 4-byte big-endian length (`v8`).
    Advanced,
}

impl Serialization {
    pub fn name(self) -> &'static str {
        match self {
            Serialization::Json => "json",
            Serialization::Advanced => "advanced",
        }
    }

    /// Node's spelling; a missing or empty value means json, as Node reads it.
    pub fn from_name(name: Option<&str>) -> Option<Serialization> {
        match name {
            None | Some("") | Some("json") => Some(Serialization::Json),
            Some("advanced") => Some(Serialization::Advanced),
            Some(_) => None,
        }
    }
}

/// `--serialization json|advanced` (Node's option and spelling).
pub fn parse_serialization(s: &str) -> Result<Serialization, String> {
    match s {
        "" => Err("expected json or advanced".into()),
        _ => Serialization::from_name(Some(s))
            .ok_or_else(|| format!("unknown serialization '{s}' (json or advanced)")),
    }
}

/// `--workers N`: a whole number of at least 1.
pub fn parse_workers(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("--workers must be at least 1".into()),
        Ok(n) if n > 4096 => Err(format!("--workers {n} is too many (at most 4096)")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a whole number of workers")),
    }
}

/// One entry of `--hosts`: `[N/][user@]host[:port]`, or `:` for this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// Slots on this host (`N/`); `None`: `--workers`, or 1.
    pub slots: Option<usize>,
    /// `user@host` as ssh takes it; `None` for the local machine.
    pub dest: Option<String>,
    pub port: Option<u16>,
}

impl HostSpec {
    /// The name shown in the joblog and the summary (`:` for this machine).
    pub fn label(&self) -> String {
        match (&self.dest, self.port) {
            (None, _) => ":".into(),
            (Some(d), None) => d.clone(),
            // An IPv6 address goes back in brackets, so the port stays readable.
            (Some(d), Some(p)) => match d.rsplit_once('@') {
                Some((u, h)) if h.contains(':') => format!("{u}@[{h}]:{p}"),
                None if d.contains(':') => format!("[{d}]:{p}"),
                _ => format!("{d}:{p}"),
            },
        }
    }
}

/// One `--hosts` entry (also one line of `--hosts-file`).
pub fn parse_host(entry: &str) -> Result<HostSpec, String> {
    let e = entry.trim();
    let (slots, rest) = match e.split_once('/') {
        Some((n, rest)) => (
            Some(parse_workers(n).map_err(|m| format!("'{e}': {m}"))?),
            rest,
        ),
        None => (None, e),
    };
    if rest == ":" {
        return Ok(HostSpec {
            slots,
            dest: None,
            port: None,
        });
    }
    let port_of = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("'{e}': '{p}' is not a port number"))
    };
    // An IPv6 address is written in brackets, so its colons are not a port: [::1]:2222.
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let (addr, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("'{e}': no closing ']'"))?;
        let port = match after {
            "" => None,
            _ => Some(port_of(after.strip_prefix(':').unwrap_or(after))?),
        };
        (addr, port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(port_of(p)?)),
            None => (hostport, None),
        }
    };
    let dest_string = match user {
        Some(u) => format!("{u}@{host}"),
        None => host.to_string(),
    };
    let dest = dest_string.as_str();
    if host.is_empty() || dest.starts_with('@') {
        return Err(format!("'{e}': no host name"));
    }
    if dest.starts_with('-') || dest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("'{e}' is not a host name"));
    }
    Ok(HostSpec {
        slots,
        dest: Some(dest.to_string()),
        port,
    })
}

/// The entries of one `--hosts` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostList(pub Vec<HostSpec>);

/// `--hosts`: comma-separated entries, at least one.
pub fn parse_hosts(s: &str) -> Result<HostList, String> {
    let hosts = s
        .split(',')
        .filter(|e| !e.trim().is_empty())
        .map(parse_host)
        .collect::<Result<Vec<_>, _>>()?;
    if hosts.is_empty() {
        return Err("no hosts given".into());
    }
    Ok(HostList(hosts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        for s in ["TERM", "SIGTERM", "sigterm", "15", "term"] {
            assert_eq!(parse_signal(s).unwrap(), Signal::TERM, "{s}");
        }
        assert_eq!(parse_signal("9").unwrap(), Signal::KILL);
        for s in ["SIGBOGUS", "0", "500", "", "-9", "SIG"] {
            assert!(parse_signal(s).is_err(), "{s}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration_or_zero("500").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(
            parse_duration_or_zero("500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(
            parse_duration_or_zero("5s").unwrap(),
            Duration::from_secs(5)
        );
        assert_eq!(
            parse_duration_or_zero("2m").unwrap(),
            Duration::from_secs(120)
        );
        assert_eq!(parse_duration_or_zero("0").unwrap(), Duration::ZERO);
        for s in [
            "-1",
            "1.5s",
            "0.5",
            "abc",
            "",
            "5x",
            "99999999999999999999999",
        ] {
            assert!(parse_duration_or_zero(s).is_err(), "{s}");
        }
        assert!(parse_duration_positive("0").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576").unwrap(), 1048576);
        assert_eq!(parse_size("64KiB").unwrap(), 65536);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("0").unwrap(), 0);
        assert_eq!(parse_size("1.5KiB").unwrap(), 1536);
        assert!(parse_size("2.5").is_err());
        assert!(parse_size("1.5B").is_err());
        assert_eq!(parse_size("1KB").unwrap(), 1000);
        assert_eq!(parse_size("1k").unwrap(), 1000);
        assert_eq!(parse_size("2 GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("0.5KiB").unwrap(), 512);
        assert_eq!(parse_size(".5KiB").unwrap(), 512);
        assert_eq!(parse_size("16EiB").ok(), None, "overflows u64");
        // Refused, not rounded: each of these once became 3, 0, 1 or 12 bytes.
        for s in [
            "25e-1", "1e-1", "1e-3KiB", "1 2", "1.0.0", ".", "1_000", "+5", "0x10",
        ] {
            assert!(parse_size(s).is_err(), "{s}");
        }
        for s in ["-1", "abc", "", "1XB"] {
            assert!(parse_size(s).is_err(), "{s}");
        }
    }

    #[test]
    fn env_pairs() {
        assert_eq!(
            parse_env_pair("A=b=c").unwrap(),
            (OsString::from("A"), OsString::from("b=c"))
        );
        assert_eq!(
            parse_env_pair("A=").unwrap(),
            (OsString::from("A"), OsString::new())
        );
        assert!(parse_env_pair("A").is_err());
        assert!(parse_env_pair("=x").is_err());
        assert!(parse_env_pair("A=\0").is_err());
    }

    #[test]
    fn host_entries() {
        let h = parse_host("4/me@example.org:2222").unwrap();
        assert_eq!(h.slots, Some(4));
        assert_eq!(h.dest.as_deref(), Some("me@example.org"));
        assert_eq!(h.port, Some(2222));
        assert_eq!(h.label(), "me@example.org:2222");
        let l = parse_host("2/:").unwrap();
        assert_eq!(
            (l.slots, l.dest.clone(), l.label()),
            (Some(2), None, ":".into())
        );
        assert_eq!(parse_host("host1").unwrap().slots, None);
        let v6 = parse_host("2/me@[::1]:2222").unwrap();
        assert_eq!((v6.dest.as_deref(), v6.port), (Some("me@::1"), Some(2222)));
        assert_eq!(v6.label(), "me@[::1]:2222");
        assert_eq!(
            parse_host("[fe80::1]").unwrap().dest.as_deref(),
            Some("fe80::1")
        );
        assert!(parse_host("[::1").is_err());
        assert!(parse_host("[::1]:x").is_err());
        for bad in [
            "0/h",
            "x/h",
            "h:0",
            "h:99999",
            "h:",
            "@h",
            "me@",
            "-oProxyCommand=x",
            "a b",
            "",
        ] {
            assert!(parse_host(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_hosts("a,2/b,:").unwrap().0.len(), 3);
        assert!(parse_hosts(",").is_err());
    }
}
