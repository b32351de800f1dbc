// The alarm editor's playlist picker: under the Spotify link field, a button that asks the
// daemon for the linked account's playlists (`GET /api/spotify/playlists`) only when tapped,
// then a filter and a native <select>; choosing one puts its `spotify:playlist:` URI in the
// link field and names it. A pasted link always works, so every refusal here is a sentence
// beside the field, never an error that blocks saving. No cover images: they live on
// Spotify's CDN, which the page's CSP (and a network without internet) does not reach.
import * as api from "/api.js";
import { h, t, busy } from "/ui.js";

// `source` is the link field; the picker writes to it and follows what is typed there.
export function playlistPicker(source) {
  let playlists = [];
  const open = h("button", { type: "button", class: "pick-playlist", onclick: (e) => busy(e.currentTarget, () => load(false)) }, t("playlists.pick"));
  const refresh = h("button", { type: "button", class: "small refresh-playlists", hidden: true, onclick: (e) => busy(e.currentTarget, () => load(true)) }, t("playlists.refresh"));
  const filter = h("input", { type: "search", id: "playlist-filter", autocomplete: "off", oninput: list });
  const select = h("select", { id: "playlist-select", onchange: chosen });
  const chooser = h("div", { class: "playlist-chooser", hidden: true },
    h("label", { for: filter.id }, t("playlists.filter")), filter,
    h("label", { for: select.id }, t("playlists.list")), select);
  const status = h("p", { class: "hint playlist-status", role: "status" });
  const named = h("p", { class: "playlist-chosen", "aria-live": "polite" });

  source.addEventListener("input", name);

  async function load(again) {
    status.replaceChildren();
    try {
      const { data } = await api.get(`/api/spotify/playlists${again ? "?refresh=true" : ""}`);
      open.hidden = true;
      refresh.hidden = false;
      playlists = data.available ? data.playlists : [];
      chooser.hidden = !data.available || playlists.length === 0;
      if (!data.available) status.textContent = data.message || t("playlists.unavailable");
      else if (playlists.length === 0) status.textContent = t("playlists.none");
      else if (data.message) status.textContent = data.message;
      list();
      name();
    } catch (error) {
      refused(error);
    }
  }

  // Not linked (or no client ID, or a login to make again): the way there, not just the code.
  function refused(error) {
    const words = error.code === "not_linked" ? t("playlists.not_linked")
      : error.code === "offline" || !error.message ? t("error.generic")
        : error.message;
    const toSpotify = ["not_linked", "no_client_id", "link_again"].includes(error.code);
    status.replaceChildren(words, toSpotify ? " " : "",
      toSpotify ? h("a", { href: "#/spotify" }, t("playlists.to_spotify")) : "");
  }

  // The options matching the filter (by name or owner), the chosen one kept in view.
  function list() {
    const words = filter.value.trim().toLowerCase();
    const shown = playlists.filter((p) => !words || `${p.name} ${p.owner || ""}`.toLowerCase().includes(words));
    select.replaceChildren(
      h("option", { value: "" }, shown.length ? t("playlists.choose", { n: shown.length }) : t("playlists.no_match")),
      ...shown.map((p) => h("option", { value: p.uri }, optionWords(p))));
    select.value = shown.some((p) => p.uri === source.value.trim()) ? source.value.trim() : "";
  }

  function chosen() {
    if (!select.value) return;
    source.value = select.value;
    source.dispatchEvent(new Event("input"));
  }

  // The chosen playlist by its name, while the link field holds its URI.
  function name() {
    const match = playlists.find((p) => p.uri === source.value.trim());
    named.textContent = match ? t("playlists.chosen", { name: match.name }) : "";
    if (!match && select.value) select.value = "";
  }

  return h("div", { class: "field playlist-picker" },
    h("div", { class: "row" }, open, refresh), chooser, status, named);
}

// "Wake up gently · Mock Listener · 10 tracks"
function optionWords(p) {
  const parts = [p.name];
  if (p.owner) parts.push(p.owner);
  if (p.items_total != null) parts.push(t("playlists.tracks", { n: p.items_total }));
  return parts.join(" · ");
}
