//! Injected faults over real HTTP: once-faults in order per endpoint, standing faults until
//! cleared, 429 with Retry-After, and delays that hold the answer.

use std::time::{Duration, Instant};

use reqwest::Method;

use super::{PI, call, error_of, mock_with_pi, play_playlist};
use crate::spotify_mock::{Endpoint, Fault};

#[tokio::test]
async fn injected_faults_are_used_once_each_in_order_per_endpoint() {
    let mock = mock_with_pi().await;
    mock.inject(Endpoint::Play, Fault::premium_required());
    mock.inject(Endpoint::Play, Fault::restriction_violated());
    mock.inject(Endpoint::Play, Fault::device_not_found());
    mock.inject(Endpoint::Play, Fault::server_error());
    mock.inject(Endpoint::Play, Fault::unauthorized());
    mock.inject(Endpoint::Volume, Fault::service_unavailable());

    let mut seen = Vec::new();
    for _ in 0..6 {
        let answer = play_playlist(&mock, PI).await;
        seen.push(match answer.status {
            204 => (204, String::new(), None),
            _ => {
                let (status, message, reason) = error_of(&answer);
                assert_eq!(status, u64::from(answer.status));
                (answer.status, message, reason)
            }
        });
    }

    let premium = (
        403,
        "Player command failed: Premium required".into(),
        Some("PREMIUM_REQUIRED".into()),
    );
    assert_eq!(seen[0], premium);
    assert_eq!(
        seen[1],
        (
            403,
            "Player command failed: Restriction violated".into(),
            None
        )
    );
    assert_eq!(seen[2], (404, "Device not found".into(), None));
    assert_eq!(seen[3].0, 500);
    assert_eq!(seen[4], (401, "The access token expired".into(), None));
    assert_eq!(seen[5].0, 204);
    assert!(mock.player().is_playing);
    let volume = format!("/me/player/volume?volume_percent=20&device_id={PI}");
    assert_eq!(call(&mock, Method::PUT, &volume, None).await.status, 503);
    assert_eq!(call(&mock, Method::PUT, &volume, None).await.status, 204);
    mock.assert_all_valid();
}

#[tokio::test]
async fn a_standing_fault_lasts_until_cleared_and_once_faults_come_first() {
    let mock = mock_with_pi().await;
    mock.inject_forever(Endpoint::Devices, Fault::bad_gateway());
    mock.inject(Endpoint::Devices, Fault::premium_required());

    let statuses = [
        call(&mock, Method::GET, "/me/player/devices", None)
            .await
            .status,
        call(&mock, Method::GET, "/me/player/devices", None)
            .await
            .status,
        call(&mock, Method::GET, "/me/player/devices", None)
            .await
            .status,
    ];
    assert_eq!(statuses, [403, 502, 502]);
    mock.clear_faults();
    assert_eq!(
        call(&mock, Method::GET, "/me/player/devices", None)
            .await
            .status,
        200
    );
    mock.assert_all_valid();
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let mock = mock_with_pi().await;
    mock.inject(Endpoint::PlaybackState, Fault::RetryAfter(7));

    let limited = call(&mock, Method::GET, "/me/player", None).await;

    assert_eq!(limited.status, 429);
    assert_eq!(limited.retry_after.as_deref(), Some("7"));
    assert_eq!(error_of(&limited).0, 429);
    assert_eq!(
        call(&mock, Method::GET, "/me/player", None).await.status,
        204
    );
    mock.assert_all_valid();
}

#[tokio::test]
async fn a_delay_holds_the_answer_but_the_command_takes_effect() {
    let mock = mock_with_pi().await;
    let delay = Duration::from_millis(150);
    mock.inject(Endpoint::Play, Fault::Delay(delay));

    let started = Instant::now();
    let answer = play_playlist(&mock, PI).await;

    assert!(
        started.elapsed() >= delay,
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(answer.status, 204);
    assert!(mock.player().is_playing);
    mock.assert_all_valid();
}
