//! An extension of one's own: declared in the capabilities, its request method answered on both eras through
//! the same core, the client's side of it read from the request's capabilities.

use crate::support;

use mcp_server::{Error, RequestContext, Server};
use serde_json::{json, Value};
use support::{connect, modern_request};

const EXT: &str = "com.example/echo";

fn server() -> Server {
    Server::builder("ext-test", "1.0.0")
        .extension(EXT, json!({"maxLength": 64}))
        .method(
            "com.example/echo",
            |ctx: RequestContext, params: Option<Value>| async move {
                let text = params
                    .as_ref()
                    .and_then(|p| p.get("text"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| Error::invalid_params("text is required"))?
                    .to_owned();
                Ok::<_, Error>(json!({
                    "echoed": text,
                    "clientDeclared": ctx.client_extension(EXT).is_some(),
                }))
            },
        )
        .build()
}

#[tokio::test]
async fn a_modern_request_reaches_the_extension_method() {
    let mut p = connect(server());
    let r = p
        .call(modern_request(1, "server/discover", json!({}), json!({})))
        .await;
    assert_eq!(
        r["result"]["capabilities"]["extensions"][EXT]["maxLength"], 64,
        "{r}"
    );
    let caps = json!({"extensions": {EXT: {}}});
    let r = p
        .call(modern_request(
            2,
            "com.example/echo",
            json!({"text": "hi"}),
            caps,
        ))
        .await;
    assert_eq!(r["result"]["echoed"], "hi", "{r}");
    assert_eq!(r["result"]["clientDeclared"], true, "{r}");
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    let r = p
        .call(modern_request(3, "com.example/echo", json!({}), json!({})))
        .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = p
        .call(modern_request(4, "com.example/other", json!({}), json!({})))
        .await;
    assert_eq!(r["error"]["code"], -32601, "{r}");
}

#[tokio::test]
async fn a_legacy_session_reaches_it_too() {
    let mut p = connect(server());
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let r = p.call(init).await;
    assert_eq!(
        r["result"]["capabilities"]["extensions"][EXT]["maxLength"], 64,
        "{r}"
    );
    p.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await;
    let r = p
        .call(json!({"jsonrpc": "2.0", "id": 1, "method": "com.example/echo", "params": {"text": "old"}}))
        .await;
    assert_eq!(r["result"]["echoed"], "old", "{r}");
    assert_eq!(r["result"]["clientDeclared"], false, "{r}");
}

#[test]
#[should_panic(expected = "method of the protocol itself")]
fn a_core_method_cannot_be_taken() {
    let _ = Server::builder("s", "1").method(
        "tools/call",
        |_c: RequestContext, _p: Option<Value>| async { Ok::<_, Error>(json!({})) },
    );
}

/// A folder of skills on disk, served: listed with digests that match what is read, one skill nested in a
/// category folder, directories browsable, unknown skills refused.
#[tokio::test]
async fn a_folder_of_skills_is_served_with_matching_digests() {
    use mcp_protocol::types::skill_verify::{digest, frontmatter};
    use mcp_server::skills::Skills;

    let dir = std::env::temp_dir().join(format!("mcp-skills-{}", std::process::id()));
    let write = |rel: &str, text: &str| {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "pdf/SKILL.md",
        "---\nname: pdf\ndescription: Work with PDFs\n---\nSee scripts/fill.py\n",
    );
    write("pdf/scripts/fill.py", "print('fill')\n");
    write(
        "billing/refunds/SKILL.md",
        "---\nname: refunds\ndescription: Refund orders\n---\nbody\n",
    );
    let skills = Skills::from_dir(&dir).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let mut p = connect(
        Server::builder("skills-test", "1.0.0")
            .skills(skills)
            .build(),
    );

    let r = p
        .call(modern_request(1, "skills/list", json!({}), json!({})))
        .await;
    let list = &r["result"]["skills"];
    let uris: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["uri"].as_str().unwrap())
        .collect();
    assert_eq!(
        uris,
        ["skill://billing/refunds/SKILL.md", "skill://pdf/SKILL.md"],
        "{r}"
    );
    assert!(
        r["result"]["ttlMs"].is_u64() && r["result"]["cacheScope"] == "public",
        "{r}"
    );
    let pdf = &list[1];
    assert_eq!(pdf["frontmatter"]["description"], "Work with PDFs");
    for file in pdf["resources"].as_array().unwrap() {
        let uri = file["uri"].as_str().unwrap();
        let read = p
            .call(modern_request(
                2,
                "resources/read",
                json!({"uri": uri}),
                json!({}),
            ))
            .await;
        let text = read["result"]["contents"][0]["text"].as_str().unwrap();
        assert_eq!(file["digest"], digest(text.as_bytes()), "{uri}");
        assert_eq!(file["size"], text.len(), "{uri}");
        if uri.ends_with("SKILL.md") {
            assert_eq!(
                Value::Object(frontmatter(text).unwrap()),
                pdf["frontmatter"]
            );
        }
    }

    let r = p
        .call(modern_request(
            3,
            "skills/get",
            json!({"uri": "skill://pdf/SKILL.md"}),
            json!({}),
        ))
        .await;
    assert_eq!(r["result"]["skill"], *pdf, "{r}");
    let r = p
        .call(modern_request(
            4,
            "skills/get",
            json!({"uri": "skill://nope/SKILL.md"}),
            json!({}),
        ))
        .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");

    let r = p
        .call(modern_request(
            5,
            "resources/directory/read",
            json!({"uri": "skill://pdf"}),
            json!({}),
        ))
        .await;
    let children = r["result"]["resources"].as_array().unwrap();
    assert!(
        children
            .iter()
            .any(|c| c["uri"] == "skill://pdf/scripts" && c["mimeType"] == "inode/directory"),
        "{r}"
    );
    assert!(
        children.iter().any(|c| c["uri"] == "skill://pdf/SKILL.md"),
        "{r}"
    );
    let r = p
        .call(modern_request(
            6,
            "resources/directory/read",
            json!({"uri": "skill://pdf/SKILL.md"}),
            json!({}),
        ))
        .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");

    let r = p
        .call(modern_request(7, "server/discover", json!({}), json!({})))
        .await;
    assert_eq!(
        r["result"]["capabilities"]["extensions"]["io.modelcontextprotocol/skills"]
            ["directoryRead"],
        true,
        "{r}"
    );
}

