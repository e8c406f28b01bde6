//! Typed elicitation forms: a Rust struct is the form, its JSON Schema (from `schemars`) the `requestedSchema`,
//! and the user's answer comes back as the struct.
//!
//! The spec allows only a flat object of primitive fields in a form. `#[derive(mcp_macros::ElicitForm)]` checks
//! that at compile time: every field's type must implement [`FormField`] (strings, numbers, booleans, `Option`
//! of those, enums deriving `mcp_macros::FormChoice`, and `Vec`s of such enums for multi-select), so a nested
//! struct or a map is a compile error that names the field. The schema itself is still read from
//! `schemars`, so `serde` renames, doc comments (→ `description`), `#[schemars(title = ..)]`,
//! `#[schemars(email)]`, `#[schemars(length(..))]` and `#[schemars(range(..))]` all reach the form; should it
//! still not be a flat form (a hand-written `impl ElicitForm`, a `#[schemars(with = ..)]` override), asking
//! returns an error, never a panic.

use std::collections::{BTreeSet, HashSet};

use mcp_protocol::types::{PrimitiveSchemaDefinition, RequestedSchema};
use mcp_protocol::ProtocolVersion;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::Error;

/// A struct the user fills in through a form elicitation; see [`RequestContext::elicit_as`].
///
/// Derive it with `#[derive(mcp_macros::ElicitForm)]` (beside `serde::Deserialize` and
/// `schemars::JsonSchema`), which also checks at compile time that every field is a [`FormField`]. A
/// hand-written `impl ElicitForm for T {}` skips that check; the schema is then checked when the form is
/// first asked, and a type that is not a flat form makes [`RequestContext::elicit_as`] return an error.
///
/// [`RequestContext::elicit_as`]: crate::RequestContext::elicit_as
///
/// ```
/// use mcp_server::ElicitForm;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema, mcp_macros::FormChoice)]
/// enum Size { Small, Large }
///
/// #[derive(serde::Deserialize, schemars::JsonSchema, mcp_macros::ElicitForm)]
/// struct Order {
///     /// How many cups?
///     quantity: u32,
///     size: Size,
///     note: Option<String>,
/// }
///
/// let schema = serde_json::to_value(Order::requested_schema().unwrap()).unwrap();
/// assert_eq!(schema["properties"]["quantity"]["description"], "How many cups?");
/// let required = schema["required"].as_array().unwrap();
/// assert!(required.contains(&"size".into()) && !required.contains(&"note".into()));
/// ```
pub trait ElicitForm: DeserializeOwned + schemars::JsonSchema {
    /// The fields' wire names in the order the form shows them (the derive lists them in declaration
    /// order). Fields not listed come after, in alphabetical order.
    const FIELD_ORDER: &'static [&'static str] = &[];

    /// The form's `requestedSchema`, derived from the type's JSON Schema.
    ///
    /// # Errors
    ///
    /// When the type's schema is not a flat object of the primitive fields the spec allows.
    fn requested_schema() -> Result<RequestedSchema, Error> {
        let mut schema = form_schema::<Self>()?;
        let rank = |name: &str| {
            Self::FIELD_ORDER
                .iter()
                .position(|f| *f == name)
                .unwrap_or(usize::MAX)
        };
        // Stable: unlisted fields keep their alphabetical order after the listed ones.
        schema.properties.0.sort_by_key(|(name, _)| rank(name));
        Ok(schema)
    }
}

/// A type that can be one field of an [`ElicitForm`]: `String`, `bool`, the integer and float types, a unit
/// enum deriving `mcp_macros::FormChoice`, `Option` of any of those (an optional field), and `Vec`,
/// `BTreeSet` or `HashSet` of a [`FormChoice`] (a multi-select, 2025-11-25+).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a field of an elicitation form",
    label = "not a form field",
    note = "forms are flat: a field is a string, a number, an integer, a boolean, an enum deriving `FormChoice`, `Option` of one of those, or a `Vec` of a `FormChoice` enum (multi-select)"
)]
pub trait FormField {}

/// A unit-only enum offered as a choice in a form: derive it with `#[derive(mcp_macros::FormChoice)]` (beside
/// `serde::Deserialize` and `schemars::JsonSchema`). Each variant is one value; a variant's
/// `#[schemars(title = "...")]` or doc comment becomes the label shown to the user.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a choice of an elicitation form",
    label = "not a `FormChoice`",
    note = "a multi-select field is a `Vec` of a unit-only enum deriving `mcp_macros::FormChoice`"
)]
pub trait FormChoice: FormField {}

