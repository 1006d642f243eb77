//! What `berth verify` found, as data (`--json` prints it whole) and as
//! the lines it prints otherwise: one per package, one per log, a summary.

use serde::Serialize;

/// The whole run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    /// The index checked against (`sparse+URL`).
    pub index: String,
    /// Whether every package checked is in its log and every log is
    /// consistent with what this client saw before.
    pub ok: bool,
    pub packages: Vec<PackageReport>,
    /// One per log the lookups named.
    pub checkpoints: Vec<LogReport>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Fail,
    Skip,
}

/// One package.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PackageReport {
    pub name: String,
    pub version: String,
    pub status: Status,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
    /// The lockfile's source, or the `.crate` file's path.
    pub source: Option<String>,
    pub sha256: Option<String>,
    /// The origin of the log that holds it, its leaf index there and the
    /// size of the tree it was proved in.
    pub log: Option<String>,
    pub log_index: Option<u64>,
    pub tree_size: Option<u64>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogStatus {
    /// Every checkpoint seen, and the stored one, are one log.
    Ok,
    /// Two checkpoints one log cannot have signed: it was rewritten.
    Fork,
    /// The log is smaller than a checkpoint it signed before.
    Shrink,
    /// A proof could not be had, or the stored state could not be read.
    Error,
}

impl LogStatus {
    /// A fork or a shrink: the log misbehaved (not merely unreachable).
    pub fn is_alarm(self) -> bool {
        matches!(self, LogStatus::Fork | LogStatus::Shrink)
    }
}

/// A checkpoint's size and root (base64).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckpointView {
    pub size: u64,
    pub root: String,
}

impl From<&berth_log::Checkpoint> for CheckpointView {
    fn from(c: &berth_log::Checkpoint) -> CheckpointView {
        CheckpointView {
            size: c.size,
            root: c.root.to_base64(),
        }
    }
}

/// One log.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LogReport {
    pub origin: String,
    pub status: LogStatus,
    /// The largest checkpoint the lookups returned.
    pub latest: CheckpointView,
    /// The checkpoint this client had stored before the run.
    pub previous: Option<CheckpointView>,
    /// The consistency proofs checked, `[from, to]`.
    pub proved: Vec<[u64; 2]>,
    /// Where this client keeps the log's checkpoint.
    pub state_file: String,
    /// Whether this run stored a newer checkpoint there.
    pub stored: bool,
    /// A fork's two checkpoints, kept as evidence.
    pub evidence: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub ok: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Logs that are not consistent (fork, shrink) or not proved so.
    pub logs_failed: usize,
}

impl Report {
    /// The lines printed without `--json`.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.packages {
            let detail = match p.status {
                Status::Ok => format!("log #{}", p.log_index.unwrap_or_default()),
                _ => p.reason.clone().unwrap_or_default(),
            };
            let word = match p.status {
                Status::Ok => "ok",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            out.push(format!("{word:<4} {} {}  {detail}", p.name, p.version));
        }
        for log in &self.checkpoints {
            out.push(log.line());
        }
        let s = &self.summary;
        let mut summary = format!(
            "{} verified, {} failed, {} skipped",
            s.ok, s.failed, s.skipped
        );
        if s.logs_failed > 0 {
            summary.push_str(&format!("; {} NOT consistent", plural_logs(s.logs_failed)));
        } else if !self.checkpoints.is_empty() {
            summary.push_str(&format!(
                "; {} consistent",
                plural_logs(self.checkpoints.len())
            ));
        }
        out.push(summary);
        out
    }
}

fn plural_logs(n: usize) -> String {
    crate::output::plural(n as u64, "log", "logs")
}

impl LogReport {
    fn line(&self) -> String {
        let reason = self.reason.as_deref().unwrap_or_default();
        match self.status {
            // The reason starts with the word in capitals and names the log.
            LogStatus::Fork | LogStatus::Shrink => return reason.to_string(),
            LogStatus::Error => return format!("FAIL {}  {reason}", self.origin),
            LogStatus::Ok => {}
        }
        let against = match &self.previous {
            None => "first seen by this client".to_string(),
            Some(p) if p.size == self.latest.size => {
                "the same as the stored checkpoint".to_string()
            }
            Some(p) if p.size > self.latest.size => {
                format!("a prefix of the stored checkpoint of size {}", p.size)
            }
            Some(p) => format!("grown from the stored checkpoint of size {}", p.size),
        };
        let stored = if self.stored {
            format!("; stored in {}", self.state_file)
        } else {
            String::new()
        };
        format!(
            "log  {}  tree size {}, {against}{stored}",
            self.origin, self.latest.size
        )
    }
}
