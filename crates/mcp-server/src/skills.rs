//! The skills extension (`io.modelcontextprotocol/skills`, SEP-2640), server side: serve Agent Skills (a
//! folder with a SKILL.md and the files it refers to) as `skills/list`, `skills/get`, `skill://` resources and
//! `resources/directory/read`.
//!
//! Built on the extension mechanism every extension uses ([`ServerBuilder::extension`] and
//! [`ServerBuilder::method`]): nothing here reaches into the core.
//!
//! ```
//! use mcp_server::{skills::Skills, Server};
//!
//! let skills = Skills::new()
//!     .skill(
//!         "pdf-processing",
//!         [
//!             ("SKILL.md", "---\nname: pdf-processing\ndescription: Fill PDF forms\n---\n\nUse FORMS.md.\n".as_bytes()),
//!             ("references/FORMS.md", b"Field names...\n".as_slice()),
//!         ],
//!     )
//!     .unwrap();
//! let server = Server::builder("docs", "1.0.0").skills(skills).build();
//! # let _ = server;
//! ```
//!
//! [`ServerBuilder::extension`]: crate::ServerBuilder::extension
//! [`ServerBuilder::method`]: crate::ServerBuilder::method

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use mcp_protocol::types::skill_verify::{digest, frontmatter};
use mcp_protocol::types::{
    methods, DynamicTag, ReadResourceResult, Resource, ResourceContents, ResourceTemplate,
    SkillEntry, SkillFile, SkillResources, SKILLS_EXTENSION,
};
use mcp_protocol::ErrorObject;
use serde_json::{json, Value};

use crate::core::page;
use crate::{Error, RequestContext, ServerBuilder, TemplateHandler};

/// At most this many files per skill, SKILL.md included (the extension's limit).
pub const MAX_FILES: usize = 512;
/// At most this many bytes per skill (the extension's limit).
pub const MAX_BYTES: u64 = 16 * 1024 * 1024;

/// Why a skill cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SkillError {
    /// Reading the folder failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
    /// The skill breaks a rule of the extension (no SKILL.md, bad frontmatter, a name that does not match
    /// its folder, too many files, ...).
    #[error("skill {skill:?}: {problem}")]
    Invalid {
        /// The skill path.
        skill: String,
        /// What is wrong.
        problem: String,
    },
}

struct SkillFileData {
    uri: String,
    bytes: Vec<u8>,
    mime: &'static str,
}

struct LoadedSkill {
    entry: SkillEntry,
    files: Vec<SkillFileData>,
    /// Reads the files of a `"dynamic"` skill (all but SKILL.md).
    dynamic: Option<Arc<dyn TemplateHandler>>,
}

/// A set of skills to serve. Build it from memory ([`Skills::skill`]) or a folder ([`Skills::from_dir`]),
/// then hand it to [`ServerBuilder::skills`](crate::ServerBuilder::skills).
#[derive(Default)]
pub struct Skills {
    skills: Vec<LoadedSkill>,
    cache_ttl: Option<Duration>,
    page_size: Option<usize>,
}

impl std::fmt::Debug for Skills {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.skills.iter().map(|s| &s.entry.uri))
            .finish()
    }
}