macro_rules! form_fields {
    ($($t:ty),*) => { $(impl FormField for $t {})* };
}
form_fields!(String, bool, i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64);
impl FormField for std::borrow::Cow<'_, str> {}
impl<T: FormField> FormField for Option<T> {}
impl<T: FormChoice> FormField for Vec<T> {}
impl<T: FormChoice> FormField for BTreeSet<T> {}
impl<T: FormChoice, S> FormField for HashSet<T, S> {}

/// Used by `#[derive(ElicitForm)]` to check a field's type where it is written.
#[doc(hidden)]
pub fn __assert_form_field<T: FormField + ?Sized>() {}

/// What the user did with a typed form: see [`RequestContext::elicit_as`](crate::RequestContext::elicit_as).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Elicitation<T> {
    /// The user submitted the form.
    Accept(T),
    /// The user explicitly declined.
    Decline,
    /// The user dismissed the form without choosing.
    Cancel,
}

impl<T> Elicitation<T> {
    /// The answer, if the user accepted.
    pub fn accepted(self) -> Option<T> {
        match self {
            Self::Accept(t) => Some(t),
            Self::Decline | Self::Cancel => None,
        }
    }
}

/// The `requestedSchema` of a form derived from `T`'s JSON Schema.
///
/// Nullable fields (`Option<T>`) lose their `null`, unit enums become single-select fields (titled when a
/// variant has a title or doc comment), `Vec`s of them multi-select fields, and string formats the spec does
/// not know (`uuid`, …) are dropped.
///
/// # Errors
///
/// When `T`'s schema is not an object of primitive fields; the message names the field.
///
/// ```
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Contact {
///     /// Your name.
///     name: String,
///     #[schemars(email)]
///     email: Option<String>,
///     age: u8,
/// }
/// let schema = mcp_server::form_schema::<Contact>().unwrap();
/// let json = serde_json::to_value(&schema).unwrap();
/// assert_eq!(json["properties"]["name"]["description"], "Your name.");
/// assert_eq!(json["properties"]["email"]["format"], "email");
/// assert_eq!(json["properties"]["age"]["type"], "integer");
/// assert_eq!(json["required"], serde_json::json!(["name", "age"]));
/// ```
pub fn form_schema<T: schemars::JsonSchema + ?Sized>() -> Result<RequestedSchema, Error> {
    let root = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<T>();
    let root = serde_json::to_value(root)?;
    let name = T::schema_name();
    let not_a_form = |why: String| {
        Error::internal(format!(
            "`{name}` is not a flat elicitation form: {why} (a form is an object of string, number, integer, boolean and enum fields)"
        ))
    };
    if root.get("type").and_then(Value::as_str) != Some("object") {
        return Err(not_a_form("its schema is not an object".into()));
    }
    let mut properties = Map::new();
    if let Some(props) = root.get("properties").and_then(Value::as_object) {
        for (field, schema) in props {
            let prop = primitive(schema.clone())
                .map_err(|e| not_a_form(format!("field `{field}`: {e}")))?;
            let checked: PrimitiveSchemaDefinition = serde_json::from_value(prop.clone())
                .map_err(|e| not_a_form(format!("field `{field}`: {e}")))?;
            properties.insert(field.clone(), serde_json::to_value(checked)?);
        }
    }
    let mut form = serde_json::json!({"type": "object", "properties": properties});
    if let Some(required) = root
        .get("required")
        .filter(|r| r.as_array().is_some_and(|a| !a.is_empty()))
    {
        form["required"] = required.clone();
    }
    RequestedSchema::from_value(&form).map_err(|e| not_a_form(e.to_string()))
}

/// Rewrite one property's schemars output into the spec's field shape, or say why it cannot be one.
fn primitive(mut v: Value) -> Result<Value, String> {
    strip_null(&mut v);
    let Some(obj) = v.as_object_mut() else {
        return Err("its schema is not an object".into());
    };
    // A one-variant enum comes out as `const`.
    if let Some(c) = obj.remove("const") {
        obj.insert("enum".into(), Value::Array(vec![c]));
    }
    if let Some(options) = choice_options(obj.get("oneOf").or_else(|| obj.get("anyOf"))) {
        obj.remove("oneOf");
        obj.remove("anyOf");
        obj.insert("type".into(), "string".into());
        obj.insert("oneOf".into(), Value::Array(options));
    }
    match obj.get("type").and_then(Value::as_str) {
        Some("string") => {
            let allowed = ["email", "uri", "date", "date-time"];
            if obj
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| !allowed.contains(&f))
            {
                obj.remove("format");
            }
        }
        Some("array") => {
            let items = obj
                .get_mut("items")
                .ok_or("an array without `items` is not a multi-select")?;
            strip_null(items);
            if let Some(c) = items.as_object_mut().and_then(|i| i.remove("const")) {
                items["enum"] = Value::Array(vec![c]);
            }
            let titled = items
                .as_object()
                .and_then(|i| choice_options(i.get("oneOf").or_else(|| i.get("anyOf"))));
            if let Some(options) = titled {
                *items = serde_json::json!({ "anyOf": options });
            } else if items.get("enum").is_none() {
                return Err(
                    "a list is only allowed as a multi-select of an enum deriving `FormChoice`"
                        .into(),
                );
            } else {
                items["type"] = "string".into();
            }
            // Sets add `uniqueItems`; a multi-select is a set already.
            obj.remove("uniqueItems");
        }
        Some("number" | "integer" | "boolean") => {}
        Some(other) => return Err(format!("type `{other}` cannot be a form field")),
        None => return Err("it has no single primitive type".into()),
    }
    // `#[serde(default)]` on an `Option` gives `"default": null`, which no field type takes.
    if obj.get("default").is_some_and(Value::is_null) {
        obj.remove("default");
    }
    Ok(v)
}

