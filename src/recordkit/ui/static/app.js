// The page: a router over three views (runs table, run page, compare chart), all from /api/*.
import { renderRuns } from "./runs.js";
import { renderRun } from "./run.js";
import { renderCompare } from "./compare.js";
import { announce } from "./dom.js";
import { getStore } from "./api.js";

const view = document.getElementById("view");
let cleanup = null;

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  if (cleanup) { cleanup(); cleanup = null; }
  view.replaceChildren();
  let name = "runs";
  if (path.startsWith("/run/")) {
    name = "run";
    cleanup = renderRun(view, decodeURIComponent(path.slice(5)), params);
  } else if (path.startsWith("/compare")) {
    name = "compare";
    cleanup = renderCompare(view, params);
  } else {
    cleanup = renderRuns(view, params);
  }
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function setTheme(theme) {
  document.documentElement.dataset.theme = theme;
  localStorage.setItem("recordkit.theme", theme);
}

function initTheme() {
  const saved = localStorage.getItem("recordkit.theme");
  const dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.dataset.theme = saved || (dark ? "dark" : "light");
  document.getElementById("theme").addEventListener("click", () => {
    setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark");
    window.dispatchEvent(new Event("recordkit:theme"));
  });
}

document.addEventListener("keydown", (event) => {
  // "/" jumps to the search box, as on most sites; not while typing somewhere.
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement?.tagName);
  if (event.key === "/" && !typing) {
    const search = document.getElementById("search");
    if (search) { event.preventDefault(); search.focus(); }
  }
});

initTheme();
window.addEventListener("hashchange", route);
getStore().then((info) => {
  document.getElementById("store-url").textContent = info.url;
  document.title = `recordkit · ${info.url}`;
}).catch((error) => announce(error.message));
route();
