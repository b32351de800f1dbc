//! The matrix's rows: every fault the Spotify mock can inject (those of `faults.rs` and
//! `faults/start_order.rs`, and the rest it offers), what an alarm must do with each, the
//! words its reason must hold, and how each is set up on the mock.

use std::time::Duration;

use tokio::time::Instant;

use super::rig::Rig;
use crate::spotify_mock::{Endpoint, Fault, MockDevice};

/// What an alarm does with a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Spotify plays by the deadline; the local sound never starts.
    Spotify,
    /// A refusal no retry can change: the local sound before the deadline.
    LocalAtOnce,
    /// Spotify never confirms: the local sound at the deadline.
    LocalAtDeadline,
    /// Spotify plays, then stops by itself: the local sound after two checks.
    SpotifyThenLocal,
}

#[derive(Clone, Copy, Debug)]
pub enum Case {
    NoFault,
    TokenExpired,
    RefreshRefused,
    ClientRefused,
    RefreshUnavailable,
    AccessRevoked,
    ScopeMissing,
    NotAllowed,
    PremiumRequired,
    ColdReceiver,
    RestrictedReceiver,
    TransferNotFound,
    NewDeviceId,
    ReceiverBackLater,
    NoReceiver,
    UnknownDeviceType,
    DeviceListFails,
    RateLimited,
    RateLimitedPastDeadline,
    ServerErrors,
    SlowAnswer,
    PlayAnsweredTooLate,
    Unreachable,
    StopsMidRing,
    FixedVolume,
    VolumeRefusedOnce,
    VolumeRefused,
    VolumeOnlyWhenActive,
}

pub const CASES: [Case; 28] = [
    Case::NoFault,
    Case::TokenExpired,
    Case::RefreshRefused,
    Case::ClientRefused,
    Case::RefreshUnavailable,
    Case::AccessRevoked,
    Case::ScopeMissing,
    Case::NotAllowed,
    Case::PremiumRequired,
    Case::ColdReceiver,
    Case::RestrictedReceiver,
    Case::TransferNotFound,
    Case::NewDeviceId,
    Case::ReceiverBackLater,
    Case::NoReceiver,
    Case::UnknownDeviceType,
    Case::DeviceListFails,
    Case::RateLimited,
    Case::RateLimitedPastDeadline,
    Case::ServerErrors,
    Case::SlowAnswer,
    Case::PlayAnsweredTooLate,
    Case::Unreachable,
    Case::StopsMidRing,
    Case::FixedVolume,
    Case::VolumeRefusedOnce,
    Case::VolumeRefused,
    Case::VolumeOnlyWhenActive,
];

