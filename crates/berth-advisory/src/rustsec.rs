//! The RustSec advisory format: a Markdown file (`crates/NAME/ID.md`) that
//! opens with a ```` ```toml ```` front-matter block holding `[advisory]`,
//! optionally `[affected]`, and `[versions]`; the title is the first `# `
//! heading after the block and the description is the text below it. Older
//! advisories are plain `.toml` files with `title` and `description` inside
//! `[advisory]`. Front matter may also leave out the `[advisory]` header and
//! start with its keys.

use semver::VersionReq;
use serde::Deserialize;

use crate::error::ImportError;
use crate::model::{is_web_link, parse_date, short_description, Advisory, Kind};

/// The front matter, as far as Berth reads it; unknown keys (`license`,
/// `source`, `expect-deleted`, `[affected]`'s functions...) are allowed.
#[derive(Deserialize)]
struct Front {
    advisory: Meta,
    versions: Option<Versions>,
}

#[derive(Deserialize)]
struct Meta {
    id: String,
    package: String,
    date: toml::Value,
    title: Option<String>,
    description: Option<String>,
    url: Option<String>,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    related: Vec<String>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    keywords: Vec<String>,
    cvss: Option<String>,
    informational: Option<String>,
    withdrawn: Option<toml::Value>,
}

#[derive(Deserialize)]
struct Versions {
    patched: Vec<String>,
    #[serde(default)]
    unaffected: Vec<String>,
}

/// Reads a Markdown advisory. `path` names the file in errors; `dir` is the
/// crate folder it was filed under, which must name the same crate.
pub(crate) fn parse_markdown(path: &str, dir: &str, text: &str) -> Result<Advisory, ImportError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(after_fence) = text.strip_prefix("```toml") else {
        return Err(ImportError::malformed(
            path,
            "does not open with a ```toml front-matter block",
        ));
    };
    let Some(end) = after_fence.find("\n```") else {
        return Err(ImportError::malformed(
            path,
            "the ```toml front-matter block is not closed",
        ));
    };
    let front = after_fence[..end].trim();
    // The rest of the closing fence's line, then the Markdown.
    let after = &after_fence[end + 4..];
    let markdown = after.split_once('\n').map_or("", |(_, rest)| rest).trim();

    let front = if front.starts_with("[advisory]") {
        front.to_owned()
    } else {
        format!("[advisory]\n{front}")
    };
    let mut heading = None;
    let mut body = markdown;
    if let Some(rest) = markdown.strip_prefix("# ") {
        let (line, rest) = rest.split_once('\n').unwrap_or((rest, ""));
        heading = Some(line.trim().to_owned());
        body = rest;
    }
    let parsed = parse_front(path, &front)?;
    let title = heading.or(parsed.advisory.title.clone());
    let Some(title) = title.filter(|t| !t.is_empty()) else {
        return Err(ImportError::malformed(
            path,
            "no `# title` heading after the front matter",
        ));
    };
    let description = short_description(body);
    let advisory = build(path, parsed, title, description)?;
    filed_under(path, dir, advisory)
}

/// Reads an advisory written as a whole TOML file (the older format).
pub(crate) fn parse_toml(path: &str, dir: &str, text: &str) -> Result<Advisory, ImportError> {
    let parsed = parse_front(path, text)?;
    let title = parsed
        .advisory
        .title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ImportError::malformed(path, "`[advisory]` has no `title`"))?;
    let description = short_description(parsed.advisory.description.as_deref().unwrap_or(""));
    let advisory = build(path, parsed, title.trim().to_owned(), description)?;
    filed_under(path, dir, advisory)
}

/// The crate folder an advisory is filed under must name its crate.
fn filed_under(path: &str, dir: &str, advisory: Advisory) -> Result<Advisory, ImportError> {
    let canon = berth_protocol::canonical_name;
    if canon(dir) == canon(&advisory.package) {
        return Ok(advisory);
    }
    Err(ImportError::malformed(
        path,
        format!(
            "advisory for crate `{}` is filed under crates/{dir}/",
            advisory.package
        ),
    ))
}

fn parse_front(path: &str, front: &str) -> Result<Front, ImportError> {
    toml::from_str(front).map_err(|e| {
        let message = e.message().trim_end().to_owned();
        ImportError::malformed(path, format!("invalid TOML front matter: {message}"))
    })
}

fn build(
    path: &str,
    front: Front,
    title: String,
    description: String,
) -> Result<Advisory, ImportError> {
    let meta = front.advisory;
    let id = meta.id.trim().to_owned();
    check_id(path, &id)?;
    let package = meta.package.trim().to_owned();
    check_package(path, &package)?;
    let date = date_field(path, "date", &meta.date)?;
    let withdrawn = meta
        .withdrawn
        .as_ref()
        .map(|w| date_field(path, "withdrawn", w))
        .transpose()?;
    if let Some(url) = &meta.url {
        if !is_web_link(url) {
            return Err(ImportError::malformed(
                path,
                format!("`url` is not an http(s) link: {url}"),
            ));
        }
    }
    let Some(versions) = front.versions else {
        return Err(ImportError::malformed(
            path,
            "no `[versions]` table (`patched` is required, even if empty)",
        ));
    };
    let patched = requirements(path, "patched", &versions.patched)?;
    let unaffected = requirements(path, "unaffected", &versions.unaffected)?;
    Ok(Advisory {
        id,
        package,
        title,
        description,
        date,
        url: meta.url,
        references: meta
            .references
            .into_iter()
            .filter(|u| is_web_link(u))
            .collect(),
        aliases: meta.aliases,
        related: meta.related,
        categories: meta.categories,
        keywords: meta.keywords,
        cvss: meta.cvss,
        kind: Kind::from_informational(meta.informational.as_deref()),
        withdrawn,
        patched,
        unaffected,
        osv: None,
    })
}

/// An advisory id: 1 to 100 printable ASCII characters, no spaces or slashes.
pub(crate) fn check_id(path: &str, id: &str) -> Result<(), ImportError> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'\\');
    if ok {
        Ok(())
    } else {
        Err(ImportError::malformed(
            path,
            format!("invalid advisory id `{id}`"),
        ))
    }
}

/// A crate name as the registry can hold one: 1 to 64 ASCII letters,
/// digits, `-` and `_`.
pub(crate) fn check_package(path: &str, name: &str) -> Result<(), ImportError> {
    let ok = !name.is_empty()
        && name.len() <= berth_protocol::names::MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ImportError::malformed(
            path,
            format!("invalid crate name `{name}`"),
        ))
    }
}

fn date_field(path: &str, key: &str, value: &toml::Value) -> Result<time::Date, ImportError> {
    let text = match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        other => other.to_string(),
    };
    parse_date(&text).ok_or_else(|| {
        ImportError::malformed(path, format!("`{key}` is not a YYYY-MM-DD date: {text}"))
    })
}

fn requirements(path: &str, key: &str, reqs: &[String]) -> Result<Vec<VersionReq>, ImportError> {
    reqs.iter()
        .map(|r| {
            VersionReq::parse(r).map_err(|e| {
                ImportError::malformed(path, format!("invalid `{key}` requirement `{r}`: {e}"))
            })
        })
        .collect()
}
