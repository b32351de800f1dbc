//! The values tests exchange with the mock: devices, endpoints, faults, the player snapshot
//! and recorded exchanges. Plain data with a few constructors; no state, no IO.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A Spotify Connect device as the account sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockDevice {
    pub id: String,
    pub name: String,
    /// Free text on the real API ("Speaker", "Computer", new ones appear): not an enum.
    pub device_type: String,
    pub volume_percent: Option<u32>,
    pub supports_volume: bool,
    /// When set, the device refuses every player command (403 "Restriction violated").
    pub is_restricted: bool,
    /// When set, the volume call answers 404 "Device not found" until the device is the
    /// active one (a transfer or a play made it so), like a receiver that is not awake.
    pub volume_only_when_active: bool,
}

impl MockDevice {
    /// A controllable speaker at 100 % (receivers often start there).
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> MockDevice {
        MockDevice {
            id: id.into(),
            name: name.into(),
            device_type: "Speaker".into(),
            volume_percent: Some(100),
            supports_volume: true,
            is_restricted: false,
            volume_only_when_active: false,
        }
    }

    /// Refuses the volume (404) until playback was transferred to it.
    pub fn volume_only_when_active(mut self) -> MockDevice {
        self.volume_only_when_active = true;
        self
    }

    pub fn with_type(mut self, device_type: impl Into<String>) -> MockDevice {
        self.device_type = device_type.into();
        self
    }

    /// Like librespot run with `--volume-ctrl fixed`.
    pub fn fixed_volume(mut self) -> MockDevice {
        self.supports_volume = false;
        self
    }
}

/// One of the account's playlists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockPlaylist {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    /// `null` on the wire when `None` (the description allows it).
    pub owner_name: Option<String>,
    /// `items.total` (and the deprecated `tracks.total`); both left out when `None`.
    pub items_total: Option<u64>,
    /// (url, width and height), largest first as Spotify sends them.
    pub images: Vec<(String, Option<u32>)>,
}

impl MockPlaylist {
    /// Owned by the mock's account, 10 items, a 640 and a 60 pixel cover.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> MockPlaylist {
        let id = id.into();
        MockPlaylist {
            images: vec![
                (format!("https://mosaic.scdn.co/640/{id}"), Some(640)),
                (format!("https://mosaic.scdn.co/60/{id}"), Some(60)),
            ],
            id,
            name: name.into(),
            owner_id: "mock-user".into(),
            owner_name: Some("Mock Listener".into()),
            items_total: Some(10),
        }
    }

    /// What the description allows to be missing is missing: no owner name, count or image.
    pub fn bare(mut self) -> MockPlaylist {
        self.owner_name = None;
        self.items_total = None;
        self.images.clear();
        self
    }
}

/// The endpoints the mock serves; faults are queued per endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Devices,
    PlaybackState,
    Transfer,
    Play,
    Pause,
    Volume,
    Shuffle,
    Token,
    /// `GET /v1/me`, the account (linking reads its name and plan).
    Me,
    /// `GET /v1/me/playlists`, the account's own and followed playlists.
    Playlists,
}

/// A misbehaviour for one request (or every request, with `inject_forever`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// An error status with a Spotify error body (an OAuth error body on [`Endpoint::Token`]).
    Status {
        status: u16,
        message: String,
        reason: Option<String>,
    },
    /// 429 with `Retry-After: secs`.
    RetryAfter(u64),
    /// Answer normally, but only after this delay. The request takes effect on arrival,
    /// as when the network loses or slows the answer of a command Spotify did carry out.
    Delay(Duration),
}

impl Fault {
    pub fn status(status: u16, message: &str, reason: Option<&str>) -> Fault {
        Fault::Status {
            status,
            message: message.into(),
            reason: reason.map(str::to_owned),
        }
    }

    pub fn premium_required() -> Fault {
        Fault::status(
            403,
            "Player command failed: Premium required",
            Some("PREMIUM_REQUIRED"),
        )
    }

    /// What a cold receiver answers right after it (re)starts.
    pub fn restriction_violated() -> Fault {
        Fault::status(403, "Player command failed: Restriction violated", None)
    }

    pub fn device_not_found() -> Fault {
        Fault::status(404, "Device not found", None)
    }

    /// What a receiver (or a front end) that will not take the request answers; the spec
    /// lists no 415, the real service sends it.
    pub fn unsupported_media_type() -> Fault {
        Fault::status(415, "Unsupported media type", None)
    }

    pub fn server_error() -> Fault {
        Fault::status(500, "Server error.", None)
    }

    pub fn bad_gateway() -> Fault {
        Fault::status(502, "Bad gateway.", None)
    }

    pub fn service_unavailable() -> Fault {
        Fault::status(503, "Service unavailable", None)
    }

    pub fn unauthorized() -> Fault {
        Fault::status(401, "The access token expired", None)
    }

    /// For [`Endpoint::Playlists`]: an app in development mode refused an endpoint (the
    /// Web API gives no reason; the message is Spotify's generic one).
    pub fn development_mode() -> Fault {
        Fault::status(403, "Forbidden", None)
    }

    /// A login made before the scope the endpoint needs was asked for.
    pub fn insufficient_scope() -> Fault {
        Fault::status(403, "Insufficient client scope", None)
    }

    /// For [`Endpoint::Token`]: the refresh token is dead (revoked, or past its six months).
    pub fn invalid_grant() -> Fault {
        Fault::status(400, "Refresh token revoked", Some("invalid_grant"))
    }
}

/// A snapshot of the account's playback.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MockPlayer {
    pub is_playing: bool,
    /// The active device; `None` means `GET /me/player` answers 204.
    pub device_id: Option<String>,
    pub context_uri: Option<String>,
    pub uris: Vec<String>,
    pub offset: Option<Value>,
    pub position_ms: u64,
    pub shuffle: bool,
    /// Volume of every device that reports one, by device id.
    pub volumes: BTreeMap<String, u32>,
}

/// One exchange as the mock saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// `None` for a path or method the mock does not serve.
    pub endpoint: Option<Endpoint>,
    pub method: String,
    /// Full path, including `/v1` for the Web API.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers_authorization: Option<String>,
    /// The JSON body, or for `/api/token` the form fields as a JSON object of strings.
    pub body: Option<Value>,
    /// Bytes of body sent, parsable or not: a body the operation does not take is refused
    /// even when it is `{}` or not JSON at all.
    pub body_len: usize,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    pub status: u16,
    pub response_body: Option<Value>,
    /// When the request arrived.
    pub at: Instant,
}

impl RecordedRequest {
    /// The first value of a query parameter.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}
