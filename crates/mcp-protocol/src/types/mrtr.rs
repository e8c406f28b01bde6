use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::methods;
use crate::JsonObject;

/// The `resultType` of a 2026-07-28 result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultType {
    /// The request is done.
    Complete,
    /// The server needs input; retry with `inputResponses`.
    InputRequired,
    /// The tasks extension returned a task.
    Task,
}

/// One question the server asks the client in an `input_required` result, tagged by `method`
/// (`{"method": ..., "params": ...}`; `params` may be absent for `roots/list`, and is then not written).
#[derive(Debug, Clone, PartialEq)]
// Boxing `Sample` would change the variant's type under code written against it; these are short-lived.
#[allow(clippy::large_enum_variant)]
pub enum InputRequest {
    /// Ask the user.
    Elicit(super::ElicitRequestParams),
    /// Ask the client's model.
    Sample(super::CreateMessageParams),
    /// Ask for the client's roots (the params hold only `_meta`, if anything).
    ListRoots(Option<JsonObject>),
}

impl Serialize for InputRequest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("method", self.method())?;
        match self {
            Self::Elicit(p) => m.serialize_entry("params", p)?,
            Self::Sample(p) => m.serialize_entry("params", p)?,
            Self::ListRoots(Some(p)) => m.serialize_entry("params", p)?,
            Self::ListRoots(None) => {}
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for InputRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v = Value::deserialize(d)?;
        let Some(obj) = v.as_object_mut() else {
            return Err(D::Error::custom("an input request must be an object"));
        };
        let params = obj.remove("params").filter(|p| !p.is_null());
        let method = match obj.get("method") {
            Some(Value::String(m)) => m.as_str(),
            _ => return Err(D::Error::custom("an input request needs a string `method`")),
        };
        let need = |p: Option<Value>| {
            p.ok_or_else(|| D::Error::custom(format!("{method} needs `params`")))
        };
        match method {
            methods::ELICITATION_CREATE => serde_json::from_value(need(params)?)
                .map(Self::Elicit)
                .map_err(D::Error::custom),
            methods::SAMPLING_CREATE_MESSAGE => serde_json::from_value(need(params)?)
                .map(Self::Sample)
                .map_err(D::Error::custom),
            methods::ROOTS_LIST => params
                .map(serde_json::from_value)
                .transpose()
                .map(Self::ListRoots)
                .map_err(D::Error::custom),
            other => Err(D::Error::custom(format!(
                "unknown input request method {other:?}"
            ))),
        }
    }
}

/// The client's answer to one [`InputRequest`], sent back in `inputResponses` (2026-07-28).
///
/// The schema leaves these untagged; they are told apart by a member only one of them has (`action` for
/// elicitation, `roots` for roots, `model` for sampling), never by trying shapes in turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum InputResponse {
    /// The user's answer to an elicitation.
    Elicit(super::ElicitResult),
    /// The model's answer to a sampling request.
    Sample(super::CreateMessageResult),
    /// The client's roots.
    ListRoots(super::ListRootsResult),
}

impl<'de> Deserialize<'de> for InputResponse {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let Some(obj) = v.as_object() else {
            return Err(D::Error::custom("an input response must be an object"));
        };
        if obj.contains_key("action") {
            serde_json::from_value(v)
                .map(Self::Elicit)
                .map_err(D::Error::custom)
        } else if obj.contains_key("roots") {
            serde_json::from_value(v)
                .map(Self::ListRoots)
                .map_err(D::Error::custom)
        } else if obj.contains_key("model") {
            serde_json::from_value(v)
                .map(Self::Sample)
                .map_err(D::Error::custom)
        } else {
            Err(D::Error::custom(
                "an input response needs `action` (elicitation), `model` (sampling) or `roots` (roots)",
            ))
        }
    }
}

impl InputResponse {
    /// The method of the input request this answers.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Elicit(_) => methods::ELICITATION_CREATE,
            Self::Sample(_) => methods::SAMPLING_CREATE_MESSAGE,
            Self::ListRoots(_) => methods::ROOTS_LIST,
        }
    }
}

/// The `inputRequests` map of an `input_required` result, in the server's order.
pub type InputRequests = indexmap_like::OrderedMap<InputRequest>;

/// The `inputResponses` map of a retried request, keyed like the `inputRequests` it answers.
pub type InputResponses = indexmap_like::OrderedMap<InputResponse>;

impl InputRequest {
    /// The JSON-RPC method this input request corresponds to.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Elicit(_) => methods::ELICITATION_CREATE,
            Self::Sample(_) => methods::SAMPLING_CREATE_MESSAGE,
            Self::ListRoots(_) => methods::ROOTS_LIST,
        }
    }
}

