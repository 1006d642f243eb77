//! Replica lag under a steady publish rate: a primary and a replica on
//! fresh stores of one backend pair; publishes sent to the primary at a
//! fixed rate; the replica's own change feed, read by a long poll, tells
//! when each copy is served there. Prints the lag's median, p99 and max
//! (from the primary's answer to the publish to the replica's feed showing
//! it) and the rate achieved.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use berth_testkit::{Backend, Launch, Server, Stores};

use crate::{make_crate, publish_body, start_server, user_token};

/// Runs the measurement: `rate` publishes a second for `seconds` seconds,
/// crates of `kib` KiB; with `log_keys`, the replica checks every copy
/// against the primary's transparency log (`primary_log_keys`).
pub fn measure(
    berth: &Path,
    backend: &str,
    rate: u32,
    seconds: u32,
    kib: usize,
    log_keys: bool,
) -> Result<()> {
    let primary = start_server(berth, backend, Duration::from_secs(30))?;
    let token = user_token(&primary, "bench")?;
    let stores = Stores::try_new(Backend::parse(backend).map_err(|e| anyhow!(e))?)
        .map_err(|e| anyhow!(e))?;
    let launch = Launch {
        bin: Some(berth.to_path_buf()),
        log_filter: "warn".into(),
        ready_timeout: Duration::from_secs(30),
        ..Launch::default()
    };
    let mut toml = format!(
        "[[registries]]\nname = \"nearby\"\nkind = \"replica\"\nprimary = \"{}/r/main/\"\n",
        primary.url
    );
    if log_keys {
        let key = primary.get_as("/r/main/log/key", None);
        if key.status != 200 {
            return Err(anyhow!("the primary's log key: {}", key.text));
        }
        toml.push_str(&format!("primary_log_keys = [\"{}\"]\n", key.text.trim()));
    }
    let replica = Server::launch(stores, &toml, launch)
        .map_err(|log| anyhow!("the replica did not start: {log}"))?;
    let rt = crate::runtime()?;
    let total = (rate * seconds) as usize;
    let bodies: Vec<(String, Vec<u8>)> = (0..total)
        .map(|i| {
            let name = format!("lag{i}");
            let krate = make_crate(&name, "1.0.0", kib);
            let body = publish_body(&name, "1.0.0", &krate);
            (name, body)
        })
        .collect();
    let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let (sent_in, errors) = rt.block_on(async {
        // The watcher: the replica's feed, long-polled.
        let watcher = {
            let client = client.clone();
            let seen = seen.clone();
            let url = replica.url.clone();
            tokio::spawn(async move {
                let mut since = 0i64;
                loop {
                    let r = client
                        .get(format!(
                            "{url}/r/nearby/api/v1/changes?since={since}&limit=1000&wait=5"
                        ))
                        .send()
                        .await;
                    let Ok(r) = r else { continue };
                    let Ok(page) = r.json::<serde_json::Value>().await else {
                        continue;
                    };
                    let now = Instant::now();
                    if let Some(changes) = page["changes"].as_array() {
                        let mut seen = seen.lock().unwrap();
                        for c in changes {
                            if let Some(name) = c["crate"].as_str() {
                                seen.entry(name.to_string()).or_insert(now);
                            }
                            since = since.max(c["seq"].as_i64().unwrap_or(since));
                        }
                    }
                }
            })
        };
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(total);
        for (i, (name, body)) in bodies.into_iter().enumerate() {
            let at = start + Duration::from_secs_f64(i as f64 / rate as f64);
            tokio::time::sleep_until(at.into()).await;
            let client = client.clone();
            let acked = acked.clone();
            let url = format!("{}/r/main/api/v1/crates/new", primary.url);
            let token = token.clone();
            tasks.push(tokio::spawn(async move {
                let r = client
                    .put(url)
                    .header("Authorization", token)
                    .body(body)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        acked.lock().unwrap().insert(name, Instant::now());
                        0
                    }
                    _ => 1,
                }
            }));
        }
        let mut errors = 0;
        for t in tasks {
            errors += t.await.unwrap_or(1);
        }
        let sent_in = start.elapsed();
        // Until every acknowledged publish is seen (at most a minute).
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let done = {
                let acked = acked.lock().unwrap();
                let seen = seen.lock().unwrap();
                acked.keys().all(|k| seen.contains_key(k))
            };
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        watcher.abort();
        (sent_in, errors)
    });
    let acked = acked.lock().unwrap();
    let seen = seen.lock().unwrap();
    let mut lags: Vec<Duration> = acked
        .iter()
        .filter_map(|(name, at)| Some(seen.get(name)?.saturating_duration_since(*at)))
        .collect();
    lags.sort();
    let missing = acked.len() - lags.len();
    let pct = |p: f64| {
        lags.get(((lags.len().max(1) - 1) as f64 * p).round() as usize)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "replica lag ({backend}{}): {} publishes at {:.1}/s asked {rate}/s ({} failed); lag p50 {:.0} ms, \
         p99 {:.0} ms, max {:.0} ms; {missing} not seen within a minute",
        if log_keys { ", copies checked against the log" } else { "" },
        acked.len(),
        acked.len() as f64 / sent_in.as_secs_f64(),
        errors,
        pct(0.5),
        pct(0.99),
        pct(1.0),
    );
    Ok(())
}