fn mime_of(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "md" => "text/markdown",
        "txt" => "text/plain",
        "py" => "text/x-python",
        "sh" => "text/x-shellscript",
        "json" => "application/json",
        "yaml" | "yml" => "application/yaml",
        "html" => "text/html",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// The naming rule of Agent Skills: 1-64 lowercase letters, digits and single hyphens, not at either end.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

fn skill_root(skill_path: &str) -> String {
    format!("skill://{}", skill_path.trim_matches('/'))
}

/// SKILL.md's frontmatter, once it meets the rules: UTF-8, `name` equal to the skill folder's name and valid,
/// a non-empty `description`.
fn checked_frontmatter(
    skill_path: &str,
    skill_md: &[u8],
) -> Result<serde_json::Map<String, Value>, SkillError> {
    let invalid = |problem: String| SkillError::Invalid {
        skill: skill_path.to_owned(),
        problem,
    };
    let text =
        std::str::from_utf8(skill_md).map_err(|_| invalid("SKILL.md is not UTF-8".into()))?;
    let fm = frontmatter(text).map_err(invalid)?;
    let name = fm.get("name").and_then(Value::as_str).unwrap_or_default();
    let last = skill_path
        .trim_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    if name != last || !valid_name(name) {
        return Err(invalid(format!(
            "the frontmatter name {name:?} must be the folder's name {last:?}: 1-64 lowercase letters, \
             digits and single hyphens"
        )));
    }
    if fm
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .is_empty()
    {
        return Err(invalid("the frontmatter has no description".into()));
    }
    Ok(fm)
}

impl Skills {
    /// No skills yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long clients may cache `skills/list` and `skills/get` answers (`ttlMs`, default 60 s).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = Some(ttl);
        self
    }

    /// Add the skill at `skill_path` (`pdf-processing`, or `acme/billing/refunds`) with its files, by path
    /// relative to the skill's folder. One must be `SKILL.md`, starting with YAML frontmatter whose `name` is
    /// the last segment of `skill_path` and which has a `description`.
    ///
    /// # Errors
    ///
    /// [`SkillError::Invalid`] naming the broken rule.
    pub fn skill<'a>(
        mut self,
        skill_path: &str,
        files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Self, SkillError> {
        let invalid = |problem: String| SkillError::Invalid {
            skill: skill_path.to_owned(),
            problem,
        };
        let root = skill_root(skill_path);
        let mut loaded: Vec<SkillFileData> = files
            .into_iter()
            .map(|(path, bytes)| SkillFileData {
                uri: format!("{root}/{}", path.trim_start_matches('/')),
                bytes: bytes.to_vec(),
                mime: mime_of(path),
            })
            .collect();
        loaded.sort_by(|a, b| a.uri.cmp(&b.uri));
        let skill_md_uri = format!("{root}/SKILL.md");
        let skill_md = loaded
            .iter()
            .find(|f| f.uri == skill_md_uri)
            .ok_or_else(|| invalid("no SKILL.md".into()))?;
        let fm = checked_frontmatter(skill_path, &skill_md.bytes)?;
        let total: u64 = loaded.iter().map(|f| f.bytes.len() as u64).sum();
        if loaded.len() > MAX_FILES || total > MAX_BYTES {
            return Err(invalid(format!(
                "{} files and {total} bytes exceed the extension's limits ({MAX_FILES} files, {MAX_BYTES} bytes)",
                loaded.len()
            )));
        }
        let listed = loaded
            .iter()
            .map(|f| SkillFile {
                uri: f.uri.clone(),
                digest: digest(&f.bytes),
                size: f.bytes.len() as u64,
            })
            .collect();
        self.skills.push(LoadedSkill {
            entry: SkillEntry {
                uri: skill_md_uri,
                frontmatter: fm,
                resources: SkillResources::Files(listed),
            },
            files: loaded,
            dynamic: None,
        });
        Ok(self)
    }

    /// Add a skill whose files are made when read (generated, or changing too often to list): the listing
    /// says `"resources": "dynamic"` with no digests, SKILL.md is served as given, and every other
    /// `skill://<skill_path>/...` URI is read through `files`, which gets the file's path within the skill
    /// as the template variable `file`.
    ///
    /// ```
    /// use mcp_server::{skills::Skills, Error, RequestContext};
    /// use mcp_protocol::types::{ReadResourceResult, ResourceContents};
    /// use std::collections::HashMap;
    ///
    /// let skills = Skills::new()
    ///     .dynamic_skill(
    ///         "reports",
    ///         "---\nname: reports\ndescription: Today's reports\n---\nRead reports/today.md.\n",
    ///         |_ctx: RequestContext, uri: String, vars: HashMap<String, String>| async move {
    ///             let text = format!("report for {}", vars["file"]);
    ///             Ok::<_, Error>(ReadResourceResult::from(ResourceContents::text(uri, "text/markdown", text)))
    ///         },
    ///     )
    ///     .unwrap();
    /// # let _ = skills;
    /// ```
    ///
    /// # Errors
    ///
    /// [`SkillError::Invalid`] when SKILL.md breaks a rule (as for [`Skills::skill`]).
    pub fn dynamic_skill(
        mut self,
        skill_path: &str,
        skill_md: &str,
        files: impl TemplateHandler,
    ) -> Result<Self, SkillError> {
        let fm = checked_frontmatter(skill_path, skill_md.as_bytes())?;
        let root = skill_root(skill_path);
        let uri = format!("{root}/SKILL.md");
        self.skills.push(LoadedSkill {
            entry: SkillEntry {
                uri: uri.clone(),
                frontmatter: fm,
                resources: SkillResources::Dynamic(DynamicTag::Dynamic),
            },
            files: vec![SkillFileData {
                uri,
                bytes: skill_md.as_bytes().to_vec(),
                mime: "text/markdown",
            }],
            dynamic: Some(Arc::new(files)),
        });
        Ok(self)
    }

    /// At most this many entries per page of `skills/list` and `resources/directory/read` (default 100);
    /// longer answers carry a `nextCursor`.
    ///
    /// # Panics
    ///
    /// When `size` is 0 (no page could ever make progress).
    pub fn page_size(mut self, size: usize) -> Self {
        assert!(size > 0, "a page holds at least one entry");
        self.page_size = Some(size);
        self
    }

    /// Every skill in `dir`: each folder (at any depth) holding a SKILL.md is a skill, its path relative to
    /// `dir` its skill path, and every file under it one of its files.
    ///
    /// # Errors
    ///
    /// [`SkillError::Io`] when a file cannot be read; [`SkillError::Invalid`] for a skill that breaks a rule.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, SkillError> {
        let dir = dir.as_ref();
        let mut found = Vec::new();
        find_skills(dir, dir, &mut found)?;
        let mut skills = Self::new();
        for (skill_path, folder) in found {
            let mut files = Vec::new();
            collect_files(&folder, &folder, &mut files)?;
            let borrowed: Vec<(&str, &[u8])> = files
                .iter()
                .map(|(p, b)| (p.as_str(), b.as_slice()))
                .collect();
            skills = skills.skill(&skill_path, borrowed)?;
        }
        Ok(skills)
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SkillError + '_ {
    move |source| SkillError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn relative(base: &Path, path: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn find_skills(
    base: &Path,
    dir: &Path,
    out: &mut Vec<(String, std::path::PathBuf)>,
) -> Result<(), SkillError> {
    if dir != base && dir.join("SKILL.md").is_file() {
        out.push((relative(base, dir), dir.to_path_buf()));
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    for sub in entries {
        find_skills(base, &sub, out)?;
    }
    Ok(())
}

fn collect_files(
    base: &Path,
    dir: &Path,
    out: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), SkillError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_files(base, &path, out)?;
        } else if path.is_file() {
            let bytes = std::fs::read(&path).map_err(io_err(&path))?;
            out.push((relative(base, &path), bytes));
        }
    }
    Ok(())
}