/// `Option<T>`'s schema without its `null`: `type: [t, "null"]`, `enum: [.., null]` or `anyOf: [t, {type: null}]`.
fn strip_null(v: &mut Value) {
    let Some(obj) = v.as_object_mut() else { return };
    if let Some(Value::Array(types)) = obj.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let t = types.remove(0);
            obj.insert("type".into(), t);
        }
    }
    if let Some(Value::Array(values)) = obj.get_mut("enum") {
        values.retain(|e| !e.is_null());
    }
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(members)) = obj.get(key) else {
            continue;
        };
        let is_null = |m: &Value| m.get("type").and_then(Value::as_str) == Some("null");
        if members.iter().any(is_null) {
            let rest: Vec<Value> = members.iter().filter(|m| !is_null(m)).cloned().collect();
            obj.remove(key);
            if let [Value::Object(only)] = rest.as_slice() {
                // The outer schema's title and description win over the inner one's.
                for (k, val) in only {
                    obj.entry(k.clone()).or_insert_with(|| val.clone());
                }
                strip_null(v);
            } else {
                obj.insert(key.into(), Value::Array(rest));
            }
            return;
        }
    }
}

/// The `{const, title}` options of a titled enum, if every member is a string constant; the label is the
/// variant's title, else its description, else the value itself.
fn choice_options(members: Option<&Value>) -> Option<Vec<Value>> {
    let members = members?.as_array()?;
    members
        .iter()
        .map(|m| {
            let value = m.get("const").or_else(|| {
                m.get("enum")
                    .and_then(Value::as_array)
                    .filter(|e| e.len() == 1)
                    .and_then(|e| e.first())
            })?;
            let value = value.as_str()?;
            let title = m
                .get("title")
                .or_else(|| m.get("description"))
                .and_then(Value::as_str)
                .unwrap_or(value);
            Some(serde_json::json!({"const": value, "title": title}))
        })
        .collect()
}

