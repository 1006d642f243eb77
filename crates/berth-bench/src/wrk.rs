//! Drives `wrk` (Debian's package) against a URL and reads its report.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// What one wrk run measured.
#[derive(Debug, Clone, Default)]
pub struct WrkResult {
    pub requests: u64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mib_per_second: f64,
    /// Non-2xx/3xx answers plus socket errors.
    pub errors: u64,
}

/// A wrk run: `connections` connections over `threads` threads for
/// `seconds`, with extra headers and an optional Lua script.
pub struct Wrk<'a> {
    pub url: &'a str,
    pub threads: u32,
    pub connections: u32,
    pub seconds: u32,
    pub headers: Vec<String>,
    pub script: Option<&'a Path>,
    /// A command wrk runs under (`taskset -c 1` in the pinned mode); empty
    /// for none.
    pub under: Vec<String>,
}

/// A number with a unit suffix (`12.5ms`), scaled by the unit's factor.
fn parse_scaled(s: &str, units: &[(&str, f64)]) -> Option<f64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let v: f64 = num.parse().ok()?;
    let (_, factor) = units.iter().find(|(u, _)| *u == unit)?;
    Some(v * factor)
}

fn parse_duration_ms(s: &str) -> Option<f64> {
    parse_scaled(
        s,
        &[
            ("us", 1.0 / 1000.0),
            ("ms", 1.0),
            ("s", 1000.0),
            ("m", 60_000.0),
        ],
    )
}

fn parse_size_mib(s: &str) -> Option<f64> {
    parse_scaled(
        s,
        &[
            ("B", 1.0 / 1048576.0),
            ("KB", 1.0 / 1024.0),
            ("MB", 1.0),
            ("GB", 1024.0),
        ],
    )
}

/// Reads wrk's text report (run with `--latency`).
pub fn parse(report: &str) -> Result<WrkResult> {
    let mut r = WrkResult::default();
    for line in report.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            r.per_second = v.trim().parse().context("Requests/sec")?;
        } else if let Some(v) = t.strip_prefix("Transfer/sec:") {
            r.mib_per_second = parse_size_mib(v).unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("50%") {
            r.p50_ms = parse_duration_ms(v).unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("99%") {
            r.p99_ms = parse_duration_ms(v).unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            r.errors += v.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(v) = t.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            r.errors += v
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        } else if t.contains("requests in") {
            r.requests = t
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        }
    }
    if r.per_second == 0.0 {
        bail!("could not read wrk's report:\n{report}");
    }
    Ok(r)
}

impl Wrk<'_> {
    /// Runs wrk and parses its report.
    pub fn run(&self) -> Result<WrkResult> {
        let mut cmd = berth_testkit::stores::command_under(&self.under, "wrk");
        cmd.arg(format!("-t{}", self.threads))
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}s", self.seconds))
            .arg("--latency");
        for h in &self.headers {
            cmd.arg("-H").arg(h);
        }
        if let Some(script) = self.script {
            cmd.arg("-s").arg(script);
        }
        cmd.arg(self.url);
        let out = cmd
            .output()
            .context("running wrk (install Debian's `wrk` package)")?;
        if !out.status.success() {
            bail!("wrk failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        parse(&String::from_utf8_lossy(&out.stdout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_report() {
        let report = "Running 2s test @ http://127.0.0.1:18080/x
  2 threads and 16 connections
  Latency Distribution
     50%  230.00us
     75%  317.00us
     90%  498.00us
     99%    3.38ms
  132397 requests in 2.10s, 32.20MB read
  Non-2xx or 3xx responses: 3
Requests/sec:  63037.85
Transfer/sec:     15.33MB
";
        let r = parse(report).unwrap();
        assert_eq!(r.requests, 132397);
        assert!((r.per_second - 63037.85).abs() < 0.01);
        assert!((r.p50_ms - 0.23).abs() < 1e-9);
        assert!((r.p99_ms - 3.38).abs() < 1e-9);
        assert!((r.mib_per_second - 15.33).abs() < 1e-9);
        assert_eq!(r.errors, 3);
    }
}
