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

/// `cluster -j/--workers`: a count, or one relative to this machine's parallelism (GNU
/// parallel's spellings). Resolved by the cluster plan, which knows the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerCount {
    /// `N`
    Exact(usize),
    /// `N%` of the parallelism (rounded down, at least 1).
    Percent(u64),
    /// `+N`: the parallelism plus N.
    Plus(usize),
    /// `-N`: the parallelism minus N (at least 1).
    Minus(usize),
}

/// `N`, `N%`, `+N` or `-N`. Zero (and `0%`) is refused: GNU parallel's `-j 0` ("as many as
/// possible") is not adopted.
pub fn parse_worker_count(s: &str) -> Result<WorkerCount, String> {
    let t = s.trim();
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    let junk = || format!("'{s}' is not a number of workers (N, N%, +N or -N)");
    let too_big = || format!("'{s}': too many workers (at most 4096)");
    if let Some(p) = t.strip_suffix('%') {
        if !digits(p) {
            return Err(junk());
        }
        return match p.parse::<u64>() {
            Ok(0) => Err("0% of the cores is no workers: give at least 1%".into()),
            Ok(p) => Ok(WorkerCount::Percent(p)),
            Err(_) => Err(too_big()),
        };
    }
    for (sign, make) in [
        ('+', WorkerCount::Plus as fn(usize) -> WorkerCount),
        ('-', WorkerCount::Minus),
    ] {
        if let Some(n) = t.strip_prefix(sign) {
            if !digits(n) {
                return Err(junk());
            }
            return n.parse::<usize>().map(make).map_err(|_| too_big());
        }
    }
    if !digits(t) {
        return Err(junk());
    }
    match t.parse::<usize>() {
        Ok(0) => Err(
            "at least 1 worker (GNU parallel's -j 0, as many as possible, is not supported)".into(),
        ),
        Ok(n) if n > 4096 => Err(format!("{n} workers is too many (at most 4096)")),
        Ok(n) => Ok(WorkerCount::Exact(n)),
        Err(_) => Err(too_big()),
    }
}

/// A duration in GNU parallel's spelling (`--delay`): a number of seconds (`0.5`), or numbers
/// each followed by `d`, `h`, `m`, `s` or `ms` (`1m30s`, `1.5s`, `300ms`); a last number
/// without a unit counts as seconds (`1m30`). Zero is allowed.
pub fn parse_gnu_duration(s: &str) -> Result<Duration, String> {
    let bad = |why: &str| {
        format!("invalid duration '{s}': {why} (seconds, or with units: 0.5, 1.5s, 1m30s, 300ms)")
    };
    let t = s.trim().to_ascii_lowercase();
    if t.starts_with('-') {
        return Err(format!("negative duration '{s}'"));
    }
    if t.is_empty() {
        return Err(bad("empty"));
    }
    let mut rest = t.as_str();
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(num_end);
        let unit_end = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let nanos_per: u128 = match unit {
            "" | "s" => 1_000_000_000,
            "ms" => 1_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => return Err(bad(&format!("unknown unit '{unit}'"))),
        };
        if unit.is_empty() && !after.is_empty() {
            return Err(bad("not a number with optional units"));
        }
        total = decimal_times(number, nanos_per)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(|| bad("not a number with optional units"))?;
        rest = after;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| bad("too large"))?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// `number` (digits with an optional fraction: `1`, `1.5`, `.5`) times `scale`, rounded down;
/// `None` for anything else or on overflow.
fn decimal_times(number: &str, scale: u128) -> Option<u128> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if (int.is_empty() && frac.is_empty()) || frac.contains('.') || frac.len() > 30 {
        return None;
    }
    let whole = |d: &str| {
        if d.is_empty() {
            Some(0)
        } else {
            d.parse::<u128>().ok()
        }
    };
    let frac_part = whole(frac)?.checked_mul(scale)? / 10u128.pow(frac.len() as u32);
    whole(int)?.checked_mul(scale)?.checked_add(frac_part)
}

/// When `--halt` stops the run once its condition is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltWhen {
    /// Kill the running jobs, start no more.
    Now,
    /// Start no more jobs, let the running ones finish.
    Soon,
}

/// What `--halt` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltWhy {
    Fail,
    Success,
    /// Every finished job, whatever its end.
    Done,
}

/// How many counted jobs trigger `--halt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// At least this many (≥ 1).
    Count(u64),
    /// At least this percentage (1-100) of all the jobs.
    Percent(u8),
}

/// `--halt`: never, or when, on what and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltPolicy {
    Never,
    On {
        when: HaltWhen,
        why: HaltWhy,
        threshold: Threshold,
    },
}