fn cursor(params: Option<&Value>) -> Option<&str> {
    params.and_then(|p| p.get("cursor")).and_then(Value::as_str)
}

fn with_next(mut v: Value, next: Option<String>) -> Value {
    if let Some(next) = next {
        v["nextCursor"] = json!(next);
    }
    v
}

struct Served {
    skills: Vec<LoadedSkill>,
    ttl_ms: u64,
    page_size: usize,
}

impl Served {
    fn cacheable(&self, mut v: Value) -> Value {
        v["ttlMs"] = json!(self.ttl_ms);
        v["cacheScope"] = json!("public");
        v
    }

    fn list(&self, params: Option<&Value>) -> Result<Value, ErrorObject> {
        let entries = self.skills.iter().map(|s| &s.entry);
        let (skills, next) = page(entries, cursor(params), self.page_size)?;
        Ok(with_next(self.cacheable(json!({ "skills": skills })), next))
    }

    fn get(&self, params: Option<&Value>) -> Result<Value, ErrorObject> {
        let uri = params
            .and_then(|p| p.get("uri"))
            .and_then(Value::as_str)
            .ok_or_else(|| ErrorObject::invalid_params("skills/get needs params.uri"))?;
        let skill = self
            .skills
            .iter()
            .find(|s| s.entry.uri == uri)
            .ok_or_else(|| ErrorObject::invalid_params(format!("No skill is served at {uri}")))?;
        Ok(self.cacheable(json!({ "skill": skill.entry })))
    }

    /// The direct children of a skill folder: files, and subfolders as `inode/directory`.
    fn directory(&self, params: Option<&Value>) -> Result<Value, ErrorObject> {
        let uri = params
            .and_then(|p| p.get("uri"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ErrorObject::invalid_params("resources/directory/read needs params.uri")
            })?;
        let dir = uri.trim_end_matches('/');
        let prefix = format!("{dir}/");
        let mut children: Vec<Value> = Vec::new();
        let mut subdirs = BTreeSet::new();
        for skill in &self.skills {
            for f in &skill.files {
                let Some(rest) = f.uri.strip_prefix(&prefix) else {
                    continue;
                };
                match rest.split_once('/') {
                    Some((sub, _)) => {
                        subdirs.insert(sub.to_owned());
                    }
                    None => children.push(json!({
                        "uri": f.uri, "name": rest, "mimeType": f.mime, "size": f.bytes.len(),
                    })),
                }
            }
        }
        if children.is_empty() && subdirs.is_empty() {
            return Err(ErrorObject::invalid_params(format!(
                "{uri} is not a directory of a served skill"
            )));
        }
        children.extend(subdirs.into_iter().map(|sub| {
            json!({ "uri": format!("{prefix}{sub}"), "name": sub, "mimeType": "inode/directory" })
        }));
        let (children, next) = page(children.into_iter(), cursor(params), self.page_size)?;
        Ok(with_next(json!({ "resources": children }), next))
    }
}

