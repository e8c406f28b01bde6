//! `conformance-client`: the client the official conformance suite drives. The suite sets
//! `MCP_CONFORMANCE_SCENARIO`, `MCP_CONFORMANCE_PROTOCOL_VERSION` and (for some scenarios)
//! `MCP_CONFORMANCE_CONTEXT`, and passes the server URL as the last argument. Exit 0 on success.

use std::process::ExitCode;

use mcp::client::auth::{
    ClientKey, FixedAssertion, HeadlessAuthorizer, IdJagExchange, OAuthClient, PreRegistered,
};
use mcp::client::transport::HttpTransport;
use mcp::client::{Client, ClientError, VersionMode};
use mcp::protocol::types::{
    ClientCapabilities, CreateMessageParams, CreateMessageResult, ElicitRequestParams,
    ElicitResult, ElicitationCapability, Implementation, ListRootsResult, OneOrMany, Role,
    RootsCapability, SamplingCapability, SamplingContent, Tool,
};
use mcp::protocol::{ErrorObject, ProtocolVersion};
use serde_json::{json, Map, Value};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let Some(url) = std::env::args().skip(1).last() else {
        eprintln!("usage: conformance-client <server-url>");
        return ExitCode::from(2);
    };
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    let version =
        std::env::var("MCP_CONFORMANCE_PROTOCOL_VERSION").unwrap_or_else(|_| "2025-11-25".into());
    let context: Value = std::env::var("MCP_CONFORMANCE_CONTEXT")
        .ok()
        .and_then(|c| serde_json::from_str(&c).ok())
        .unwrap_or(Value::Null);
    match run(&url, &scenario, &version, &context).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance-client: scenario {scenario} failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn version_mode(version: &str) -> VersionMode {
    match version.parse::<ProtocolVersion>() {
        Ok(v) if v.era() == mcp::protocol::Era::Modern => VersionMode::Pinned(v),
        _ => VersionMode::Legacy,
    }
}

/// The fixed Client ID Metadata Document URL the suite's authorization servers accept.
const CIMD_URL: &str = "https://conformance-test.local/client-metadata.json";

/// For `auth/*` scenarios: an OAuth client that approves headlessly (the suite's authorization server
/// redirects at once), offers a CIMD URL, and uses the pre-registered credentials the context carries.
/// The extension scenarios pick their grant from what the context carries: a private key (client
/// credentials with `private_key_jwt`), an IdP ID token (enterprise-managed authorization), a workload JWT
/// (JWT-bearer); `client-credentials-basic` is named by the scenario. DPoP needs nothing here: the client
/// uses it whenever the authorization server offers it.
fn oauth_for(url: &str, scenario: &str, context: &Value) -> Result<OAuthClient, ClientError> {
    let err = |e: ClientError| ClientError::from_protocol(format!("OAuth client: {e}"));
    let text = |k: &str| context[k].as_str().map(str::to_owned);
    let mut b = OAuthClient::builder(url)
        .client_name("mcp-rs-conformance-client")
        .authorizer(HeadlessAuthorizer::new("http://localhost:3000/callback"))
        .client_metadata_url(CIMD_URL);
    if let Some(id) = text("client_id") {
        let private_key = match text("private_key_pem") {
            Some(pem) => {
                let alg = text("signing_algorithm").unwrap_or_else(|| "ES256".into());
                Some(ClientKey::from_pem(&pem, &alg).map_err(err)?)
            }
            None => None,
        };
        b = b.pre_registered(PreRegistered {
            client_id: id,
            client_secret: text("client_secret"),
            private_key,
            ..Default::default()
        });
    }
    if context.get("private_key_pem").is_some() || scenario == "auth/client-credentials-basic" {
        b = b.client_credentials();
    } else if let (Some(endpoint), Some(idp_client), Some(id_token)) = (
        text("idp_token_endpoint"),
        text("idp_client_id"),
        text("idp_id_token"),
    ) {
        b = b.jwt_bearer(IdJagExchange::new(
            endpoint,
            idp_client,
            FixedAssertion::new(id_token),
        ));
    } else if let Some(jwt) = text("valid_jwt") {
        b = b.jwt_bearer(FixedAssertion::new(jwt));
    }
    b.build().map_err(err)
}

