//! The player endpoints of the mock: device list, playback state, transfer, play, pause,
//! volume and shuffle, with the status codes and error bodies the real API gives (unknown
//! device 404, no active device 404 `NO_ACTIVE_DEVICE`, fixed-volume 403
//! `VOLUME_CONTROL_DISALLOW`, pause while paused 403, volume 404 on a device that is not
//! awake yet when it is marked so). It is reached only after the bearer
//! token and injected faults were dealt with, and it does no IO.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::server::{Body, Incoming, Reply};
use super::{Endpoint, MockDevice, State};

pub(super) fn respond(state: &mut State, endpoint: Endpoint, incoming: &Incoming) -> Reply {
    let result = match endpoint {
        Endpoint::Devices => Ok(devices(state)),
        Endpoint::PlaybackState => Ok(playback_state(state)),
        Endpoint::Transfer => transfer(state, incoming),
        Endpoint::Play => play(state, incoming),
        Endpoint::Pause => pause(state, incoming),
        Endpoint::Volume => volume(state, incoming),
        Endpoint::Shuffle => shuffle(state, incoming),
        Endpoint::Token | Endpoint::Me | Endpoint::Playlists => {
            Err(Reply::api_error(404, "Service not found", None))
        }
    };
    result.unwrap_or_else(|reply| reply)
}

pub(super) fn now_ms() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

fn device_not_found() -> Reply {
    Reply::api_error(404, "Device not found", None)
}

fn restriction_violated() -> Reply {
    Reply::api_error(403, "Player command failed: Restriction violated", None)
}

fn no_active_device() -> Reply {
    Reply::api_error(
        404,
        "Player command failed: No active device found",
        Some("NO_ACTIVE_DEVICE"),
    )
}

fn bad_request(message: &str) -> Reply {
    Reply::api_error(400, message, None)
}

/// The device a command targets: `device_id` if given, else the active one.
fn target(state: &State, incoming: &Incoming) -> Result<usize, Reply> {
    let id = match incoming.param("device_id") {
        Some(id) => id.to_owned(),
        None => state
            .player
            .device_id
            .clone()
            .ok_or_else(no_active_device)?,
    };
    let index = state
        .devices
        .iter()
        .position(|d| d.id == id)
        .ok_or_else(device_not_found)?;
    if state.devices[index].is_restricted {
        return Err(restriction_violated());
    }
    Ok(index)
}

fn device_json(device: &MockDevice, active: bool) -> Value {
    json!({
        "id": device.id,
        "is_active": active,
        "is_private_session": false,
        "is_restricted": device.is_restricted,
        "name": device.name,
        "type": device.device_type,
        "volume_percent": device.volume_percent,
        "supports_volume": device.supports_volume,
    })
}

fn devices(state: &State) -> Reply {
    let active = state.player.device_id.as_deref();
    let list: Vec<Value> = state
        .devices
        .iter()
        .map(|d| device_json(d, Some(d.id.as_str()) == active))
        .collect();
    Reply::ok(json!({ "devices": list }))
}

/// `spotify:playlist:ID` → ("playlist", "ID").
fn split_uri(uri: &str) -> (&str, &str) {
    let mut parts = uri.splitn(3, ':');
    let _scheme = parts.next();
    (parts.next().unwrap_or(""), parts.next().unwrap_or(""))
}

/// A full track object, as the real API sends in `item` (clients such as rspotify parse it
/// into a full-track type, so the fields are those of a real answer).
fn track_json(uri: &str) -> Value {
    let (_, id) = split_uri(uri);
    let artist = json!({
        "external_urls": { "spotify": "https://open.spotify.com/artist/0mockartist00000000001" },
        "href": "https://api.spotify.com/v1/artists/0mockartist00000000001",
        "id": "0mockartist00000000001",
        "name": "Mock Artist",
        "type": "artist",
        "uri": "spotify:artist:0mockartist00000000001",
    });
    json!({
        "album": {
            "album_type": "album",
            "available_markets": [],
            "artists": [artist],
            "external_urls": { "spotify": "https://open.spotify.com/album/0mockalbum000000000001" },
            "href": "https://api.spotify.com/v1/albums/0mockalbum000000000001",
            "id": "0mockalbum000000000001",
            "images": [],
            "name": "Mock Album",
            "release_date": "2026-01-01",
            "release_date_precision": "day",
            "total_tracks": 1,
            "type": "album",
            "uri": "spotify:album:0mockalbum000000000001",
        },
        "artists": [artist],
        "disc_number": 1,
        "duration_ms": 180_000,
        "explicit": false,
        "external_ids": { "isrc": "XX0000000001" },
        "external_urls": { "spotify": format!("https://open.spotify.com/track/{id}") },
        "href": format!("https://api.spotify.com/v1/tracks/{id}"),
        "id": id,
        "is_local": false,
        "is_playable": true,
        "name": "Mock track",
        "popularity": 0,
        "preview_url": null,
        "track_number": 1,
        "type": "track",
        "uri": uri,
    })
}

fn playback_state(state: &State) -> Reply {
    let player = &state.player;
    let Some(device) = player
        .device_id
        .as_ref()
        .and_then(|id| state.devices.iter().find(|d| &d.id == id))
    else {
        return Reply::no_content();
    };
    let context = player.context_uri.as_deref().map(|uri| {
        let (kind, id) = split_uri(uri);
        json!({
            "type": kind,
            "uri": uri,
            "href": format!("https://api.spotify.com/v1/{kind}s/{id}"),
            "external_urls": { "spotify": format!("https://open.spotify.com/{kind}/{id}") },
        })
    });
    let item = match (player.uris.first(), &player.context_uri) {
        (Some(uri), _) => Some(track_json(uri)),
        (None, Some(_)) => Some(track_json("spotify:track:6mockcontexttrack00001")),
        (None, None) => None,
    };
    // The real API wraps the flags in "disallows", unlike the spec's DisallowsObject.
    let disallows = if player.is_playing {
        json!({ "resuming": true })
    } else {
        json!({ "pausing": true })
    };
    Reply::ok(json!({
        "device": device_json(device, true),
        "shuffle_state": player.shuffle,
        "smart_shuffle": false,
        "repeat_state": state.repeat_state,
        "timestamp": state.changed_at_ms,
        "context": context,
        "progress_ms": player.position_ms,
        "item": item,
        "currently_playing_type": if item.is_some() { "track" } else { "unknown" },
        "actions": { "disallows": disallows },
        "is_playing": player.is_playing,
    }))
}

