// Add or edit one alarm: time, repeat days (presets) or a one-shot date, label, what plays
// (a pasted Spotify link, or one of the account's playlists: `alarm-source.js`), the receiver,
// volumes, fade, shuffle, maximum ring time, snooze; "test it now"; delete with undo.
// A stale save (412) or a change made elsewhere while editing shows both versions and lets
// the user choose: what was typed is never thrown away.
import * as api from "/api.js";
import { playlistPicker } from "/screens/alarm-source.js";
import { h, t, field, switchInput, clearErrors, showError, conflictPanel, toast, busy, confirmButton, clock, repeatWords, localParts, serverNow, DAY_SHORT } from "/ui.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const PRESETS = [
  ["alarm.preset_weekdays", ["mon", "tue", "wed", "thu", "fri"]],
  ["alarm.preset_weekend", ["sat", "sun"]],
  ["alarm.preset_every_day", DAYS],
  ["alarm.preset_once", []],
];

const blank = () => ({
  label: "", enabled: true, time: "07:00", repeat: ["mon", "tue", "wed", "thu", "fri"], date: null, skip_next: false,
  ring: {
    source: null, device_id: null, device_name: null, start_percent: null, target_percent: null,
    fade_seconds: null, shuffle: false, max_ring_minutes: 30, snooze_minutes: 9, max_snoozes: 3,
  },
});

