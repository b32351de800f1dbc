// Spotify: the linked account (Premium, days left on the login), the receivers online, and
// the linking wizard: the user's own app on the Spotify dashboard, its client ID, the
// authorise link, and pasting back the address the browser ended on.
import * as api from "/api.js";
import { h, t, field, clearErrors, showError, toast, busy, confirmButton, conflictPanel } from "/ui.js";

// The redirect URI to register comes from the daemon (`redirect_uri` of GET /api/spotify/link:
// `spotify.redirect_port` chooses its port); this is only what it is by default.
const DEFAULT_REDIRECT_URI = "http://127.0.0.1:8888/callback";
const DASHBOARD = "https://developer.spotify.com/dashboard";

export function show(view, app) {
  const account = h("section", { class: "card" });
  const devices = h("section", { class: "card" });
  const wizard = h("section", { class: "card wizard" });
  view.append(h("h1", {}, t("spotify.title")), account, devices, wizard);
  let status = null;
  let wizardOpen = false;

  async function load() {
    try {
      status = (await api.get("/api/spotify/link")).data;
    } catch (error) {
      account.replaceChildren(h("p", { class: "error" }, error.message || t("error.generic")));
      return;
    }
    renderAccount();
    renderWizard();
  }

  function renderAccount() {
    if (!status.linked) {
      account.replaceChildren(h("h2", {}, t("spotify.account")), h("p", {}, t("spotify.not_linked")));
      devices.hidden = true;
      return;
    }
    devices.hidden = false;
    const premium = status.premium === true ? t("spotify.premium_yes") : status.premium === false ? t("spotify.premium_no") : t("spotify.premium_unknown");
    account.replaceChildren(
      h("h2", {}, t("spotify.account")),
      h("dl", {},
        h("dt", {}, t("spotify.linked_as")), h("dd", {}, status.display_name || t("spotify.unknown_name")),
        h("dt", {}, t("spotify.premium")), h("dd", { class: status.premium === false ? "bad" : "" }, premium),
        h("dt", {}, t("spotify.login_left")),
        h("dd", {}, status.days_left != null ? t("spotify.days_left", { d: status.days_left }) : t("spotify.days_unknown"))),
      status.warning ? h("p", { class: "warning" }, status.warning) : "",
      h("p", { class: "hint" }, t("spotify.login_why")),
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: () => { wizardOpen = true; renderWizard(); wizard.querySelector("h2").focus(); } }, t("spotify.link_again")),
        confirmButton(t("spotify.unlink"), t("spotify.unlink_confirm"), unlink, { class: "danger" })));
    if (!devices.firstChild) renderDevices(null);
  }

  async function unlink() {
    try {
      await api.call("DELETE", "/api/spotify/link");
      toast(t("spotify.unlinked"));
      await load();
    } catch (error) {
      toast(error.message || t("error.generic"));
    }
  }

  function renderDevices(list, error) {
    const button = h("button", { type: "button", onclick: (e) => busy(e.currentTarget, loadDevices) }, list ? t("spotify.devices_again") : t("spotify.devices_show"));
    devices.replaceChildren(h("h2", {}, t("spotify.devices")),
      error ? h("p", { class: "error" }, error) : "",
      list ? deviceList(list) : h("p", { class: "hint" }, t("spotify.devices_hint")),
      h("div", { class: "actions" }, button));
  }

  function deviceList(list) {
    if (list.devices.length === 0) return h("p", {}, t("spotify.no_devices"));
    return h("ul", { class: "devices" }, list.devices.map((d) => h("li", {},
      h("span", { class: "name" }, d.name), " ",
      h("span", { class: "muted" }, d.type),
      d.configured ? h("span", { class: "badge" }, t("spotify.device_alarms")) : null,
      d.is_active ? h("span", { class: "badge" }, t("spotify.device_active")) : null,
      !d.configured && d.id ? h("button", { type: "button", class: "small", onclick: (e) => busy(e.currentTarget, () => useDevice(d)) }, t("spotify.device_use")) : null)));
  }

  async function loadDevices() {
    try {
      renderDevices((await api.get("/api/spotify/devices")).data);
    } catch (error) {
      renderDevices(null, error.message || t("error.generic"));
    }
  }

  // The receiver alarms play on when they name none themselves.
  async function useDevice(d) {
    try {
      await api.call("PATCH", "/api/config", { body: { spotify: { device_id: d.id, device_name: d.name } }, revision: app.revision });
      toast(t("spotify.device_chosen", { name: d.name }));
      await loadDevices();
    } catch (error) {
      if (error.status === 412) {
        await app.loadConfig();
        return useDevice(d);
      }
      toast(error.message || t("error.generic"));
    }
    return undefined;
  }

  // --- the wizard -------------------------------------------------------------------------
  function renderWizard() {
    if (status.linked && !wizardOpen) {
      wizard.hidden = true;
      return;
    }
    wizard.hidden = false;
    const redirectUri = status.redirect_uri || DEFAULT_REDIRECT_URI;
    const uri = h("input", { type: "text", readonly: true, value: redirectUri, class: "mono", "aria-label": t("spotify.step1_redirect"), onfocus: (e) => e.currentTarget.select() });
    const copy = h("button", {
      type: "button",
      onclick: async () => {
        uri.focus();
        uri.select();
        let copied = false;
        try {
          // Only over HTTPS; on plain HTTP the selected text is copied the old way.
          if (navigator.clipboard) { await navigator.clipboard.writeText(redirectUri); copied = true; }
        } catch { /* fall through */ }
        if (!copied) copied = document.execCommand?.("copy");
        toast(copied ? t("spotify.copied") : t("spotify.copy_by_hand"));
      },
    }, t("spotify.copy"));

    const clientId = h("input", { type: "text", name: "client_id", autocomplete: "off", spellcheck: "false", class: "mono", value: app.config?.spotify?.client_id || "", maxlength: "32" });
    const idForm = h("form", { class: "step", onsubmit: saveClientId },
      h("h3", {}, t("spotify.step2")),
      h("div", { "data-field": "" }),
      field(t("spotify.client_id"), clientId, { field: "spotify.client_id", hint: t("spotify.client_id_hint") }),
      h("div", { class: "actions" }, h("button", { type: "submit" }, t("spotify.save_client_id"))));

    const linkArea = h("div");
    const pasted = h("input", { type: "url", name: "redirect_url", autocomplete: "off", inputmode: "url", placeholder: `${redirectUri}?code=…` });
    const pasteForm = h("form", { class: "step", onsubmit: complete },
      h("h3", {}, t("spotify.step4")),
      h("div", { "data-field": "" }),
      field(t("spotify.paste"), pasted, { field: "redirect_url", hint: t("spotify.paste_hint") }),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("spotify.link"))));

    wizard.replaceChildren(
      h("h2", { tabindex: "-1" }, t("spotify.wizard")),
      h("div", { class: "step" },
        h("h3", {}, t("spotify.step1")),
        h("ol", {},
          h("li", {}, t("spotify.step1_open"), " ", h("a", { href: DASHBOARD, target: "_blank", rel: "noopener noreferrer" }, t("spotify.dashboard"))),
          h("li", {}, t("spotify.step1_create")),
          h("li", {}, t("spotify.step1_redirect"), h("div", { class: "row" }, uri, copy)),
          h("li", {}, t("spotify.step1_users")))),
      idForm,
      h("div", { class: "step" },
        h("h3", {}, t("spotify.step3")),
        h("p", {}, t("spotify.step3_hint")),
        linkArea,
        h("div", { class: "actions" }, h("button", {
          type: "button",
          onclick: (e) => busy(e.currentTarget, async () => {
            linkArea.replaceChildren();
            try {
              const { data } = await api.call("POST", "/api/spotify/link");
              linkArea.replaceChildren(h("p", {}, h("a", { class: "button primary", href: data.authorize_url, target: "_blank", rel: "noopener noreferrer" }, t("spotify.open_spotify"))),
                h("p", { class: "hint" }, t("spotify.expires", { time: new Date(data.expires_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) })));
              linkArea.querySelector("a").focus();
            } catch (error) {
              linkArea.replaceChildren(h("p", { class: "error" }, error.code === "no_client_id" ? t("spotify.need_client_id") : error.message || t("error.generic")));
            }
          }),
        }, t("spotify.start")))),
      pasteForm);

    async function saveClientId(e) {
      e.preventDefault();
      clearErrors(idForm);
      await busy(idForm.querySelector("button"), async () => {
        const body = { spotify: { client_id: clientId.value.trim() || null } };
        try {
          await api.call("PATCH", "/api/config", { body, revision: app.revision });
          await app.loadConfig();
          toast(t("spotify.client_id_saved"));
        } catch (error) {
          if (error.status === 412) {
            // Someone changed the settings meanwhile: show theirs beside what was typed.
            await app.loadConfig();
            idForm.prepend(conflictPanel({
              rows: [[t("spotify.client_id"), clientId.value.trim(), app.config.spotify.client_id || ""]],
              keepMine: (ev) => { ev.currentTarget.closest(".conflict").remove(); idForm.requestSubmit(); },
              takeTheirs: (ev) => { ev.currentTarget.closest(".conflict").remove(); clientId.value = app.config.spotify.client_id || ""; },
            }));
            return;
          }
          showError(idForm, error);
        }
      });
    }

    async function complete(e) {
      e.preventDefault();
      clearErrors(pasteForm);
      await busy(pasteForm.querySelector("button"), async () => {
        try {
          await api.call("POST", "/api/spotify/link/complete", { body: { redirect_url: pasted.value.trim() } });
          toast(t("spotify.linked"));
          wizardOpen = false;
          await load();
        } catch (error) {
          // Every refusal here is about the pasted address (or the login behind it).
          showError(pasteForm, { ...error, message: error.message, field: "redirect_url" });
        }
      });
    }
  }

  load();
  return {
    update(reason) { if (reason === "reconnect") load(); },
  };
}
