//! The subset of OpenAPI 3.0 schema validation the Spotify description needs: `$ref`, `type`,
//! `nullable`, `enum`, `minimum`/`maximum`, `minItems`/`maxItems`, `properties`, `required`,
//! `additionalProperties`, `items`, `allOf` and `oneOf`. Errors name the place (`body.device_ids`)
//! and the rule broken. `format`, `example` and `discriminator` are ignored: the branches of
//! every `oneOf` in the spec already exclude each other through their `type` enums.

use serde_json::Value;

/// Checks `value` against `schema`, appending one message per problem to `errors`.
pub(super) fn validate(
    spec: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
) {
    let schema = resolve(spec, schema);
    if value.is_null() {
        if !allows_null(schema) {
            errors.push(format!("{at} is null but the schema does not allow null"));
        }
        return;
    }
    for part in array(schema, "allOf") {
        validate(spec, part, value, at, errors);
    }
    let branches = array(schema, "oneOf");
    if !branches.is_empty() {
        one_of(spec, branches, value, at, errors);
    }
    if let Some(expected) = schema.get("type").and_then(Value::as_str)
        && !has_type(value, expected)
    {
        errors.push(format!("{at} should be {expected}, got {}", kind(value)));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!(
            "{at} is {value}, not one of {}",
            Value::from(allowed.clone())
        ));
    }
    if let Some(number) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && number < min
        {
            errors.push(format!("{at} is {value}, below the minimum {min}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && number > max
        {
            errors.push(format!("{at} is {value}, above the maximum {max}"));
        }
    }
    if let Some(items) = value.as_array() {
        check_items(spec, schema, items, at, errors);
    }
    if let Some(object) = value.as_object() {
        check_object(spec, schema, object, at, errors);
    }
}

/// Follows `$ref`s (`#/components/...`); siblings of a `$ref` are ignored, as in OpenAPI 3.0.
pub(super) fn resolve<'a>(spec: &'a Value, mut schema: &'a Value) -> &'a Value {
    while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let pointer = reference.trim_start_matches('#');
        schema = spec
            .pointer(pointer)
            .unwrap_or_else(|| panic!("the vendored spec defines every $ref it uses: {reference}"));
    }
    schema
}

/// `nullable: true`, or, since the spec often says so only in prose, a description that
/// says "Can be `null`" (as for `item`, `context` and `progress_ms` of the playback state).
fn allows_null(schema: &Value) -> bool {
    if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        return true;
    }
    let description = schema
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("");
    let description = description.to_ascii_lowercase();
    description.contains("can be `null`") || description.contains("can be null")
}

fn array<'a>(schema: &'a Value, key: &str) -> &'a [Value] {
    schema
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn one_of(spec: &Value, branches: &[Value], value: &Value, at: &str, errors: &mut Vec<String>) {
    let mut matching = 0;
    let mut reasons = Vec::new();
    for (index, branch) in branches.iter().enumerate() {
        let mut branch_errors = Vec::new();
        validate(spec, branch, value, at, &mut branch_errors);
        if branch_errors.is_empty() {
            matching += 1;
        } else {
            reasons.push(format!("branch {index}: {}", branch_errors.join("; ")));
        }
    }
    match matching {
        1 => {}
        0 => errors.push(format!(
            "{at} matches none of the oneOf schemas ({})",
            reasons.join(" | ")
        )),
        n => errors.push(format!(
            "{at} matches {n} of the oneOf schemas, not exactly one"
        )),
    }
}

fn has_type(value: &Value, expected: &str) -> bool {
    match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        _ => true,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check_items(spec: &Value, schema: &Value, items: &[Value], at: &str, errors: &mut Vec<String>) {
    let count = items.len() as u64;
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && count < min
    {
        errors.push(format!(
            "{at} has {count} item(s), fewer than minItems {min}"
        ));
    }
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && count > max
    {
        errors.push(format!(
            "{at} has {count} item(s), more than maxItems {max}"
        ));
    }
    if let Some(item_schema) = schema.get("items") {
        for (index, item) in items.iter().enumerate() {
            validate(spec, item_schema, item, &format!("{at}[{index}]"), errors);
        }
    }
}

fn check_object(
    spec: &Value,
    schema: &Value,
    object: &serde_json::Map<String, Value>,
    at: &str,
    errors: &mut Vec<String>,
) {
    for name in array(schema, "required").iter().filter_map(Value::as_str) {
        if !object.contains_key(name) {
            errors.push(format!("{at} is missing the required field `{name}`"));
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties");
    for (name, field) in object {
        let place = format!("{at}.{name}");
        match (properties.and_then(|p| p.get(name)), additional) {
            (Some(field_schema), _) => validate(spec, field_schema, field, &place, errors),
            (None, Some(Value::Bool(false))) => {
                errors.push(format!("{at} has the undeclared field `{name}`"));
            }
            (None, Some(extra @ Value::Object(_))) => validate(spec, extra, field, &place, errors),
            (None, _) => {}
        }
    }
}
