//! The skills extension (`io.modelcontextprotocol/skills`, SEP-2640): a server lists Agent Skills
//! (`skills/list`, `skills/get`) whose files are resources under `skill://<skill-path>/`; a host fetches a
//! skill's files only when it uses the skill, and checks each file's size and digest, and SKILL.md's
//! frontmatter, against the listing before using it.

use serde::{Deserialize, Serialize};

use crate::JsonObject;

/// The extension's identifier, the key under `capabilities.extensions`.
pub const SKILLS_EXTENSION: &str = "io.modelcontextprotocol/skills";

/// One file of a skill, as listed: where it is, its digest and its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillFile {
    /// The file's resource URI.
    pub uri: String,
    /// `sha256:` and the lowercase hex SHA-256 of the file's bytes.
    pub digest: String,
    /// The file's size in bytes.
    pub size: u64,
}

/// A skill's files: every one listed, or `"dynamic"` (they change; no digests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SkillResources {
    /// Every file of the skill, SKILL.md included.
    Files(Vec<SkillFile>),
    /// The literal `"dynamic"`.
    Dynamic(DynamicTag),
}

/// The string `"dynamic"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DynamicTag {
    /// `"dynamic"`.
    #[serde(rename = "dynamic")]
    Dynamic,
}

/// A skill as `skills/list` and `skills/get` describe it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkillEntry {
    /// The URI of its SKILL.md (`skill://<skill-path>/SKILL.md`).
    pub uri: String,
    /// SKILL.md's YAML frontmatter, as JSON (`name` and `description` at least).
    pub frontmatter: JsonObject,
    /// Its files.
    pub resources: SkillResources,
}

impl SkillEntry {
    /// The skill's root (its SKILL.md URI without `/SKILL.md`).
    pub fn root(&self) -> &str {
        self.uri.strip_suffix("/SKILL.md").unwrap_or(&self.uri)
    }

    /// The listed file at `uri`, if it is one of this skill's.
    pub fn file(&self, uri: &str) -> Option<&SkillFile> {
        match &self.resources {
            SkillResources::Files(files) => files.iter().find(|f| f.uri == uri),
            SkillResources::Dynamic(_) => None,
        }
    }
}

/// The result of `skills/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListSkillsResult {
    /// The skills on this page.
    pub skills: Vec<SkillEntry>,
    /// Where the next page starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The result of `skills/get`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetSkillResult {
    /// The skill.
    pub skill: SkillEntry,
}

/// Checks a host makes on what it fetched (feature `skills`).
#[cfg(feature = "skills")]
pub mod skill_verify {
    use serde_json::Value;
    use sha2::{Digest as _, Sha256};

    use crate::JsonObject;

    /// `sha256:` and the lowercase hex SHA-256 of `bytes`: a listed file's `digest`.
    pub fn digest(bytes: &[u8]) -> String {
        let hash = Sha256::digest(bytes);
        let mut s = String::with_capacity(7 + 64);
        s.push_str("sha256:");
        for b in hash {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// The YAML frontmatter at the start of a SKILL.md (between `---` lines), as JSON.
    ///
    /// # Errors
    ///
    /// When there is no frontmatter block, it is not valid YAML, or it is not a mapping.
    pub fn frontmatter(skill_md: &str) -> Result<JsonObject, String> {
        let text = skill_md.strip_prefix('\u{feff}').unwrap_or(skill_md);
        let rest = text
            .strip_prefix("---\r\n")
            .or_else(|| text.strip_prefix("---\n"))
            .ok_or("SKILL.md does not start with a --- frontmatter block")?;
        let end = rest
            .split_inclusive('\n')
            .scan(0usize, |at, line| {
                let start = *at;
                *at += line.len();
                Some((start, line))
            })
            .find(|(_, line)| line.trim_end() == "---")
            .map(|(start, _)| start)
            .ok_or("the frontmatter block is not closed with ---")?;
        let docs = yaml_rust2::YamlLoader::load_from_str(&rest[..end])
            .map_err(|e| format!("the frontmatter is not valid YAML: {e}"))?;
        match docs.into_iter().next().map(to_json) {
            Some(Value::Object(m)) => Ok(m),
            _ => Err("the frontmatter is not a YAML mapping".into()),
        }
    }

    fn to_json(y: yaml_rust2::Yaml) -> Value {
        use yaml_rust2::Yaml;
        match y {
            Yaml::Real(s) => s
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or(Value::String(s), Value::Number),
            Yaml::Integer(i) => Value::from(i),
            Yaml::String(s) => Value::String(s),
            Yaml::Boolean(b) => Value::Bool(b),
            Yaml::Array(a) => Value::Array(a.into_iter().map(to_json).collect()),
            Yaml::Hash(h) => Value::Object(
                h.into_iter()
                    .map(|(k, v)| {
                        let key = match to_json(k) {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (key, to_json(v))
                    })
                    .collect(),
            ),
            Yaml::Null | Yaml::BadValue | Yaml::Alias(_) => Value::Null,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn digests_and_frontmatter_match_what_hosts_compute() {
            // The conformance suite's verify fixture: 20 bytes of "Supporting content.\n".
            assert_eq!(
                digest(b"Supporting content.\n"),
                "sha256:8548b03927f40d7dc404fa49636c29e6b73df011d0764d69a6fc4f8ae06c6a12"
            );
            let md = "---\nname: pdf-processing\ndescription: Extract, fill, and assemble PDF documents\nversion: 2\n---\n\nSkill body.\n";
            let fm = frontmatter(md).unwrap();
            assert_eq!(fm["name"], "pdf-processing");
            assert_eq!(
                fm["description"],
                "Extract, fill, and assemble PDF documents"
            );
            assert_eq!(fm["version"], 2);
            assert!(frontmatter("no frontmatter").is_err());
            assert!(frontmatter("---\nname: [unclosed\n---\n").is_err());
            assert!(frontmatter("---\nname: x\n").is_err());
        }
    }
}
