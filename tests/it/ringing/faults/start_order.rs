//! The start order and its limits against the mock: the receiver is woken (transfer,
//! `play: false`) before the volume is set and the volume before the play; a volume that stays
//! refused rings the local sound instead of Spotify at an unknown level; a 429's `Retry-After`
//! on the device list is waited out, or, when it ends after the start deadline, the local
//! sound rings at once and says why.

use super::*;
use spotify_mock::RecordedRequest;

/// The first request to `endpoint` that `accept` takes.
fn first(
    rig: &Rig,
    endpoint: Endpoint,
    accept: impl Fn(&RecordedRequest) -> bool,
) -> RecordedRequest {
    rig.mock
        .requests_to(endpoint)
        .into_iter()
        .find(|r| accept(r))
        .unwrap_or_else(|| panic!("no matching {endpoint:?} request"))
}

/// Transfer with `play: false`, then the start volume accepted, then the play, in that order.
fn assert_woken_then_volume_then_play(rig: &Rig) {
    let transfer = first(rig, Endpoint::Transfer, |r| r.status == 204);
    assert_eq!(
        transfer.body.as_ref().unwrap()["play"],
        false,
        "{transfer:?}"
    );
    let volume = first(rig, Endpoint::Volume, |r| r.status == 204);
    assert_eq!(volume.query_value("volume_percent"), Some("10"));
    let play = first(rig, Endpoint::Play, |_| true);
    assert!(transfer.at <= volume.at, "volume before the transfer");
    assert!(volume.at <= play.at, "play before the start volume was set");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_refused_once_with_415_is_retried_and_spotify_plays() {
    let rig = Rig::start().await;
    rig.mock
        .inject(Endpoint::Volume, Fault::unsupported_media_type());
    rig.ring_now().await;
    wait_for_spotify(&rig).await;
    assert_eq!(statuses(&rig, Endpoint::Volume)[..2], [415, 204]);
    assert_woken_then_volume_then_play(&rig);

    stop_spotify(&rig).await;
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_refusing_volume_until_it_is_active_is_woken_by_the_transfer() {
    let rig = Rig::start_with(
        |_| {},
        vec![MockDevice::new("dev-1", "Bedroom").volume_only_when_active()],
    )
    .await;
    rig.ring_now().await;
    wait_for_spotify(&rig).await;
    assert_woken_then_volume_then_play(&rig);
    assert!(
        !statuses(&rig, Endpoint::Volume).contains(&404),
        "the volume was sent before the transfer"
    );

    stop_spotify(&rig).await;
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_that_stays_refused_rings_the_local_sound_instead_of_spotify() {
    let rig = Rig::start().await;
    rig.mock
        .inject_forever(Endpoint::Volume, Fault::unsupported_media_type());
    rig.ring_now().await;
    let (status, pid) = wait_for_fallback(&rig).await;
    let why = reason(&status);
    assert!(
        why.starts_with("Spotify refused the volume change (HTTP 415)"),
        "{why}"
    );
    assert!(!why.contains("within"), "waited for the deadline: {why}");
    assert!(
        rig.mock.requests_to(Endpoint::Play).is_empty(),
        "Spotify was told to play at an unknown volume"
    );

    let entry = stop_fallback(&rig, pid, &status).await;
    assert_eq!(entry["paths"], json!(["local_sound"]));
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_device_list_is_waited_out() {
    let rig = Rig::start().await;
    rig.mock.inject(Endpoint::Devices, Fault::RetryAfter(2));
    rig.ring_now().await;
    wait_for_spotify(&rig).await;
    let lists = rig.mock.requests_to(Endpoint::Devices);
    assert_eq!(statuses(&rig, Endpoint::Devices)[..2], [429, 200]);
    let requests = rig.mock.requests();
    let next = requests
        .iter()
        .find(|r| r.at > lists[0].at)
        .expect("a request after the 429");
    let gap = next.at - lists[0].at;
    assert!(
        gap >= SECONDS(2),
        "Retry-After: 2 ignored, next request after {gap:?}"
    );

    stop_spotify(&rig).await;
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_past_the_deadline_rings_the_local_sound_at_once() {
    let rig = Rig::start().await;
    rig.mock.inject(Endpoint::Devices, Fault::RetryAfter(30));
    rig.ring_now().await;
    let (status, pid) = wait_for_fallback(&rig).await;
    let why = reason(&status);
    assert_eq!(
        why,
        "Spotify asked to wait 30 s (too many requests), longer than the start deadline allows"
    );
    assert_eq!(rig.mock.requests().len(), 1, "a request after the 429");

    stop_fallback(&rig, pid, &status).await;
    rig.mock.assert_all_valid();
}
