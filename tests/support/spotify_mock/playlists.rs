//! The mock's `GET /v1/me/playlists`: the account's playlists in pages, shaped as the OpenAPI
//! description's `PagingPlaylistObject` (absolute `href`/`next`/`previous` on the mock's own
//! address). `limit` (1-50, default 20) and `offset` (0-100000) are checked as the real API
//! does; a page cap makes pages shorter than asked, as Spotify may. Refusals (development
//! mode, a missing scope) are injected faults. Reached after the bearer check; no IO.

use serde_json::{Value, json};

use super::server::{Incoming, Reply};
use super::{MockPlaylist, State};

pub(super) fn page(state: &State, incoming: &Incoming) -> Reply {
    let number = |name: &str, default: u64| match incoming.param(name) {
        None => Ok(default),
        Some(raw) => raw.parse::<u64>().map_err(|_| ()),
    };
    let limit = match number("limit", 20) {
        Ok(limit) if (1..=50).contains(&limit) => limit,
        _ => return Reply::api_error(400, "Invalid limit", None),
    };
    let offset = match number("offset", 0) {
        Ok(offset) if offset <= 100_000 => offset,
        _ => return Reply::api_error(400, "Invalid offset", None),
    };
    let size = state.playlist_page_cap.map_or(limit, |cap| cap.min(limit));
    let all = &state.playlists;
    let total = all.len() as u64;
    let start = offset.min(total) as usize;
    let end = (offset + size).min(total) as usize;
    let items: Vec<Value> = all[start..end].iter().map(playlist_json).collect();
    let at = |offset: u64| {
        format!(
            "{}/me/playlists?offset={offset}&limit={limit}",
            state.api_base
        )
    };
    let next = (end < all.len()).then(|| at(end as u64));
    let previous = (offset > 0).then(|| at(offset.saturating_sub(limit)));
    Reply::ok(json!({
        "href": at(offset),
        "items": items,
        "limit": limit,
        "next": next,
        "offset": offset,
        "previous": previous,
        "total": total,
    }))
}

fn playlist_json(playlist: &MockPlaylist) -> Value {
    let id = &playlist.id;
    let mut owner = json!({
        "external_urls": { "spotify": format!("https://open.spotify.com/user/{}", playlist.owner_id) },
        "href": format!("https://api.spotify.com/v1/users/{}", playlist.owner_id),
        "id": playlist.owner_id,
        "type": "user",
        "uri": format!("spotify:user:{}", playlist.owner_id),
        "display_name": playlist.owner_name,
    });
    let images: Vec<Value> = playlist
        .images
        .iter()
        .map(|(url, size)| json!({ "url": url, "height": size, "width": size }))
        .collect();
    let mut entry = json!({
        "collaborative": false,
        "description": "",
        "external_urls": { "spotify": format!("https://open.spotify.com/playlist/{id}") },
        "href": format!("https://api.spotify.com/v1/playlists/{id}"),
        "id": id,
        "images": images,
        "name": playlist.name,
        "owner": owner.take(),
        "public": false,
        "snapshot_id": "AAAAAmock",
        "type": "playlist",
        "uri": format!("spotify:playlist:{id}"),
    });
    if let Some(total) = playlist.items_total {
        let reference = json!({ "href": format!("https://api.spotify.com/v1/playlists/{id}/items"), "total": total });
        entry["items"] = reference.clone();
        entry["tracks"] = reference;
    }
    entry
}
