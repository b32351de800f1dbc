//! Hand-written rules for `POST /api/token`: the accounts service is not in the OpenAPI
//! description, so its form fields (by grant type) and its OAuth response shapes are checked
//! here, as `openapi::validate` asks. Only inspects a recorded exchange; no IO.

use serde_json::Value;

use super::RecordedRequest;

/// The accounts service is not in the spec: form fields by grant type, OAuth response shapes.
pub(super) fn validate_token(request: &RecordedRequest, errors: &mut Vec<String>) {
    if request.method != "POST" {
        errors.push(format!("/api/token takes POST, not {}", request.method));
    }
    if !request.query.is_empty() {
        errors.push("/api/token takes its fields in a form body, not in the query".into());
    }
    let Some(form) = request.body.as_ref().and_then(Value::as_object) else {
        errors.push("/api/token needs an application/x-www-form-urlencoded body".into());
        return;
    };
    let field = |name: &str| {
        form.get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let (required, optional): (&[&str], &[&str]) = match field("grant_type") {
        Some("refresh_token") => (&["refresh_token"], &["client_id"]),
        Some("authorization_code") => (&["code", "redirect_uri"], &["client_id", "code_verifier"]),
        Some("client_credentials") => (&[], &[]),
        Some(other) => {
            errors.push(format!("unknown grant_type `{other}`"));
            return;
        }
        None => {
            errors.push("form field `grant_type` is missing".into());
            return;
        }
    };
    for name in required {
        if field(name).is_none() {
            errors.push(format!("form field `{name}` is missing"));
        }
    }
    for name in form.keys() {
        let known = name == "grant_type"
            || required.contains(&name.as_str())
            || optional.contains(&name.as_str());
        if !known {
            errors.push(format!("unknown form field `{name}`"));
        }
    }
    let basic = request
        .headers_authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Basic "));
    if field("client_id").is_none() && !basic {
        errors.push(
            "neither form field `client_id` (PKCE) nor `Authorization: Basic` is given".into(),
        );
    }
    if field("code_verifier").is_some() && field("client_id").is_none() {
        errors.push("a PKCE exchange (`code_verifier`) needs form field `client_id`".into());
    }
    check_token_response(request, errors);
}

fn check_token_response(request: &RecordedRequest, errors: &mut Vec<String>) {
    let body = request.response_body.as_ref();
    let string = |name: &str| body.and_then(|b| b.get(name)).is_some_and(Value::is_string);
    match request.status {
        200 => {
            for name in ["access_token", "token_type", "scope"] {
                if !string(name) {
                    errors.push(format!(
                        "token response field `{name}` is missing or not a string"
                    ));
                }
            }
            if !body
                .and_then(|b| b.get("expires_in"))
                .is_some_and(Value::is_u64)
            {
                errors
                    .push("token response field `expires_in` is missing or not an integer".into());
            }
            if body
                .and_then(|b| b.get("refresh_token"))
                .is_some_and(|t| !t.is_string())
            {
                errors.push("token response field `refresh_token` is not a string".into());
            }
        }
        400 | 401 | 403 | 429 | 500..=599 => {
            if !string("error") {
                errors.push("token error response needs a string field `error`".into());
            }
        }
        status => errors.push(format!(
            "status {status} is not one the accounts service gives"
        )),
    }
}