export function show(view, app, id) {
  const isNew = !id || id === "new";
  let base = isNew ? blank() : app.config?.alarms?.find((a) => a.id === id);
  let baseRevision = app.revision;
  if (!base) {
    view.append(h("h1", {}, t("alarm.missing")), h("p", {}, h("a", { href: "#/" }, t("alarm.back"))));
    return {};
  }
  base = structuredClone(base);
  const defaults = app.config?.volume || {};

  // --- the form ---------------------------------------------------------------------------
  const time = h("input", { type: "time", required: true, name: "time" });
  const dayBoxes = DAYS.map((d) => h("input", { type: "checkbox", value: d, name: "day", onchange: syncDate }));
  const dateInput = h("input", { type: "date", name: "date", min: localParts(serverNow()).date });
  const dateField = field(t("alarm.date"), dateInput, { field: "date", hint: t("alarm.date_hint") });
  const label = h("input", { type: "text", name: "label", maxlength: "60", autocomplete: "off", placeholder: t("alarm.label_placeholder") });
  const enabled = switchInput({ name: "enabled" });
  const source = h("input", { type: "url", name: "source", inputmode: "url", autocomplete: "off", placeholder: t("alarm.source_placeholder") });
  const device = h("select", { name: "device" });
  const findDevices = h("button", { type: "button", onclick: (e) => busy(e.currentTarget, loadDevices) }, t("alarm.find_devices"));
  const volume = (name, labelKey) => ({
    own: switchInput({ name: `${name}_own`, onchange: syncDefaults }),
    range: h("input", { type: "range", min: "0", max: "100", step: "1", name, "aria-label": t(labelKey) }),
  });
  const start = volume("start_percent", "alarm.start_volume");
  const target = volume("target_percent", "alarm.target_volume");
  const fadeOwn = switchInput({ name: "fade_own", onchange: syncDefaults });
  const fade = h("input", { type: "number", min: "0", max: "60", step: "1", name: "fade_minutes", inputmode: "numeric", "aria-label": t("alarm.fade") });
  const shuffle = switchInput({ name: "shuffle" });
  const maxRing = h("input", { type: "number", min: "1", max: "240", name: "max_ring_minutes", inputmode: "numeric" });
  const snoozeMinutes = h("input", { type: "number", min: "1", max: "60", name: "snooze_minutes", inputmode: "numeric" });
  const maxSnoozes = h("input", { type: "number", min: "0", max: "20", name: "max_snoozes", inputmode: "numeric" });
  const conflictSlot = h("div");

  const days = h("fieldset", { class: "field days", "data-field": "repeat" },
    h("legend", {}, t("alarm.repeat")),
    h("div", { class: "presets" }, PRESETS.map(([key, set]) => h("button", {
      type: "button", class: "chip",
      onclick: () => { for (const box of dayBoxes) box.checked = set.includes(box.value); syncDate(); },
    }, t(key)))),
    h("div", { class: "day-boxes" }, dayBoxes.map((box) => h("label", { class: "day" }, box, h("span", {}, t(DAY_SHORT[box.value]))))),
    h("p", { class: "error", hidden: true }));

  const volumeField = (labelKey, v, fieldName) => h("div", { class: "field", "data-field": fieldName },
    h("div", { class: "row" }, h("label", {}, v.own, " ", t(labelKey))),
    h("div", { class: "row" }, v.range, h("output", {})),
    h("p", { class: "hint" }), h("p", { class: "error", hidden: true }));

  const form = h("form", { class: "alarm-form", novalidate: true, onsubmit: save },
    h("div", { "data-field": "" }),
    conflictSlot,
    field(t("alarm.time"), time, { field: "time" }),
    days,
    dateField,
    field(t("alarm.label"), label, { field: "label" }),
    h("div", { class: "field switch-row", "data-field": "enabled" }, h("label", {}, enabled, " ", t("alarm.enabled"))),
    h("section", { class: "group" },
      h("h2", {}, t("alarm.what")),
      field(t("alarm.source"), source, { field: "ring.source", hint: t("alarm.source_hint") }),
      playlistPicker(source),
      h("div", { class: "field", "data-field": "ring.device_name" },
        h("label", { for: (device.id = "alarm-device") }, t("alarm.device")),
        h("div", { class: "row" }, device, findDevices),
        h("p", { class: "hint" }, t("alarm.device_hint")),
        h("p", { class: "error", hidden: true }))),
    h("details", { class: "group" },
      h("summary", {}, t("alarm.more")),
      volumeField("alarm.start_volume", start, "ring.start_percent"),
      volumeField("alarm.target_volume", target, "ring.target_percent"),
      h("div", { class: "field", "data-field": "ring.fade_seconds" },
        h("div", { class: "row" }, h("label", {}, fadeOwn, " ", t("alarm.fade"))),
        h("div", { class: "row" }, fade, h("span", {}, t("alarm.minutes"))),
        h("p", { class: "hint" }), h("p", { class: "error", hidden: true })),
      h("div", { class: "field switch-row", "data-field": "ring.shuffle" }, h("label", {}, shuffle, " ", t("alarm.shuffle"))),
      field(t("alarm.max_ring"), maxRing, { field: "ring.max_ring_minutes" }),
      field(t("alarm.snooze_minutes"), snoozeMinutes, { field: "ring.snooze_minutes" }),
      field(t("alarm.max_snoozes"), maxSnoozes, { field: "ring.max_snoozes" })),
    h("div", { class: "actions sticky" },
      h("button", { type: "submit", class: "primary" }, t("alarm.save")),
      h("a", { class: "button", href: "#/" }, t("alarm.cancel"))),
    isNew ? null : h("section", { class: "group" },
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: (e) => busy(e.currentTarget, ringNow) }, t("alarm.test")),
        confirmButton(t("alarm.delete"), t("alarm.delete_confirm"), remove, { class: "danger" }))));

  for (const v of [start, target]) {
    v.range.addEventListener("input", () => { v.range.nextElementSibling.textContent = `${v.range.value} %`; });
  }

  view.append(h("h1", {}, isNew ? t("alarm.new_title") : t("alarm.edit_title")), form);

  // --- values in and out ------------------------------------------------------------------
  function fill(alarm) {
    time.value = alarm.time;
    for (const box of dayBoxes) box.checked = alarm.repeat.includes(box.value);
    dateInput.value = alarm.date || "";
    label.value = alarm.label;
    enabled.checked = alarm.enabled;
    source.value = alarm.ring.source || "";
    source.dispatchEvent(new Event("input"));
    setDevice(alarm.ring.device_id, alarm.ring.device_name);
    const setVolume = (v, value, fallback) => {
      v.own.checked = value != null;
      v.range.value = String(value ?? fallback ?? 50);
      v.range.nextElementSibling.textContent = `${v.range.value} %`;
    };
    setVolume(start, alarm.ring.start_percent, defaults.start_percent);
    setVolume(target, alarm.ring.target_percent, defaults.target_percent);
    fadeOwn.checked = alarm.ring.fade_seconds != null;
    fade.value = String(Math.round((alarm.ring.fade_seconds ?? defaults.fade_seconds ?? 120) / 60));
    shuffle.checked = alarm.ring.shuffle;
    maxRing.value = String(alarm.ring.max_ring_minutes);
    snoozeMinutes.value = String(alarm.ring.snooze_minutes);
    maxSnoozes.value = String(alarm.ring.max_snoozes);
    syncDate();
    syncDefaults();
  }

  function read() {
    const repeat = dayBoxes.filter((b) => b.checked).map((b) => b.value);
    const [deviceId, deviceName] = device.value ? JSON.parse(device.value) : [null, null];
    const number = (input) => (input.value.trim() === "" ? NaN : Number(input.value));
    return {
      label: label.value.trim(),
      enabled: enabled.checked,
      time: time.value,
      repeat,
      date: repeat.length ? null : dateInput.value || null,
      skip_next: base.skip_next,
      ring: {
        source: source.value.trim() || null,
        device_id: deviceId,
        device_name: deviceName,
        start_percent: start.own.checked ? Number(start.range.value) : null,
        target_percent: target.own.checked ? Number(target.range.value) : null,
        fade_seconds: fadeOwn.checked ? number(fade) * 60 : null,
        shuffle: shuffle.checked,
        max_ring_minutes: number(maxRing),
        snooze_minutes: number(snoozeMinutes),
        max_snoozes: number(maxSnoozes),
      },
    };
  }

  function syncDate() {
    dateField.hidden = dayBoxes.some((b) => b.checked);
  }

  function syncDefaults() {
    for (const [v, fallback] of [[start, defaults.start_percent], [target, defaults.target_percent]]) {
      v.range.disabled = !v.own.checked;
      v.range.closest(".field").querySelector(".hint").textContent = v.own.checked ? "" : t("alarm.uses_default", { value: `${fallback} %` });
    }
    fade.disabled = !fadeOwn.checked;
    fade.closest(".field").querySelector(".hint").textContent = fadeOwn.checked ? "" : t("alarm.uses_default", { value: t("alarm.minutes_value", { m: Math.round((defaults.fade_seconds ?? 0) / 60) }) });
  }

  function setDevice(deviceId, deviceName, listed = []) {
    const options = [h("option", { value: "" }, t("alarm.device_default"))];
    const seen = new Set();
    for (const d of listed) {
      if (!d.id) continue;
      seen.add(d.name);
      options.push(h("option", { value: JSON.stringify([d.id, d.name]) }, d.is_active ? t("alarm.device_active", { name: d.name }) : d.name));
    }
    if ((deviceId || deviceName) && !seen.has(deviceName)) {
      options.push(h("option", { value: JSON.stringify([deviceId, deviceName]) }, deviceName || deviceId));
    }
    device.replaceChildren(...options);
    const wanted = deviceId || deviceName ? JSON.stringify([deviceId, deviceName]) : "";
    const match = [...device.options].find((o) => o.value === wanted)
      || [...device.options].find((o) => o.value && JSON.parse(o.value)[1] === deviceName);
    device.value = match ? match.value : "";
  }

  async function loadDevices() {
    const [currentId, currentName] = device.value ? JSON.parse(device.value) : [null, null];
    try {
      const { data } = await api.get("/api/spotify/devices");
      setDevice(currentId, currentName, data.devices);
      if (data.devices.length === 0) showError(form, { field: "ring.device_name", message: t("alarm.no_devices") });
    } catch (error) {
      showError(form, { field: "ring.device_name", message: error.message || t("error.generic") });
    }
  }

  // --- saving -----------------------------------------------------------------------------
  function invalidLocally(alarm) {
    if (!alarm.time) return { field: "time", message: t("alarm.error_time") };
    for (const [name, value] of Object.entries(alarm.ring)) {
      if (typeof value === "number" && Number.isNaN(value)) return { field: `ring.${name}`, message: t("alarm.error_number") };
    }
    return null;
  }

  async function save(e) {
    e.preventDefault();
    clearErrors(form);
    const alarm = read();
    const local = invalidLocally(alarm);
    if (local) {
      showError(form, local);
      return;
    }
    await busy(form.querySelector("button[type=submit]"), () => send(alarm, baseRevision));
  }

  async function send(alarm, revision) {
    try {
      if (isNew) {
        await api.call("POST", "/api/alarms", { body: alarm });
        toast(t("alarm.created", { time: clock(alarm.time), days: repeatWords(alarm) }));
      } else {
        await api.call("PUT", `/api/alarms/${id}`, { body: alarm, revision });
        toast(t("alarm.saved"));
      }
      app.go("#/");
    } catch (error) {
      if (error.status === 412) return conflict(alarm);
      if (error.status === 404 && !isNew) return conflict(alarm, true);
      showError(form, error);
    }
    return undefined;
  }

  // Someone else saved this alarm (or deleted it) since the form was filled.
  async function conflict(mine, deletedAlready = false) {
    let theirs = null;
    let revision = null;
    if (!deletedAlready) {
      try {
        const response = await api.get(`/api/alarms/${id}`);
        theirs = response.data;
        revision = response.revision;
      } catch (error) {
        if (error.status !== 404) { showError(form, error); return; }
      }
    }
    if (theirs && same(theirs, base)) {
      // The change was to something else in the document: this alarm is as it was.
      base.skip_next = theirs.skip_next;
      baseRevision = revision;
      await send({ ...mine, skip_next: theirs.skip_next }, revision);
      return;
    }
    if (!theirs) {
      conflictSlot.replaceChildren(conflictPanel({
        rows: [], deleted: true,
        keepMine: async () => {
          try {
            await api.call("POST", "/api/alarms", { body: mine });
            toast(t("alarm.created", { time: clock(mine.time), days: repeatWords(mine) }));
            app.go("#/");
          } catch (error) { showError(form, error); }
        },
        takeTheirs: () => app.go("#/"),
      }));
      conflictSlot.querySelector("button").focus();
      return;
    }
    showConflict(mine, theirs, revision);
  }

  function showConflict(mine, theirs, revision) {
    conflictSlot.replaceChildren(conflictPanel({
      rows: differences(mine, theirs),
      keepMine: async () => {
        conflictSlot.replaceChildren();
        await send(read(), revision);
      },
      takeTheirs: () => {
        conflictSlot.replaceChildren();
        base = structuredClone(theirs);
        baseRevision = revision;
        fill(base);
      },
    }));
    conflictSlot.querySelector("button").focus();
  }

  async function ringNow() {
    try {
      await api.call("POST", `/api/alarms/${id}/ring-now`);
    } catch (error) {
      showError(form, error);
    }
  }

  async function remove() {
    const kept = structuredClone(base);
    try {
      await api.call("DELETE", `/api/alarms/${id}`);
    } catch (error) {
      showError(form, error);
      return;
    }
    app.go("#/");
    toast(t("alarm.deleted", { name: kept.label || clock(kept.time) }), {
      label: t("alarm.undo"),
      run: async () => {
        delete kept.id;
        try {
          await api.call("POST", "/api/alarms", { body: kept });
          toast(t("alarm.restored"));
        } catch (error) {
          toast(error.message || t("error.generic"));
        }
      },
    });
  }

  fill(base);


  return {
    // Another device changed this alarm while the form is open: say so at once, with both
    // versions; the form keeps what was typed.
    update(reason) {
      if (isNew || (reason !== "config" && reason !== "reconnect")) return;
      const now = app.config?.alarms?.find((a) => a.id === id);
      if (!now) {
        conflictSlot.replaceChildren(conflictPanel({
          rows: [], deleted: true,
          keepMine: async () => {
            try {
              await api.call("POST", "/api/alarms", { body: read() });
              app.go("#/");
            } catch (error) { showError(form, error); }
          },
          takeTheirs: () => app.go("#/"),
        }));
        return;
      }
      if (!same(now, base)) {
        showConflict(read(), now, app.revision);
        return;
      }
      // Only the document around it changed (or its skip-next): save on top of that.
      base.skip_next = now.skip_next;
      baseRevision = app.revision;
    },
  };
}

