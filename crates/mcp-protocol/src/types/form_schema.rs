//! The restricted JSON Schema of elicitation forms (`requestedSchema.properties.*`, 2025-06-18+; the enum
//! variants are 2025-11-25+, SEP-1330).
//!
//! [`PrimitiveSchemaDefinition`] is decided by `type` and then by which enum member is present (`oneOf`,
//! `enum` + `enumNames`, `enum`, `items.anyOf`), never by trying shapes in turn.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::common::ser_opt_f64;

macro_rules! const_tag {
    ($(#[$doc:meta])* $name:ident = $lit:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct $name;

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($lit)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                if s == $lit {
                    Ok($name)
                } else {
                    Err(D::Error::custom(format!(concat!("expected \"", $lit, "\", got {:?}"), s)))
                }
            }
        }
    };
}

const_tag!(
    /// The literal `"string"` of a schema's `type`.
    StringType = "string"
);
const_tag!(
    /// The literal `"boolean"` of a schema's `type`.
    BooleanType = "boolean"
);
const_tag!(
    /// The literal `"array"` of a schema's `type`.
    ArrayType = "array"
);

/// `number` or `integer`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumberType {
    /// Any number.
    #[default]
    Number,
    /// An integer.
    Integer,
}

/// A string field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StringSchema {
    /// Always `"string"`.
    #[serde(rename = "type")]
    pub r#type: StringType,
    /// Label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Help text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Minimum length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// Maximum length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// `email`, `uri`, `date` or `date-time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Pre-filled value (2025-11-25+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// A number or integer field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NumberSchema {
    /// `number` or `integer`.
    #[serde(rename = "type")]
    pub r#type: NumberType,
    /// Label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Help text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Inclusive minimum.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_f64"
    )]
    pub minimum: Option<f64>,
    /// Inclusive maximum.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_f64"
    )]
    pub maximum: Option<f64>,
    /// Pre-filled value (2025-11-25+).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_f64"
    )]
    pub default: Option<f64>,
}

/// A boolean field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BooleanSchema {
    /// Always `"boolean"`.
    #[serde(rename = "type")]
    pub r#type: BooleanType,
    /// Label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Help text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Pre-filled value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,
}

/// One choice of a titled enum: the value and its label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnumOption {
    /// The value submitted.
    #[serde(rename = "const")]
    pub value: String,
    /// The label shown.
    pub title: String,
}

/// Single choice among plain values (`enum`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UntitledSingleSelectEnumSchema {
    /// Always `"string"`.
    #[serde(rename = "type")]
    pub r#type: StringType,
    /// Label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Help text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The values.
    #[serde(rename = "enum")]
    pub values: Vec<String>,
    /// Pre-selected value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// Single choice among labelled values (`oneOf: [{const, title}]`, 2025-11-25+).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TitledSingleSelectEnumSchema {
    /// Always `"string"`.
    #[serde(rename = "type")]
    pub r#type: StringType,
    /// Label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Help text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The choices.
    #[serde(rename = "oneOf")]
    pub one_of: Vec<EnumOption>,
    /// Pre-selected value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// The 2025-06-18 form of a titled enum: `enum` plus parallel `enumNames` (deprecated in 2025-11-25).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyTitledEnumSchema {
    /// Always `"string"`.
    #[serde(rename = "type")]
    pub r#type: StringType,
    /// Label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Help text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The values.
    #[serde(rename = "enum")]
    pub values: Vec<String>,
    /// Labels, one per value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enum_names: Option<Vec<String>>,
    /// Pre-selected value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// The `items` of an untitled multi-select: `{"type": "string", "enum": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UntitledEnumItems {
    /// Always `"string"`.
    #[serde(rename = "type")]
    pub r#type: StringType,
    /// The values.
    #[serde(rename = "enum")]
    pub values: Vec<String>,
}

