//! An in-process fake of the Spotify Web API (`/v1/me/player*`, `/v1/me/playlists`) and of the accounts service
//! (`POST /api/token`) for tests. This file owns the handle tests hold and the fake account's
//! state: devices, player, playlists, tokens, injected faults and the log of every exchange;
//! the values tests pass in and get back are in `types.rs`. `server.rs` turns HTTP into state
//! changes (with `player.rs`, `playlists.rs` and `accounts.rs`); `openapi.rs` (with `schema.rs` and `token_rules.rs`)
//! checks the log against the vendored OpenAPI description. Nothing here sleeps or polls: waiting for a
//! request is driven by a watch channel bumped on every recorded exchange.

#![allow(dead_code)]

mod accounts;
pub mod openapi;
mod player;
mod playlists;
mod schema;
mod server;
mod token_rules;
mod types;

pub use types::{Endpoint, Fault, MockDevice, MockPlayer, MockPlaylist, RecordedRequest};

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{oneshot, watch};

/// A running mock. Serves on 127.0.0.1:0 on the current tokio runtime until dropped.
pub struct SpotifyMock {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// Number of recorded exchanges; waiters watch it instead of polling.
    recorded: watch::Sender<usize>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not turn every later assertion into a poison error.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, request: RecordedRequest) {
        self.lock().requests.push(request);
        self.recorded.send_modify(|count| *count += 1);
    }
}

struct State {
    /// The mock's own Web API base (`http://127.0.0.1:PORT/v1`), for paging links.
    api_base: String,
    devices: Vec<MockDevice>,
    playlists: Vec<MockPlaylist>,
    /// At most this many playlists per page, whatever `limit` asks.
    playlist_page_cap: Option<u64>,
    player: MockPlayer,
    repeat_state: &'static str,
    /// Unix milliseconds of the last playback change (the `timestamp` field).
    changed_at_ms: u64,
    faults_once: HashMap<Endpoint, VecDeque<Fault>>,
    faults_forever: HashMap<Endpoint, Fault>,
    tokens: Tokens,
    requests: Vec<RecordedRequest>,
}

struct Tokens {
    serial: u32,
    access: String,
    access_expired: bool,
    refresh: String,
    /// Every access token ever issued: an old one is "expired", a never-issued one "invalid".
    issued_access: HashSet<String>,
    /// Every refresh token ever issued, oldest first.
    issued_refresh: Vec<String>,
    /// When set, only this authorization code is accepted.
    expected_code: Option<String>,
    used_codes: HashSet<String>,
    /// Codes issued by [`SpotifyMock::authorize`], with what their exchange must match.
    grants: HashMap<String, accounts::Grant>,
    /// When set, `authorize` and the exchange accept only this client ID.
    client_id: Option<String>,
    /// The account `GET /me` describes.
    display_name: String,
    product: String,
}

impl State {
    fn new() -> State {
        let mut tokens = Tokens {
            serial: 0,
            access: String::new(),
            access_expired: false,
            refresh: String::new(),
            issued_access: HashSet::new(),
            issued_refresh: Vec::new(),
            expected_code: None,
            used_codes: HashSet::new(),
            grants: HashMap::new(),
            client_id: None,
            display_name: "Mock Listener".into(),
            product: "premium".into(),
        };
        tokens.rotate();
        State {
            api_base: String::new(),
            devices: Vec::new(),
            playlists: Vec::new(),
            playlist_page_cap: None,
            player: MockPlayer::default(),
            repeat_state: "off",
            changed_at_ms: 0,
            faults_once: HashMap::new(),
            faults_forever: HashMap::new(),
            tokens,
            requests: Vec::new(),
        }
    }

    /// Once-faults first, in order; then the standing fault, if any.
    fn take_fault(&mut self, endpoint: Endpoint) -> Option<Fault> {
        if let Some(fault) = self
            .faults_once
            .get_mut(&endpoint)
            .and_then(VecDeque::pop_front)
        {
            return Some(fault);
        }
        self.faults_forever.get(&endpoint).cloned()
    }

