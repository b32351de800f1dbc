//! Request-body schemas that are views of the document's own types, for the OpenAPI
//! description: an alarm without its `id` (create), with an optional `id` (replace), and JSON
//! merge patches (RFC 7396) of an alarm and of the whole document. They are derived from the
//! types' generated schemas when the description is built, so they cannot drift from them.
//!
//! Documentation only: handlers parse bodies with the document's types (`deserialize_strict`)
//! and never see these. A client (or a fuzzer) needs them to send a body the daemon can accept.

use serde_json::{Value, json};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{PartialSchema, ToSchema};

use crate::config::{
    Alarm, Config, FallbackSettings, HardwareSettings, ReadinessSettings, RingSettings,
    ScheduleSettings, SpotifySettings, VolumeSettings, WebSettings,
};

/// The pattern an `If-Match` header must have: a revision as the `ETag` gives it (quoted or
/// not), or `*`. Anything else is `400 bad_if_match`.
pub(super) const IF_MATCH_PATTERN: &str = r#"^(\*|"[0-9]{1,19}"|[0-9]{1,19})$"#;

/// The description as served, in JSON. utoipa 5.5 writes a link's fields in snake case
/// (`operation_id`, `operation_ref`, `request_body`), which no OpenAPI tool reads as a link;
/// they are renamed to the specification's `operationId`, `operationRef`, `requestBody`.
pub(super) fn served(api: &utoipa::openapi::OpenApi) -> Value {
    let mut api = serde_json::to_value(api).expect("the OpenAPI description serializes");
    let operations = api["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    let links = operations
        .filter_map(|operation| operation.get_mut("responses")?.as_object_mut())
        .flat_map(|responses| responses.values_mut())
        .filter_map(|response| response.get_mut("links")?.as_object_mut())
        .flat_map(|links| links.values_mut())
        .filter_map(Value::as_object_mut);
    for link in links {
        for (from, to) in [
            ("operation_id", "operationId"),
            ("operation_ref", "operationRef"),
            ("request_body", "requestBody"),
        ] {
            if let Some(value) = link.remove(from) {
                link.insert(to.into(), value);
            }
        }
    }
    api
}

/// Gives every `If-Match` header parameter its [`IF_MATCH_PATTERN`].
pub(super) fn describe_if_match(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    for item in api.paths.paths.values_mut() {
        let operations = [
            &mut item.put,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
        ];
        let parameters = operations
            .into_iter()
            .flatten()
            .flat_map(|operation| operation.parameters.iter_mut().flatten());
        for parameter in parameters {
            if parameter.name == "If-Match" && parameter.parameter_in == ParameterIn::Header {
                parameter.schema = Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(IF_MATCH_PATTERN))
                        .into(),
                );
            }
        }
    }
}

/// An alarm as `POST /api/alarms` takes it: no `id` (the server assigns it).
pub struct NewAlarm;

/// An alarm as `PUT /api/alarms/{id}` takes it: `id` may be left out.
pub struct AlarmReplacement;

/// A merge patch of an alarm (`PATCH /api/alarms/{id}`).
pub struct AlarmPatch;

/// A merge patch of the document (`PATCH /api/config`).
pub struct ConfigPatch;

impl PartialSchema for NewAlarm {
    fn schema() -> RefOr<Schema> {
        edited::<Alarm>(|alarm| {
            alarm["properties"]
                .as_object_mut()
                .expect("Alarm has properties")
                .remove("id");
            without_required(alarm, "id");
            alarm["description"] = "An alarm without `id`: the server assigns it.".into();
        })
    }
}

impl ToSchema for NewAlarm {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <Alarm as ToSchema>::schemas(schemas);
    }
}

impl PartialSchema for AlarmReplacement {
    fn schema() -> RefOr<Schema> {
        edited::<Alarm>(|alarm| {
            without_required(alarm, "id");
            alarm["description"] =
                "The whole alarm; `id` may be left out, and if given must be the path's.".into();
        })
    }
}

impl ToSchema for AlarmReplacement {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <Alarm as ToSchema>::schemas(schemas);
    }
}

impl PartialSchema for AlarmPatch {
    fn schema() -> RefOr<Schema> {
        merge_patch::<Alarm>(&["RingSettings"])
    }
}

impl ToSchema for AlarmPatch {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <Alarm as ToSchema>::schemas(schemas);
        schemas.push(patch_of::<RingSettings>());
    }
}

impl PartialSchema for ConfigPatch {
    fn schema() -> RefOr<Schema> {
        merge_patch::<Config>(&CONFIG_SECTIONS)
    }
}

impl ToSchema for ConfigPatch {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <Config as ToSchema>::schemas(schemas);
        let sections = [
            patch_of::<ScheduleSettings>(),
            patch_of::<SpotifySettings>(),
            patch_of::<FallbackSettings>(),
            patch_of::<VolumeSettings>(),
            patch_of::<HardwareSettings>(),
            patch_of::<WebSettings>(),
            patch_of::<ReadinessSettings>(),
        ];
        debug_assert!(
            sections
                .iter()
                .all(|(name, _)| CONFIG_SECTIONS.contains(&name.trim_end_matches("Patch")))
        );
        schemas.extend(sections);
    }
}

/// The document's sections: a patch of the document patches each of them.
const CONFIG_SECTIONS: [&str; 7] = [
    "ScheduleSettings",
    "SpotifySettings",
    "FallbackSettings",
    "VolumeSettings",
    "HardwareSettings",
    "WebSettings",
    "ReadinessSettings",
];

