// The page's entry point.
import { t } from "/ui.js";
import * as home from "/screens/home.js";

for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
home.render(document.getElementById("view"));
