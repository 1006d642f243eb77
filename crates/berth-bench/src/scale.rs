//! A synthetic registry shaped like the public one, for `berth-scale`:
//! crate names made of words, heavy-tailed version counts, dependencies on
//! other generated crates with real semver requirements, features (some in
//! the `dep:` / `?/` syntax, so `features2` and `v: 2` appear), yanked
//! versions, and download counts. Deterministic for a given seed, and
//! generated in batches so that millions of versions never sit in memory
//! at once. Also writes the wrk Lua scripts that request its index files
//! and searches.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use berth_protocol::index::{sort_dependencies, split_features, DependencyKind, FeatureMap};
use berth_protocol::{canonical_name, validate_crate_name, IndexDependency, IndexEntry};
use berth_store::{BulkCrate, BulkVersion};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Words for crate names, descriptions and features.
pub const WORDS: &[&str] = &[
    "async",
    "serde",
    "tokio",
    "http",
    "json",
    "parser",
    "derive",
    "macro",
    "util",
    "utils",
    "web",
    "net",
    "io",
    "fs",
    "sys",
    "ffi",
    "bindings",
    "rs",
    "lib",
    "cli",
    "tool",
    "tools",
    "config",
    "log",
    "logger",
    "trace",
    "tracing",
    "error",
    "errors",
    "test",
    "mock",
    "bench",
    "time",
    "date",
    "chrono",
    "uuid",
    "rand",
    "random",
    "hash",
    "crypto",
    "cipher",
    "aes",
    "sha",
    "rsa",
    "tls",
    "ssl",
    "ring",
    "key",
    "auth",
    "oauth",
    "jwt",
    "token",
    "session",
    "cookie",
    "client",
    "server",
    "proxy",
    "router",
    "route",
    "api",
    "rest",
    "grpc",
    "proto",
    "protobuf",
    "codec",
    "encode",
    "decode",
    "base64",
    "hex",
    "bytes",
    "buf",
    "buffer",
    "stream",
    "streams",
    "futures",
    "future",
    "channel",
    "queue",
    "pool",
    "cache",
    "lru",
    "map",
    "set",
    "tree",
    "graph",
    "list",
    "vec",
    "array",
    "matrix",
    "math",
    "num",
    "float",
    "int",
    "bigint",
    "decimal",
    "geo",
    "image",
    "png",
    "jpeg",
    "gif",
    "svg",
    "font",
    "text",
    "string",
    "str",
    "regex",
    "glob",
    "path",
    "file",
    "dir",
    "zip",
    "tar",
    "gzip",
    "zstd",
    "lz4",
    "compress",
    "archive",
    "sql",
    "sqlite",
    "postgres",
    "mysql",
    "redis",
    "mongo",
    "db",
    "orm",
    "query",
    "schema",
    "migrate",
    "kv",
    "store",
    "storage",
    "blob",
    "s3",
    "aws",
    "azure",
    "gcp",
    "cloud",
    "k8s",
    "docker",
    "container",
    "wasm",
    "js",
    "node",
    "python",
    "ruby",
    "lua",
    "c",
    "cpp",
    "zig",
    "go",
    "java",
    "android",
    "ios",
    "macos",
    "windows",
    "linux",
    "unix",
    "posix",
    "win32",
    "gpu",
    "vulkan",
    "opengl",
    "gl",
    "wgpu",
    "render",
    "game",
    "engine",
    "ecs",
    "physics",
    "audio",
    "sound",
    "midi",
    "video",
    "media",
    "ui",
    "gui",
    "tui",
    "term",
    "terminal",
    "color",
    "colors",
    "ansi",
    "table",
    "fmt",
    "format",
    "pretty",
    "print",
    "display",
    "doc",
    "docs",
    "markdown",
    "html",
    "css",
    "xml",
    "yaml",
    "toml",
    "csv",
    "ini",
    "env",
    "dotenv",
    "args",
    "clap",
    "opts",
    "flag",
    "cmd",
    "shell",
    "process",
    "thread",
    "sync",
    "atomic",
    "lock",
    "mutex",
    "arena",
    "alloc",
    "mem",
    "memory",
    "ptr",
    "slice",
    "iter",
    "stream",
    "actor",
    "event",
    "events",
    "signal",
    "timer",
    "clock",
    "sched",
    "task",
    "tasks",
    "job",
    "worker",
    "runtime",
    "exec",
    "spawn",
    "rpc",
    "mqtt",
    "amqp",
    "kafka",
    "nats",
    "zmq",
    "socket",
    "tcp",
    "udp",
    "quic",
    "dns",
    "ip",
    "url",
    "uri",
    "mime",
    "email",
    "smtp",
    "imap",
    "ftp",
    "ssh",
    "git",
    "diff",
    "patch",
    "semver",
    "version",
    "cargo",
    "build",
    "gen",
    "codegen",
    "ast",
    "syn",
    "quote",
    "lexer",
    "token",
    "grammar",
    "peg",
    "nom",
    "combinator",
    "bit",
    "bits",
    "flags",
    "enum",
    "struct",
    "trait",
    "type",
    "types",
    "typed",
    "generic",
    "static",
    "lazy",
    "once",
    "cell",
    "ref",
    "box",
    "arc",
    "rc",
    "small",
    "tiny",
    "fast",
    "quick",
    "simple",
    "easy",
    "lite",
    "mini",
    "micro",
    "nano",
    "core",
    "common",
    "base",
    "std",
    "no",
    "extra",
    "more",
    "ext",
    "plus",
    "pro",
    "kit",
    "rust",
    "ferris",
    "crab",
    "iron",
    "rusty",
    "oxide",
    "ox",
    "rocket",
    "actix",
    "axum",
    "hyper",
    "tower",
    "warp",
    "tide",
    "salvo",
    "leptos",
    "yew",
    "dioxus",
    "bevy",
    "egui",
    "iced",
    "slint",
    "tauri",
    "embedded",
    "hal",
    "pac",
    "stm32",
    "nrf",
    "esp",
    "riscv",
    "arm",
    "avr",
    "usb",
    "serial",
    "i2c",
    "spi",
    "can",
    "ble",
    "lora",
    "sensor",
    "driver",
    "board",
    "chip",
    "kernel",
    "os",
];

