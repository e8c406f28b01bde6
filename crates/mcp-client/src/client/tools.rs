//! What the client learns about tools: header annotations mirrored into HTTP headers, output-schema
//! validation, whether a call may be re-issued.

use std::sync::Arc;

use mcp_protocol::types::{CallToolResult, Tool};
use mcp_protocol::{headers, Era, JsonObject};

use super::inner::{Inner, ToolMeta};
use crate::error::Error;
use crate::transport::{SendOptions, TransportKind};

impl Inner {
    /// Learn a page of tools: their header annotations (dropping invalid ones on modern HTTP) and output schemas.
    pub(super) fn absorb_tools(&self, tools: &mut Vec<Tool>) {
        let drop_invalid = self.kind == TransportKind::Http && self.era() == Era::Modern;
        let mut known = self.tools.write().unwrap_or_else(|p| p.into_inner());
        tools.retain(|t| {
            let header_params = match headers::header_params(&t.input_schema) {
                Ok(p) => p,
                Err(e) if drop_invalid => {
                    tracing::warn!(tool = %t.name, error = %e, "dropping a tool with invalid x-mcp-header annotations");
                    known.remove(&t.name);
                    return false;
                }
                Err(_) => Vec::new(),
            };
            let output_validator = t.output_schema.as_ref().and_then(|s| {
                jsonschema::validator_for(s)
                    .map_err(|e| {
                        tracing::warn!(tool = %t.name, error = %e, "cannot compile the tool's outputSchema; not validating its results")
                    })
                    .ok()
            });
            known.insert(
                t.name.clone(),
                Arc::new(ToolMeta {
                    header_params,
                    annotations: t.annotations.clone(),
                    has_output_schema: output_validator.is_some(),
                    output_validator,
                }),
            );
            true
        });
    }

    pub(super) fn tool_meta(&self, name: &str) -> Option<Arc<ToolMeta>> {
        self.tools
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    pub(super) fn param_headers(meta: Option<&ToolMeta>, args: Option<&JsonObject>) -> SendOptions {
        let mut out = SendOptions::default();
        let (Some(meta), Some(args)) = (meta, args) else {
            return out;
        };
        for p in &meta.header_params {
            if let Some(v) = args.get(&p.property).and_then(headers::param_value) {
                out.headers
                    .push((format!("{}{}", headers::PARAM_PREFIX, p.header), v));
            }
        }
        out
    }

    pub(super) fn validate_output(&self, name: &str, r: &CallToolResult) -> Result<(), Error> {
        if !self.opts.validate_structured_content || r.is_error() {
            return Ok(());
        }
        let Some(meta) = self.tool_meta(name) else {
            return Ok(());
        };
        let Some(validator) = &meta.output_validator else {
            return Ok(());
        };
        match &r.structured_content {
            Some(sc) => {
                let errors: Vec<String> = validator
                    .iter_errors(sc)
                    .take(3)
                    .map(|e| e.to_string())
                    .collect();
                if errors.is_empty() {
                    Ok(())
                } else {
                    Err(Error::invalid_result(format!(
                        "structuredContent of {name} does not match its outputSchema: {}",
                        errors.join("; ")
                    )))
                }
            }
            None if meta.has_output_schema => Err(Error::invalid_result(format!(
                "{name} has an outputSchema but returned no structuredContent"
            ))),
            None => Ok(()),
        }
    }
}
