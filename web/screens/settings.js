// Settings: time zone, vacation, volumes and the night ceiling, the page itself; the password
// (log out, or how to set one); earlier revisions to restore; the owner-only settings, shown
// read-only with how to change them on the Pi; the hardware wiring test.
// Each form saves its part with PATCH and If-Match; a stale save shows both versions.
import * as api from "/api.js";
import { h, t, field, switchInput, clearErrors, showError, conflictPanel, toast, busy, confirmButton, clock, localParts, dayWords, serverNow } from "/ui.js";

const ORIGIN = {
  created: "settings.origin_created",
  loaded: "settings.origin_loaded",
  backup: "settings.origin_backup",
  transaction: "settings.origin_transaction",
  external_edit: "settings.origin_external_edit",
};

export function show(view, app) {
  const forms = [timeZone(app), vacation(app), volume(app), page(app)];
  const access = h("section", { class: "card" });
  const revisions = h("section", { class: "card" });
  const owner = h("section", { class: "card" });
  const hardware = h("section", { class: "card" });
  view.append(h("h1", {}, t("settings.title")), ...forms.map((f) => f.element), access, revisions, owner, hardware);

  renderAccess(access, app);
  renderRevisions(revisions, app);
  renderOwner(owner, app);
  renderHardware(hardware);

  return {
    update(reason) {
      if (reason === "live") return;
      for (const f of forms) f.changedElsewhere();
      renderRevisions(revisions, app);
      renderOwner(owner, app);
    },
  };
}

// One settings form: `inputs` builds the fields, `fill(config)` sets them, `read()` is the
// merge patch, `rows(patch, config)` the values in words for the conflict panel.
function settingsForm(app, { title, inputs, fill, read, rows, same }) {
  let dirty = false;
  let base = structuredClone(app.config);
  const conflict = h("div");
  const form = h("form", {
    class: "card", novalidate: true,
    oninput: () => { dirty = true; },
    onchange: () => { dirty = true; },
    onsubmit: async (e) => {
      e.preventDefault();
      await busy(form.querySelector("button[type=submit]"), () => save(app.revision));
    },
  },
  h("h2", {}, title), h("div", { "data-field": "" }), conflict, ...inputs,
  h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("settings.save"))));

  async function save(revision) {
    clearErrors(form);
    conflict.replaceChildren();
    const patch = read();
    try {
      await api.call("PATCH", "/api/config", { body: patch, revision });
      dirty = false;
      await app.loadConfig();
      base = structuredClone(app.config);
      toast(t("settings.saved"));
    } catch (error) {
      if (error.status === 412) {
        await app.loadConfig();
        showConflict(patch);
        return;
      }
      showError(form, error);
    }
  }

  function showConflict(patch) {
    conflict.replaceChildren(conflictPanel({
      rows: rows(patch, app.config),
      keepMine: () => busy(form.querySelector("button[type=submit]"), () => save(app.revision)),
      takeTheirs: () => {
        conflict.replaceChildren();
        dirty = false;
        base = structuredClone(app.config);
        fill(app.config);
      },
    }));
    conflict.querySelector("button").focus();
  }

  fill(app.config);
  return {
    element: form,
    // The config changed: refill an untouched form; beside typed values, say what changed.
    changedElsewhere() {
      if (!dirty) {
        base = structuredClone(app.config);
        fill(app.config);
      } else if (!same(base, app.config)) {
        showConflict(read());
      }
    },
  };
}

const eq = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function timeZone(app) {
  const zone = h("input", { type: "text", name: "time_zone", list: "zones", autocomplete: "off", spellcheck: "false" });
  let zones = [];
  try { zones = Intl.supportedValuesOf("timeZone"); } catch { /* an older browser: type it */ }
  const list = h("datalist", { id: "zones" }, zones.map((z) => h("option", { value: z })));
  const hint = h("p", { class: "hint" });
  return settingsForm(app, {
    title: t("settings.zone"),
    inputs: [field(t("settings.zone_label"), zone, { field: "time_zone" }), list, hint],
    fill(config) {
      zone.value = config.time_zone || "";
      zone.placeholder = app.live?.time_zone || "";
      hint.textContent = t("settings.zone_hint", { zone: app.live?.time_zone || "?" });
    },
    read: () => ({ time_zone: zone.value.trim() || null }),
    rows: (patch, config) => [[t("settings.zone_label"), patch.time_zone || t("settings.zone_system"), config.time_zone || t("settings.zone_system")]],
    same: (a, b) => a.time_zone === b.time_zone,
  });
}

