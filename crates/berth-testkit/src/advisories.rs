//! Advisory databases written by the tests themselves in the RustSec
//! format (Markdown with TOML front matter under `crates/NAME/ID.md`),
//! never copies of real advisories.

use std::path::Path;

/// One advisory to write.
pub struct AdvisoryFile {
    pub id: String,
    pub package: String,
    /// `patched = [...]` requirements.
    pub patched: Vec<String>,
    /// `informational = "..."` (`unmaintained`, `unsound`, `notice`).
    pub informational: Option<String>,
    /// `withdrawn = "YYYY-MM-DD"`.
    pub withdrawn: Option<String>,
    pub title: String,
}

impl AdvisoryFile {
    /// A vulnerability of `package`, fixed in the versions `patched` matches.
    pub fn vulnerability(id: &str, package: &str, patched: &[&str]) -> Self {
        AdvisoryFile {
            id: id.into(),
            package: package.into(),
            patched: patched.iter().map(|s| s.to_string()).collect(),
            informational: None,
            withdrawn: None,
            title: format!("Memory corruption in {package}"),
        }
    }

    /// Marks it informational of `kind`.
    pub fn informational(mut self, kind: &str) -> Self {
        self.informational = Some(kind.into());
        self
    }

    /// Marks it withdrawn.
    pub fn withdrawn(mut self, day: &str) -> Self {
        self.withdrawn = Some(day.into());
        self
    }

    /// Its path in the database and its text.
    pub fn render(&self) -> (String, String) {
        let mut meta = String::new();
        if let Some(kind) = &self.informational {
            meta.push_str(&format!("informational = \"{kind}\"\n"));
        }
        if let Some(day) = &self.withdrawn {
            meta.push_str(&format!("withdrawn = \"{day}\"\n"));
        }
        let patched: Vec<String> = self.patched.iter().map(|p| format!("\"{p}\"")).collect();
        let text = format!(
            "```toml\n[advisory]\nid = \"{id}\"\npackage = \"{package}\"\ndate = \"2026-03-04\"\n\
             url = \"https://example.invalid/advisories/{id}\"\ncategories = [\"memory-corruption\"]\n\
             {meta}\n[versions]\npatched = [{patched}]\n```\n\n# {title}\n\n\
             What is wrong, in one paragraph.\n",
            id = self.id,
            package = self.package,
            patched = patched.join(", "),
            title = self.title,
        );
        (format!("crates/{}/{}.md", self.package, self.id), text)
    }
}

/// Writes a database of `advisories` under `root` (a checkout's layout).
pub fn write_advisory_db(root: &Path, advisories: &[AdvisoryFile]) {
    for a in advisories {
        let (path, text) = a.render();
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    std::fs::write(root.join("README.md"), "# Test advisory database\n").unwrap();
}