/// The `items` of a titled multi-select: `{"anyOf": [{const, title}]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TitledEnumItems {
    /// The choices.
    #[serde(rename = "anyOf")]
    pub any_of: Vec<EnumOption>,
}

/// Several choices among plain values (2025-11-25+).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UntitledMultiSelectEnumSchema {
    /// Always `"array"`.
    #[serde(rename = "type")]
    pub r#type: ArrayType,
    /// Label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Help text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Fewest choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_items: Option<u64>,
    /// Most choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    /// The values.
    pub items: UntitledEnumItems,
    /// Pre-selected values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Vec<String>>,
}

/// Several choices among labelled values (2025-11-25+).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TitledMultiSelectEnumSchema {
    /// Always `"array"`.
    #[serde(rename = "type")]
    pub r#type: ArrayType,
    /// Label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Help text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Fewest choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_items: Option<u64>,
    /// Most choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    /// The choices.
    pub items: TitledEnumItems,
    /// Pre-selected values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Vec<String>>,
}

/// One field of an elicitation form.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PrimitiveSchemaDefinition {
    /// `type: string` without choices.
    String(StringSchema),
    /// `type: number | integer`.
    Number(NumberSchema),
    /// `type: boolean`.
    Boolean(BooleanSchema),
    /// `type: string` with `enum`.
    UntitledSingleSelect(UntitledSingleSelectEnumSchema),
    /// `type: string` with `oneOf`.
    TitledSingleSelect(TitledSingleSelectEnumSchema),
    /// `type: string` with `enum` and `enumNames`.
    LegacyTitled(LegacyTitledEnumSchema),
    /// `type: array` with `items.enum`.
    UntitledMultiSelect(UntitledMultiSelectEnumSchema),
    /// `type: array` with `items.anyOf`.
    TitledMultiSelect(TitledMultiSelectEnumSchema),
}

impl<'de> Deserialize<'de> for PrimitiveSchemaDefinition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let has = |k: &str| v.get(k).is_some();
        fn parse<T: serde::de::DeserializeOwned, E: serde::de::Error>(v: Value) -> Result<T, E> {
            serde_json::from_value(v).map_err(E::custom)
        }
        match v.get("type").and_then(Value::as_str) {
            Some("string") if has("oneOf") => parse(v).map(Self::TitledSingleSelect),
            Some("string") if has("enum") && has("enumNames") => parse(v).map(Self::LegacyTitled),
            Some("string") if has("enum") => parse(v).map(Self::UntitledSingleSelect),
            Some("string") => parse(v).map(Self::String),
            Some("number" | "integer") => parse(v).map(Self::Number),
            Some("boolean") => parse(v).map(Self::Boolean),
            Some("array") if v.get("items").is_some_and(|i| i.get("anyOf").is_some()) => {
                parse(v).map(Self::TitledMultiSelect)
            }
            Some("array") => parse(v).map(Self::UntitledMultiSelect),
            Some(other) => Err(D::Error::custom(format!(
                "unsupported form field type {other:?}"
            ))),
            None => Err(D::Error::custom("a form field needs a string `type`")),
        }
    }
}

impl From<StringSchema> for PrimitiveSchemaDefinition {
    fn from(s: StringSchema) -> Self {
        Self::String(s)
    }
}
impl From<NumberSchema> for PrimitiveSchemaDefinition {
    fn from(s: NumberSchema) -> Self {
        Self::Number(s)
    }
}
impl From<BooleanSchema> for PrimitiveSchemaDefinition {
    fn from(s: BooleanSchema) -> Self {
        Self::Boolean(s)
    }
}
impl From<UntitledSingleSelectEnumSchema> for PrimitiveSchemaDefinition {
    fn from(s: UntitledSingleSelectEnumSchema) -> Self {
        Self::UntitledSingleSelect(s)
    }
}
impl From<TitledSingleSelectEnumSchema> for PrimitiveSchemaDefinition {
    fn from(s: TitledSingleSelectEnumSchema) -> Self {
        Self::TitledSingleSelect(s)
    }
}
impl From<LegacyTitledEnumSchema> for PrimitiveSchemaDefinition {
    fn from(s: LegacyTitledEnumSchema) -> Self {
        Self::LegacyTitled(s)
    }
}
impl From<UntitledMultiSelectEnumSchema> for PrimitiveSchemaDefinition {
    fn from(s: UntitledMultiSelectEnumSchema) -> Self {
        Self::UntitledMultiSelect(s)
    }
}
impl From<TitledMultiSelectEnumSchema> for PrimitiveSchemaDefinition {
    fn from(s: TitledMultiSelectEnumSchema) -> Self {
        Self::TitledMultiSelect(s)
    }
}

