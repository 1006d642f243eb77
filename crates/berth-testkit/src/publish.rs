//! The one publish-body builder: the metadata JSON cargo sends (every field
//! it writes, with values a test may change) and the `.crate` bytes, encoded
//! by `berth_protocol::body` exactly as cargo frames them.

use berth_protocol::body::encode_publish_body;
use serde_json::{json, Value};

use crate::tarball::TarballBuilder;

/// `src/lib.rs` of the default `.crate` of a [`PublishBuilder`].
pub const DEFAULT_LIB: &str = "pub fn hello() -> u32 { 42 }\n";

/// A dependency as cargo writes it in publish metadata: a normal dependency
/// on this registry, default features, no target, not optional, not renamed.
/// Change fields with `dep["kind"] = json!("dev")` and the like.
pub fn dependency(name: &str, version_req: &str) -> Value {
    json!({
        "name": name, "version_req": version_req, "features": [], "optional": false,
        "default_features": true, "target": null, "kind": "normal",
        "registry": null, "explicit_name_in_toml": null
    })
}

/// A publish request under construction:
///
/// ```
/// use berth_testkit::{dependency, PublishBuilder};
/// let body = PublishBuilder::new("foo", "1.0.0")
///     .dependency(dependency("bar", "^1"))
///     .set("license", "Apache-2.0")
///     .body();
/// # assert!(body.len() > 8);
/// ```
#[derive(Clone, Debug)]
pub struct PublishBuilder {
    name: String,
    vers: String,
    metadata: Value,
    /// Metadata bytes sent instead of `metadata` (malformed on purpose).
    raw_metadata: Option<Vec<u8>>,
    tarball: Option<Vec<u8>>,
}

impl PublishBuilder {
    /// `name@vers` with the metadata of [`PublishBuilder::default_metadata`]
    /// and, unless [`PublishBuilder::tarball`] says otherwise, a minimal
    /// valid `.crate` whose `src/lib.rs` is [`DEFAULT_LIB`].
    pub fn new(name: &str, vers: &str) -> Self {
        PublishBuilder {
            name: name.to_string(),
            vers: vers.to_string(),
            metadata: Self::default_metadata(name, vers),
            raw_metadata: None,
            tarball: None,
        }
    }

    /// Every field cargo sends, as cargo sends it for a plain package with
    /// `license = "MIT"` and the description `NAME for tests`.
    pub fn default_metadata(name: &str, vers: &str) -> Value {
        json!({
            "name": name, "vers": vers, "deps": [], "features": {}, "authors": [],
            "description": format!("{name} for tests"), "documentation": null,
            "homepage": null, "readme": null, "readme_file": null, "keywords": [],
            "categories": [], "license": "MIT", "license_file": null, "repository": null,
            "badges": {}, "links": null, "rust_version": null
        })
    }

    /// Sets one metadata field.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.metadata[key] = value.into();
        self
    }

    /// Removes one metadata field.
    pub fn remove(mut self, key: &str) -> Self {
        if let Some(m) = self.metadata.as_object_mut() {
            m.remove(key);
        }
        self
    }

    /// Sets the description.
    pub fn description(self, description: &str) -> Self {
        self.set("description", description)
    }

    /// Adds a dependency (see [`dependency`]).
    pub fn dependency(mut self, dep: Value) -> Self {
        match self.metadata["deps"].as_array_mut() {
            Some(deps) => deps.push(dep),
            None => self.metadata["deps"] = Value::Array(vec![dep]),
        }
        self
    }

    /// Replaces the metadata JSON with these bytes, sent verbatim.
    pub fn raw_metadata(mut self, bytes: &[u8]) -> Self {
        self.raw_metadata = Some(bytes.to_vec());
        self
    }

    /// Sends these `.crate` bytes.
    pub fn tarball(mut self, krate: Vec<u8>) -> Self {
        self.tarball = Some(krate);
        self
    }

    /// Sends a minimal valid `.crate` with this `src/lib.rs`.
    pub fn lib(self, body: &str) -> Self {
        let krate = TarballBuilder::package(&self.name, &self.vers)
            .lib(body)
            .gz();
        self.tarball(krate)
    }

    /// The metadata JSON (as built; raw metadata aside).
    pub fn metadata(&self) -> &Value {
        &self.metadata
    }

    /// The metadata bytes the body carries.
    pub fn metadata_bytes(&self) -> Vec<u8> {
        match &self.raw_metadata {
            Some(raw) => raw.clone(),
            None => self.metadata.to_string().into_bytes(),
        }
    }

    /// The `.crate` bytes the body carries.
    pub fn crate_bytes(&self) -> Vec<u8> {
        match &self.tarball {
            Some(t) => t.clone(),
            None => TarballBuilder::package(&self.name, &self.vers)
                .lib(DEFAULT_LIB)
                .gz(),
        }
    }

    /// The request body of `PUT /api/v1/crates/new`.
    pub fn body(&self) -> Vec<u8> {
        encode_publish_body(&self.metadata_bytes(), &self.crate_bytes())
    }
}
