//! The mock's `GET /me/playlists` over real HTTP: pages that link to each other, a page cap
//! shorter than `limit`, entries with what the description allows to be missing, the limits
//! of `limit`, and the development-mode refusal; and the validator holding the route to the
//! description (`limit` at most 50, the paging object's required fields).

use reqwest::Method;
use serde_json::json;

use super::{call, call_with};
use crate::spotify_mock::{Endpoint, MockPlaylist, SpotifyMock, openapi};

fn playlists(n: usize) -> Vec<MockPlaylist> {
    (0..n)
        .map(|i| MockPlaylist::new(format!("p{i}"), format!("List {i}")))
        .collect()
}

#[tokio::test]
async fn pages_link_to_each_other_and_validate() {
    let mock = SpotifyMock::start().await;
    mock.set_playlists(playlists(5));
    mock.set_playlist_page_cap(Some(2));

    let first = call(&mock, Method::GET, "/me/playlists?limit=3", None).await;
    assert_eq!(first.status, 200);
    let page = first.body.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "capped: {page}");
    assert_eq!(page["total"], 5);
    assert_eq!(page["previous"], json!(null));
    let next = page["next"].as_str().unwrap();
    assert_eq!(
        next,
        format!("{}/me/playlists?offset=2&limit=3", mock.api_url())
    );

    let last = call(&mock, Method::GET, "/me/playlists?offset=4&limit=3", None).await;
    let page = last.body.unwrap();
    assert_eq!(page["items"][0]["uri"], "spotify:playlist:p4");
    assert_eq!(page["items"][0]["items"]["total"], 10);
    assert_eq!(page["next"], json!(null));
    assert!(page["previous"].is_string());

    // Past the end: an empty page.
    let beyond = call(&mock, Method::GET, "/me/playlists?offset=40", None).await;
    assert_eq!(beyond.body.unwrap()["items"], json!([]));
    mock.assert_all_valid();
}

#[tokio::test]
async fn bare_entries_limits_and_refusals() {
    let mock = SpotifyMock::start().await;
    mock.set_playlists(vec![MockPlaylist::new("bare", "Bare").bare()]);
    let page = call(&mock, Method::GET, "/me/playlists", None)
        .await
        .body
        .unwrap();
    let entry = &page["items"][0];
    assert_eq!(entry["owner"]["display_name"], json!(null));
    assert_eq!(entry["images"], json!([]));
    assert!(entry.get("items").is_none() && entry.get("tracks").is_none());
    assert_eq!(page["limit"], 20, "Spotify's default");

    let too_many = call(&mock, Method::GET, "/me/playlists?limit=51", None).await;
    assert_eq!(too_many.status, 400);
    let anonymous = call_with(&mock, None, Method::GET, "/me/playlists", None).await;
    assert_eq!(anonymous.status, 401);

    mock.refuse_playlists_in_development_mode();
    let refused = call(&mock, Method::GET, "/me/playlists", None).await;
    assert_eq!(refused.status, 403);
    mock.clear_faults();
    assert_eq!(
        call(&mock, Method::GET, "/me/playlists", None).await.status,
        200
    );

    // The validator names what was wrong: the limit asked (the mock answered it anyway, as
    // the real API does, with a 400) and the request without a token.
    let errors = mock.validation_errors();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].contains("limit") && errors[0].contains("maximum 50"),
        "{errors:?}"
    );
    assert!(errors[1].contains("Authorization"), "{errors:?}");
    assert_eq!(mock.requests_to(Endpoint::Playlists).len(), 5);
}

#[test]
fn a_page_without_the_paging_fields_is_rejected() {
    let mut request = crate::spotify_mock::RecordedRequest {
        endpoint: Some(Endpoint::Playlists),
        method: "GET".into(),
        path: "/v1/me/playlists".into(),
        query: vec![("limit".into(), "50".into())],
        headers_authorization: Some("Bearer token".into()),
        body: None,
        body_len: 0,
        content_type: None,
        status: 200,
        response_body: Some(json!({ "items": [{ "id": "a", "name": 7 }] })),
        at: std::time::Instant::now(),
    };
    let errors = openapi::validate(&request).unwrap_err();
    for field in ["href", "limit", "next", "offset", "previous", "total"] {
        assert!(
            errors.iter().any(|e| e.contains(&format!("`{field}`"))),
            "{field}: {errors:?}"
        );
    }
    assert!(
        errors.iter().any(|e| e.contains("items[0].name")),
        "{errors:?}"
    );
    request.status = 403;
    request.response_body = Some(json!({ "error": { "status": 403, "message": "Forbidden" } }));
    assert_eq!(openapi::validate(&request), Ok(()));
}
