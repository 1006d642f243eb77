//! The archive's `Cargo.toml`: `package.name` and `package.version` read
//! from its bytes, refusals worded with the line of a TOML error.

use crate::error::{shown, TarballError};

/// Extracts `package.name` and `package.version` from manifest bytes.
pub(crate) fn parse_manifest(bytes: &[u8]) -> Result<(String, String), TarballError> {
    let text = std::str::from_utf8(bytes).map_err(|_| TarballError::InvalidManifest {
        message: "it is not valid UTF-8".to_owned(),
    })?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e
            .span()
            .and_then(|span| text.get(..span.start))
            .map(|before| before.matches('\n').count() + 1);
        let message = shown(e.message().trim());
        TarballError::InvalidManifest {
            message: match line {
                Some(line) => format!("{message} (line {line})"),
                None => message,
            },
        }
    })?;
    let package = table.get("package").and_then(toml::Value::as_table);
    let field = |field: &'static str| {
        package
            .and_then(|p| p.get(field))
            .and_then(toml::Value::as_str)
            .map(str::to_owned)
            .ok_or(TarballError::ManifestMissingField { field })
    };
    Ok((field("name")?, field("version")?))
}