impl Case {
    pub fn name(self) -> &'static str {
        match self {
            Case::NoFault => "no fault",
            Case::TokenExpired => "access token expired (refreshed)",
            Case::RefreshRefused => "refresh refused (invalid_grant)",
            Case::ClientRefused => "client refused (invalid_client)",
            Case::RefreshUnavailable => "refresh answered 503 once",
            Case::AccessRevoked => "401 again after the refresh",
            Case::ScopeMissing => "insufficient scope (403)",
            Case::NotAllowed => "user not in the app's allowlist",
            Case::PremiumRequired => "Premium required (403)",
            Case::ColdReceiver => "cold receiver: restriction once",
            Case::RestrictedReceiver => "receiver refuses every command",
            Case::TransferNotFound => "transfer 404 once",
            Case::NewDeviceId => "receiver under a new id",
            Case::ReceiverBackLater => "receiver offline, back in 2 s",
            Case::NoReceiver => "no receiver at all",
            Case::UnknownDeviceType => "unknown device type, new id",
            Case::DeviceListFails => "device list 503",
            Case::RateLimited => "429 Retry-After 2 on play",
            Case::RateLimitedPastDeadline => "429 Retry-After 30",
            Case::ServerErrors => "500, 502, 503 on play",
            Case::SlowAnswer => "device list answered in 2 s",
            Case::PlayAnsweredTooLate => "play answered too late",
            Case::Unreachable => "Spotify unreachable",
            Case::StopsMidRing => "playback stops mid-ring",
            Case::FixedVolume => "fixed-volume receiver",
            Case::VolumeRefusedOnce => "volume refused once (415)",
            Case::VolumeRefused => "volume always refused (415)",
            Case::VolumeOnlyWhenActive => "volume only once active",
        }
    }

    pub fn expect(self) -> Expect {
        match self {
            Case::RefreshRefused
            | Case::ClientRefused
            | Case::AccessRevoked
            | Case::ScopeMissing
            | Case::NotAllowed
            | Case::PremiumRequired
            | Case::RateLimitedPastDeadline
            | Case::VolumeRefused => Expect::LocalAtOnce,
            Case::RestrictedReceiver
            | Case::NoReceiver
            | Case::PlayAnsweredTooLate
            | Case::Unreachable => Expect::LocalAtDeadline,
            Case::StopsMidRing => Expect::SpotifyThenLocal,
            _ => Expect::Spotify,
        }
    }

    /// Words the reason must hold when Spotify does not play.
    pub fn why(self) -> &'static str {
        match self {
            Case::RefreshRefused => "link Spotify again",
            Case::ClientRefused => "client_id",
            Case::AccessRevoked => "refused the login",
            Case::ScopeMissing => "lacks a permission",
            Case::NotAllowed => "may not use the app",
            Case::PremiumRequired => "Premium",
            Case::RestrictedReceiver => "refused the command",
            Case::RateLimitedPastDeadline => "asked to wait 30 s",
            Case::NoReceiver => "was not found",
            Case::PlayAnsweredTooLate => "within 5 s",
            Case::Unreachable => "could not be reached",
            Case::StopsMidRing => "stopped playing",
            Case::VolumeRefused => "volume",
            _ => "",
        }
    }

    /// Sets the fault up; `t0` is the moment the sound must start from (in the future after
    /// a snooze), for faults that change over time.
    pub async fn arm(self, rig: &Rig, t0: Instant) {
        let mock = &rig.mock;
        let bedroom = || MockDevice::new("dev-2", "Bedroom");
        let phone = || MockDevice::new("phone-1", "Pixel").with_type("Smartphone");
        match self {
            Case::NoFault | Case::StopsMidRing => {}
            Case::TokenExpired => mock.expire_access_token(),
            Case::RefreshRefused => {
                mock.expire_access_token();
                mock.inject(Endpoint::Token, Fault::invalid_grant());
            }
            Case::ClientRefused => {
                mock.expire_access_token();
                let refused = Fault::status(401, "Invalid client", Some("invalid_client"));
                mock.inject_forever(Endpoint::Token, refused);
            }
            Case::RefreshUnavailable => {
                mock.expire_access_token();
                mock.inject(Endpoint::Token, Fault::service_unavailable());
            }
            Case::AccessRevoked => mock.inject_forever(Endpoint::Play, Fault::unauthorized()),
            Case::ScopeMissing => mock.inject_forever(Endpoint::Play, Fault::insufficient_scope()),
            Case::NotAllowed => {
                let message = "Check settings on developer.spotify.com/dashboard, the user may not be registered.";
                mock.inject_forever(Endpoint::Play, Fault::status(403, message, None));
            }
            Case::PremiumRequired => mock.inject_forever(Endpoint::Play, Fault::premium_required()),
            Case::ColdReceiver => mock.inject(Endpoint::Play, Fault::restriction_violated()),
            Case::RestrictedReceiver => mock.set_devices(vec![MockDevice {
                is_restricted: true,
                ..MockDevice::new("dev-1", "Bedroom")
            }]),
            Case::TransferNotFound => mock.inject(Endpoint::Transfer, Fault::device_not_found()),
            Case::NewDeviceId => mock.set_devices(vec![phone(), bedroom()]),
            Case::ReceiverBackLater => {
                mock.set_devices(vec![]);
                let mock = mock.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(t0 + Duration::from_secs(2)).await;
                    mock.set_devices(vec![phone(), bedroom()]);
                });
            }
            Case::NoReceiver => mock.set_devices(vec![]),
            Case::UnknownDeviceType => mock.set_devices(vec![
                MockDevice::new("bb-3000", "Bedroom").with_type("Boombox3000"),
            ]),
            Case::DeviceListFails => {
                mock.inject_forever(Endpoint::Devices, Fault::service_unavailable())
            }
            Case::RateLimited => mock.inject(Endpoint::Play, Fault::RetryAfter(2)),
            Case::RateLimitedPastDeadline => mock.inject(Endpoint::Devices, Fault::RetryAfter(30)),
            Case::ServerErrors => {
                mock.inject(Endpoint::Play, Fault::server_error());
                mock.inject(Endpoint::Play, Fault::bad_gateway());
                mock.inject(Endpoint::Play, Fault::service_unavailable());
            }
            Case::SlowAnswer => {
                mock.inject(Endpoint::Devices, Fault::Delay(Duration::from_secs(2)))
            }
            Case::PlayAnsweredTooLate => {
                mock.inject_forever(Endpoint::Play, Fault::Delay(Duration::from_secs(30)))
            }
            Case::Unreachable => {
                let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let url = format!("http://{}/v1", closed.local_addr().unwrap());
                drop(closed);
                rig.change_config(move |c| c.spotify.api_base_url = Some(url))
                    .await;
            }
            Case::FixedVolume => {
                mock.set_devices(vec![MockDevice::new("dev-1", "Bedroom").fixed_volume()])
            }
            Case::VolumeRefusedOnce => {
                mock.inject(Endpoint::Volume, Fault::unsupported_media_type())
            }
            Case::VolumeRefused => {
                mock.inject_forever(Endpoint::Volume, Fault::unsupported_media_type())
            }
            Case::VolumeOnlyWhenActive => mock.set_devices(vec![
                MockDevice::new("dev-1", "Bedroom").volume_only_when_active(),
            ]),
        }
    }
}
