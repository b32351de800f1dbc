// The page's entry point: the login state, the config, the live event stream, the offline
// banner and the router. Screens are modules with `show(view, app, arg)`, which returns an
// object whose `update(reason)` is called on "live" (a new live status) and "config" (the
// config changed, on this phone or elsewhere) and whose `leave()` is called on navigation.
// Only the home screen and the ringing overlay load with the page; the others on first use.
import * as api from "/api.js";
import { h, t, setServerTime, setTimeFormat, setZone } from "/ui.js";
import * as home from "/screens/home.js";
import * as ringing from "/screens/ringing.js";

const SCREENS = {
  home: async () => home,
  alarm: () => import("/screens/alarm.js"),
  history: () => import("/screens/history.js"),
  spotify: () => import("/screens/spotify.js"),
  settings: () => import("/screens/settings.js"),
  login: () => import("/screens/login.js"),
};
const TABS = { home: "home", alarm: "home", history: "history", spotify: "spotify", settings: "settings" };

// What screens share. `config`/`revision` are the document and its ETag as last fetched;
// `live` the last live status; `session` whether a login is needed.
const app = {
  config: null, revision: null, live: null, session: null, statusPath: null,
  loadConfig, go: (hash) => { location.hash = hash; },
  afterLogin: () => start(),
};

const view = document.getElementById("view");
let current = null;
let routing = 0;

async function route(focus = true) {
  const [name = "home", arg = null] = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const key = app.session?.password_set && !app.session.logged_in ? "login" : (SCREENS[name] ? name : "home");
  const mine = ++routing;
  current?.leave?.();
  current = null;
  let module;
  try {
    module = await SCREENS[key]();
  } catch {
    offline(true);
    return;
  }
  if (mine !== routing) return;
  for (const tab of document.querySelectorAll("#tabs a")) {
    if (tab.dataset.tab === TABS[key]) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  document.getElementById("tabs").hidden = key === "login";
  view.replaceChildren();
  current = module.show(view, app, arg) || {};
  if (focus) {
    window.scrollTo(0, 0);
    view.focus({ preventScroll: true });
  }
}

async function loadConfig() {
  const { data, revision } = await api.get("/api/config");
  app.config = data;
  app.revision = revision;
  const web = data.web || {};
  document.title = web.title || t("app.title");
  document.getElementById("title").textContent = web.title || t("app.title");
  setTimeFormat(web.time_format);
  if (web.theme === "light" || web.theme === "dark") document.documentElement.dataset.theme = web.theme;
  else delete document.documentElement.dataset.theme;
  return data;
}

// --- the live event stream and the offline banner ------------------------------------------

let source = null;
let retryAt = 0;
let retryTimer = 0;
let tickTimer = 0;
let failures = 0;
let wasOffline = false;

function connect() {
  clearTimeout(retryTimer);
  source?.close();
  source = new EventSource("/api/events");
  source.addEventListener("status", (event) => onLive(JSON.parse(event.data)));
  source.onerror = () => {
    source?.close();
    source = null;
    failed();
  };
}

// The stream failed: find out why (no answer, a login, too many pages), then try again with
// a growing delay (1 s, 2 s, 5 s, 10 s).
async function failed() {
  failures += 1;
  try {
    const { data } = await api.get("/api/session");
    app.session = data;
    if (data.password_set && !data.logged_in) {
      route();
      return;
    }
  } catch { /* `api` raised the offline banner */ }
  const delay = [1, 2, 5, 10][Math.min(failures - 1, 3)] * 1000;
  retryAt = Date.now() + delay;
  retryTimer = setTimeout(connect, delay);
  if (failures > 1) offline(true);
}

function offline(yes) {
  const banner = document.getElementById("offline");
  clearInterval(tickTimer);
  if (!yes) {
    banner.hidden = true;
    return;
  }
  wasOffline = true;
  const render = () => {
    const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    banner.replaceChildren(
      h("span", {}, seconds > 0 ? t("offline.retrying", { s: seconds }) : t("offline.trying")),
      h("button", { type: "button", onclick: () => { failures = 0; connect(); } }, t("offline.retry")));
  };
  render();
  banner.hidden = false;
  tickTimer = setInterval(render, 1000);
}
api.on("offline", (yes) => { if (yes) offline(true); });
api.on("login", () => {
  if (app.session) app.session.logged_in = false;
  source?.close();
  source = null;
  route();
});

async function onLive(live) {
  failures = 0;
  setServerTime(live.server_time);
  setZone(live.time_zone);
  app.live = live;
  // After the daemon was unreachable, screens refetch what they show.
  let reason = wasOffline ? "reconnect" : "live";
  if (wasOffline) {
    wasOffline = false;
    offline(false);
  }
  if (live.revision !== app.revision) {
    try {
      await loadConfig();
      if (reason === "live") reason = "config";
    } catch { /* the banner says why */ }
  }
  ringing.update(app);
  if (!current && !routing) route(false);
  else current?.update?.(reason);
}

// --- start --------------------------------------------------------------------------------

async function start() {
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  document.getElementById("title").textContent ||= t("app.title");
  try {
    app.session = (await api.get("/api/session")).data;
  } catch {
    failed();
    return;
  }
  if (app.session.password_set && !app.session.logged_in) {
    route(false);
    return;
  }
  try {
    await loadConfig();
  } catch { /* offline: the stream retries and loads it */ }
  route(false);
  connect();
}

window.addEventListener("hashchange", () => route());
start();