impl fmt::Display for HaltPolicy {
    /// GNU parallel's long form: `never`, `now,fail=1`, `soon,success=50%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let HaltPolicy::On {
            when,
            why,
            threshold,
        } = self
        else {
            return f.write_str("never");
        };
        let when = match when {
            HaltWhen::Now => "now",
            HaltWhen::Soon => "soon",
        };
        let why = match why {
            HaltWhy::Fail => "fail",
            HaltWhy::Success => "success",
            HaltWhy::Done => "done",
        };
        match threshold {
            Threshold::Count(n) => write!(f, "{when},{why}={n}"),
            Threshold::Percent(p) => write!(f, "{when},{why}={p}%"),
        }
    }
}

/// `--halt` in GNU parallel's forms: `never`, `now`/`soon` (= `,fail=1`),
/// `now|soon,fail|success|done=N|N%`, and the legacy `0`, `1`, `2`, `-1`, `-2` and `N%`.
pub fn parse_halt(s: &str) -> Result<HaltPolicy, String> {
    use HaltWhen::{Now, Soon};
    use HaltWhy::{Fail, Success};
    let on = |when, why, threshold| HaltPolicy::On {
        when,
        why,
        threshold,
    };
    let one = Threshold::Count(1);
    let t = s.trim();
    match t {
        "never" | "0" => return Ok(HaltPolicy::Never),
        "now" | "2" => return Ok(on(Now, Fail, one)),
        "soon" | "1" => return Ok(on(Soon, Fail, one)),
        "-1" => return Ok(on(Soon, Success, one)),
        "-2" => return Ok(on(Now, Success, one)),
        _ => {}
    }
    if t.ends_with('%') && !t.contains(',') {
        return Ok(on(Soon, Fail, parse_threshold(t)?));
    }
    let (word, cond) = t.split_once(',').ok_or_else(|| {
        "expected never, now, soon or WHEN,WHY=N (e.g. now,fail=1, soon,fail=10%)".to_string()
    })?;
    let when = match word {
        "now" => Now,
        "soon" => Soon,
        _ => return Err(format!("'{word}' is not now or soon")),
    };
    let (why, n) = cond
        .split_once('=')
        .ok_or_else(|| format!("expected fail=N, success=N or done=N (or N%) after '{word},'"))?;
    let why = match why {
        "fail" => Fail,
        "success" => Success,
        "done" => HaltWhy::Done,
        _ => return Err(format!("'{why}' is not fail, success or done")),
    };
    Ok(on(when, why, parse_threshold(n)?))
}

/// `N` (≥ 1) or `N%` (1-100).
fn parse_threshold(n: &str) -> Result<Threshold, String> {
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if let Some(p) = n.strip_suffix('%') {
        return match p.parse::<u8>() {
            Ok(v @ 1..=100) if digits(p) => Ok(Threshold::Percent(v)),
            _ => Err(format!("'{n}' is not a percentage from 1% to 100%")),
        };
    }
    if !digits(n) {
        return Err(format!("'{n}' is not a number of jobs or a percentage"));
    }
    match n.parse::<u64>() {
        Ok(0) => Err("the count must be at least 1".into()),
        Ok(c) => Ok(Threshold::Count(c)),
        Err(_) => Err(format!("'{n}' is too large")),
    }
}

/// `cluster --job-timeout`: a fixed limit, or a percentage of the median runtime of the jobs
/// that succeeded so far (GNU parallel's `N%`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobTimeout {
    Fixed(Duration),
    /// This percentage (over 100) of the median.
    OfMedian(u32),
}