function vacation(app) {
  const on = switchInput({ name: "vacation_on" });
  const from = h("input", { type: "date", name: "from" });
  const until = h("input", { type: "date", name: "until" });
  const dates = h("div", { class: "row" },
    field(t("settings.vacation_from"), from, { field: "schedule.vacation.from" }),
    field(t("settings.vacation_until"), until, { field: "schedule.vacation.until" }));
  on.addEventListener("change", () => { dates.hidden = !on.checked; });
  const words = (v) => (v ? t("settings.vacation_range", { from: v.from, until: v.until }) : t("settings.vacation_none"));
  return settingsForm(app, {
    title: t("settings.vacation"),
    inputs: [h("p", { class: "hint" }, t("settings.vacation_hint")),
      h("div", { class: "field switch-row", "data-field": "schedule.vacation" }, h("label", {}, on, " ", t("settings.vacation_on")), h("p", { class: "error", hidden: true })),
      dates],
    fill(config) {
      const v = config.schedule.vacation;
      on.checked = !!v;
      from.value = v?.from || "";
      until.value = v?.until || "";
      dates.hidden = !v;
    },
    read: () => ({ schedule: { vacation: on.checked ? { from: from.value || null, until: until.value || null } : null } }),
    rows: (patch, config) => [[t("settings.vacation"), words(patch.schedule.vacation), words(config.schedule.vacation)]],
    same: (a, b) => eq(a.schedule.vacation, b.schedule.vacation),
  });
}

function percent(name, labelKey, fieldName) {
  const input = h("input", { type: "range", min: "0", max: "100", step: "1", name });
  const out = h("output", {});
  input.addEventListener("input", () => { out.textContent = `${input.value} %`; });
  const set = (v) => { input.value = String(v); out.textContent = `${v} %`; };
  const wrapper = field(t(labelKey), input, { field: fieldName });
  const row = h("div", { class: "row" });
  wrapper.insertBefore(row, input);
  row.append(input, out);
  return { input, set, element: wrapper };
}

