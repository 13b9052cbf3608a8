//! Checks an answer against the schema the OpenAPI document gives for it, strictly: every
//! required property is there, no property is there that the schema does not name (unless it
//! is a map), every value has a documented type (`null` only where documented). Tests of the
//! typed answers run their bodies through [`assert_documented`], so the document cannot drift
//! from what the handlers return.

use std::sync::OnceLock;

use serde_json::Value;

/// The OpenAPI document as JSON.
fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_value(techhub_api::openapi()).expect("the document is JSON"))
}

/// Asserts that `body` is exactly what the component schema `name` documents.
pub fn assert_documented(body: &Value, name: &str) {
    let doc = document();
    let schema = &doc["components"]["schemas"][name];
    assert!(
        schema.is_object(),
        "the OpenAPI document has no schema {name}"
    );
    let mut errors = Vec::new();
    check(doc, schema, body, name, &mut errors);
    assert!(
        errors.is_empty(),
        "the answer differs from the documented schema {name}:\n  {}\nanswer: {body:#}",
        errors.join("\n  ")
    );
}

fn check(doc: &Value, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        let name = target.trim_start_matches("#/components/schemas/");
        let resolved = &doc["components"]["schemas"][name];
        assert!(resolved.is_object(), "unresolved reference {target}");
        return check(doc, resolved, value, path, errors);
    }
    if let Some(options) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
    {
        let fits = options.iter().any(|option| {
            let mut found = Vec::new();
            check(doc, option, value, path, &mut found);
            found.is_empty()
        });
        if !fits {
            errors.push(format!("{path}: {value} fits none of {options:?}"));
        }
        return;
    }
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        check(doc, part, value, path, errors);
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            other => panic!("{path}: unexpected type {other}"),
        };
        if !types.iter().any(|t| has_type(value, t)) {
            errors.push(format!("{path}: {value} is not of type {types:?}"));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            errors.push(format!("{path}: {value} is not one of {allowed:?}"));
        }
    }
    match value {
        Value::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !fields.contains_key(required) {
                    errors.push(format!("{path}.{required}: required but missing"));
                }
            }
            let extra = schema.get("additionalProperties");
            for (key, v) in fields {
                let at = format!("{path}.{key}");
                match (properties.and_then(|p| p.get(key)), extra) {
                    (Some(s), _) => check(doc, s, v, &at, errors),
                    (None, Some(Value::Bool(true))) => {}
                    (None, Some(s @ Value::Object(_))) => check(doc, s, v, &at, errors),
                    // A free-form object (`value_type = Object`).
                    (None, None) if properties.is_none() => {}
                    (None, _) => errors.push(format!("{at}: not documented")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    check(doc, item, v, &format!("{path}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
}

fn has_type(value: &Value, t: &str) -> bool {
    match t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        other => panic!("unknown JSON Schema type {other}"),
    }
}