/// An `input_required` result (2026-07-28, SEP-2322).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputRequiredResult {
    /// Questions keyed by a server-chosen key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_requests: Option<indexmap_like::OrderedMap<InputRequest>>,
    /// Opaque state to echo byte for byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_state: Option<String>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

pub use self::indexmap_like::OrderedMap;

/// A small insertion-ordered map so input requests keep the server's order.
pub mod indexmap_like {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Key/value pairs in insertion order, serialized as a JSON object.
    #[derive(Debug, Clone, PartialEq)]
    pub struct OrderedMap<V>(pub Vec<(String, V)>);

    impl<V> Default for OrderedMap<V> {
        fn default() -> Self {
            Self(Vec::new())
        }
    }

    impl<V> OrderedMap<V> {
        /// Look a key up.
        pub fn get(&self, key: &str) -> Option<&V> {
            self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
        }
        /// Iterate in order.
        pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
            self.0.iter().map(|(k, v)| (k, v))
        }
        /// Number of entries.
        pub fn len(&self) -> usize {
            self.0.len()
        }
        /// Whether it is empty.
        pub fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }

    impl<V: Serialize> Serialize for OrderedMap<V> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
        }
    }

    impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor<V>(std::marker::PhantomData<V>);
            impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<V> {
                type Value = OrderedMap<V>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut a: A,
                ) -> Result<Self::Value, A::Error> {
                    let mut out = Vec::new();
                    while let Some((k, v)) = a.next_entry::<String, V>()? {
                        out.push((k, v));
                    }
                    Ok(OrderedMap(out))
                }
            }
            d.deserialize_map(Visitor(std::marker::PhantomData))
        }
    }
}

/// A 2026-07-28 result of a method that may ask for input (`tools/call`, `resources/read`, `prompts/get`),
/// decided by `resultType` (absent means complete, as legacy servers send).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// The final result.
    Complete(T),
    /// The server needs input.
    InputRequired(InputRequiredResult),
    /// The tasks extension returned a task (kept raw).
    Task(JsonObject),
}

impl<T> Outcome<T> {
    /// The final result, if this is one.
    pub fn complete(self) -> Option<T> {
        match self {
            Self::Complete(t) => Some(t),
            _ => None,
        }
    }
    /// Whether the server asked for input.
    pub fn is_input_required(&self) -> bool {
        matches!(self, Self::InputRequired(_))
    }
    /// The wire `resultType` of this outcome.
    pub fn result_type(&self) -> ResultType {
        match self {
            Self::Complete(_) => ResultType::Complete,
            Self::InputRequired(_) => ResultType::InputRequired,
            Self::Task(_) => ResultType::Task,
        }
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Outcome<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v = Value::deserialize(d)?;
        let Some(obj) = v.as_object_mut() else {
            return Err(D::Error::custom("a result must be an object"));
        };
        match obj.remove("resultType") {
            None => serde_json::from_value(v)
                .map(Self::Complete)
                .map_err(D::Error::custom),
            Some(Value::String(t)) => match t.as_str() {
                "complete" => serde_json::from_value(v)
                    .map(Self::Complete)
                    .map_err(D::Error::custom),
                "input_required" => serde_json::from_value(v)
                    .map(Self::InputRequired)
                    .map_err(D::Error::custom),
                "task" => match v {
                    Value::Object(m) => Ok(Self::Task(m)),
                    _ => unreachable!("checked above"),
                },
                other => Err(D::Error::custom(format!("unknown resultType {other:?}"))),
            },
            Some(_) => Err(D::Error::custom("resultType must be a string")),
        }
    }
}