function volume(app) {
  const start = percent("start_percent", "settings.start_volume", "volume.start_percent");
  const target = percent("target_percent", "settings.target_volume", "volume.target_percent");
  const fade = h("input", { type: "number", min: "0", max: "60", name: "fade_minutes", inputmode: "numeric" });
  const ceiling = percent("ceiling_percent", "settings.ceiling", "volume.ceiling_percent");
  const nightOn = switchInput({ name: "night_on" });
  const nightFrom = h("input", { type: "time", name: "night_from" });
  const nightUntil = h("input", { type: "time", name: "night_until" });
  const nightCeiling = percent("night_ceiling", "settings.night_ceiling", "volume.night.ceiling_percent");
  const night = h("div", {},
    h("div", { class: "row" },
      field(t("settings.night_from"), nightFrom, { field: "volume.night.from" }),
      field(t("settings.night_until"), nightUntil, { field: "volume.night.until" })),
    nightCeiling.element);
  nightOn.addEventListener("change", () => { night.hidden = !nightOn.checked; });
  const words = (v) => [
    [t("settings.start_volume"), `${v.start_percent} %`],
    [t("settings.target_volume"), `${v.target_percent} %`],
    [t("settings.fade"), t("alarm.minutes_value", { m: Math.round(v.fade_seconds / 60) })],
    [t("settings.ceiling"), `${v.ceiling_percent} %`],
    [t("settings.night"), v.night ? t("settings.night_words", { from: clock(v.night.from), until: clock(v.night.until), p: v.night.ceiling_percent }) : t("settings.night_none")],
  ];
  return settingsForm(app, {
    title: t("settings.volume"),
    inputs: [start.element, target.element, field(t("settings.fade"), fade, { field: "volume.fade_seconds", hint: t("settings.fade_hint") }),
      ceiling.element,
      h("div", { class: "field switch-row", "data-field": "volume.night" }, h("label", {}, nightOn, " ", t("settings.night_on")), h("p", { class: "hint" }, t("settings.night_hint")), h("p", { class: "error", hidden: true })),
      night],
    fill(config) {
      const v = config.volume;
      start.set(v.start_percent);
      target.set(v.target_percent);
      fade.value = String(Math.round(v.fade_seconds / 60));
      ceiling.set(v.ceiling_percent);
      nightOn.checked = !!v.night;
      nightFrom.value = v.night?.from || "22:00";
      nightUntil.value = v.night?.until || "07:00";
      nightCeiling.set(v.night?.ceiling_percent ?? 40);
      night.hidden = !v.night;
    },
    read: () => ({
      volume: {
        start_percent: Number(start.input.value),
        target_percent: Number(target.input.value),
        fade_seconds: Number(fade.value) * 60,
        ceiling_percent: Number(ceiling.input.value),
        night: nightOn.checked ? { from: nightFrom.value, until: nightUntil.value, ceiling_percent: Number(nightCeiling.input.value) } : null,
      },
    }),
    rows: (patch, config) => {
      const theirs = words(config.volume);
      return words({ ...config.volume, ...patch.volume }).map(([label, mine], i) => [label, mine, theirs[i][1]]);
    },
    same: (a, b) => eq(a.volume, b.volume),
  });
}

function page(app) {
  const title = h("input", { type: "text", name: "title", maxlength: "60" });
  const format = h("select", { name: "time_format" },
    h("option", { value: "24h" }, t("settings.format_24h")), h("option", { value: "12h" }, t("settings.format_12h")));
  const theme = h("select", { name: "theme" },
    h("option", { value: "auto" }, t("settings.theme_auto")), h("option", { value: "light" }, t("settings.theme_light")), h("option", { value: "dark" }, t("settings.theme_dark")));
  return settingsForm(app, {
    title: t("settings.page"),
    inputs: [field(t("settings.page_title"), title, { field: "web.title" }),
      field(t("settings.time_format"), format, { field: "web.time_format" }),
      field(t("settings.theme"), theme, { field: "web.theme" })],
    fill(config) {
      title.value = config.web.title;
      format.value = config.web.time_format;
      theme.value = config.web.theme;
    },
    read: () => ({ web: { title: title.value.trim(), time_format: format.value, theme: theme.value } }),
    rows: (patch, config) => [
      [t("settings.page_title"), patch.web.title, config.web.title],
      [t("settings.time_format"), patch.web.time_format, config.web.time_format],
      [t("settings.theme"), patch.web.theme, config.web.theme],
    ],
    same: (a, b) => a.web.title === b.web.title && a.web.time_format === b.web.time_format && a.web.theme === b.web.theme,
  });
}

function renderAccess(section, app) {
  const s = app.session || {};
  section.replaceChildren(h("h2", {}, t("settings.password")),
    s.password_set
      ? h("div", {}, h("p", {}, t("settings.password_set")),
        h("div", { class: "actions" }, h("button", {
          type: "button",
          onclick: (e) => busy(e.currentTarget, async () => {
            try {
              await api.call("DELETE", "/api/session");
            } catch { /* logged out either way */ }
            app.session = { password_set: true, logged_in: false };
            location.hash = "#/";
            location.reload();
          }),
        }, t("settings.logout"))))
      : h("div", {}, h("p", {}, t("settings.password_none")), h("pre", { class: "mono" }, "sudo reveille password")),
    h("p", { class: "hint" }, t("settings.password_how")));
}

