//! The skills extension (`io.modelcontextprotocol/skills`, SEP-2640), host side: list a server's skills, and
//! read a skill's files only when the skill is used, each checked against the listing (a listed file,
//! its size and its digest; SKILL.md's frontmatter) before anything of it is returned.

use mcp_protocol::types::skill_verify::{digest, frontmatter};
use mcp_protocol::types::{
    methods, GetSkillResult, ListSkillsResult, ResourceContents, SkillEntry, SkillResources,
    SKILLS_EXTENSION,
};
use serde_json::{json, Value};

use super::handle::Client;
use super::inner::{parse, ReqCtx};
use crate::error::Error;

/// At most this many pages of `skills/list` are followed (a server that never ends its listing is refused).
const MAX_PAGES: usize = 100;

impl Client {
    /// Whether the server declares the skills extension.
    pub fn server_offers_skills(&self) -> bool {
        self.server_capabilities()
            .extensions
            .is_some_and(|e| e.contains_key(SKILLS_EXTENSION))
    }

    /// Every skill the server lists (`skills/list`, following `nextCursor`). Nothing of any skill is fetched.
    ///
    /// # Errors
    ///
    /// The server's error, or an error when the listing repeats a cursor or never ends.
    pub async fn list_skills(&self) -> Result<Vec<SkillEntry>, Error> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let params = match &cursor {
                Some(c) => json!({ "cursor": c }),
                None => json!({}),
            };
            let v = self
                .inner
                .request(methods::SKILLS_LIST, Some(params), &ReqCtx::default())
                .await?;
            let page: ListSkillsResult = parse(v)?;
            out.extend(page.skills);
            match page.next_cursor.filter(|c| !c.is_empty()) {
                Some(c) if seen.insert(c.clone()) => cursor = Some(c),
                Some(c) => {
                    return Err(Error::invalid_result(format!(
                        "skills/list repeated the cursor {c:?}"
                    )))
                }
                None => return Ok(out),
            }
        }
        Err(Error::invalid_result(format!(
            "skills/list did not end within {MAX_PAGES} pages"
        )))
    }

    /// One skill (`skills/get`), by the URI of its SKILL.md.
    pub async fn get_skill(&self, uri: &str) -> Result<SkillEntry, Error> {
        let v = self
            .inner
            .request(
                methods::SKILLS_GET,
                Some(json!({ "uri": uri })),
                &ReqCtx::default(),
            )
            .await?;
        let r: GetSkillResult = parse(v)?;
        Ok(r.skill)
    }

    /// Read one file of `skill`, verified before it is returned: it must be one of the skill's listed files
    /// (or under its root, for a `"dynamic"` skill), its size and digest must match the listing, and for
    /// SKILL.md its frontmatter must equal the listing's. Content that fails a check is never returned.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_client::Client) -> Result<(), mcp_client::Error> {
    /// for skill in client.list_skills().await? {
    ///     // Only when the model picks the skill:
    ///     let body = client.read_skill_file(&skill, &skill.uri).await?;
    ///     println!("{}", String::from_utf8_lossy(&body));
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// An error of kind [`InvalidResult`](crate::ErrorKind::InvalidResult) naming the failed check, or the
    /// server's error for the read.
    pub async fn read_skill_file(&self, skill: &SkillEntry, uri: &str) -> Result<Vec<u8>, Error> {
        let refuse = |why: String| Error::invalid_result(format!("skill file {uri}: {why}"));
        let listed = match &skill.resources {
            SkillResources::Files(_) => Some(
                skill
                    .file(uri)
                    .ok_or_else(|| refuse("not listed for this skill".into()))?,
            ),
            SkillResources::Dynamic(_) => {
                if !uri.starts_with(&format!("{}/", skill.root())) {
                    return Err(refuse("outside the skill's folder".into()));
                }
                None
            }
        };
        let read = self.read_resource(uri).await?;
        let bytes = match read.contents.into_iter().next() {
            Some(ResourceContents::Text { text, .. }) => text.into_bytes(),
            Some(ResourceContents::Blob { blob, .. }) => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(blob.as_bytes())
                    .map_err(|e| refuse(format!("invalid base64: {e}")))?
            }
            None => return Err(refuse("the read returned no contents".into())),
        };
        if let Some(f) = listed {
            if bytes.len() as u64 != f.size {
                return Err(refuse(format!(
                    "{} bytes, the listing says {}",
                    bytes.len(),
                    f.size
                )));
            }
            if digest(&bytes) != f.digest {
                return Err(refuse("its digest does not match the listing".into()));
            }
        }
        if uri == skill.uri {
            let text = std::str::from_utf8(&bytes).map_err(|_| refuse("not UTF-8".into()))?;
            let fm = frontmatter(text).map_err(refuse)?;
            if Value::Object(fm) != Value::Object(skill.frontmatter.clone()) {
                return Err(refuse("its frontmatter differs from the listing's".into()));
            }
        }
        Ok(bytes)
    }
}