impl<T: Serialize> Serialize for Outcome<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (kind, value) = match self {
            Self::Complete(t) => ("complete", serde_json::to_value(t)),
            Self::InputRequired(r) => ("input_required", serde_json::to_value(r)),
            Self::Task(m) => ("task", Ok(Value::Object(m.clone()))),
        };
        let mut value = value.map_err(serde::ser::Error::custom)?;
        if let Value::Object(m) = &mut value {
            m.insert("resultType".into(), Value::String(kind.into()));
        }
        value.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::types::{CallToolResult, ContentBlock, ElicitRequestParams};

    fn outcome(v: Value) -> Result<Outcome<CallToolResult>, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn complete_tool_result_is_never_input_required() {
        let wire = json!({
            "resultType": "complete",
            "content": [{"type": "text", "text": "72°F"}],
            "isError": false
        });
        let Outcome::Complete(r) = outcome(wire.clone()).unwrap() else {
            panic!("a complete result parsed as something else")
        };
        assert_eq!(r.content, vec![ContentBlock::text("72°F")]);
        assert_eq!(r.is_error, Some(false));
        assert_eq!(serde_json::to_value(Outcome::Complete(r)).unwrap(), wire);

        // Even when it also carries members an input_required result has, `resultType` decides.
        let tricky = json!({
            "resultType": "complete",
            "content": [],
            "inputRequests": {"k": {"method": "roots/list"}},
            "requestState": "s"
        });
        assert!(matches!(outcome(tricky).unwrap(), Outcome::Complete(_)));
        // And an empty complete result is still complete.
        assert!(matches!(
            outcome(json!({"resultType": "complete", "content": []})).unwrap(),
            Outcome::Complete(_)
        ));
    }

    #[test]
    fn absent_result_type_is_complete() {
        let legacy = json!({"content": [{"type": "text", "text": "hi"}]});
        let o = outcome(legacy).unwrap();
        assert!(matches!(&o, Outcome::Complete(r) if r.text_content() == "hi"));
        assert_eq!(o.result_type(), ResultType::Complete);
        // A legacy result shaped like input_required but without the tag is still complete.
        let o = outcome(json!({"content": [], "requestState": "s"})).unwrap();
        assert!(matches!(o, Outcome::Complete(_)));
    }

    #[test]
    fn unknown_or_malformed_result_type_is_an_error() {
        for bad in [
            json!("incomplete"),
            json!("Complete"),
            json!(""),
            json!(1),
            json!(null),
            json!({}),
        ] {
            let err = outcome(json!({"resultType": bad, "content": []})).unwrap_err();
            assert!(err.to_string().contains("resultType"), "{bad}: {err}");
        }
        assert!(outcome(json!([1])).is_err());
    }

    #[test]
    fn input_required_is_read_by_tag() {
        let wire = json!({
            "resultType": "input_required",
            "inputRequests": {
                "login": {"method": "elicitation/create", "params": {"message": "Name?", "requestedSchema": {"type": "object", "properties": {}}}},
                "roots": {"method": "roots/list"}
            },
            "requestState": "abc"
        });
        let o = outcome(wire.clone()).unwrap();
        let Outcome::InputRequired(r) = &o else {
            panic!()
        };
        let reqs = r.input_requests.as_ref().unwrap();
        assert_eq!(
            reqs.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["login", "roots"]
        );
        assert!(
            matches!(reqs.get("login"), Some(InputRequest::Elicit(ElicitRequestParams::Form(f))) if f.mode.is_none())
        );
        assert_eq!(reqs.get("roots"), Some(&InputRequest::ListRoots(None)));
        // Round-trips exactly: no `"mode": "form"` added, no `"params": null` for roots.
        assert_eq!(serde_json::to_value(&o).unwrap(), wire);
        // A task result is kept raw.
        let task = outcome(json!({"resultType": "task", "task": {"taskId": "t1"}})).unwrap();
        assert!(matches!(task, Outcome::Task(m) if m["task"]["taskId"] == "t1"));
    }

    #[test]
    fn input_requests_are_tagged_by_method() {
        let e: Result<InputRequest, _> =
            serde_json::from_value(json!({"method": "tools/call", "params": {}}));
        assert!(e
            .unwrap_err()
            .to_string()
            .contains("unknown input request method"));
        let e: Result<InputRequest, _> =
            serde_json::from_value(json!({"method": "sampling/createMessage"}));
        assert!(e.is_err(), "sampling needs params");
        let with_meta: InputRequest =
            serde_json::from_value(json!({"method": "roots/list", "params": {"_meta": {"a": 1}}}))
                .unwrap();
        assert_eq!(
            serde_json::to_value(&with_meta).unwrap()["params"]["_meta"]["a"],
            1
        );
    }

    #[test]
    fn input_responses_are_told_apart_by_members() {
        let map: InputResponses = serde_json::from_value(json!({
            "a": {"action": "decline"},
            "b": {"roots": []},
            "c": {"role": "assistant", "content": {"type": "text", "text": "Paris"}, "model": "m"}
        }))
        .unwrap();
        let methods: Vec<_> = map.iter().map(|(_, r)| r.method()).collect();
        assert_eq!(
            methods,
            [
                methods::ELICITATION_CREATE,
                methods::ROOTS_LIST,
                methods::SAMPLING_CREATE_MESSAGE
            ]
        );
        assert!(serde_json::from_value::<InputResponse>(json!({"content": {}})).is_err());
    }
}
