import { h, t } from "/ui.js";

export function render(view) {
  view.replaceChildren(h("p", {}, t("app.loading")));
}