impl ServerBuilder {
    /// Serve `skills` (the skills extension): declares it (with `directoryRead`), answers `skills/list`,
    /// `skills/get` and `resources/directory/read`, and adds every skill file as a resource (SKILL.md named
    /// and described as its frontmatter says). See the [`skills`](crate::skills) module.
    pub fn skills(self, skills: Skills) -> Self {
        let ttl_ms = skills
            .cache_ttl
            .unwrap_or(Duration::from_secs(60))
            .as_millis() as u64;
        let served = Arc::new(Served {
            skills: skills.skills,
            ttl_ms,
            page_size: skills.page_size.unwrap_or(100),
        });
        let mut b = self.extension(SKILLS_EXTENSION, json!({ "directoryRead": true }));
        for (i, skill) in served.skills.iter().enumerate() {
            if let Some(files) = &skill.dynamic {
                let root = skill.entry.uri.trim_end_matches("/SKILL.md");
                let name = skill.entry.frontmatter["name"].as_str().unwrap_or_default();
                let template =
                    ResourceTemplate::new(format!("{root}/{{+file}}"), format!("{name} files"));
                let files = files.clone();
                b = b.resource_template(
                    template,
                    move |ctx: RequestContext, uri: String, vars: HashMap<String, String>| {
                        files.read(ctx, uri, vars)
                    },
                );
            }
            for (j, f) in skill.files.iter().enumerate() {
                let is_skill_md = f.uri == skill.entry.uri;
                let fm = &skill.entry.frontmatter;
                let text = |k: &str| {
                    fm.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let name = if is_skill_md {
                    text("name")
                } else {
                    f.uri.rsplit('/').next().unwrap_or_default().to_owned()
                };
                let mut resource = Resource::new(f.uri.clone(), name)
                    .with_mime_type(f.mime)
                    .with_size(f.bytes.len() as u64);
                if is_skill_md {
                    resource = resource.with_description(text("description"));
                }
                let served = served.clone();
                b = b.resource(resource, move |_ctx: RequestContext, uri: String| {
                    let served = served.clone();
                    async move {
                        let f = &served.skills[i].files[j];
                        let contents = match std::str::from_utf8(&f.bytes) {
                            Ok(text) => ResourceContents::text(uri, f.mime, text),
                            Err(_) => ResourceContents::blob(uri, f.mime, B64.encode(&f.bytes)),
                        };
                        Ok::<_, Error>(ReadResourceResult::from(contents))
                    }
                });
            }
        }
        let list = served.clone();
        let get = served.clone();
        let dir = served;
        b.method(
            methods::SKILLS_LIST,
            move |_ctx: RequestContext, p: Option<Value>| {
                let r = list.list(p.as_ref()).map_err(Error::from);
                async move { r }
            },
        )
        .method(
            methods::SKILLS_GET,
            move |_ctx: RequestContext, p: Option<Value>| {
                let r = get.get(p.as_ref()).map_err(Error::from);
                async move { r }
            },
        )
        .method(
            methods::RESOURCES_DIRECTORY_READ,
            move |_ctx: RequestContext, p: Option<Value>| {
                let r = dir.directory(p.as_ref()).map_err(Error::from);
                async move { r }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_agent_skills_rule() {
        assert!(valid_name("pdf-processing") && valid_name("a") && valid_name("x9"));
        for bad in ["", "-a", "a-", "a--b", "A", "a_b", &"a".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_skill_must_be_named_after_its_folder_and_described() {
        let md = |fm: &str| format!("---\n{fm}\n---\nbody\n");
        let ok = md("name: refunds\ndescription: Refund orders");
        assert!(Skills::new()
            .skill("acme/billing/refunds", [("SKILL.md", ok.as_bytes())])
            .is_ok());
        let wrong = md("name: other\ndescription: x");
        let e = Skills::new()
            .skill("refunds", [("SKILL.md", wrong.as_bytes())])
            .unwrap_err();
        assert!(e.to_string().contains("folder's name"), "{e}");
        let undescribed = md("name: refunds");
        assert!(Skills::new()
            .skill("refunds", [("SKILL.md", undescribed.as_bytes())])
            .is_err());
        assert!(Skills::new()
            .skill("refunds", [("README.md", b"x".as_slice())])
            .is_err());
    }
}
