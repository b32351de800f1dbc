//! The user's own playlists as Spotify lists them (`GET /me/playlists`), read for the source
//! picker. Parsing is tolerant field by field: Spotify may send a `null` entry, a `null` or
//! missing owner, image or count, and one odd entry must never hide the others. An entry is
//! dropped only when it has no playlist id an alarm accepts as its source.
//!
//! The next page is found from the `offset` in `next`, never by requesting the address Spotify
//! sent: the bearer token only ever goes to the configured API base.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::config::SpotifySource;

/// Playlists asked for per page (the most the Web API allows).
pub const PAGE_LIMIT: u32 = 50;

/// One of the user's playlists, ready to be an alarm's source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Playlist {
    pub name: String,
    /// `spotify:playlist:ID`, as `ring.source` takes it.
    #[schema(example = "spotify:playlist:37i9dQZF1DX0UrRvztWcAU")]
    pub uri: String,
    /// The owner's display name (their user id when they have none); `null` when not given.
    pub owner: Option<String>,
    /// How many items it holds (`items.total`, formerly `tracks.total`); `null` when not given.
    pub items_total: Option<u64>,
    /// A cover image (`https` only; the smallest Spotify lists). Spotify's image addresses
    /// expire within a day.
    pub image_url: Option<String>,
}

/// One page of `GET /me/playlists`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaylistPage {
    pub playlists: Vec<Playlist>,
    /// Where the next page starts; `None` on the last one.
    pub next_offset: Option<u32>,
}

/// Reads a page that was asked for at `offset`. Fails only when the answer is not a JSON
/// object at all.
pub fn parse_page(body: &str, offset: u32) -> Result<PlaylistPage, serde_json::Error> {
    let page: serde_json::Map<String, Value> = serde_json::from_str(body)?;
    let entries = page.get("items").and_then(Value::as_array);
    let playlists = entries.into_iter().flatten().filter_map(playlist).collect();
    let seen = entries.map_or(0, Vec::len);
    let next_offset = page
        .get("next")
        .and_then(Value::as_str)
        .and_then(|next| next_offset(next, offset, seen));
    Ok(PlaylistPage {
        playlists,
        next_offset,
    })
}

/// The `offset` of the `next` address; when it names none, the entries seen so far. `None`
/// unless it moves forward, so a confused answer can never loop.
fn next_offset(next: &str, offset: u32, seen: usize) -> Option<u32> {
    let named = url::Url::parse(next).ok().and_then(|url| {
        url.query_pairs()
            .find(|(key, _)| key == "offset")
            .and_then(|(_, value)| value.parse::<u32>().ok())
    });
    let counted = u32::try_from(seen).ok().and_then(|n| offset.checked_add(n));
    named.or(counted).filter(|&next| next > offset)
}