/// The schema as it is sent to a client speaking `version`: before 2025-11-25 a titled single-select is
/// written the older way, `enum` plus `enumNames`.
pub(crate) fn for_version(schema: &RequestedSchema, version: ProtocolVersion) -> Value {
    let mut schema = schema.clone();
    if version < ProtocolVersion::V2025_11_25 {
        for (_, field) in schema.properties.0.iter_mut() {
            if let PrimitiveSchemaDefinition::TitledSingleSelect(t) = field {
                let (values, names) = t
                    .one_of
                    .iter()
                    .map(|o| (o.value.clone(), o.title.clone()))
                    .unzip();
                *field = PrimitiveSchemaDefinition::LegacyTitled(
                    mcp_protocol::types::LegacyTitledEnumSchema {
                        r#type: Default::default(),
                        title: t.title.take(),
                        description: t.description.take(),
                        values,
                        enum_names: Some(names),
                        default: t.default.take(),
                    },
                );
            }
        }
    }
    serde_json::to_value(&schema).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::json;

    use super::*;

    #[derive(serde::Deserialize, schemars::JsonSchema, PartialEq, Eq, Hash)]
    #[serde(rename_all = "lowercase")]
    enum Color {
        /// Like the sky
        Blue,
        #[schemars(title = "Like grass")]
        Green,
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    enum Plain {
        A,
        B,
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    enum Single {
        Only,
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Optional {
        color: Option<Color>,
        plain: Option<Plain>,
        single: Single,
        colors: Option<HashSet<Color>>,
        plains: Vec<Plain>,
        #[schemars(url)]
        site: Option<String>,
        #[schemars(length(min = 2, max = 5))]
        code: String,
        small: i8,
        ratio: f32,
        flag: Option<bool>,
        #[serde(default)]
        note: Option<String>,
    }

    #[test]
    fn optional_and_enum_fields_take_the_spec_shapes() {
        let schema = serde_json::to_value(form_schema::<Optional>().unwrap()).unwrap();
        let p = &schema["properties"];
        let titled = json!({"type": "string", "oneOf": [
            {"const": "blue", "title": "Like the sky"}, {"const": "green", "title": "Like grass"}
        ]});
        assert_eq!(p["color"], titled);
        assert_eq!(p["plain"], json!({"type": "string", "enum": ["A", "B"]}));
        assert_eq!(p["single"], json!({"type": "string", "enum": ["Only"]}));
        assert_eq!(
            p["colors"],
            json!({"type": "array", "items": {"anyOf": [
                {"const": "blue", "title": "Like the sky"}, {"const": "green", "title": "Like grass"}
            ]}})
        );
        assert_eq!(
            p["plains"],
            json!({"type": "array", "items": {"type": "string", "enum": ["A", "B"]}})
        );
        assert_eq!(p["site"], json!({"type": "string", "format": "uri"}));
        assert_eq!(
            p["code"],
            json!({"type": "string", "minLength": 2, "maxLength": 5})
        );
        assert_eq!(p["small"]["type"], "integer");
        assert_eq!(
            (p["small"]["minimum"].clone(), p["small"]["maximum"].clone()),
            (json!(-128), json!(127))
        );
        assert_eq!(p["ratio"], json!({"type": "number"}));
        assert_eq!(p["flag"], json!({"type": "boolean"}));
        assert_eq!(p["note"], json!({"type": "string"}), "no `default: null`");
        let mut required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        required.sort_unstable();
        assert_eq!(required, ["code", "plains", "ratio", "single", "small"]);
    }

    #[test]
    fn old_clients_get_enum_names_for_titled_choices() {
        let schema = form_schema::<Optional>().unwrap();
        let old = for_version(&schema, ProtocolVersion::V2025_06_18);
        assert_eq!(
            old["properties"]["color"],
            json!({"type": "string", "enum": ["blue", "green"], "enumNames": ["Like the sky", "Like grass"]})
        );
        let new = for_version(&schema, ProtocolVersion::V2025_11_25);
        assert!(new["properties"]["color"]["oneOf"].is_array());
    }

    #[test]
    fn shapes_that_are_not_forms_are_errors_naming_the_field() {
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Inner {
            x: String,
        }
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Nested {
            inner: Inner,
        }
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Strings {
            tags: Vec<String>,
        }
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        enum Data {
            A(String),
            B { x: u8 },
        }
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        struct WithData {
            data: Data,
        }
        for (e, field) in [
            (form_schema::<Nested>(), "inner"),
            (form_schema::<Strings>(), "tags"),
            (form_schema::<WithData>(), "data"),
        ] {
            let Some(e) = e.err().and_then(|e| e.rpc_error().cloned()) else {
                panic!("{field} was accepted")
            };
            assert!(
                e.message.contains(&format!("field `{field}`")),
                "{}",
                e.message
            );
        }
        assert!(form_schema::<String>().is_err(), "not an object");
    }
}
