//! The token side over real HTTP: bearer checks on the Web API, single-use refresh tokens
//! that rotate, expiry, and the authorization-code exchange.

use reqwest::Method;
use serde_json::json;

use super::{call, call_with, error_of, mock_with_pi, refresh, token};
use crate::spotify_mock::{Endpoint, Fault, SpotifyMock};

#[tokio::test]
async fn refresh_rotates_both_tokens_and_the_old_refresh_token_dies() {
    let mock = mock_with_pi().await;
    let (old_access, old_refresh) = (mock.access_token(), mock.refresh_token());

    let fresh = refresh(&mock, &old_refresh).await;

    assert_eq!(fresh.status, 200);
    let body = fresh.body.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["access_token"], mock.access_token());
    assert_eq!(body["refresh_token"], mock.refresh_token());
    assert_ne!(mock.access_token(), old_access);
    assert_ne!(mock.refresh_token(), old_refresh);

    let reused = refresh(&mock, &old_refresh).await;
    assert_eq!(reused.status, 400);
    let expected =
        json!({ "error": "invalid_grant", "error_description": "Invalid refresh token" });
    assert_eq!(reused.body, Some(expected));
    let with_old = call_with(&mock, Some(&old_access), Method::GET, "/me/player", None).await;
    assert_eq!(with_old.status, 401);
    mock.assert_all_valid();
}

#[tokio::test]
async fn an_expired_access_token_gets_401_until_refreshed() {
    let mock = mock_with_pi().await;
    mock.expire_access_token();

    let expired = call(&mock, Method::GET, "/me/player/devices", None).await;
    assert_eq!(expired.status, 401);
    assert_eq!(error_of(&expired).1, "The access token expired");

    let fresh = refresh(&mock, &mock.refresh_token()).await.body.unwrap();
    let new_token = fresh["access_token"].as_str().unwrap();
    let again = call_with(
        &mock,
        Some(new_token),
        Method::GET,
        "/me/player/devices",
        None,
    )
    .await;
    assert_eq!(again.status, 200);

    let bogus = call_with(
        &mock,
        Some("made-up"),
        Method::GET,
        "/me/player/devices",
        None,
    )
    .await;
    assert_eq!(error_of(&bogus).1, "Invalid access token");
    let none = call_with(&mock, None, Method::GET, "/me/player/devices", None).await;
    assert_eq!(none.status, 401);
    // Only the request without any Authorization header breaks the spec.
    let errors = mock.validation_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("Authorization"), "{errors:?}");
}

#[tokio::test]
async fn an_authorization_code_is_exchanged_once() {
    let mock = SpotifyMock::start().await;
    mock.set_authorization_code("the-code");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "the-code"),
        ("redirect_uri", "http://127.0.0.1:8888/callback"),
        ("client_id", "0123456789abcdef0123456789abcdef"),
        (
            "code_verifier",
            "verifier-verifier-verifier-verifier-verifier",
        ),
    ];
    let first = token(&mock, &form).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body.unwrap()["refresh_token"], mock.refresh_token());
    assert_eq!(token(&mock, &form).await.status, 400);
    mock.inject(Endpoint::Token, Fault::invalid_grant());
    let revoked = refresh(&mock, &mock.refresh_token()).await;
    assert_eq!(revoked.body.unwrap()["error"], "invalid_grant");
    mock.assert_all_valid();
}