// The same alarm as far as this form goes (skip-next is set from the home screen).
const strip = (alarm) => ({ ...alarm, id: undefined, skip_next: undefined });
const same = (a, b) => JSON.stringify(strip(a)) === JSON.stringify(strip(b));

// [label, mine, theirs] in words for the fields a person sets.
function differences(mine, theirs) {
  const volume = (v) => (v == null ? t("alarm.default") : `${v} %`);
  const yesNo = (b) => (b ? t("alarm.yes") : t("alarm.no"));
  return [
    [t("alarm.time"), clock(mine.time), clock(theirs.time)],
    [t("alarm.repeat"), repeatWords(mine), repeatWords(theirs)],
    [t("alarm.label"), mine.label, theirs.label],
    [t("alarm.enabled"), yesNo(mine.enabled), yesNo(theirs.enabled)],
    [t("alarm.source"), mine.ring.source || t("alarm.default"), theirs.ring.source || t("alarm.default")],
    [t("alarm.device"), mine.ring.device_name || t("alarm.default"), theirs.ring.device_name || t("alarm.default")],
    [t("alarm.start_volume"), volume(mine.ring.start_percent), volume(theirs.ring.start_percent)],
    [t("alarm.target_volume"), volume(mine.ring.target_percent), volume(theirs.ring.target_percent)],
    [t("alarm.fade"), String(mine.ring.fade_seconds ?? t("alarm.default")), String(theirs.ring.fade_seconds ?? t("alarm.default"))],
    [t("alarm.shuffle"), yesNo(mine.ring.shuffle), yesNo(theirs.ring.shuffle)],
    [t("alarm.max_ring"), String(mine.ring.max_ring_minutes), String(theirs.ring.max_ring_minutes)],
    [t("alarm.snooze_minutes"), String(mine.ring.snooze_minutes), String(theirs.ring.snooze_minutes)],
    [t("alarm.max_snoozes"), String(mine.ring.max_snoozes), String(theirs.ring.max_snoozes)],
  ];
}
