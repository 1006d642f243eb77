//! What the commands share in how they print: counts with the noun that
//! fits, the one look of a long command's progress (on stderr, hidden when
//! that is not a terminal), and raw bytes on standard output.

use anyhow::{Context, Result};

/// `n` and the noun that fits it.
pub fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The one look of every long command's progress (`mirror fill`,
/// `export`, `import`, `backup`, `restore`, `fsck`): on stderr, hidden when
/// that is not a terminal.
fn progress_style() -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta})")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// A progress bar over `n` items.
pub fn progress_bar(n: usize, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(n as u64).with_style(progress_style());
    bar.set_message(what.to_string());
    bar
}

/// A progress bar whose phase, length and position the caller sets.
pub fn phase_bar() -> indicatif::ProgressBar {
    indicatif::ProgressBar::new(0).with_style(progress_style())
}

/// Progress of a backup or restore phase on `bar`. Length and position
/// change together (a frame drawn between them showed the last phase's
/// position over this one's length: "3/1"), and never past each other.
pub fn show_phase(bar: &indicatif::ProgressBar) -> impl Fn(&str, u64, u64) + '_ {
    move |phase, done, total| {
        bar.update(|state| {
            state.set_len(total.max(done));
            state.set_pos(done);
        });
        if bar.message() != phase {
            bar.set_message(phase.to_string());
        }
    }
}

/// Writes `bytes` to standard output; a reader that stopped early (`| head`)
/// is not an error.
pub fn print_bytes(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("writing to standard output")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A terminal that keeps every line drawn on it.
    #[derive(Debug, Default, Clone)]
    struct Frames(Arc<Mutex<Vec<String>>>);

    impl indicatif::TermLike for Frames {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            if !s.trim().is_empty() {
                if let Ok(mut frames) = self.0.lock() {
                    frames.push(s.to_string());
                }
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn no_backup_progress_frame_counts_past_its_length() {
        let frames = Frames::default();
        let bar = phase_bar();
        bar.set_draw_target(indicatif::ProgressDrawTarget::term_like(Box::new(
            frames.clone(),
        )));
        // What a backup reports: each table's rows as they are read (no
        // total known), then the blobs.
        let show = show_phase(&bar);
        for (phase, done, total) in [
            ("teams", 3, 3),
            ("users", 1, 1),
            ("versions", 7, 7),
            ("crates", 5, 5),
            ("blobs", 1, 4),
        ] {
            show(phase, done, total);
        }
        let frames = frames.0.lock().unwrap().clone();
        assert!(frames.len() >= 5, "{frames:?}");
        for frame in &frames {
            let counts = frame
                .split_whitespace()
                .find_map(|w| w.split_once('/'))
                .and_then(|(p, l)| Some((p.parse::<u64>().ok()?, l.parse::<u64>().ok()?)));
            let (pos, len) = counts.unwrap_or_else(|| panic!("no count in {frame:?}"));
            assert!(pos <= len, "a frame shows {pos}/{len}: {frame:?}");
        }
    }

    #[test]
    fn counts_take_the_noun_that_fits() {
        assert_eq!(plural(1u64, "row", "rows"), "1 row");
        assert_eq!(plural(0u64, "row", "rows"), "0 rows");
        assert_eq!(plural(2u64, "row", "rows"), "2 rows");
    }
}
