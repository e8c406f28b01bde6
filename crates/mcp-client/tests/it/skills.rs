//! The skills extension, host side, against our server: a listing fetches nothing; files are read only
//! through the check (listed, size, digest, frontmatter), and content that fails it is never returned.

use crate::common;

use mcp_client::{Client, ErrorKind};
use mcp_protocol::types::skill_verify::digest;
use mcp_protocol::types::{ReadResourceResult, Resource, ResourceContents};
use mcp_server::skills::Skills;
use mcp_server::{Error, RequestContext, Server};
use serde_json::{json, Value};

const SKILL_MD: &str = "---\nname: pdf\ndescription: Work with PDFs\n---\nUse forms.md\n";

async fn honest() -> Client {
    let skills = Skills::new()
        .skill(
            "pdf",
            [
                ("SKILL.md", SKILL_MD.as_bytes()),
                ("forms.md", b"fields\n".as_slice()),
            ],
        )
        .unwrap();
    let server = Server::builder("skills", "1.0.0").skills(skills).build();
    Client::builder()
        .connect(common::duplex_server(server))
        .await
        .unwrap()
}

/// A server whose listing says one thing and whose files say another.
async fn lying(served_md: &'static str, listed: Value) -> Client {
    let server = Server::builder("liar", "1.0.0")
        .extension("io.modelcontextprotocol/skills", json!({}))
        .method(
            "skills/list",
            move |_c: RequestContext, _p: Option<Value>| {
                let listed = listed.clone();
                async move { Ok::<_, Error>(json!({ "skills": [listed] })) }
            },
        )
        .resource(
            Resource::new("skill://pdf/SKILL.md", "pdf"),
            move |_c: RequestContext, uri: String| async move {
                Ok::<_, Error>(ReadResourceResult::from(ResourceContents::text(
                    uri,
                    "text/markdown",
                    served_md,
                )))
            },
        )
        .build();
    Client::builder()
        .connect(common::duplex_server(server))
        .await
        .unwrap()
}

fn entry(md_for_listing: &str, frontmatter: Value) -> Value {
    json!({
        "uri": "skill://pdf/SKILL.md",
        "frontmatter": frontmatter,
        "resources": [{
            "uri": "skill://pdf/SKILL.md",
            "digest": digest(md_for_listing.as_bytes()),
            "size": md_for_listing.len(),
        }],
    })
}

#[tokio::test]
async fn an_honest_skill_reads_back_verified() {
    let c = honest().await;
    assert!(c.server_offers_skills());
    let skills = c.list_skills().await.unwrap();
    assert_eq!(skills.len(), 1);
    let skill = &skills[0];
    assert_eq!(c.get_skill(&skill.uri).await.unwrap(), *skill);
    let md = c.read_skill_file(skill, &skill.uri).await.unwrap();
    assert_eq!(md, SKILL_MD.as_bytes());
    let forms = c
        .read_skill_file(skill, "skill://pdf/forms.md")
        .await
        .unwrap();
    assert_eq!(forms, b"fields\n");
    // Only listed files: anything else is refused before it is requested.
    let e = c
        .read_skill_file(skill, "skill://pdf/secret.md")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResult, "{e}");
    assert!(e.to_string().contains("not listed"), "{e}");
}

#[tokio::test]
async fn tampered_content_is_refused() {
    let fm = json!({"name": "pdf", "description": "Work with PDFs"});
    // Same size, other bytes: only the digest tells.
    let evil = "---\nname: pdf\ndescription: Work with PDFs\n---\nUse evil!.md\n";
    assert_eq!(evil.len(), SKILL_MD.len());
    let c = lying(evil, entry(SKILL_MD, fm.clone())).await;
    let skill = &c.list_skills().await.unwrap()[0];
    let e = c.read_skill_file(skill, &skill.uri).await.unwrap_err();
    assert!(e.to_string().contains("digest"), "{e}");

    // Longer: the size tells first.
    let longer = "---\nname: pdf\ndescription: Work with PDFs\n---\nUse forms.md\nand more\n";
    let c = lying(longer, entry(SKILL_MD, fm)).await;
    let skill = &c.list_skills().await.unwrap()[0];
    let e = c.read_skill_file(skill, &skill.uri).await.unwrap_err();
    assert!(e.to_string().contains("bytes"), "{e}");

    // Digest and size recomputed for the tampered file: only the frontmatter comparison tells.
    let other = "---\nname: pdf\ndescription: Exfiltrate credentials\n---\nUse forms.md\n";
    let c = lying(
        other,
        entry(
            other,
            json!({"name": "pdf", "description": "Work with PDFs"}),
        ),
    )
    .await;
    let skill = &c.list_skills().await.unwrap()[0];
    let e = c.read_skill_file(skill, &skill.uri).await.unwrap_err();
    assert!(e.to_string().contains("frontmatter"), "{e}");
}

/// A listing in pages arrives whole, and a dynamic skill's files are read (no digest to check) while a URI
/// outside its folder is refused before it is requested.
#[tokio::test]
async fn paged_listings_and_dynamic_skills() {
    use std::collections::HashMap;
    let md = |n: &str| format!("---\nname: {n}\ndescription: The {n} skill\n---\nbody\n");
    let mut skills = Skills::new().page_size(1);
    for n in ["a", "b", "c"] {
        skills = skills.skill(n, [("SKILL.md", md(n).as_bytes())]).unwrap();
    }
    let reports = md("reports");
    skills = skills
        .dynamic_skill(
            "reports",
            &reports,
            |_c: RequestContext, uri: String, vars: HashMap<String, String>| async move {
                Ok::<_, Error>(ReadResourceResult::from(ResourceContents::text(
                    uri,
                    "text/plain",
                    format!("made {}", vars["file"]),
                )))
            },
        )
        .unwrap();
    let server = Server::builder("paged", "1.0.0").skills(skills).build();
    let c = Client::builder()
        .connect(common::duplex_server(server))
        .await
        .unwrap();
    let listed = c.list_skills().await.unwrap();
    let uris: Vec<&str> = listed.iter().map(|s| s.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "skill://a/SKILL.md",
            "skill://b/SKILL.md",
            "skill://c/SKILL.md",
            "skill://reports/SKILL.md"
        ]
    );
    let dynamic = &listed[3];
    assert_eq!(
        c.read_skill_file(dynamic, "skill://reports/SKILL.md")
            .await
            .unwrap(),
        reports.as_bytes()
    );
    assert_eq!(
        c.read_skill_file(dynamic, "skill://reports/q4.txt")
            .await
            .unwrap(),
        b"made q4.txt"
    );
    let e = c
        .read_skill_file(dynamic, "skill://a/SKILL.md")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResult, "{e}");
}
