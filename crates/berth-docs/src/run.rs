//! One bounded process: resource limits set in the child before `exec`
//! (CPU seconds, address space, file size, no core dumps), its own process
//! group so that a kill reaches everything it started (and, for
//! bubblewrap, its PID namespace ended first, so nothing outlives the
//! build's return), a wall-clock
//! deadline, an optional watch on the size of an output directory, and its
//! stdout and stderr interleaved into the build's [`Tail`], of which only
//! the last bytes are kept. Blocking: the caller's thread waits.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{kill_process, kill_process_group, setrlimit, Pid, Resource, Rlimit, Signal};

use crate::Limits;

/// How a process ended.
pub(crate) enum Ended {
    Exited(ExitStatus),
    TimedOut,
    OutputTooLarge(u64),
}

/// The last `cap` bytes of a build's log, shared with the reader threads.
#[derive(Clone)]
pub(crate) struct Tail {
    inner: Arc<Mutex<(Vec<u8>, bool)>>,
    cap: usize,
}

impl Tail {
    pub(crate) fn new(cap: u64) -> Self {
        Tail {
            inner: Arc::new(Mutex::new((Vec::new(), false))),
            cap: usize::try_from(cap).unwrap_or(usize::MAX).max(1),
        }
    }

    pub(crate) fn push(&self, bytes: &[u8]) {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (buf, cut) = &mut *guard;
        buf.extend_from_slice(bytes);
        if buf.len() > self.cap.saturating_mul(2) {
            let drop = buf.len() - self.cap;
            buf.drain(..drop);
            *cut = true;
        }
    }

    pub(crate) fn line(&self, text: &str) {
        self.push(format!("berth-docs: {text}\n").as_bytes());
    }

    pub(crate) fn text(&self) -> String {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (buf, cut) = &*guard;
        let start = buf.len().saturating_sub(self.cap);
        let kept = buf.get(start..).unwrap_or_default();
        let text = String::from_utf8_lossy(kept);
        if *cut || start > 0 {
            format!(
                "[earlier output cut; the last {} bytes follow]\n{text}",
                self.cap
            )
        } else {
            text.into_owned()
        }
    }
}

/// Runs `cmd` to its end, the deadline or the output limit. With
/// `capture_stdout`, stdout is returned (up to 1 MiB) instead of logged.
pub(crate) fn run(
    mut cmd: Command,
    limits: &Limits,
    deadline: Instant,
    watch: Option<&Path>,
    capture_stdout: bool,
    log: &Tail,
) -> io::Result<(Ended, Vec<u8>)> {
    let (reader, writer) = io::pipe()?;
    let stdout_pipe = if capture_stdout {
        Some(io::pipe()?)
    } else {
        None
    };
    match &stdout_pipe {
        Some((_, w)) => cmd.stdout(w.try_clone()?),
        None => cmd.stdout(writer.try_clone()?),
    };
    cmd.stderr(writer).stdin(Stdio::null()).process_group(0);
    let (cpu, memory, file) = (limits.cpu_secs, limits.memory_bytes, limits.output_bytes);
    // SAFETY: the closure runs in the forked child before exec; it makes
    // only setrlimit system calls (async-signal-safe, no allocation).
    unsafe {
        cmd.pre_exec(move || {
            let limit = |n: u64| Rlimit {
                current: Some(n),
                maximum: Some(n),
            };
            // SIGXCPU at the limit (cargo names it), SIGKILL 5 s later
            // for a process that ignores it.
            let cpu_limit = Rlimit {
                current: Some(cpu),
                maximum: Some(cpu.saturating_add(5)),
            };
            setrlimit(Resource::Cpu, cpu_limit)?;
            setrlimit(Resource::As, limit(memory))?;
            setrlimit(Resource::Fsize, limit(file))?;
            setrlimit(Resource::Core, limit(0))?;
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    // Our copies of the pipes' write ends go with the command, so the
    // readers see the end once every process of the group has gone.
    drop(cmd);
    let logger = {
        let log = log.clone();
        thread::spawn(move || copy_to_log(reader, &log))
    };
    let captured = stdout_pipe.map(|(r, w)| {
        drop(w);
        thread::spawn(move || {
            let mut out = Vec::new();
            let _ = r.take(1024 * 1024).read_to_end(&mut out);
            out
        })
    });

    let leader = Pid::from_child(&child);
    let mut last_watch = Instant::now();
    let ended = loop {
        if let Some(status) = child.try_wait()? {
            break Ended::Exited(status);
        }
        if Instant::now() >= deadline {
            kill_all(&mut child, leader)?;
            break Ended::TimedOut;
        }
        if let Some(dir) = watch {
            if last_watch.elapsed() >= Duration::from_secs(1) {
                last_watch = Instant::now();
                let size = dir_size(dir);
                if size > limits.output_bytes {
                    kill_all(&mut child, leader)?;
                    break Ended::OutputTooLarge(size);
                }
            }
        }
        thread::sleep(Duration::from_millis(50));
    };
    // The pipes close once every process holding them is gone: in the
    // sandbox, ending its first process ends its PID namespace.
    let _ = logger.join();
    let stdout = captured.and_then(|t| t.join().ok()).unwrap_or_default();
    Ok((ended, stdout))
}

/// Kills everything the process started, then the process: its children
/// first (for bubblewrap, the PID namespace's first process, whose death
/// ends every process of the namespace before its parent sees it exit),
/// then, once the leader has exited or 5 s have passed, its process group.
fn kill_all(child: &mut Child, leader: Pid) -> io::Result<()> {
    let id = leader.as_raw_nonzero();
    let children =
        std::fs::read_to_string(format!("/proc/{id}/task/{id}/children")).unwrap_or_default();
    for pid in children
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter_map(Pid::from_raw)
    {
        let _ = kill_process(pid, Signal::KILL);
    }
    let waited = Instant::now();
    while child.try_wait()?.is_none() && waited.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(20));
    }
    let _ = kill_process_group(leader, Signal::KILL);
    child.wait()?;
    Ok(())
}

fn copy_to_log(mut from: io::PipeReader, log: &Tail) {
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => log.push(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}

/// Bytes of the regular files under `dir` (links not followed).
pub(crate) fn dir_size(dir: &Path) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total = total.saturating_add(meta.len());
            }
        }
    }
    total
}