const START_2015: i64 = 1_431_648_000;
const DAY: i64 = 86_400;

/// Lomax (Pareto II) sample: heavy-tailed, >= 0, mean 1/(alpha-1).
fn lomax(rng: &mut SmallRng, alpha: f64) -> f64 {
    let u: f64 = rng.random::<f64>().max(1e-12);
    u.powf(-1.0 / alpha) - 1.0
}

fn word(rng: &mut SmallRng) -> &'static str {
    WORDS[rng.random_range(0..WORDS.len())]
}

/// The plan of a registry: every crate's name and version count, and what
/// other crates' requirements on it look like. Versions themselves are
/// generated per batch.
pub struct Plan {
    pub seed: u64,
    pub names: Vec<String>,
    pub version_counts: Vec<u32>,
    /// `(major, minor)` of each crate's newest release, for requirements.
    pub latest: Vec<(u32, u32)>,
    pub total_versions: u64,
}

/// A version sequence: mostly patch bumps, some minor and major bumps, a
/// few pre-releases (and their releases) and rare build metadata. Unique
/// ignoring build metadata and increasing by semver order.
fn versions(rng: &mut SmallRng, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    let (mut maj, mut min, mut pat) = if rng.random_bool(0.8) {
        (0u32, rng.random_range(0..3u32), 0u32)
    } else {
        (1, 0, 0)
    };
    // A pending pre-release: (patch it pre-releases, counter).
    let mut pre: Option<(u32, u32)> = None;
    for i in 0..n {
        if i == 0 {
            out.push(format!("{maj}.{min}.{pat}"));
            continue;
        }
        let r: f64 = rng.random();
        if let Some((p, k)) = pre {
            if r < 0.4 {
                let k = k + 1;
                out.push(format!("{maj}.{min}.{p}-rc.{k}"));
                pre = Some((p, k));
            } else {
                pat = p;
                out.push(format!("{maj}.{min}.{pat}"));
                pre = None;
            }
            continue;
        }
        if r < 0.03 {
            // Pre-release of the next minor: x.(y+1).0-alpha.1, then
            // release candidates, then the release.
            min += 1;
            pat = 0;
            pre = Some((0, 1));
            out.push(format!("{maj}.{min}.0-alpha.1"));
            continue;
        }
        if r < 0.035 {
            pat += 1;
            out.push(format!(
                "{maj}.{min}.{pat}+build.{}",
                rng.random_range(1..999)
            ));
        } else if r < 0.06 {
            maj += 1;
            min = 0;
            pat = 0;
            out.push(format!("{maj}.{min}.{pat}"));
        } else if r < 0.26 {
            min += 1;
            pat = 0;
            out.push(format!("{maj}.{min}.{pat}"));
        } else {
            pat += 1;
            out.push(format!("{maj}.{min}.{pat}"));
        }
    }
    out
}

