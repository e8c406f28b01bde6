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

/// One question the server asks the client in an `input_required` result, tagged by `method`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params")]
pub enum InputRequest {
    /// Ask the user.
    #[serde(rename = "elicitation/create")]
    Elicit(super::ElicitRequestParams),
    /// Ask the client's model.
    #[serde(rename = "sampling/createMessage")]
    Sample(super::CreateMessageParams),
    /// Ask for the client's roots.
    #[serde(rename = "roots/list")]
    ListRoots(#[serde(default)] Option<JsonObject>),
}

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

/// A small insertion-ordered map so input requests keep the server's order.
pub mod indexmap_like {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Key/value pairs in insertion order, serialized as a JSON object.
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct OrderedMap<V>(pub Vec<(String, V)>);

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
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
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

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Outcome<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v = Value::deserialize(d)?;
        let Some(obj) = v.as_object_mut() else {
            return Err(D::Error::custom("a result must be an object"));
        };
        match obj.remove("resultType") {
            None => serde_json::from_value(v).map(Self::Complete).map_err(D::Error::custom),
            Some(Value::String(t)) => match t.as_str() {
                "complete" => serde_json::from_value(v).map(Self::Complete).map_err(D::Error::custom),
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
