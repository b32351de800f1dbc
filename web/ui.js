// What every screen uses: the string catalogue (`t`), an element builder (`h`), time in words,
// field errors next to their fields, the "changed on another device" panel, and the toast.
import strings from "/i18n/en.js";

export function t(key, vars = {}) {
  const text = strings[key];
  if (text === undefined) return key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

// h("button", {class: "big", onclick: f}, "Stop"): attributes, listeners, children.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === false || value == null) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "value" || name === "checked") el[name] = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child != null && child !== false) el.append(child);
  }
  return el;
}

let uid = 0;
export const nextId = (prefix) => `${prefix}-${++uid}`;

// A labelled input with a place for its error; `field` is the API's name for it.
export function field(label, input, { field: name, hint } = {}) {
  input.id ||= nextId("f");
  const error = h("p", { class: "error", id: nextId("e"), hidden: true });
  input.setAttribute("aria-describedby", error.id);
  return h("div", { class: "field", "data-field": name },
    h("label", { for: input.id }, label),
    input,
    hint ? h("p", { class: "hint" }, hint) : null,
    error);
}

export function switchInput(props) {
  return h("input", { type: "checkbox", role: "switch", class: "switch", ...props });
}

// --- time ---------------------------------------------------------------------------------

// The daemon's clock: the live status carries it, the phone's may be off.
let offsetMs = 0;
export function setServerTime(iso) {
  const at = Date.parse(iso);
  if (!Number.isNaN(at)) offsetMs = at - Date.now();
}
export const serverNow = () => Date.now() + offsetMs;

let timeFormat = "24h";
export function setTimeFormat(format) { timeFormat = format === "12h" ? "12h" : "24h"; }

// "06:45" or "6:45 AM" from "HH:MM".
export function clock(hhmm) {
  if (timeFormat === "24h" || !hhmm) return hhmm || "";
  const [h24, m] = hhmm.split(":").map(Number);
  const suffix = h24 < 12 ? t("time.am") : t("time.pm");
  return `${((h24 + 11) % 12) + 1}:${String(m).padStart(2, "0")} ${suffix}`;
}

// The zone alarm times are read in (the Pi's, from the live status), not the phone's.
let piZone;
export function setZone(zone) { piZone = zone || undefined; }