/// The `requestedSchema` of a form elicitation: a flat object of [`PrimitiveSchemaDefinition`]s.
///
/// [`ElicitFormParams::requested_schema`](super::ElicitFormParams) stays a raw JSON value; convert with
/// `serde_json::to_value(&schema)` and [`RequestedSchema::from_value`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestedSchema {
    /// Always `"object"`.
    #[serde(rename = "type")]
    pub r#type: ObjectType,
    /// The fields, in order.
    pub properties: super::indexmap_like::OrderedMap<PrimitiveSchemaDefinition>,
    /// Fields that must be filled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<Vec<String>>,
    /// The dialect, if stated.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

const_tag!(
    /// The literal `"object"` of a schema's `type`.
    ObjectType = "object"
);

impl RequestedSchema {
    /// Read a raw `requestedSchema`, checking that it is a flat object of primitive fields.
    pub fn from_value(v: &Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(v)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: Value) -> PrimitiveSchemaDefinition {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn fields_are_decided_by_type_then_members() {
        use PrimitiveSchemaDefinition as P;
        assert!(matches!(parse(json!({"type": "string"})), P::String(_)));
        assert!(matches!(
            parse(json!({"type": "string", "enum": ["a"]})),
            P::UntitledSingleSelect(_)
        ));
        assert!(matches!(
            parse(json!({"type": "string", "enum": ["a"], "enumNames": ["A"]})),
            P::LegacyTitled(_)
        ));
        assert!(matches!(
            parse(json!({"type": "string", "oneOf": [{"const": "a", "title": "A"}]})),
            P::TitledSingleSelect(_)
        ));
        assert!(
            matches!(parse(json!({"type": "integer", "minimum": 1})), P::Number(n) if n.r#type == NumberType::Integer)
        );
        assert!(matches!(parse(json!({"type": "boolean"})), P::Boolean(_)));
        assert!(matches!(
            parse(json!({"type": "array", "items": {"type": "string", "enum": ["a"]}})),
            P::UntitledMultiSelect(_)
        ));
        assert!(matches!(
            parse(json!({"type": "array", "items": {"anyOf": [{"const": "a", "title": "A"}]}})),
            P::TitledMultiSelect(_)
        ));
        for bad in [
            json!({"type": "object"}),
            json!({}),
            json!({"type": "array"}),
            json!({"type": "string", "enum": "a"}),
        ] {
            assert!(
                serde_json::from_value::<PrimitiveSchemaDefinition>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn numbers_keep_their_integer_form() {
        let n = NumberSchema {
            minimum: Some(0.0),
            maximum: Some(2.5),
            default: Some(1.0),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&n).unwrap(),
            json!({"type": "number", "minimum": 0, "maximum": 2.5, "default": 1})
        );
    }

    #[test]
    fn requested_schema_reads_a_flat_form() {
        let raw = json!({
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name"]
        });
        let s = RequestedSchema::from_value(&raw).unwrap();
        assert_eq!(s.properties.len(), 2);
        assert_eq!(serde_json::to_value(&s).unwrap(), raw);
        assert!(RequestedSchema::from_value(
            &json!({"type": "object", "properties": {"x": {"type": "object"}}})
        )
        .is_err());
    }
}
