//! Where dependencies come from: [`DependencySource`] (the cargo
//! configuration that points `crates-io` and the named registries at Berth)
//! and the manifest check that keeps the fetch phase on those sources: no
//! `path` or `git` dependency, no `[patch]`/`[replace]`, no other registry.
//! A normalized (published) manifest passes; a hand-made one that would send
//! cargo elsewhere on the host or the network is refused before cargo runs.

use std::collections::BTreeSet;

use toml::Value;

/// The cargo configuration (TOML text) the fetch phase runs with: source
/// replacement of `crates-io`, `[registries]` with their index URLs, and
/// the tokens they need. It is written to a private `CARGO_HOME` outside the
/// sandbox only; the sandbox never sees it.
#[derive(Clone, Default)]
pub struct DependencySource {
    /// The configuration text, as cargo reads `$CARGO_HOME/config.toml`.
    pub cargo_config: String,
}

impl std::fmt::Debug for DependencySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Holds tokens: never printed.
        f.write_str("DependencySource { .. }")
    }
}

impl DependencySource {
    /// The registry names and index URLs the configuration declares.
    fn known(&self) -> Result<(BTreeSet<String>, BTreeSet<String>), String> {
        let table: toml::Table = self.cargo_config.parse().map_err(|e: toml::de::Error| {
            format!(
                "the dependency source's cargo configuration is not valid TOML: {}",
                e.message()
            )
        })?;
        let mut names = BTreeSet::new();
        // A dependency of the default registry names no index in a
        // published manifest; one that names an index must name one the
        // configuration declares.
        let mut urls: BTreeSet<String> = BTreeSet::new();
        if let Some(registries) = table.get("registries").and_then(Value::as_table) {
            for (name, registry) in registries {
                names.insert(name.clone());
                if let Some(index) = registry.get("index").and_then(Value::as_str) {
                    urls.insert(index.to_owned());
                }
            }
        }
        if let Some(sources) = table.get("source").and_then(Value::as_table) {
            for source in sources.values() {
                if let Some(index) = source.get("registry").and_then(Value::as_str) {
                    urls.insert(index.to_owned());
                }
            }
        }
        Ok((names, urls))
    }
}

/// Why a manifest may not be fetched for.
pub(crate) enum ManifestRefusal {
    /// The dependency source's own configuration is broken (the operator's).
    Config(String),
    /// The crate's manifest (the publisher's).
    Crate(String),
}

/// Checks that every dependency of `manifest` resolves through `source`.
pub(crate) fn check_manifest(
    manifest: &str,
    source: &DependencySource,
) -> Result<(), ManifestRefusal> {
    let (names, urls) = source.known().map_err(ManifestRefusal::Config)?;
    let refuse = |m: String| Err(ManifestRefusal::Crate(m));
    let table: toml::Table = match manifest.parse() {
        Ok(t) => t,
        Err(e) => return refuse(format!("its Cargo.toml is not valid TOML: {}", e.message())),
    };
    for key in ["patch", "replace", "workspace"] {
        if table.contains_key(key) {
            return refuse(format!(
                "its Cargo.toml has a `[{key}]` table, which a published manifest never has"
            ));
        }
    }
    if table
        .get("package")
        .and_then(|p| p.get("workspace"))
        .is_some()
    {
        return refuse("its Cargo.toml names a workspace (`package.workspace`)".to_owned());
    }
    let mut tables: Vec<&toml::Table> = Vec::new();
    dependency_tables(&table, &mut tables);
    if let Some(targets) = table.get("target").and_then(Value::as_table) {
        for target in targets.values().filter_map(Value::as_table) {
            dependency_tables(target, &mut tables);
        }
    }
    for deps in tables {
        for (dep, spec) in deps {
            let Some(spec) = spec.as_table() else {
                continue;
            };
            let shown = dep.escape_default();
            for key in ["path", "git"] {
                if spec.contains_key(key) {
                    return refuse(format!("dependency `{shown}` is a `{key}` dependency, which a published crate cannot have"));
                }
            }
            if let Some(index) = spec.get("registry-index") {
                if !index.as_str().is_some_and(|i| urls.contains(i)) {
                    return refuse(format!("dependency `{shown}` comes from a registry index this Berth does not serve ({index})"));
                }
            }
            if let Some(name) = spec.get("registry") {
                if !name.as_str().is_some_and(|n| names.contains(n)) {
                    return refuse(format!("dependency `{shown}` comes from registry {name}, which the dependency source does not name"));
                }
            }
        }
    }
    Ok(())
}

/// The most dependencies documented beside a crate.
pub(crate) const MAX_LINKED_DEPS: usize = 16;