// "YYYY-MM-DD" and "HH:MM" of an instant in the Pi's zone.
export function localParts(ms, zone = piZone) {
  let parts;
  try {
    parts = new Intl.DateTimeFormat("en-CA", {
      timeZone: zone || undefined, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(new Date(ms));
  } catch {
    return localParts(ms, "UTC");
  }
  const get = (type) => parts.find((p) => p.type === type)?.value;
  return { date: `${get("year")}-${get("month")}-${get("day")}`, time: `${get("hour")}:${get("minute")}` };
}

const lang = () => document.documentElement.lang || "en";

// "today", "tomorrow", "Wednesday", or "Wed 24 Dec", for a date seen from `today`.
export function dayWords(date, today) {
  const days = Math.round((Date.parse(date) - Date.parse(today)) / 86400000);
  if (days === 0) return t("day.today");
  if (days === 1) return t("day.tomorrow");
  if (days === -1) return t("day.yesterday");
  const noon = new Date(`${date}T12:00:00Z`);
  if (days > 1 && days < 7) {
    return new Intl.DateTimeFormat(lang(), { weekday: "long", timeZone: "UTC" }).format(noon);
  }
  return new Intl.DateTimeFormat(lang(), { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" }).format(noon);
}

// "7 h 12 min" for a span of milliseconds.
export function span(ms) {
  const minutes = Math.max(0, Math.round(ms / 60000));
  const d = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  if (d > 0) return t("span.days_hours", { d, h: hours });
  if (hours > 0) return m ? t("span.hours_minutes", { h: hours, m }) : t("span.hours", { h: hours });
  return m ? t("span.minutes", { m }) : t("span.under_minute");
}

// "in 7 h 12 min" (or "in less than a minute").
export function inWords(ms) {
  return ms < 60000 ? t("span.soon") : t("span.in", { span: span(ms) });
}

// "tomorrow 06:45" for an instant, in the Pi's zone.
export function when(ms) {
  const at = localParts(ms);
  const today = localParts(serverNow()).date;
  return t("time.day_at", { day: dayWords(at.date, today), time: clock(at.time) });
}

// "Mon, Wed", "weekdays", "every day", "once, Thu 24 Dec".
export function repeatWords(alarm) {
  const all = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  const days = all.filter((d) => alarm.repeat.includes(d));
  if (days.length === 0) {
    return alarm.date ? t("repeat.once_on", { date: dayWords(alarm.date, localParts(serverNow()).date) }) : t("repeat.once");
  }
  if (days.length === 7) return t("repeat.every_day");
  if (days.join() === "mon,tue,wed,thu,fri") return t("repeat.weekdays");
  if (days.join() === "sat,sun") return t("repeat.weekend");
  return days.map((d) => t(DAY_SHORT[d])).join(", ");
}

export const DAY_SHORT = {
  mon: "day.mon", tue: "day.tue", wed: "day.wed", thu: "day.thu", fri: "day.fri", sat: "day.sat", sun: "day.sun",
};

// --- errors and conflicts --------------------------------------------------------------------

export function clearErrors(form) {
  for (const el of form.querySelectorAll(".error")) { el.hidden = true; el.textContent = ""; }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

// Shows an API error next to the field it names (the longest matching `data-field`), or at
// the top of the form. Returns the element it went to.
export function showError(form, error) {
  const name = error.field || "";
  let target = null;
  for (const el of form.querySelectorAll("[data-field]")) {
    const f = el.dataset.field;
    if (f && (name === f || name.startsWith(`${f}.`) || name.startsWith(`${f}[`))) {
      if (!target || f.length > target.dataset.field.length) target = el;
    }
  }
  target ||= form.querySelector("[data-field='']") || form;
  let slot = target.querySelector(":scope > .error");
  if (!slot) {
    slot = h("p", { class: "error" });
    target.prepend(slot);
  }
  slot.textContent = error.message;
  slot.hidden = false;
  // A field folded away in a <details> is unfolded, so the message is seen.
  for (let d = target.closest("details"); d; d = d.parentElement?.closest("details")) d.open = true;
  const input = target.querySelector("input, select, textarea");
  if (input && target !== form) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
  } else {
    slot.setAttribute("tabindex", "-1");
    slot.focus();
  }
  return slot;
}

// "Changed on another device": the values now saved beside the ones typed, and a choice.
// `rows` are [label, mine, theirs] (already in words); nothing typed is thrown away.
export function conflictPanel({ rows, keepMine, takeTheirs, deleted = false }) {
  const differing = rows.filter(([, mine, theirs]) => mine !== theirs);
  return h("section", { class: "conflict", role: "alert" },
    h("h3", {}, deleted ? t("conflict.deleted") : t("conflict.title")),
    h("p", {}, deleted ? t("conflict.deleted_hint") : t("conflict.hint")),
    differing.length && !deleted
      ? h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, t("conflict.yours")), h("th", {}, t("conflict.now")))),
        h("tbody", {}, differing.map(([label, mine, theirs]) => h("tr", {}, h("th", {}, label), h("td", {}, mine), h("td", {}, theirs)))))
      : null,
    h("div", { class: "actions" },
      h("button", { type: "button", class: "primary", onclick: keepMine }, deleted ? t("conflict.save_as_new") : t("conflict.keep_mine")),
      takeTheirs ? h("button", { type: "button", onclick: takeTheirs }, deleted ? t("conflict.discard") : t("conflict.take_theirs")) : null));
}

// --- toast ---------------------------------------------------------------------------------

let toastTimer = 0;
// A short message at the bottom, optionally with one action ("Undo").
export function toast(message, action) {
  const box = document.getElementById("toast");
  clearTimeout(toastTimer);
  box.replaceChildren(h("span", {}, message));
  if (action) box.append(h("button", { type: "button", onclick: () => { box.replaceChildren(); action.run(); } }, action.label));
  box.classList.add("shown");
  toastTimer = setTimeout(() => { box.classList.remove("shown"); box.replaceChildren(); }, action ? 10000 : 4000);
}

// A button that asks for a second tap before doing something hard to undo.
export function confirmButton(label, confirmLabel, run, props = {}) {
  let armed = false;
  let timer = 0;
  const button = h("button", {
    type: "button", ...props,
    onclick: async () => {
      if (!armed) {
        armed = true;
        button.textContent = confirmLabel;
        button.classList.add("armed");
        timer = setTimeout(() => { armed = false; button.textContent = label; button.classList.remove("armed"); }, 5000);
        return;
      }
      clearTimeout(timer);
      armed = false;
      button.textContent = label;
      button.classList.remove("armed");
      await run();
    },
  }, label);
  return button;
}

// Disables a button while `work` runs, so a double tap sends one request.
export async function busy(button, work) {
  if (button.disabled) return undefined;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}
