// The full-screen overlay while something plays: an alarm starting, ringing (what plays and
// by which path), snoozed (the countdown), or the sleep timer. Huge Stop and Snooze buttons
// and the volume. It follows the live status; the rest of the page is inert beneath it.
import * as api from "/api.js";
import { h, t, clock, localParts, serverNow, busy, toast } from "/ui.js";

const PATH = {
  spotify: "ring.path_spotify",
  local_sound: "ring.path_local_sound",
  buzzer: "ring.path_buzzer",
  silent: "ring.path_silent",
};
const KIND = {
  playlist: "ring.kind_playlist", album: "ring.kind_album", track: "ring.kind_track",
  artist: "ring.kind_artist", show: "ring.kind_show", episode: "ring.kind_episode",
};

const overlay = document.getElementById("overlay");
let shownKey = null;
let parts = null;
let countdown = 0;

export function update(app) {
  const runner = app.live?.runner;
  const state = runner?.state || "idle";
  if (state === "idle") {
    hide();
    return;
  }
  const key = `${state}:${runner.alarm_id || ""}`;
  if (key !== shownKey) build(app, runner, key);
  fill(app, runner);
}

function hide() {
  if (shownKey === null) return;
  shownKey = null;
  parts = null;
  clearInterval(countdown);
  overlay.hidden = true;
  overlay.replaceChildren();
  for (const id of ["view", "tabs"]) document.getElementById(id).inert = false;
  document.querySelector("header.bar").inert = false;
}

function alarmOf(app, runner) {
  return app.config?.alarms?.find((a) => a.id === runner.alarm_id) || null;
}

function build(app, runner, key) {
  shownKey = key;
  clearInterval(countdown);
  const state = runner.state;
  const title = h("h1", { id: "overlay-title", class: "overlay-title" });
  const what = h("p", { class: "what" });
  const path = h("p", { class: "path" });
  const reason = h("p", { class: "reason" });
  const timer = h("p", { class: "countdown", "aria-live": "off" });
  const volume = h("input", {
    type: "range", min: "0", max: "100", step: "1", id: "overlay-volume",
    onchange: async () => {
      try {
        const { data } = await api.call("PUT", "/api/ring/volume", { body: { volume_percent: Number(volume.value) } });
        volume.value = String(data.volume_percent);
        volumeValue.textContent = t("ring.volume_value", { v: data.volume_percent });
      } catch (error) {
        toast(error.message || t("error.generic"));
      }
    },
    oninput: () => { volumeValue.textContent = t("ring.volume_value", { v: volume.value }); },
  });
  const volumeValue = h("output", { for: "overlay-volume" });
  const volumeRow = h("div", { class: "volume" },
    h("label", { for: "overlay-volume" }, t("ring.volume")), volume, volumeValue);
  const stop = h("button", {
    type: "button", class: "huge stop",
    onclick: (e) => busy(e.currentTarget, () => command("/api/ring/stop")),
  }, t("ring.stop"));
  const snooze = h("button", {
    type: "button", class: "huge snooze",
    onclick: (e) => busy(e.currentTarget, () => command("/api/ring/snooze")),
  });
  const snoozes = h("p", { class: "snoozes" });
  const ringingNow = state === "ringing" || state === "preparing";
  overlay.replaceChildren(h("div", {
    class: `overlay-box ${state}`, role: "alertdialog", "aria-modal": "true",
    "aria-labelledby": "overlay-title", "aria-describedby": "overlay-what",
  },
  title, h("div", { id: "overlay-what" }, what, path, reason), timer,
  state === "ringing" || state === "sleep_timer" ? volumeRow : null,
  h("div", { class: "huge-buttons" }, ringingNow ? snooze : null, stop),
  snoozes));
  parts = { title, what, path, reason, timer, volume, volumeValue, snooze, snoozes };
  overlay.hidden = false;
  for (const id of ["view", "tabs"]) document.getElementById(id).inert = true;
  document.querySelector("header.bar").inert = true;
  (ringingNow ? snooze : stop).focus();
  if (state === "snoozed" || state === "sleep_timer") {
    countdown = setInterval(() => fillCountdown(app.live.runner), 1000);
  }
}

async function command(path) {
  try {
    await api.call("POST", path);
  } catch (error) {
    // 409: it ended meanwhile (another phone, the button, the maximum time).
    if (error.status !== 409) toast(error.message || t("error.generic"));
  }
}

function fill(app, runner) {
  const alarm = alarmOf(app, runner);
  const name = runner.label || alarm?.label || t("alarm.unnamed");
  const { title, what, path, reason, volume, volumeValue, snooze, snoozes } = parts;
  const source = alarm?.ring?.source;
  const kind = source ? source.split(":")[1] : null;
  what.textContent = "";
  path.textContent = "";
  reason.textContent = runner.fallback_reason ? t("ring.why", { reason: runner.fallback_reason }) : "";
  switch (runner.state) {
    case "preparing":
      title.textContent = name;
      what.textContent = t("ring.starting");
      break;
    case "ringing":
      title.textContent = name;
      path.textContent = t(PATH[runner.path] || "ring.path_silent");
      path.className = `path ${runner.path}`;
      if (runner.path === "spotify") what.textContent = kind && KIND[kind] ? t(KIND[kind]) : t("ring.resume");
      break;
    case "snoozed":
      title.textContent = t("ring.snoozed_title", { name });
      what.textContent = t("ring.snoozed_until", { time: clock(localParts(Date.parse(runner.until)).time) });
      break;
    case "sleep_timer":
      title.textContent = t("ring.sleep_title");
      what.textContent = t("ring.sleep_until", { time: clock(localParts(Date.parse(runner.until)).time) });
      break;
    default:
      title.textContent = name;
  }
  // No volume to show (the buzzer, the local sound): no slider.
  volume.closest(".volume")?.toggleAttribute("hidden", runner.volume_percent == null);
  // The user's own drag wins over the fade's next step.
  if (runner.volume_percent != null && document.activeElement !== volume) {
    volume.value = String(runner.volume_percent);
    volumeValue.textContent = t("ring.volume_value", { v: runner.volume_percent });
  }
  const used = runner.snoozes_used || 0;
  const max = alarm?.ring?.max_snoozes;
  const minutes = alarm?.ring?.snooze_minutes;
  const last = max != null && used >= max;
  snooze.textContent = last ? t("ring.snooze_last") : minutes ? t("ring.snooze_for", { m: minutes }) : t("ring.snooze");
  snoozes.textContent = used > 0 && max != null ? t("ring.snoozes_used", { used, max }) : "";
  fillCountdown(runner);
}

function fillCountdown(runner) {
  if (!parts || !runner?.until) return;
  const left = Math.max(0, Date.parse(runner.until) - serverNow());
  const s = Math.round(left / 1000);
  const text = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  parts.timer.textContent = runner.state === "snoozed" ? t("ring.again_in", { left: text }) : t("ring.ends_in", { left: text });
}