async function renderRevisions(section, app) {
  section.replaceChildren(h("h2", {}, t("settings.revisions")), h("p", { class: "hint" }, t("settings.revisions_hint")));
  let list;
  try {
    list = (await api.get("/api/config/revisions")).data;
  } catch (error) {
    section.append(h("p", { class: "error" }, error.message || t("error.generic")));
    return;
  }
  const today = localParts(serverNow()).date;
  section.append(h("ol", { class: "revisions" }, list.slice(0, 20).map((r) => {
    const at = localParts(Date.parse(r.committed_at));
    const summary = r.summary ? t("settings.revision_summary", { alarms: r.summary.alarms, on: r.summary.enabled_alarms }) : r.problem;
    return h("li", {},
      h("div", {},
        h("strong", {}, t("settings.revision", { n: r.revision })), " ",
        h("span", {}, t("time.day_at", { day: dayWords(at.date, today), time: clock(at.time) })), " · ",
        h("span", {}, t(ORIGIN[r.origin] || "settings.origin_transaction")),
        h("p", { class: "muted" }, summary)),
      r.current
        ? h("span", { class: "badge" }, t("settings.revision_current"))
        : r.summary ? confirmButton(t("settings.restore"), t("settings.restore_confirm"), () => restore(r.revision), { class: "small" }) : null);
  })));

  async function restore(revision) {
    try {
      await api.call("POST", `/api/config/revisions/${revision}/restore`, { revision: app.revision });
      toast(t("settings.restored", { n: revision }));
    } catch (error) {
      toast(error.status === 412 ? t("settings.restore_stale") : error.message || t("error.generic"));
    }
  }
}

async function renderOwner(section, app) {
  const c = app.config;
  let path = "config.json";
  try { path = (await api.get("/api/status")).data.config.path; } catch { /* the default name then */ }
  const hw = c.hardware;
  const pins = [
    hw.amplifier ? t("settings.hw_amplifier", { pin: hw.amplifier.pin }) : null,
    hw.buzzer ? t("settings.hw_buzzer", { pin: hw.buzzer.pin }) : null,
    hw.encoder ? t("settings.hw_encoder", { a: hw.encoder.pin_a, b: hw.encoder.pin_b }) : null,
    ...hw.buttons.map((b) => t("settings.hw_button", { pin: b.pin })),
    hw.i2c_volume ? t("settings.hw_i2c") : null,
  ].filter(Boolean);
  const row = (label, value) => [h("dt", {}, label), h("dd", { class: "mono" }, value)];
  section.replaceChildren(h("h2", {}, t("settings.owner")),
    h("p", {}, t("settings.owner_why")),
    h("dl", {},
      row(t("settings.owner_fallback"), c.fallback.command.join(" ")),
      row(t("settings.owner_sound"), c.fallback.sound_file || t("settings.owner_bundled")),
      row(t("settings.owner_spotify"), c.spotify.api_base_url || t("settings.owner_spotify_default")),
      row(t("settings.owner_hardware"), `${hw.backend}${pins.length ? ` · ${pins.join(", ")}` : ""}`),
      row(t("settings.owner_hosts"), c.web.allowed_hosts.length ? c.web.allowed_hosts.join(", ") : t("settings.owner_hosts_none"))),
    h("p", { class: "hint" }, t("settings.owner_how")),
    h("pre", { class: "mono" }, `sudo nano ${path}\nsudo reveille check-config ${path}`));
}

function renderHardware(section) {
  const result = h("div", { "aria-live": "polite" });
  section.replaceChildren(h("h2", {}, t("settings.hardware")), h("p", { class: "hint" }, t("settings.hardware_hint")),
    result,
    h("div", { class: "actions" }, h("button", {
      type: "button",
      onclick: (e) => busy(e.currentTarget, async () => {
        result.replaceChildren(h("p", { class: "muted" }, t("settings.hardware_running")));
        try {
          const { data } = await api.call("POST", "/api/hardware/test");
          result.replaceChildren(h("ol", {}, data.steps.map((s) => h("li", {}, s))));
        } catch (error) {
          result.replaceChildren(h("p", { class: "error" }, error.message || t("error.generic")));
        }
      }),
    }, t("settings.hardware_run"))));
}
