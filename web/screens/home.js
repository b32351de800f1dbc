// Home: the next alarm in words, "will it ring?", the alarms with their switches and
// skip-next, a big add button, and the sleep timer.
import * as api from "/api.js";
import { h, t, clock, inWords, when, repeatWords, serverNow, localParts, toast, busy, showError, clearErrors, field } from "/ui.js";

const STATE = { ready: "readiness.ready", degraded: "readiness.degraded", broken: "readiness.broken" };
const SEVERITY = { error: "readiness.severity_error", warning: "readiness.severity_warning", info: "readiness.severity_info" };
const DISMISSED = "reveille.password-hint-dismissed";

export function show(view, app) {
  const heading = h("h1", { class: "visually-hidden" }, t("home.title"));
  const passwordHint = h("div");
  const next = h("section", { class: "card next", "aria-live": "polite" });
  const readiness = h("section", { class: "card readiness" });
  const list = h("ul", { class: "alarms" });
  const add = h("a", { class: "button primary big add", href: "#/alarm/new" }, t("home.add"));
  const sleep = sleepTimer();
  view.append(heading, passwordHint, next, readiness,
    h("section", { "aria-labelledby": "alarms-h" }, h("h2", { id: "alarms-h" }, t("home.alarms")), list, add),
    sleep);

  let checking = false;
  let minuteTimer = 0;

  function renderPasswordHint() {
    const show = app.session && !app.session.password_set && !localStorage.getItem(DISMISSED);
    passwordHint.replaceChildren(show
      ? h("div", { class: "card notice" },
        h("p", {}, t("home.no_password")),
        h("p", { class: "hint" }, t("home.no_password_how")),
        h("pre", { class: "mono" }, "sudo reveille password"),
        h("button", { type: "button", onclick: () => { localStorage.setItem(DISMISSED, "1"); renderPasswordHint(); } }, t("home.dismiss")))
      : "");
  }

  function renderNext() {
    const firing = app.live?.next_firing;
    clearTimeout(minuteTimer);
    if (!app.live) {
      next.replaceChildren(h("p", { class: "muted" }, t("app.loading")));
      return;
    }
    if (!firing) {
      next.replaceChildren(h("p", { class: "eyebrow" }, t("home.next")), h("p", { class: "big-time" }, t("home.none")));
      return;
    }
    const at = Date.parse(firing.at_utc);
    const left = at - serverNow();
    const vacation = app.config?.schedule?.vacation;
    const today = localParts(serverNow()).date;
    const away = vacation && vacation.until >= today ? vacation : null;
    next.replaceChildren(
      h("p", { class: "eyebrow" }, t("home.next")),
      h("p", { class: "big-time" }, when(at)),
      h("p", { class: "in" }, inWords(left), firing.label ? ` · ${firing.label}` : ""),
      away ? h("p", { class: "hint" }, t(away.from <= today ? "home.vacation_now" : "home.vacation_soon", { from: away.from, until: away.until })) : "");
    // Words change once a minute: wake at the next minute boundary, not more often.
    minuteTimer = setTimeout(renderNext, Math.max(1000, (left % 60000) + 50));
  }

  function renderReadiness() {
    const r = app.live?.readiness;
    readiness.className = `card readiness ${r ? r.state : ""}`;
    const again = h("button", {
      type: "button",
      onclick: (e) => busy(e.currentTarget, async () => {
        try { await api.call("POST", "/api/readiness/check"); } catch (error) { toast(error.message || t("error.generic")); }
      }),
    }, t("readiness.check_again"));
    if (!r) {
      readiness.replaceChildren(h("h2", {}, t("readiness.title")), h("p", { class: "muted" }, t("readiness.checking")));
      // The live stream's first status carries the last check; only when it has none is one
      // asked for (a check the daemon keeps: the live status brings its result).
      if (app.live && !checking) {
        checking = true;
        api.get("/api/readiness").catch(() => {}).finally(() => { checking = false; });
      }
      return;
    }
    readiness.replaceChildren(
      h("h2", {}, t("readiness.title")),
      h("p", { class: "state" }, h("span", { class: "dot", "aria-hidden": "true" }), t(STATE[r.state])),
      r.problems.length
        ? h("ul", { class: "problems" }, r.problems.map((p) =>
          h("li", { class: `sev-${p.severity}` }, h("span", { class: "visually-hidden" }, `${t(SEVERITY[p.severity])}: `), p.message)))
        : h("p", { class: "muted" }, t("readiness.all_well")),
      again);
  }

  function renderAlarms() {
    const alarms = app.config?.alarms || [];
    const nextId = app.live?.next_firing?.alarm_id;
    if (!app.config) {
      list.replaceChildren(h("li", { class: "muted" }, t("app.loading")));
      return;
    }
    if (alarms.length === 0) {
      list.replaceChildren(h("li", { class: "empty" }, t("home.empty")));
      return;
    }
    const sorted = [...alarms].sort((a, b) => a.time.localeCompare(b.time));
    // Another phone's change redraws the list: keep the keyboard focus where it was.
    const focused = document.activeElement?.dataset?.focusKey;
    list.replaceChildren(...sorted.map((alarm) => alarmRow(alarm, alarm.id === nextId)));
    if (focused) list.querySelector(`[data-focus-key="${CSS.escape(focused)}"]`)?.focus();
  }

  function alarmRow(alarm, isNext) {
    const name = alarm.label || t("alarm.unnamed");
    const toggle = h("input", {
      type: "checkbox", role: "switch", class: "switch", checked: alarm.enabled, "data-focus-key": `on-${alarm.id}`,
      "aria-label": t("home.enabled_label", { name, time: clock(alarm.time) }),
      onchange: async (e) => {
        const on = e.currentTarget.checked;
        try {
          await api.call("PATCH", `/api/alarms/${alarm.id}`, { body: { enabled: on } });
        } catch (error) {
          e.currentTarget.checked = !on;
          toast(error.message || t("error.generic"));
        }
      },
    });
    const skip = h("button", {
      type: "button", class: `skip ${alarm.skip_next ? "on" : ""}`, "aria-pressed": String(alarm.skip_next),
      "data-focus-key": `skip-${alarm.id}`,
      disabled: !alarm.enabled,
      onclick: (e) => busy(e.currentTarget, async () => {
        try {
          await api.call("POST", `/api/alarms/${alarm.id}/skip-next`, { body: { skip_next: !alarm.skip_next } });
          toast(alarm.skip_next ? t("home.skip_cancelled", { name }) : t("home.skipped", { name }));
        } catch (error) {
          toast(error.message || t("error.generic"));
        }
      }),
    }, alarm.skip_next ? t("home.skipping") : t("home.skip"));
    return h("li", { class: `alarm ${alarm.enabled ? "" : "off"} ${isNext ? "is-next" : ""}` },
      h("a", { class: "alarm-main", href: `#/alarm/${alarm.id}`, "data-focus-key": `edit-${alarm.id}` },
        h("span", { class: "time" }, clock(alarm.time)),
        h("span", { class: "label" }, name),
        h("span", { class: "days" }, repeatWords(alarm))),
      h("div", { class: "alarm-controls" }, toggle, skip));
  }

  function renderAll() {
    renderPasswordHint();
    renderNext();
    renderReadiness();
    renderAlarms();
  }
  renderAll();

  return {
    update() { renderAll(); },
    leave() { clearTimeout(minuteTimer); },
  };
}

// Play something now, fade out and stop: POST /api/sleep-timer.
function sleepTimer() {
  const minutes = h("select", { name: "duration_minutes" },
    [15, 30, 45, 60, 90].map((m) => h("option", { value: String(m), selected: m === 30 }, t("sleep.minutes", { m }))));
  const volume = h("input", { type: "range", min: "0", max: "100", value: "25", name: "volume_percent" });
  const form = h("form", {
    class: "card",
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form);
      const button = form.querySelector("button[type=submit]");
      await busy(button, async () => {
        try {
          await api.call("POST", "/api/sleep-timer", {
            body: { duration_minutes: Number(minutes.value), volume_percent: Number(volume.value) },
          });
        } catch (error) {
          showError(form, error);
        }
      });
    },
  },
  field(t("sleep.duration"), minutes, { field: "duration_minutes" }),
  field(t("sleep.volume"), volume, { field: "volume_percent" }),
  h("div", { class: "actions" }, h("button", { type: "submit" }, t("sleep.start"))));
  return h("details", { class: "sleep" }, h("summary", {}, t("sleep.title")), form);
}