    fn snapshot(&self) -> MockPlayer {
        let mut player = self.player.clone();
        player.volumes = self
            .devices
            .iter()
            .filter_map(|d| d.volume_percent.map(|v| (d.id.clone(), v)))
            .collect();
        player
    }
}

impl Tokens {
    /// Issues a new access token and a new (single-use) refresh token.
    fn rotate(&mut self) {
        self.serial += 1;
        self.access = secret("access", self.serial);
        self.refresh = secret("refresh", self.serial);
        self.access_expired = false;
        self.issued_access.insert(self.access.clone());
        self.issued_refresh.push(self.refresh.clone());
    }
}

/// `mock-KIND-SERIAL-` and 24 random letters and digits: recognisable in a failure message,
/// and never found anywhere by accident (a scan for it cannot pass or fail by chance).
pub(crate) fn secret(kind: &str, serial: u32) -> String {
    let random: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(24)
        .collect();
    format!("mock-{kind}-{serial}-{random}")
}

impl SpotifyMock {
    pub async fn start() -> SpotifyMock {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the loopback interface accepts a bind to port 0");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let (recorded, _) = watch::channel(0);
        let mut state = State::new();
        state.api_base = format!("http://{addr}/v1");
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            recorded,
        });
        let app = server::router(Arc::clone(&shared));
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        SpotifyMock {
            shared,
            addr,
            shutdown: Some(shutdown),
        }
    }

    pub fn api_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn accounts_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the device list. If the active device is gone, so is the playback.
    pub fn set_devices(&self, devices: Vec<MockDevice>) {
        let mut state = self.shared.lock();
        state.devices = devices;
        let active = state.player.device_id.clone();
        if let Some(active) = active
            && !state.devices.iter().any(|d| d.id == active)
        {
            state.player.device_id = None;
            state.player.is_playing = false;
        }
    }

    pub fn devices(&self) -> Vec<MockDevice> {
        self.shared.lock().devices.clone()
    }

    /// Replaces the account's playlists (in the order `GET /me/playlists` lists them).
    pub fn set_playlists(&self, playlists: Vec<MockPlaylist>) {
        self.shared.lock().playlists = playlists;
    }

    /// Pages hold at most `cap` playlists, fewer than a client's `limit` (`None`: as asked).
    pub fn set_playlist_page_cap(&self, cap: Option<u64>) {
        self.shared.lock().playlist_page_cap = cap;
    }

    /// Like an app in development mode that Spotify refuses the playlist listing: every
    /// `GET /me/playlists` answers 403 until [`SpotifyMock::clear_faults`].
    pub fn refuse_playlists_in_development_mode(&self) {
        self.inject_forever(Endpoint::Playlists, Fault::development_mode());
    }

    pub fn inject(&self, endpoint: Endpoint, fault: Fault) {
        let mut state = self.shared.lock();
        state
            .faults_once
            .entry(endpoint)
            .or_default()
            .push_back(fault);
    }

    /// Applies to every request of `endpoint` (after any queued once-faults) until
    /// [`SpotifyMock::clear_faults`]; a second call replaces the first.
    pub fn inject_forever(&self, endpoint: Endpoint, fault: Fault) {
        self.shared.lock().faults_forever.insert(endpoint, fault);
    }

    pub fn clear_faults(&self) {
        let mut state = self.shared.lock();
        state.faults_once.clear();
        state.faults_forever.clear();
    }

    /// Playback stops by itself (the track ended, the receiver dropped it).
    pub fn stop_playback(&self) {
        let mut state = self.shared.lock();
        state.player.is_playing = false;
        state.changed_at_ms = player::now_ms();
    }

    pub fn player(&self) -> MockPlayer {
        self.shared.lock().snapshot()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn requests_to(&self, endpoint: Endpoint) -> Vec<RecordedRequest> {
        let state = self.shared.lock();
        let matching = state
            .requests
            .iter()
            .filter(|r| r.endpoint == Some(endpoint));
        matching.cloned().collect()
    }

    /// The first recorded request (earlier ones included) matching `pred`, waiting up to
    /// `timeout` for it to arrive.
    pub async fn wait_for_request(
        &self,
        pred: impl Fn(&RecordedRequest) -> bool,
        timeout: Duration,
    ) -> Option<RecordedRequest> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut recorded = self.shared.recorded.subscribe();
        loop {
            // Mark the count seen *before* looking, so a request recorded in between still
            // wakes the `changed()` below.
            recorded.borrow_and_update();
            if let Some(found) = self.requests().into_iter().find(|r| pred(r)) {
                return Some(found);
            }
            match tokio::time::timeout_at(deadline, recorded.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    /// The current access token (after `expire_access_token`, the expired one).
    pub fn access_token(&self) -> String {
        self.shared.lock().tokens.access.clone()
    }

    pub fn refresh_token(&self) -> String {
        self.shared.lock().tokens.refresh.clone()
    }

    pub fn expire_access_token(&self) {
        self.shared.lock().tokens.access_expired = true;
    }

    /// Only `code` is accepted by the `authorization_code` grant (by default any non-empty
    /// code is); each code works once.
    pub fn set_authorization_code(&self, code: &str) {
        self.shared.lock().tokens.expected_code = Some(code.to_owned());
    }

    /// What Spotify's authorise page does when the user allows access: checks the link the
    /// daemon made (client ID, `response_type`, S256 challenge, loopback redirect URI) and
    /// returns the address the browser would end on, with a fresh code and the `state`.
    pub fn authorize(&self, authorize_url: &str) -> Result<String, String> {
        accounts::authorize(&mut self.shared.lock().tokens, authorize_url)
    }

    /// Only `client_id` is known to the mock's accounts service.
    pub fn register_client(&self, client_id: &str) {
        self.shared.lock().tokens.client_id = Some(client_id.to_owned());
    }

    /// Codes issued so far stop working, as Spotify's do after a few minutes.
    pub fn expire_codes(&self) {
        let mut state = self.shared.lock();
        for grant in state.tokens.grants.values_mut() {
            grant.expired = true;
        }
    }

    /// The account `GET /me` answers with (default "Mock Listener", premium).
    pub fn set_account(&self, display_name: &str, product: &str) {
        let mut state = self.shared.lock();
        state.tokens.display_name = display_name.to_owned();
        state.tokens.product = product.to_owned();
    }

    /// Every secret of the mock's accounts service so far: access and refresh tokens issued,
    /// authorization codes issued, and the PKCE code verifiers clients sent. None of them may
    /// ever appear in a daemon's answer or log.
    pub fn secrets(&self) -> Vec<String> {
        let state = self.shared.lock();
        let tokens = &state.tokens;
        let mut secrets: Vec<String> = tokens.issued_access.iter().cloned().collect();
        secrets.extend(tokens.issued_refresh.iter().cloned());
        secrets.extend(tokens.grants.keys().cloned());
        secrets.extend(tokens.used_codes.iter().cloned());
        let verifiers = state.requests.iter().filter_map(|r| {
            let form = r.body.as_ref()?.as_object()?;
            (r.endpoint == Some(Endpoint::Token)).then_some(())?;
            form.get("code_verifier")?.as_str().map(str::to_owned)
        });
        secrets.extend(verifiers);
        secrets.sort();
        secrets.dedup();
        secrets
    }

    /// One line per recorded exchange that does not match the OpenAPI description.
    pub fn validation_errors(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (index, request) in self.requests().iter().enumerate() {
            if let Err(errors) = openapi::validate(request) {
                let target = openapi::describe(request);
                lines.extend(
                    errors
                        .into_iter()
                        .map(|e| format!("#{index} {target}: {e}")),
                );
            }
        }
        lines
    }

    pub fn assert_all_valid(&self) {
        let errors = self.validation_errors();
        assert!(
            errors.is_empty(),
            "{} problem(s) against the Spotify OpenAPI description:\n  {}",
            errors.len(),
            errors.join("\n  ")
        );
    }
}

impl Drop for SpotifyMock {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