fn transfer(state: &mut State, incoming: &Incoming) -> Result<Reply, Reply> {
    let Body::Json(body) = &incoming.body else {
        return Err(bad_request("Required field device_ids missing"));
    };
    let ids = body
        .get("device_ids")
        .and_then(Value::as_array)
        .ok_or_else(|| bad_request("Required field device_ids missing"))?;
    let id = match ids.as_slice() {
        [Value::String(id)] => id.clone(),
        [_] => return Err(bad_request("device_ids must contain strings")),
        [] => return Err(bad_request("Required field device_ids missing")),
        _ => return Err(bad_request("Only one device id may be given")),
    };
    let play = match body.get("play") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(play)) => Some(*play),
        Some(_) => return Err(bad_request("play must be a boolean")),
    };
    let index = state
        .devices
        .iter()
        .position(|d| d.id == id)
        .ok_or_else(device_not_found)?;
    if state.devices[index].is_restricted {
        return Err(restriction_violated());
    }
    state.player.device_id = Some(id);
    if play == Some(true) {
        state.player.is_playing = true;
    }
    state.changed_at_ms = now_ms();
    Ok(Reply::no_content())
}

fn play(state: &mut State, incoming: &Incoming) -> Result<Reply, Reply> {
    let index = target(state, incoming)?;
    let empty = json!({});
    let body = match &incoming.body {
        Body::Json(body) => body,
        _ => &empty,
    };
    let context_uri = body.get("context_uri").and_then(Value::as_str);
    let uris = match body.get("uris") {
        None => None,
        Some(Value::Array(list)) => Some(
            list.iter()
                .map(|u| u.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad_request("uris must be an array of strings"))?,
        ),
        Some(_) => return Err(bad_request("uris must be an array of strings")),
    };
    if context_uri.is_some() && uris.is_some() {
        return Err(bad_request(
            "Only one of either context_uri or uris can be specified",
        ));
    }
    if let Some(uri) = context_uri {
        let (kind, id) = split_uri(uri);
        if !uri.starts_with("spotify:") || kind.is_empty() || id.is_empty() {
            return Err(bad_request("Non supported context uri"));
        }
    }
    for uri in uris.iter().flatten() {
        let (kind, id) = split_uri(uri);
        if !uri.starts_with("spotify:") || !matches!(kind, "track" | "episode") || id.is_empty() {
            return Err(bad_request(&format!("Invalid track uri: {uri}")));
        }
    }
    let position_ms = match body.get("position_ms") {
        None => 0,
        Some(value) => value
            .as_u64()
            .ok_or_else(|| bad_request("position_ms must be a positive integer"))?,
    };

    let player = &mut state.player;
    if let Some(uri) = context_uri {
        player.context_uri = Some(uri.to_owned());
        player.uris.clear();
    } else if let Some(uris) = uris {
        player.context_uri = None;
        player.uris = uris;
    }
    if context_uri.is_some() || body.get("uris").is_some() {
        player.offset = body.get("offset").cloned();
        player.position_ms = position_ms;
    }
    player.device_id = Some(state.devices[index].id.clone());
    player.is_playing = true;
    state.changed_at_ms = now_ms();
    Ok(Reply::no_content())
}

fn pause(state: &mut State, incoming: &Incoming) -> Result<Reply, Reply> {
    let index = target(state, incoming)?;
    let on_active = state.player.device_id.as_deref() == Some(state.devices[index].id.as_str());
    if !on_active || !state.player.is_playing {
        return Err(restriction_violated());
    }
    state.player.is_playing = false;
    state.changed_at_ms = now_ms();
    Ok(Reply::no_content())
}

fn volume(state: &mut State, incoming: &Incoming) -> Result<Reply, Reply> {
    let raw = incoming
        .param("volume_percent")
        .ok_or_else(|| bad_request("Required parameter volume_percent missing"))?;
    let percent: u32 = raw
        .parse()
        .ok()
        .filter(|p| *p <= 100)
        .ok_or_else(|| bad_request("Invalid volume_percent: must be between 0 and 100"))?;
    let index = target(state, incoming)?;
    let active = state.player.device_id.as_deref() == Some(state.devices[index].id.as_str());
    let device = &mut state.devices[index];
    if device.volume_only_when_active && !active {
        return Err(device_not_found());
    }
    if !device.supports_volume {
        return Err(Reply::api_error(
            403,
            "Player command failed: Cannot control device volume",
            Some("VOLUME_CONTROL_DISALLOW"),
        ));
    }
    device.volume_percent = Some(percent);
    Ok(Reply::no_content())
}

fn shuffle(state: &mut State, incoming: &Incoming) -> Result<Reply, Reply> {
    let on = match incoming.param("state") {
        Some("true") => true,
        Some("false") => false,
        Some(_) => return Err(bad_request("Invalid state: must be true or false")),
        None => return Err(bad_request("Required parameter state missing")),
    };
    target(state, incoming)?;
    state.player.shuffle = on;
    state.changed_at_ms = now_ms();
    Ok(Reply::no_content())
}