fn crate_rng(seed: u64, idx: usize) -> SmallRng {
    SmallRng::seed_from_u64(seed ^ (idx as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The `(major, minor)` of the newest release in a sequence.
fn newest_release(vers: &[String]) -> (u32, u32) {
    vers.iter()
        .rev()
        .find(|v| !v.contains('-'))
        .or(vers.last())
        .and_then(|v| {
            let mut it = v.split(['.', '-', '+']);
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        })
        .unwrap_or((0, 1))
}

impl Plan {
    /// Plans `crates` crates with `versions` versions in all (at least one
    /// each; at most 1,000 for one crate).
    pub fn new(crates: usize, versions_total: u64, seed: u64) -> Plan {
        let mut rng = SmallRng::seed_from_u64(seed);
        // Names: 1-3 words joined by `-` or `_`, unique after folding.
        let mut seen = HashSet::with_capacity(crates);
        let mut names = Vec::with_capacity(crates);
        while names.len() < crates {
            let words = match rng.random::<f64>() {
                r if r < 0.12 => 1,
                r if r < 0.70 => 2,
                _ => 3,
            };
            let sep = if rng.random_bool(0.65) { "-" } else { "_" };
            let mut name = (0..words)
                .map(|_| word(&mut rng))
                .collect::<Vec<_>>()
                .join(sep);
            if seen.len() > 40_000 && rng.random_bool(0.05) {
                // A few names carry a number, as real ones do (`foo2`).
                let _ = write!(name, "{}", rng.random_range(2..10));
            }
            if !(3..=30).contains(&name.len()) || validate_crate_name(&name).is_err() {
                continue;
            }
            if seen.insert(canonical_name(&name)) {
                names.push(name);
            }
        }
        // Version counts: heavy-tailed weights scaled to the total.
        let cap = 1000u64;
        let weights: Vec<f64> = (0..crates).map(|_| lomax(&mut rng, 1.25)).collect();
        let count_for = |s: f64, w: f64| (1 + (s * w) as u64).min(cap);
        let target = versions_total.clamp(crates as u64, crates as u64 * cap);
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        while weights.iter().map(|&w| count_for(hi, w)).sum::<u64>() < target {
            hi *= 2.0;
        }
        for _ in 0..60 {
            let mid = (lo + hi) / 2.0;
            if weights.iter().map(|&w| count_for(mid, w)).sum::<u64>() < target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let mut counts: Vec<u64> = weights.iter().map(|&w| count_for(hi, w)).collect();
        let mut sum: u64 = counts.iter().sum();
        // Trim the overshoot from random crates that have more than one.
        while sum > target {
            let i = rng.random_range(0..crates);
            if counts[i] > 1 {
                counts[i] -= 1;
                sum -= 1;
            }
        }
        let version_counts: Vec<u32> = counts.iter().map(|&c| c as u32).collect();
        let latest = version_counts
            .iter()
            .enumerate()
            .map(|(i, &n)| newest_release(&versions(&mut crate_rng(seed, i), n as usize)))
            .collect();
        Plan {
            seed,
            names,
            version_counts,
            latest,
            total_versions: sum,
        }
    }

    /// A plan of `n` crates shaped like this one's: the crates at `n` evenly
    /// spaced quantiles of versions per crate (from the smallest to the
    /// largest), so that a small registry serves files of the same sizes as
    /// a working set drawn at random from this one.
    pub fn quantile_sample(&self, n: usize) -> Plan {
        let mut by_count: Vec<usize> = (0..self.names.len()).collect();
        by_count.sort_by_key(|&i| self.version_counts[i]);
        let last = by_count.len().saturating_sub(1);
        let picked: Vec<usize> = (0..n.min(by_count.len()))
            .map(|k| by_count[(k * last) / n.saturating_sub(1).max(1)])
            .collect();
        let names: Vec<String> = picked.iter().map(|&i| self.names[i].clone()).collect();
        let version_counts: Vec<u32> = picked.iter().map(|&i| self.version_counts[i]).collect();
        let latest = version_counts
            .iter()
            .enumerate()
            .map(|(i, &c)| newest_release(&versions(&mut crate_rng(self.seed, i), c as usize)))
            .collect();
        Plan {
            seed: self.seed,
            total_versions: version_counts.iter().map(|&c| u64::from(c)).sum(),
            names,
            version_counts,
            latest,
        }
    }

    /// min / median / p90 / p99 / max of versions per crate, and how many
    /// crates have at least 100.
    pub fn spread(&self) -> String {
        let mut c = self.version_counts.clone();
        c.sort_unstable();
        let at = |p: f64| c[((c.len() - 1) as f64 * p) as usize];
        format!(
            "versions per crate: min {} median {} p90 {} p99 {} max {}; {} crates with >= 100",
            c[0],
            at(0.5),
            at(0.9),
            at(0.99),
            c[c.len() - 1],
            c.iter().filter(|&&n| n >= 100).count()
        )
    }

    /// A requirement on crate `t` as written by a depender at `progress`
    /// (0 = the depender's first version, 1 = its newest).
    fn req(&self, rng: &mut SmallRng, t: usize, progress: f64) -> String {
        let (maj, min) = self.latest[t];
        let min = (min as f64 * (0.5 + 0.5 * progress)) as u32;
        match rng.random::<f64>() {
            r if r < 0.55 => {
                if maj == 0 {
                    format!("^0.{min}")
                } else {
                    format!("^{maj}.{min}")
                }
            }
            r if r < 0.85 => format!("^{maj}.{min}.{}", rng.random_range(0..4)),
            r if r < 0.91 => format!("~{maj}.{min}"),
            r if r < 0.95 => format!(">={maj}.{min}, <{}", maj + 1),
            r if r < 0.98 => format!("={maj}.{min}.0"),
            _ => "*".to_string(),
        }
    }

    /// The crates `range` with all their versions. `blobs` are `(sha256,
    /// size)` of real `.crate` blobs, referenced round-robin.
    pub fn batch(&self, range: std::ops::Range<usize>, blobs: &[(String, i64)]) -> Vec<BulkCrate> {
        let now = now();
        let n_crates = self.names.len();
        range
            .map(|ci| {
                let mut rng = crate_rng(self.seed, ci);
                let vers = versions(&mut rng, self.version_counts[ci] as usize);
                let nv = vers.len();
                // Shape of this crate.
                let new_syntax = rng.random_bool(0.4);
                // About 6 dependencies per version on average, as on the
                // public registry (dev and build ones included).
                let dep_count = if rng.random_bool(0.08) {
                    0
                } else {
                    ((2.0 + 9.0 * lomax(&mut rng, 2.5)) as usize).min(30)
                };
                let feature_count = if rng.random_bool(0.35) {
                    0
                } else {
                    ((1.0 + 2.5 * lomax(&mut rng, 2.0)) as usize).min(20)
                };
                let rust_version = rng
                    .random_bool(0.3)
                    .then(|| format!("1.{}", rng.random_range(40..90)));
                let links = (ci % 97 == 0 && self.names[ci].ends_with("sys")).then(|| "z".into());
                // The dependency pool: popular crates (low indices) are
                // depended on most.
                let mut pool: Vec<(usize, IndexDependency)> = Vec::new();
                let mut taken = HashSet::new();
                let mut tries = 0;
                while pool.len() < dep_count.min(n_crates.saturating_sub(1)) && tries < 1000 {
                    tries += 1;
                    let t = ((n_crates as f64) * rng.random::<f64>().powi(3)) as usize;
                    if t == ci || t >= n_crates || !taken.insert(t) {
                        continue;
                    }
                    let kind = match rng.random::<f64>() {
                        r if r < 0.72 => DependencyKind::Normal,
                        r if r < 0.92 => DependencyKind::Dev,
                        _ => DependencyKind::Build,
                    };
                    let optional = kind == DependencyKind::Normal && rng.random_bool(0.25);
                    let (name, package) = if rng.random_bool(0.02) {
                        (
                            format!("{}_{}", word(&mut rng), pool.len()),
                            Some(self.names[t].clone()),
                        )
                    } else {
                        (self.names[t].clone(), None)
                    };
                    let target = rng.random_bool(0.08).then(|| {
                        [
                            "cfg(windows)",
                            "cfg(unix)",
                            "cfg(target_os = \"linux\")",
                            "cfg(target_arch = \"wasm32\")",
                            "wasm32-unknown-unknown",
                        ][rng.random_range(0..5)]
                        .to_string()
                    });
                    let features = if rng.random_bool(0.2) {
                        (0..rng.random_range(1..4))
                            .map(|_| word(&mut rng).to_string())
                            .collect()
                    } else {
                        Vec::new()
                    };
                    pool.push((
                        t,
                        IndexDependency {
                            name,
                            req: String::new(),
                            features,
                            optional,
                            default_features: rng.random_bool(0.85),
                            target,
                            kind,
                            registry: None,
                            package,
                        },
                    ));
                }
                let feature_names: Vec<String> = {
                    let mut set = HashSet::new();
                    let mut v = Vec::new();
                    for _ in 0..feature_count * 2 {
                        if v.len() >= feature_count {
                            break;
                        }
                        let f = if v.is_empty() { "std" } else { word(&mut rng) };
                        if set.insert(f) {
                            v.push(f.to_string());
                        }
                    }
                    v
                };
                let description = rng.random_bool(0.92).then(|| {
                    format!(
                        "A {} {} library for {} and {}",
                        word(&mut rng),
                        word(&mut rng),
                        word(&mut rng),
                        word(&mut rng)
                    )
                });
                // Times: from a start in the last ten years, increasing.
                let start = rng.random_range(START_2015..now - 2 * DAY);
                let end = rng.random_range(start..now - DAY);
                let mut times: Vec<i64> = (0..nv).map(|_| rng.random_range(start..=end)).collect();
                times.sort_unstable();
                for i in 1..nv {
                    times[i] = times[i].max(times[i - 1] + 1);
                }
                let crate_downloads = (200.0 * lomax(&mut rng, 1.1)) as i64;
                let mut bulk = Vec::with_capacity(nv);
                for (vi, vers) in vers.iter().enumerate() {
                    let progress = if nv > 1 {
                        vi as f64 / (nv - 1) as f64
                    } else {
                        1.0
                    };
                    // Dependencies grow over a crate's life.
                    let nd = ((pool.len() as f64) * (0.5 + 0.5 * progress)).ceil() as usize;
                    let nd = (nd + rng.random_range(0..2)).min(pool.len());
                    let mut deps: Vec<IndexDependency> = pool[..nd]
                        .iter()
                        .map(|(t, d)| {
                            let mut d = d.clone();
                            d.req = self.req(&mut rng, *t, progress);
                            d
                        })
                        .collect();
                    sort_dependencies(&mut deps);
                    let optional: Vec<&str> = deps
                        .iter()
                        .filter(|d| d.optional)
                        .map(|d| d.name.as_str())
                        .collect();
                    let normal: Vec<&str> = deps
                        .iter()
                        .filter(|d| d.kind == DependencyKind::Normal && !d.optional)
                        .map(|d| d.name.as_str())
                        .collect();
                    let nf =
                        ((feature_names.len() as f64) * (0.6 + 0.4 * progress)).ceil() as usize;
                    let mut features = FeatureMap::new();
                    for (fi, f) in feature_names[..nf].iter().enumerate() {
                        let mut vals = Vec::new();
                        if fi > 0 && rng.random_bool(0.4) {
                            vals.push(feature_names[rng.random_range(0..fi)].clone());
                        }
                        if !normal.is_empty() && rng.random_bool(0.3) {
                            vals.push(format!(
                                "{}/{}",
                                normal[rng.random_range(0..normal.len())],
                                word(&mut rng)
                            ));
                        }
                        if !optional.is_empty() && rng.random_bool(0.5) {
                            let o = optional[rng.random_range(0..optional.len())];
                            if new_syntax {
                                vals.push(format!("dep:{o}"));
                                if rng.random_bool(0.3) {
                                    vals.push(format!("{o}?/{}", word(&mut rng)));
                                }
                            } else {
                                vals.push(o.to_string());
                            }
                        }
                        features.insert(f.clone(), vals);
                    }
                    if nf > 1 {
                        let d = (0..rng.random_range(1..nf.min(4)))
                            .map(|_| feature_names[rng.random_range(0..nf)].clone())
                            .collect::<std::collections::BTreeSet<_>>();
                        features.insert("default".into(), d.into_iter().collect());
                    }
                    let (features, features2) = split_features(features);
                    let (features2, v) = if features2.is_empty() {
                        (None, None)
                    } else {
                        (Some(features2), Some(2))
                    };
                    let yanked = rng.random_bool(0.025);
                    let g = (ci.wrapping_mul(31) + vi) % blobs.len();
                    let (cksum, size) = &blobs[g];
                    let entry = IndexEntry {
                        name: self.names[ci].clone(),
                        vers: vers.clone(),
                        deps,
                        cksum: cksum.clone(),
                        features,
                        features2,
                        yanked,
                        links: links.clone(),
                        rust_version: rust_version.clone(),
                        pubtime: Some(rfc3339(times[vi])),
                        v,
                    };
                    let downloads = if vi + 1 == nv {
                        crate_downloads - (crate_downloads / nv as i64) * (nv as i64 - 1)
                    } else {
                        crate_downloads / nv as i64
                    };
                    bulk.push(BulkVersion {
                        vers: vers.clone(),
                        index_line: entry.to_line(),
                        cksum: cksum.clone(),
                        size: *size,
                        yanked,
                        created_at: times[vi],
                        downloads,
                    });
                }
                BulkCrate {
                    name: self.names[ci].clone(),
                    description,
                    versions: bulk,
                }
            })
            .collect()
    }
}

/// Now as Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// RFC 3339 in UTC with seconds precision (`2024-01-02T03:04:05Z`).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(DAY);
    let rem = secs.rem_euclid(DAY);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Writes a wrk script that requests `paths` in random order (each wrk
/// thread with its own seed).
pub fn write_lua(file: &Path, paths: &[String]) -> Result<()> {
    let mut s = String::from("local paths = {\n");
    for p in paths {
        // Paths are URL-safe ASCII (names, `/`, `?`, `=`, `&`): no escaping.
        let _ = writeln!(s, "  \"{p}\",");
    }
    s.push_str(
        "}\nlocal n = #paths\nlocal threads = 0\n\
         function setup(thread)\n  thread:set(\"tid\", threads)\n  threads = threads + 1\nend\n\
         function init(args)\n  math.randomseed(os.time() * 1000 + 7919 * (tid or 0))\n  \
         for _ = 1, 10 do math.random() end\nend\n\
         function request()\n  return wrk.format(\"GET\", paths[math.random(n)])\nend\n",
    );
    std::fs::write(file, s)?;
    Ok(())
}

/// Search queries like people type: half a word of the vocabulary, half
/// the start of an existing crate name (3-6 characters).
pub fn search_queries(names: &[String], n: usize, seed: u64) -> Vec<String> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            if rng.random_bool(0.5) {
                word(&mut rng).to_string()
            } else {
                let name = &names[rng.random_range(0..names.len())];
                let len = rng.random_range(3..=6).min(name.len());
                name[..len].trim_end_matches(['-', '_']).to_string()
            }
        })
        .collect()
}

/// Search queries by kind, for the per-kind latency runs: `word` (one of
/// the name words, a few thousand matches at 200,000 crates), `common`
/// (words of nearly every description: "library", "and"), `prefix` (the
/// first 3 to 6 characters of a name), `exact` (a whole name), `short` (one
/// or two letters: a name prefix) and `miss` (matches nothing).
pub fn search_kinds(names: &[String], n: usize, seed: u64) -> Vec<(&'static str, Vec<String>)> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut pick = |f: &mut dyn FnMut(&mut SmallRng) -> String| -> Vec<String> {
        (0..n).map(|_| f(&mut rng)).collect()
    };
    let word_q = pick(&mut |rng| word(rng).to_string());
    let common =
        pick(&mut |rng| ["library", "and", "for", "librar"][rng.random_range(0..4)].into());
    let prefix = pick(&mut |rng| {
        let name = &names[rng.random_range(0..names.len())];
        let len = rng.random_range(3..=6).min(name.len());
        name[..len].trim_end_matches(['-', '_']).to_string()
    });
    let exact = pick(&mut |rng| names[rng.random_range(0..names.len())].clone());
    let short = pick(&mut |rng| {
        let name = &names[rng.random_range(0..names.len())];
        name[..rng.random_range(1..=2).min(name.len())].to_string()
    });
    let miss = pick(&mut |rng| format!("qzx{}vw", rng.random_range(0..1_000_000)));
    vec![
        ("word", word_q),
        ("common", common),
        ("prefix", prefix),
        ("exact", exact),
        ("short", short),
        ("miss", miss),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_704_164_645), "2024-01-02T03:04:05Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn versions_are_unique_and_increasing() {
        let mut rng = SmallRng::seed_from_u64(7);
        let v = versions(&mut rng, 2000);
        let parsed: Vec<semver_lite::V> = v.iter().map(|s| semver_lite::parse(s)).collect();
        for w in parsed.windows(2) {
            assert!(w[0] < w[1], "{:?} then {:?}", w[0], w[1]);
        }
    }

    /// Enough of semver ordering for the test (no extra dependency).
    mod semver_lite {
        #[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
        pub struct V(u64, u64, u64, bool, String, u64);
        pub fn parse(s: &str) -> V {
            let s = s.split('+').next().unwrap();
            let (core, pre) = s.split_once('-').unwrap_or((s, ""));
            let n: Vec<u64> = core.split('.').map(|x| x.parse().unwrap()).collect();
            let (tag, k) = pre.split_once('.').unwrap_or(("", "0"));
            V(
                n[0],
                n[1],
                n[2],
                pre.is_empty(),
                tag.into(),
                k.parse().unwrap(),
            )
        }
    }

    #[test]
    fn plans_hit_the_total_and_make_valid_lines() {
        let plan = Plan::new(300, 3000, 1);
        assert_eq!(plan.total_versions, 3000);
        assert_eq!(
            plan.version_counts.iter().map(|&c| c as u64).sum::<u64>(),
            3000
        );
        let blobs = vec![("ab".repeat(32), 100)];
        let batch = plan.batch(0..300, &blobs);
        let mut v2 = 0;
        for c in &batch {
            for v in &c.versions {
                let e = IndexEntry::from_line(&v.index_line).unwrap();
                assert_eq!(e.yanked, v.yanked);
                assert!(e.deps.len() <= 30);
                v2 += usize::from(e.v == Some(2));
            }
        }
        assert!(v2 > 0);
    }
}