/// The merge-patch schema of a section `T` under the name `<T>Patch`.
fn patch_of<T: ToSchema>() -> (String, RefOr<Schema>) {
    (format!("{}Patch", T::name()), merge_patch::<T>(&[]))
}

/// What a merge patch of `T` may hold: any of its fields; `null` for a field that has a
/// default (it goes back to the default), never for a required one (that would delete it);
/// a nested section named in `sections` as a patch of its own (`<Section>Patch`); anything
/// else whole (a merge patch replaces arrays and values). Unknown fields stay refused.
fn merge_patch<T: ToSchema>(sections: &[&str]) -> RefOr<Schema> {
    edited::<T>(|schema| {
        let required: Vec<Value> = schema
            .as_object_mut()
            .and_then(|o| o.remove("required"))
            .and_then(|r| r.as_array().cloned())
            .unwrap_or_default();
        if let Some(properties) = schema["properties"].as_object_mut() {
            for (name, property) in properties.iter_mut() {
                patch_sections(property, sections);
                // Leaving a field out of a patch keeps it; it does not take the default.
                if let Some(fields) = property.as_object_mut() {
                    fields.remove("default");
                }
                if !required.contains(&Value::from(name.as_str())) {
                    nullable(property);
                }
            }
        }
        schema["description"] = format!(
            "A JSON merge patch (RFC 7396) of a `{}`: `null` resets a field to its default.",
            T::name()
        )
        .into();
    })
}

/// Points a reference to one of `sections` (plain, or the one item of a `oneOf` or `allOf`,
/// as utoipa writes a field with a default) at that section's patch.
fn patch_sections(property: &mut Value, sections: &[&str]) {
    let references: Vec<&mut Value> = if property.get("$ref").is_some() {
        vec![property]
    } else {
        property
            .as_object_mut()
            .into_iter()
            .flat_map(|fields| fields.iter_mut())
            .filter(|(key, _)| *key == "oneOf" || *key == "allOf")
            .filter_map(|(_, items)| items.as_array_mut())
            .flatten()
            .collect()
    };
    for reference in references {
        let section = reference
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|target| target.strip_prefix("#/components/schemas/"))
            .filter(|name| sections.contains(name))
            .map(str::to_owned);
        if let Some(section) = section {
            reference["$ref"] = format!("#/components/schemas/{section}Patch").into();
        }
    }
}

/// `property`, also allowing `null`.
fn nullable(property: &mut Value) {
    let has_null = |v: &Value| v == "null" || v.get("type").is_some_and(|t| t == "null");
    match property.get_mut("type") {
        Some(Value::String(single)) if single != "null" => {
            let single = single.clone();
            property["type"] = json!([single, "null"]);
        }
        Some(Value::Array(types)) if !types.iter().any(has_null) => types.push("null".into()),
        Some(_) => {}
        None => match property.get_mut("oneOf").and_then(Value::as_array_mut) {
            Some(items) if items.iter().any(has_null) => {}
            Some(items) => items.push(json!({"type": "null"})),
            None => *property = json!({"oneOf": [property.take(), {"type": "null"}]}),
        },
    }
}

fn without_required(schema: &mut Value, name: &str) {
    if let Some(required) = schema["required"].as_array_mut() {
        required.retain(|r| r != name);
    }
}

/// `T`'s schema, edited as JSON.
fn edited<T: PartialSchema>(edit: impl FnOnce(&mut Value)) -> RefOr<Schema> {
    let mut schema = serde_json::to_value(T::schema()).expect("a schema serializes");
    edit(&mut schema);
    serde_json::from_value(schema).expect("an edited schema is still a schema")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<T: PartialSchema>() -> Value {
        serde_json::to_value(T::schema()).unwrap()
    }

    #[test]
    fn a_new_alarm_has_no_id_and_a_replacement_an_optional_one() {
        let new = json::<NewAlarm>();
        assert!(new["properties"].get("id").is_none());
        assert!(new["properties"].get("time").is_some());
        assert_eq!(new["required"], json!(["time"]));
        assert_eq!(new["additionalProperties"], false);
        let replacement = json::<AlarmReplacement>();
        assert!(replacement["properties"].get("id").is_some());
        assert_eq!(replacement["required"], json!(["time"]));
    }

    #[test]
    fn a_patch_requires_nothing_and_nulls_only_what_has_a_default() {
        let patch = json::<AlarmPatch>();
        assert!(patch.get("required").is_none());
        assert_eq!(patch["additionalProperties"], false);
        let properties = &patch["properties"];
        // `time` has no default: null would delete it.
        assert_eq!(properties["time"]["$ref"], "#/components/schemas/TimeOfDay");
        assert_eq!(properties["enabled"]["type"], json!(["boolean", "null"]));
        let ring = json!({"oneOf": [
            {"$ref": "#/components/schemas/RingSettingsPatch"}, {"type": "null"}]});
        assert_eq!(properties["ring"], ring);
        let config = json::<ConfigPatch>();
        let volume = json!({"oneOf": [
            {"$ref": "#/components/schemas/VolumeSettingsPatch"}, {"type": "null"}]});
        assert_eq!(config["properties"]["volume"], volume);
        assert_eq!(
            config["properties"]["alarms"]["type"],
            json!(["array", "null"])
        );
    }
}
