//! The verifier keys `berth verify` trusts: each `--key` is a key's text
//! (`NAME+HASH+BASE64`) or a file of them, one a line (blank lines and
//! `#` comments ignored). Any listed key may sign a checkpoint (how keys
//! rotate). Keys come from the user, never from the server being checked.

use std::path::Path;

use anyhow::{bail, Context, Result};
use berth_log::VerifierKey;

/// Largest key file read.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// The keys of every `--key`, each once.
pub fn load(args: &[String]) -> Result<Vec<VerifierKey>> {
    let mut keys: Vec<VerifierKey> = Vec::new();
    for arg in args {
        for key in one(arg)? {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    if keys.is_empty() {
        bail!("no verifier key given (--key NAME+HASH+BASE64, or a file of them)");
    }
    Ok(keys)
}

fn one(arg: &str) -> Result<Vec<VerifierKey>> {
    let text_error = match VerifierKey::parse(arg.trim()) {
        Ok(key) => return Ok(vec![key]),
        Err(e) => e,
    };
    let path = Path::new(arg);
    if !path.is_file() {
        bail!(
            "--key `{arg}` is neither a verifier key ({text_error}) nor a file of them \
             (a key looks like NAME+HASH+BASE64, as GET /r/REGISTRY/log/key answers)"
        );
    }
    let text = read_bounded(path)?;
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = VerifierKey::parse(line)
            .with_context(|| format!("{}:{}: not a verifier key", path.display(), n + 1))?;
        keys.push(key);
    }
    if keys.is_empty() {
        bail!("{} holds no verifier key", path.display());
    }
    Ok(keys)
}

fn read_bounded(path: &Path) -> Result<String> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_KEY_FILE + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {} as text", path.display()))?;
    if text.len() as u64 > MAX_KEY_FILE {
        bail!(
            "{} is larger than {MAX_KEY_FILE} bytes: not a key file",
            path.display()
        );
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_log::SignerKey;

    #[test]
    fn keys_come_as_text_or_files_of_lines() {
        let a = SignerKey::generate("h/r/main", [1; 32]).unwrap().verifier();
        let b = SignerKey::generate("h/r/main", [2; 32]).unwrap().verifier();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        std::fs::write(&file, format!("# current and retired\n{b}\n\n{a}\n")).unwrap();
        let keys = load(&[a.to_string(), file.display().to_string()]).unwrap();
        assert_eq!(keys, vec![a.clone(), b]);

        std::fs::write(&file, format!("{a}\nnot-a-key\n")).unwrap();
        let e = format!("{:#}", load(&[file.display().to_string()]).unwrap_err());
        assert!(e.contains(":2: not a verifier key"), "{e}");
        let e = load(&["nokey".into()]).unwrap_err().to_string();
        assert!(e.contains("neither a verifier key"), "{e}");
        assert!(load(&[]).is_err());
    }
}
