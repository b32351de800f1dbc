// History: the recent alarms and how each went, in words; and the occurrences the scheduler
// skipped or missed (vacation, skip-next, the daemon down).
import * as api from "/api.js";
import { h, t, clock, localParts, dayWords, serverNow, span } from "/ui.js";

const PATH = {
  spotify: "history.path_spotify",
  local_sound: "history.path_local_sound",
  buzzer: "history.path_buzzer",
  silent: "history.path_silent",
};
const ENDED = {
  api: "history.ended_api",
  button: "history.ended_button",
  auto_stop: "history.ended_auto_stop",
  interrupted: "history.ended_interrupted",
  timer: "history.ended_timer",
  alarm: "history.ended_alarm",
  overlapped: "history.ended_overlapped",
};
const DECISION = {
  skip_next: "history.decision_skip_next",
  vacation: "history.decision_vacation",
  missed: "history.decision_missed",
};

export function show(view) {
  const list = h("ol", { class: "history" }, h("li", { class: "muted" }, t("app.loading")));
  view.append(h("h1", {}, t("history.title")), list);

  async function load() {
    let entries;
    let events = [];
    try {
      entries = (await api.get("/api/history")).data;
      events = (await api.get("/api/status")).data.scheduler.recent_events.filter((e) => e.decision !== "ring");
    } catch (error) {
      if (!entries) {
        list.replaceChildren(h("li", { class: "error" }, error.message || t("error.generic")));
        return;
      }
    }
    const items = [
      ...entries.map((e) => ({ at: Date.parse(e.started_at), el: () => episode(e) })),
      ...events.map((e) => ({ at: Date.parse(e.occurrence), el: () => skipped(e) })),
    ].sort((a, b) => b.at - a.at);
    list.replaceChildren(...(items.length ? items.map((i) => i.el()) : [h("li", { class: "empty" }, t("history.empty"))]));
  }

  load();
  return { update(reason) { if (reason !== "config") load(); } };
}

function at(iso) {
  const parts = localParts(Date.parse(iso));
  return t("time.day_at", { day: dayWords(parts.date, localParts(serverNow()).date), time: clock(parts.time) });
}

function episode(e) {
  const paths = e.paths.map((p) => t(PATH[p] || "history.path_silent"));
  const how = e.ended_by === "overlapped" ? t(ENDED.overlapped) : [
    paths.length ? paths.join(t("history.then")) : t("history.path_silent"),
    e.snoozes ? t("history.snoozes", { n: e.snoozes }) : null,
    t(ENDED[e.ended_by] || "history.ended_api"),
    e.duration_seconds > 0 ? t("history.for", { span: span(e.duration_seconds * 1000) }) : null,
  ].filter(Boolean).join(", ");
  const bad = e.paths.includes("silent") || e.ended_by === "overlapped" || e.ended_by === "interrupted";
  return h("li", { class: bad ? "bad" : e.paths[0] === "spotify" ? "good" : "degraded" },
    h("p", { class: "when" }, at(e.started_at), " · ", h("strong", {}, e.label || t("alarm.unnamed"))),
    h("p", { class: "how" }, how),
    e.fallback_reason ? h("p", { class: "muted" }, t("history.why", { reason: e.fallback_reason })) : null);
}

function skipped(e) {
  return h("li", { class: e.decision === "missed" ? "bad" : "" },
    h("p", { class: "when" }, at(e.occurrence), " · ", h("strong", {}, e.label || t("alarm.unnamed"))),
    h("p", {}, t(DECISION[e.decision] || "history.decision_missed")));
}
