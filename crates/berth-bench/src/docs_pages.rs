//! `--docs-pages`: requests per second of a docs page against a cached
//! download of the same size, on one SQLite server. A crate of
//! `--crate-kib` KiB is published, docs whose page has exactly the
//! `.crate`'s size are uploaded, both are fetched once (the download
//! lands in the memory cache), then wrk drives each in turn for
//! `--seconds`, `--rounds` times, alternating which goes first. Pinned
//! (`--pin SERVER,LOAD`), the server runs alone on its core and wrk on the
//! other. Prints each round, the medians, the ratio and the server's CPU
//! time per request. Asserts nothing.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};

use crate::wrk::Wrk;
use crate::{cpu_seconds, make_crate, publish_body, start_server_under, user_token, Pin};

/// A `.tar.gz` of `doc/bench_docs/index.html` holding `page`.
fn docs_archive(page: &[u8]) -> Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_path("doc/bench_docs/index.html")?;
    header.set_size(page.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    tar.append(&header, page)?;
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    Ok(gz.finish()?)
}

/// An HTML page of exactly `size` bytes.
fn page_of(size: usize) -> Vec<u8> {
    let head = b"<!doctype html><title>bench</title><p>";
    let mut page = head.to_vec();
    while page.len() < size {
        page.extend_from_slice(b"documented words ");
    }
    page.truncate(size.max(head.len()));
    page
}

pub fn ratio(
    berth: &Path,
    pin: Option<Pin>,
    seconds: u64,
    connections: u32,
    rounds: usize,
    kib: usize,
) -> Result<()> {
    let server = start_server_under(
        berth,
        "sqlite",
        Duration::from_secs(30),
        "",
        &Pin::server_under(pin),
    )?;
    let token = user_token(&server, "bench")?;
    let client = reqwest::blocking::Client::new();
    let krate = make_crate("bench-docs", "1.0.0", kib);
    let r = client
        .put(format!("{}/r/main/api/v1/crates/new", server.url))
        .header("Authorization", &token)
        .body(publish_body("bench-docs", "1.0.0", &krate))
        .send()?;
    if !r.status().is_success() {
        bail!("publish: {} {}", r.status(), r.text()?);
    }
    let r = client
        .put(format!(
            "{}/r/main/api/v1/crates/bench-docs/1.0.0/docs",
            server.url
        ))
        .header("Authorization", &token)
        .body(docs_archive(&page_of(krate.len()))?)
        .send()?;
    if !r.status().is_success() {
        bail!("docs upload: {} {}", r.status(), r.text()?);
    }
    let download = format!(
        "{}/r/main/api/v1/crates/bench-docs/1.0.0/download",
        server.url
    );
    let page = format!(
        "{}/r/main/docs/bench-docs/1.0.0/bench_docs/index.html",
        server.url
    );
    for url in [&download, &page] {
        let r = client.get(url).send()?;
        let status = r.status();
        let len = r.bytes()?.len();
        if !status.is_success() || len != krate.len() {
            bail!("{url}: {status}, {len} bytes (want {})", krate.len());
        }
    }
    eprintln!(
        "{} bytes each; {connections} connections, {seconds} s per run{}",
        krate.len(),
        if pin.is_some() { ", pinned" } else { "" }
    );
    let pids = [server.pid()];
    let run = |url: &str| -> Result<(f64, f64)> {
        let before = cpu_seconds(&pids);
        let r = Wrk {
            url,
            threads: if pin.is_some() { 1 } else { 2 },
            connections,
            seconds: seconds as u32,
            headers: vec![],
            script: None,
            under: Pin::load_under(pin),
        }
        .run()?;
        let cpu = cpu_seconds(&pids) - before;
        Ok((r.per_second, cpu * 1e6 / r.requests.max(1) as f64))
    };
    let (mut downloads, mut pages, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut dl_cpu, mut page_cpu) = (Vec::new(), Vec::new());
    for round in 0..rounds.max(1) {
        let (d, p) = if round % 2 == 0 {
            let d = run(&download)?;
            (d, run(&page)?)
        } else {
            let p = run(&page)?;
            (run(&download)?, p)
        };
        eprintln!(
            "[round {}] download {:.0}/s ({:.0} µs CPU each), docs page {:.0}/s ({:.0} µs CPU each): {:.3}x",
            round + 1,
            d.0,
            d.1,
            p.0,
            p.1,
            p.0 / d.0
        );
        downloads.push(d.0);
        pages.push(p.0);
        dl_cpu.push(d.1);
        page_cpu.push(p.1);
        ratios.push(p.0 / d.0);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "docs page {:.0}/s against cached download {:.0}/s: {:.3}x (median of round ratios {:.3}x); server CPU per request {:.0} µs against {:.0} µs",
        median(&mut pages),
        median(&mut downloads),
        median(&mut pages) / median(&mut downloads),
        median(&mut ratios),
        median(&mut page_cpu),
        median(&mut dl_cpu),
    );
    Ok(())
}
