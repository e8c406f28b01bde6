//! The modern multi round-trip loop (`input_required`) and the answers the application's handlers give to
//! the server's requests (elicitation, sampling, roots).

use mcp_protocol::types::{
    methods, CreateMessageParams, ElicitAction, ElicitRequestParams, ElicitResult, InputRequest,
    InputRequiredResult, InputResponse,
};
use mcp_protocol::{Era, ErrorObject, JsonObject, Request};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::inner::{parse, Inner, ReqCtx};
use crate::error::Error;

impl Inner {
    /// Run a request that may answer `input_required` (modern): fulfil the input requests through the
    /// application's handlers and retry with a new id, the same params, `inputResponses` and `requestState`.
    /// Returns the complete result and how many input rounds it took.
    pub(super) async fn run_mrtr(
        &self,
        method: &str,
        base: JsonObject,
        ctx: &ReqCtx,
    ) -> Result<(Value, usize), Error> {
        let mut params = base.clone();
        let mut rounds = 0;
        loop {
            let v = self
                .request(method, Some(Value::Object(params)), ctx)
                .await?;
            match v.get("resultType") {
                None => return Ok((v, rounds)),
                Some(Value::String(t)) if t == "complete" => return Ok((v, rounds)),
                // Tasks extension: the caller follows the task.
                Some(Value::String(t)) if t == "task" && method == methods::TOOLS_CALL => {
                    return Ok((v, rounds))
                }
                Some(Value::String(t)) if t == "input_required" && self.era() == Era::Modern => {
                    rounds += 1;
                    if rounds > self.opts.max_input_rounds {
                        return Err(Error::protocol(format!(
                            "{method} still needs input after {} rounds",
                            self.opts.max_input_rounds
                        )));
                    }
                    let ir: InputRequiredResult = parse(v)?;
                    let mut responses = JsonObject::new();
                    if let Some(reqs) = &ir.input_requests {
                        for (key, req) in reqs.iter() {
                            let answer = self.answer_input(req).await?;
                            responses.insert(
                                key.clone(),
                                serde_json::to_value(answer)
                                    .map_err(|e| Error::protocol(e.to_string()))?,
                            );
                        }
                    }
                    params = base.clone();
                    if !responses.is_empty() {
                        params.insert("inputResponses".into(), Value::Object(responses));
                    }
                    // Echoed exactly, uninspected; omitted when the server gave none.
                    if let Some(state) = ir.request_state {
                        params.insert("requestState".into(), Value::String(state));
                    }
                }
                Some(other) => {
                    return Err(Error::invalid_result(format!(
                        "unknown resultType {other} for {method}"
                    )))
                }
            }
        }
    }

    // ----- handlers ------------------------------------------------------------------------------------

    pub(super) async fn answer_elicit(
        &self,
        params: ElicitRequestParams,
    ) -> Result<ElicitResult, Error> {
        let Some(h) = &self.elicitation else {
            return Err(Error::protocol(
                "the server asked for elicitation but no elicitation handler is configured".into(),
            ));
        };
        let mut result = h
            .elicit(params.clone())
            .await
            .map_err(|e| Error::protocol(format!("elicitation handler failed: {e}")))?;
        if result.action == ElicitAction::Accept {
            if let ElicitRequestParams::Form(form) = &params {
                // SEP-1034: fields the user left out take the schema's defaults.
                let content = result.content.get_or_insert_with(JsonObject::new);
                mcp_protocol::types::apply_schema_defaults(&form.requested_schema, content);
            }
        }
        Ok(result)
    }

    pub(super) async fn answer_sample(
        &self,
        params: CreateMessageParams,
    ) -> Result<mcp_protocol::types::CreateMessageResult, Error> {
        let Some(h) = &self.sampling else {
            return Err(Error::protocol(
                "the server asked for sampling but no sampling handler is configured".into(),
            ));
        };
        h.create_message(params)
            .await
            .map_err(|e| Error::protocol(format!("sampling handler failed: {e}")))
    }

    pub(super) async fn answer_roots(&self) -> Result<mcp_protocol::types::ListRootsResult, Error> {
        let Some(h) = &self.roots else {
            return Err(Error::protocol(
                "the server asked for roots but no roots handler is configured".into(),
            ));
        };
        h.list_roots()
            .await
            .map_err(|e| Error::protocol(format!("roots handler failed: {e}")))
    }

    pub(super) async fn answer_input(&self, req: &InputRequest) -> Result<InputResponse, Error> {
        Ok(match req {
            InputRequest::Elicit(p) => InputResponse::Elicit(self.answer_elicit(p.clone()).await?),
            InputRequest::Sample(p) => InputResponse::Sample(self.answer_sample(p.clone()).await?),
            InputRequest::ListRoots(_) => InputResponse::ListRoots(self.answer_roots().await?),
        })
    }

    /// Answer a legacy server→client request.
    pub(super) async fn answer_server_request(&self, req: &Request) -> Result<Value, ErrorObject> {
        fn params<T: DeserializeOwned>(req: &Request) -> Result<T, ErrorObject> {
            serde_json::from_value(req.params.clone().unwrap_or_else(|| json!({})))
                .map_err(ErrorObject::invalid_params)
        }
        fn local(e: Error) -> ErrorObject {
            match e.split_rpc() {
                Ok(e) => e,
                Err(other) => ErrorObject::internal(other),
            }
        }
        let to_value = |v: Result<Value, serde_json::Error>| v.map_err(ErrorObject::internal);
        match req.method.as_str() {
            methods::PING => Ok(json!({})),
            methods::ELICITATION_CREATE if self.elicitation.is_some() => {
                let r = self.answer_elicit(params(req)?).await.map_err(local)?;
                to_value(serde_json::to_value(r))
            }
            methods::SAMPLING_CREATE_MESSAGE if self.sampling.is_some() => {
                let r = self.answer_sample(params(req)?).await.map_err(local)?;
                to_value(serde_json::to_value(r))
            }
            methods::ROOTS_LIST if self.roots.is_some() => {
                let r = self.answer_roots().await.map_err(local)?;
                to_value(serde_json::to_value(r))
            }
            other => Err(ErrorObject::method_not_found(other)),
        }
    }
}