fn skill_md(name: &str) -> String {
    format!("---\nname: {name}\ndescription: The {name} skill\n---\nbody\n")
}

/// A long listing comes in pages: every skill exactly once across them, a cursor that is not ours refused,
/// and a directory read pages the same way.
#[tokio::test]
async fn skills_and_directories_come_in_pages() {
    use mcp_server::skills::Skills;

    let mut skills = Skills::new().page_size(2);
    for name in ["a", "b", "c", "d", "e"] {
        skills = skills
            .skill(name, [("SKILL.md", skill_md(name).as_bytes())])
            .unwrap();
    }
    let files: Vec<(String, String)> = (0..3)
        .map(|i| (format!("notes/{i}.md"), format!("note {i}")))
        .collect();
    let mut with_notes: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_bytes()))
        .collect();
    let f_md = skill_md("f");
    with_notes.push(("SKILL.md", f_md.as_bytes()));
    skills = skills.skill("f", with_notes).unwrap();
    let mut p = connect(Server::builder("pages", "1.0.0").skills(skills).build());

    let mut seen = Vec::new();
    let mut params = json!({});
    for id in 1..10 {
        let r = p
            .call(modern_request(id, "skills/list", params.clone(), json!({})))
            .await;
        let page = r["result"]["skills"].as_array().unwrap();
        assert!(page.len() <= 2, "{r}");
        seen.extend(page.iter().map(|s| s["uri"].as_str().unwrap().to_owned()));
        match r["result"]["nextCursor"].as_str() {
            Some(c) => params = json!({ "cursor": c }),
            None => break,
        }
    }
    let want: Vec<String> = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|n| format!("skill://{n}/SKILL.md"))
        .collect();
    assert_eq!(seen, want);

    let r = p
        .call(modern_request(
            20,
            "skills/list",
            json!({"cursor": "not-a-cursor"}),
            json!({}),
        ))
        .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");

    let r = p
        .call(modern_request(
            21,
            "resources/directory/read",
            json!({"uri": "skill://f/notes"}),
            json!({}),
        ))
        .await;
    assert_eq!(r["result"]["resources"].as_array().unwrap().len(), 2, "{r}");
    let next = r["result"]["nextCursor"].as_str().expect("a second page");
    let r = p
        .call(modern_request(
            22,
            "resources/directory/read",
            json!({"uri": "skill://f/notes", "cursor": next}),
            json!({}),
        ))
        .await;
    let last = r["result"]["resources"].as_array().unwrap();
    assert_eq!(last.len(), 1, "{r}");
    assert_eq!(last[0]["uri"], "skill://f/notes/2.md", "{r}");
    assert!(r["result"].get("nextCursor").is_none(), "{r}");
}