async fn connect(
    url: &str,
    version: &str,
    scenario: &str,
    context: &Value,
) -> Result<Client, ClientError> {
    let mut transport = HttpTransport::builder(url);
    if scenario.starts_with("auth/") {
        transport = transport.auth(oauth_for(url, scenario, context)?);
    }
    let transport = transport.build()?;
    Client::builder()
        .client_info(Implementation::new(
            "mcp-rs-conformance-client",
            env!("CARGO_PKG_VERSION"),
        ))
        .capabilities(ClientCapabilities {
            elicitation: Some(ElicitationCapability::default()),
            sampling: Some(SamplingCapability::default()),
            roots: Some(RootsCapability::default()),
            ..Default::default()
        })
        // Accept every form with nothing filled in: the client fills the schema's defaults (SEP-1034), and
        // otherwise answers with plausible values.
        .elicitation_handler(|p: ElicitRequestParams| async move {
            let mut content = Map::new();
            if let ElicitRequestParams::Form(form) = &p {
                if let Some(props) = form
                    .requested_schema
                    .get("properties")
                    .and_then(Value::as_object)
                {
                    for (name, prop) in props {
                        if prop.get("default").is_none() {
                            content.insert(name.clone(), sample_value(prop));
                        }
                    }
                }
            }
            Ok::<_, ErrorObject>(ElicitResult::accept(content))
        })
        .sampling_handler(|_p: CreateMessageParams| async move {
            Ok::<_, ErrorObject>(CreateMessageResult {
                role: Role::Assistant,
                content: OneOrMany::One(SamplingContent::text(
                    "This is a test response from the client",
                )),
                model: "test-model".into(),
                stop_reason: Some("endTurn".into()),
                meta: None,
            })
        })
        .roots_handler(|| async move { Ok::<_, ErrorObject>(ListRootsResult::default()) })
        .version_mode(version_mode(version))
        .connect(transport)
        .await
}

/// A value that satisfies a simple property schema.
fn sample_value(prop: &Value) -> Value {
    if let Some(first) = prop
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    match prop.get("type").and_then(Value::as_str) {
        Some("number") => json!(5),
        Some("integer") => json!(3),
        Some("boolean") => json!(true),
        Some("array") => json!([]),
        Some("object") => json!({}),
        _ => match prop.get("format").and_then(Value::as_str) {
            Some("email") => json!("test@example.com"),
            Some("uri") => json!("https://example.com"),
            _ => json!("test"),
        },
    }
}

/// Arguments that satisfy a tool's input schema's required properties (and simple optional ones).
fn sample_args(tool: &Tool) -> Value {
    let mut args = Map::new();
    if let Some(props) = tool
        .input_schema
        .get("properties")
        .and_then(Value::as_object)
    {
        for (name, prop) in props {
            args.insert(name.clone(), sample_value(prop));
        }
    }
    Value::Object(args)
}

async fn run(url: &str, scenario: &str, version: &str, context: &Value) -> Result<(), ClientError> {
    let client = connect(url, version, scenario, context).await?;
    let result = exercise(&client, scenario, context).await;
    client.close().await;
    result
}

async fn exercise(client: &Client, scenario: &str, context: &Value) -> Result<(), ClientError> {
    match scenario {
        "initialize" => {
            client.list_all_tools().await?;
        }
        "http-custom-headers" => {
            client.list_all_tools().await?;
            for call in context["toolCalls"].as_array().into_iter().flatten() {
                let name = call["name"].as_str().unwrap_or_default();
                client.call_tool(name, call["arguments"].clone()).await?;
            }
        }
        "json-schema-2020-12-preservation" => {
            let tools = client.list_all_tools().await?;
            let schema = tools
                .iter()
                .find(|t| t.name == "json_schema_2020_12_tool")
                .map(|t| t.input_schema.clone())
                .unwrap_or(Value::Null);
            if tools.iter().any(|t| t.name == "json_schema_echo") {
                client
                    .call_tool("json_schema_echo", json!({ "schema": schema }))
                    .await?;
            }
        }
        "json-schema-ref-no-deref" | "request-metadata" => {
            client.list_all_tools().await?;
        }
        // Skills: list, and fetch nothing until a skill is used.
        "sep-2640-client-no-prefetch" => {
            if client.server_offers_skills() {
                client.list_skills().await?;
            }
        }
        // Skills: use the first skill; its SKILL.md is checked (size, digest, frontmatter) before anything
        // else of the skill is read, so tampered content stops here.
        "sep-2640-client-verify-digest"
        | "sep-2640-client-verify-size"
        | "sep-2640-client-verify-frontmatter" => {
            let skills = client.list_skills().await?;
            let skill = skills
                .first()
                .ok_or_else(|| ClientError::from_protocol("the server lists no skills"))?;
            client.read_skill_file(skill, &skill.uri).await?;
            if let mcp::protocol::types::SkillResources::Files(files) = &skill.resources {
                for f in files.iter().filter(|f| f.uri != skill.uri) {
                    client.read_skill_file(skill, &f.uri).await?;
                }
            }
        }
        _ => {
            // Everything else: list what the server offers and use all of it. Tool errors are results, not
            // failures; the scenario's checks judge them.
            let tools = client.list_all_tools().await?;
            for tool in &tools {
                let args = if tool.name == "add_numbers" {
                    json!({"a": 5, "b": 3})
                } else {
                    sample_args(tool)
                };
                match client.call_tool(&tool.name, args).await {
                    Ok(_) => {}
                    Err(e) if e.is_rpc() => {
                        eprintln!("tool {} answered an error: {e}", tool.name)
                    }
                    Err(e) => return Err(e),
                }
            }
            if scenario == "http-standard-headers" || scenario.is_empty() {
                if let Ok(resources) = client.list_all_resources().await {
                    for r in resources {
                        let _ = client.read_resource(&r.uri).await;
                    }
                }
                if let Ok(prompts) = client.list_all_prompts().await {
                    for p in prompts {
                        let _ = client.get_prompt(&p.name, Default::default()).await;
                    }
                }
            }
        }
    }
    Ok(())
}