/// A duration as [`parse_duration_or_zero`] reads it, or `N%` with N over 100.
pub fn parse_job_timeout(s: &str) -> Result<JobTimeout, String> {
    let t = s.trim();
    let Some(p) = t.strip_suffix('%') else {
        return parse_duration_or_zero(s).map(JobTimeout::Fixed);
    };
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'{s}' is not a whole percentage (e.g. 200% of the median runtime)"
        ));
    }
    match p.parse::<u32>() {
        Ok(n) if n > 100 => Ok(JobTimeout::OfMedian(n)),
        Ok(n) => Err(format!(
            "{n}% would kill typical jobs: the percentage is of the median runtime of successful jobs, so it must be over 100% (e.g. 200%)"
        )),
        Err(_) => Err(format!("'{s}': percentage too large")),
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
    fn worker_counts() {
        use WorkerCount::*;
        let ok = |s: &str| parse_worker_count(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(ok("4"), Exact(4));
        assert_eq!(ok("4096"), Exact(4096));
        assert_eq!(ok("50%"), Percent(50));
        assert_eq!(ok("250%"), Percent(250));
        assert_eq!(ok("+1"), Plus(1));
        assert_eq!(ok("+0"), Plus(0));
        assert_eq!(ok("-1"), Minus(1));
        assert!(parse_worker_count("0").unwrap_err().contains("-j 0"));
        assert!(
            parse_worker_count("0%")
                .unwrap_err()
                .contains("at least 1%")
        );
        assert!(
            parse_worker_count("4097")
                .unwrap_err()
                .contains("at most 4096")
        );
        for bad in [
            "", "x", "1.5", "%", "+", "-", "+-1", "--1", "5%%", "1e3", "+x", " %", "50 %",
        ] {
            assert!(parse_worker_count(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn gnu_durations() {
        let ok = |s: &str| parse_gnu_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let ms = Duration::from_millis;
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("2"), Duration::from_secs(2), "a bare number is seconds");
        assert_eq!(ok("0.5"), ms(500));
        assert_eq!(ok(".25"), ms(250));
        assert_eq!(ok("1.5s"), ms(1500));
        assert_eq!(ok("300ms"), ms(300));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(
            ok("1m30"),
            Duration::from_secs(90),
            "a last bare number is seconds"
        );
        assert_eq!(ok("2h"), Duration::from_secs(7200));
        assert_eq!(ok("1d"), Duration::from_secs(86400));
        assert_eq!(ok("1D2H"), Duration::from_secs(93600));
        assert_eq!(ok("0.001"), ms(1));
        assert_eq!(ok("1s500ms"), ms(1500));
        assert!(parse_gnu_duration("-1").unwrap_err().contains("negative"));
        for bad in [
            "",
            "x",
            "1x",
            "s",
            "1..5",
            "1.2.3",
            "1 s",
            "5 m",
            "1s-",
            "10w",
            "1e3",
            "99999999999999999999999999999d",
        ] {
            assert!(parse_gnu_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn halt_policies() {
        use HaltWhen::*;
        use HaltWhy::*;
        let on = |when, why, threshold| HaltPolicy::On {
            when,
            why,
            threshold,
        };
        let ok = |s: &str| parse_halt(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let (one, c) = (Threshold::Count(1), Threshold::Count);
        assert_eq!(ok("never"), HaltPolicy::Never);
        assert_eq!(ok("0"), HaltPolicy::Never);
        assert_eq!(ok("now"), on(Now, Fail, one));
        assert_eq!(ok("soon"), on(Soon, Fail, one));
        assert_eq!(ok("1"), on(Soon, Fail, one));
        assert_eq!(ok("2"), on(Now, Fail, one));
        assert_eq!(ok("-1"), on(Soon, Success, one));
        assert_eq!(ok("-2"), on(Now, Success, one));
        assert_eq!(ok("10%"), on(Soon, Fail, Threshold::Percent(10)));
        assert_eq!(ok("now,fail=3"), on(Now, Fail, c(3)));
        assert_eq!(ok("soon,fail=50%"), on(Soon, Fail, Threshold::Percent(50)));
        assert_eq!(ok("now,success=2"), on(Now, Success, c(2)));
        assert_eq!(
            ok("soon,success=100%"),
            on(Soon, Success, Threshold::Percent(100))
        );
        assert_eq!(ok("now,done=5"), on(Now, Done, c(5)));
        assert_eq!(ok("soon,done=1%"), on(Soon, Done, Threshold::Percent(1)));
        for s in ["never", "now,fail=1", "soon,success=2", "now,done=50%"] {
            assert_eq!(ok(s).to_string(), s);
        }
        let err = |s: &str| parse_halt(s).expect_err(s);
        assert!(err("now,fail=0").contains("at least 1"));
        assert!(err("later,fail=1").contains("'later' is not now or soon"));
        assert!(err("now,fail=x").contains("'x'"));
        assert!(err("now,fail=101%").contains("1% to 100%"));
        assert!(err("now,fail=0%").contains("1% to 100%"));
        assert!(err("now,oops=1").contains("fail, success or done"));
        assert!(err("0%").contains("1% to 100%"));
        for bad in [
            "",
            "later",
            "3",
            "-3",
            "now,",
            "now,fail",
            "now,fail=",
            "now,fail=1,x",
            "never,fail=1",
            "now,fail=-1",
            "now,fail=+1",
            "now,fail=1.5",
            "now,fail=5%%",
        ] {
            assert!(parse_halt(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn job_timeouts() {
        assert_eq!(parse_job_timeout("200%"), Ok(JobTimeout::OfMedian(200)));
        assert_eq!(parse_job_timeout("101%"), Ok(JobTimeout::OfMedian(101)));
        assert_eq!(
            parse_job_timeout("5s"),
            Ok(JobTimeout::Fixed(Duration::from_secs(5)))
        );
        assert_eq!(
            parse_job_timeout("250"),
            Ok(JobTimeout::Fixed(Duration::from_millis(250))),
            "a bare number is milliseconds, as before"
        );
        assert!(parse_job_timeout("50%").unwrap_err().contains("over 100%"));
        assert!(parse_job_timeout("100%").unwrap_err().contains("over 100%"));
        for bad in [
            "%",
            "x%",
            "1.5%",
            "-200%",
            "200%%",
            "99999999999%",
            "-1",
            "x",
        ] {
            assert!(parse_job_timeout(bad).is_err(), "{bad}");
        }
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