/// A dynamic skill lists `"dynamic"` instead of files, serves its SKILL.md as given, and makes every other
/// file on read through its handler; a URI outside it is still not found.
#[tokio::test]
async fn a_dynamic_skill_makes_its_files_on_read() {
    use mcp_protocol::types::{ReadResourceResult, ResourceContents};
    use mcp_server::skills::Skills;
    use std::collections::HashMap;

    let md = skill_md("reports");
    let skills = Skills::new()
        .dynamic_skill(
            "acme/reports",
            &md,
            |_ctx: RequestContext, uri: String, vars: HashMap<String, String>| async move {
                let text = format!("generated {}", vars["file"]);
                Ok::<_, Error>(ReadResourceResult::from(ResourceContents::text(
                    uri,
                    "text/markdown",
                    text,
                )))
            },
        )
        .unwrap();
    let mut p = connect(Server::builder("dyn", "1.0.0").skills(skills).build());

    let r = p
        .call(modern_request(1, "skills/list", json!({}), json!({})))
        .await;
    let entry = &r["result"]["skills"][0];
    assert_eq!(entry["uri"], "skill://acme/reports/SKILL.md", "{r}");
    assert_eq!(entry["resources"], "dynamic", "{r}");
    assert_eq!(entry["frontmatter"]["name"], "reports", "{r}");

    let read =
        |id: i64, uri: &str| modern_request(id, "resources/read", json!({"uri": uri}), json!({}));
    let r = p.call(read(2, "skill://acme/reports/SKILL.md")).await;
    assert_eq!(r["result"]["contents"][0]["text"], md, "{r}");
    let r = p
        .call(read(3, "skill://acme/reports/daily/2026-12-06.md"))
        .await;
    assert_eq!(
        r["result"]["contents"][0]["text"], "generated daily/2026-12-06.md",
        "{r}"
    );
    let r = p.call(read(4, "skill://acme/other/SKILL.md")).await;
    assert!(r["error"].is_object(), "{r}");
}

#[test]
fn a_dynamic_skill_md_still_meets_the_rules() {
    use mcp_server::skills::Skills;
    let never = |_c: RequestContext, _u: String, _v: std::collections::HashMap<String, String>| async {
        Err::<mcp_protocol::types::ReadResourceResult, _>(Error::invalid_params("unused"))
    };
    let e = Skills::new()
        .dynamic_skill("reports", &skill_md("other"), never)
        .unwrap_err();
    assert!(e.to_string().contains("folder's name"), "{e}");
}