fn playlist(entry: &Value) -> Option<Playlist> {
    let entry = entry.as_object()?;
    let text = |value: Option<&Value>| {
        value
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let id = text(entry.get("id")).or_else(|| {
        text(entry.get("uri"))
            .and_then(|uri| uri.strip_prefix("spotify:playlist:").map(str::to_owned))
    })?;
    // Only what an alarm accepts as its source (Spotify's 22-character ids).
    let uri: SpotifySource = format!("spotify:playlist:{id}").parse().ok()?;
    let owner = entry.get("owner");
    let count = |field: &str| entry.get(field)?.get("total")?.as_u64();
    Some(Playlist {
        name: text(entry.get("name")).unwrap_or_else(|| "(no name)".to_owned()),
        uri: uri.uri().to_owned(),
        owner: text(owner.and_then(|o| o.get("display_name")))
            .or_else(|| text(owner.and_then(|o| o.get("id")))),
        items_total: count("items").or_else(|| count("tracks")),
        image_url: image(entry.get("images")),
    })
}

/// The smallest `https` image whose width is known, else the first `https` one.
fn image(images: Option<&Value>) -> Option<String> {
    let usable: Vec<(&str, Option<u64>)> = images?
        .as_array()?
        .iter()
        .filter_map(|image| {
            let url = image.get("url")?.as_str()?;
            url.starts_with("https://")
                .then(|| (url, image.get("width").and_then(Value::as_u64)))
        })
        .collect();
    let smallest = usable
        .iter()
        .filter_map(|(url, width)| width.map(|w| (w, *url)))
        .min_by_key(|(width, _)| *width)
        .map(|(_, url)| url);
    smallest
        .or_else(|| usable.first().map(|(url, _)| *url))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_are_read_field_by_field_and_odd_ones_do_not_hide_the_others() {
        let body = json!({
            "href": "https://api.spotify.com/v1/me/playlists?offset=0&limit=50",
            "limit": 50, "offset": 0, "previous": null, "total": 5,
            "next": "https://api.spotify.com/v1/me/playlists?offset=50&limit=50",
            "items": [
                null,
                {"id": "37i9dQZF1DX0UrRvztWcAU", "name": "Morning", "owner": {"id": "ada", "display_name": "Ada"},
                 "items": {"href": "x", "total": 12},
                 "images": [{"url": "https://i.scdn.co/640", "width": 640, "height": 640},
                            {"url": "https://i.scdn.co/60", "width": 60, "height": 60}]},
                {"id": "0ld0000000000000000001", "name": "  ", "owner": {"id": "bob", "display_name": null},
                 "tracks": {"total": 3}, "images": null},
                {"uri": "spotify:playlist:fromUri000000000000000", "name": "No id field", "owner": null,
                 "images": [{"url": "http://insecure/1", "width": 1}, {"url": "https://x/y", "width": null}]},
                {"id": "bad/id", "name": "Unplayable"},
                {"id": "tooShort", "name": "Not a Spotify id"},
                {"id": 42, "name": "Number id"},
                "not an object",
            ],
        });
        let page = parse_page(&body.to_string(), 0).unwrap();
        assert_eq!(page.next_offset, Some(50));
        assert_eq!(
            page.playlists,
            vec![
                Playlist {
                    name: "Morning".into(),
                    uri: "spotify:playlist:37i9dQZF1DX0UrRvztWcAU".into(),
                    owner: Some("Ada".into()),
                    items_total: Some(12),
                    image_url: Some("https://i.scdn.co/60".into()),
                },
                Playlist {
                    name: "(no name)".into(),
                    uri: "spotify:playlist:0ld0000000000000000001".into(),
                    owner: Some("bob".into()),
                    items_total: Some(3),
                    image_url: None,
                },
                Playlist {
                    name: "No id field".into(),
                    uri: "spotify:playlist:fromUri000000000000000".into(),
                    owner: None,
                    items_total: None,
                    image_url: Some("https://x/y".into()),
                },
            ]
        );
    }

    #[test]
    fn the_next_page_moves_forward_or_there_is_none() {
        let page = |next: Value, items: usize| {
            let entry = json!({"id": "37i9dQZF1DX0UrRvztWcAU"});
            let body = json!({"items": vec![entry; items], "next": next});
            parse_page(&body.to_string(), 50).unwrap().next_offset
        };
        assert_eq!(page(json!(null), 50), None);
        assert_eq!(
            page(
                json!("https://other.example/v1/me/playlists?offset=100"),
                50
            ),
            Some(100)
        );
        // A `next` without an offset: count what came.
        assert_eq!(
            page(json!("https://api.spotify.com/v1/me/playlists?page=2"), 7),
            Some(57)
        );
        // Backwards, standing still or nothing seen: stop rather than loop.
        assert_eq!(
            page(
                json!("https://api.spotify.com/v1/me/playlists?offset=0"),
                50
            ),
            None
        );
        assert_eq!(
            page(
                json!("https://api.spotify.com/v1/me/playlists?offset=50"),
                50
            ),
            None
        );
        assert_eq!(page(json!("not a url"), 0), None);
        // No items at all, and not an object.
        assert_eq!(parse_page("{}", 0).unwrap().playlists, vec![]);
        assert!(parse_page("[]", 0).is_err());
        assert!(parse_page("null", 0).is_err());
    }
}