/// The packages to document beside the crate, as `cargo doc -p` takes
/// them (`NAME@VERSION` of the lock file): its direct normal dependencies
/// from this server's own registries (a published manifest names their
/// index), so that its pages link to theirs within the set. Public crates
/// (the default registry) are not: their docs are elsewhere, and linking
/// there needs rustdoc's unstable `--extern-html-root-url`. An optional
/// dependency counts only when every feature is built; a name the lock
/// file holds twice is left out (which one the crate uses is not said).
pub(crate) fn own_registry_deps(manifest: &str, lock: &str, all_features: bool) -> Vec<String> {
    let (Ok(manifest), Ok(lock)) = (manifest.parse::<toml::Table>(), lock.parse::<toml::Table>())
    else {
        return Vec::new();
    };
    let mut tables: Vec<&toml::Table> = manifest
        .get("dependencies")
        .and_then(Value::as_table)
        .into_iter()
        .collect();
    if let Some(targets) = manifest.get("target").and_then(Value::as_table) {
        tables.extend(
            targets
                .values()
                .filter_map(|t| t.get("dependencies").and_then(Value::as_table)),
        );
    }
    let locked: Vec<(&str, &str)> = lock
        .get("package")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p.get("name")?.as_str()?, p.get("version")?.as_str()?)))
        .collect();
    let mut out = BTreeSet::new();
    for (key, spec) in tables.into_iter().flatten() {
        let Some(spec) = spec.as_table() else {
            continue;
        };
        let own = spec.contains_key("registry-index") || spec.contains_key("registry");
        let optional = spec.get("optional").and_then(Value::as_bool) == Some(true);
        if !own || (optional && !all_features) {
            continue;
        }
        let name = spec.get("package").and_then(Value::as_str).unwrap_or(key);
        let mut versions = locked.iter().filter(|(n, _)| *n == name);
        if let (Some((n, v)), None) = (versions.next(), versions.next()) {
            out.insert(format!("{n}@{v}"));
        }
    }
    out.into_iter().take(MAX_LINKED_DEPS).collect()
}

/// The dependency tables of a manifest or of one `[target.X]`.
fn dependency_tables<'a>(from: &'a toml::Table, into: &mut Vec<&'a toml::Table>) {
    let kinds = [
        "dependencies",
        "dev-dependencies",
        "dev_dependencies",
        "build-dependencies",
        "build_dependencies",
    ];
    into.extend(
        kinds
            .iter()
            .filter_map(|k| from.get(*k).and_then(Value::as_table)),
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn own_registries_direct_dependencies_are_documented_beside_the_crate() {
        let manifest = "[package]\nname = \"app\"\nversion = \"1.0.0\"\n\
            [dependencies]\nbase = { version = \"1\", registry-index = \"sparse+http://b/r/main/index/\" }\n\
            serde = \"1\"\n\
            renamed = { version = \"2\", package = \"real-name\", registry-index = \"x\" }\n\
            maybe = { version = \"1\", optional = true, registry-index = \"x\" }\n\
            twice = { version = \"1\", registry-index = \"x\" }\n\
            [target.'cfg(unix)'.dependencies]\nunixy = { version = \"1\", registry-index = \"x\" }\n\
            [dev-dependencies]\ntesty = { version = \"1\", registry-index = \"x\" }\n";
        let lock = [
            "app 1.0.0",
            "base 1.2.0",
            "serde 1.0.0",
            "real-name 2.0.1",
            "maybe 1.0.0",
            "twice 1.0.0",
            "twice 0.9.0",
            "unixy 1.1.0",
            "testy 1.0.0",
        ]
        .iter()
        .map(|p| {
            let (n, v) = p.split_once(' ').unwrap();
            format!("[[package]]\nname = \"{n}\"\nversion = \"{v}\"\n")
        })
        .collect::<String>();
        assert_eq!(
            own_registry_deps(manifest, &lock, true),
            [
                "base@1.2.0",
                "maybe@1.0.0",
                "real-name@2.0.1",
                "unixy@1.1.0"
            ]
        );
        assert_eq!(
            own_registry_deps(manifest, &lock, false),
            ["base@1.2.0", "real-name@2.0.1", "unixy@1.1.0"]
        );
        assert!(own_registry_deps("not toml [", &lock, true).is_empty());
    }

    fn check(manifest_tail: &str, config: &str) -> Result<(), String> {
        let manifest = format!("[package]\nname = \"a\"\nversion = \"1.0.0\"\n{manifest_tail}");
        let source = DependencySource {
            cargo_config: config.to_owned(),
        };
        check_manifest(&manifest, &source).map_err(|r| match r {
            ManifestRefusal::Config(m) => format!("config: {m}"),
            ManifestRefusal::Crate(m) => m,
        })
    }

    const BERTH: &str =
        "[registries.private]\nindex = \"sparse+http://127.0.0.1:8080/r/private/index/\"\n";

    #[test]
    fn registry_dependencies_pass() {
        let deps = "[dependencies]\nserde = \"1\"\nx = { version = \"1\", registry-index = \"sparse+http://127.0.0.1:8080/r/private/index/\" }\n\
                    [target.'cfg(unix)'.build-dependencies]\ncc = { version = \"1\", registry = \"private\" }\n";
        assert_eq!(check(deps, BERTH), Ok(()));
    }

    #[test]
    fn path_git_and_foreign_registries_are_refused() {
        let e = check("[dependencies]\nx = { path = \"/srv/berth\" }\n", BERTH).unwrap_err();
        assert!(e.contains("`x` is a `path` dependency"), "{e}");
        let e = check(
            "[target.x.dev-dependencies]\ny = { git = \"https://example.com/y\" }\n",
            BERTH,
        )
        .unwrap_err();
        assert!(e.contains("`y` is a `git` dependency"), "{e}");
        let e = check("[dependencies]\nz = { version = \"1\", registry-index = \"https://evil.example/index\" }\n", BERTH).unwrap_err();
        assert!(e.contains("does not serve"), "{e}");
        let e = check(
            "[dependencies]\nz = { version = \"1\", registry = \"other\" }\n",
            BERTH,
        )
        .unwrap_err();
        assert!(e.contains("does not name"), "{e}");
        let e = check("[patch.crates-io]\nserde = { path = \"/x\" }\n", BERTH).unwrap_err();
        assert!(e.contains("`[patch]`"), "{e}");
    }

    #[test]
    fn a_broken_config_is_the_operators_fault() {
        assert!(check("", "[registries")
            .unwrap_err()
            .starts_with("config: "));
    }
}
