// The login form, shown when the owner set a password and this phone has no session.
import * as api from "/api.js";
import { h, t, field, clearErrors, showError, busy } from "/ui.js";

export function show(view, app) {
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const form = h("form", {
    class: "card login",
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form);
      await busy(form.querySelector("button"), async () => {
        try {
          await api.call("POST", "/api/session", { body: { password: password.value } });
          app.session = { password_set: true, logged_in: true };
          password.value = "";
          app.afterLogin();
        } catch (error) {
          const message = error.code === "too_many_attempts"
            ? t("login.wait", { s: error.retryAfter || 60 })
            : error.code === "wrong_password" ? t("login.wrong") : error.message || t("error.generic");
          showError(form, { field: "password", message });
        }
      });
    },
  },
  h("div", { "data-field": "" }),
  h("p", {}, t("login.why")),
  // For password managers: the account this password belongs to.
  h("input", { type: "text", name: "username", autocomplete: "username", value: location.host, hidden: true, "aria-hidden": "true", tabindex: "-1" }),
  field(t("login.password"), password, { field: "password" }),
  h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("login.submit"))));
  view.append(h("h1", {}, t("login.title")), form);
  password.focus();
  return {};
}
