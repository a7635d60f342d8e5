// The viewer's router: one HTML shell for every address, a page module per kind of address.
// Links marked data-nav (and those pages make with link()) change the page without a reload.
import { h, plainClick } from "./dom.js";
import { sessionsPage } from "./sessions.js";
import { tracePage } from "./trace.js";
import { comparePage } from "./compare.js";

const ROUTES = [
  [/^\/$/, sessionsPage],
  [/^\/sessions\/([0-9a-fA-F-]{36})$/, tracePage],
  [/^\/compare$/, comparePage],
];

const main = document.getElementById("app");
let stopCurrent = null;

export function navigate(url) {
  history.pushState(null, "", url);
  render();
}

/** A link that navigates inside the viewer. */
export function link(href, ...children) {
  return h("a", { href, onclick: (event) => {
    if (!plainClick(event)) return;
    event.preventDefault();
    navigate(href);
  } }, ...children);
}

function render() {
  if (stopCurrent) stopCurrent();
  stopCurrent = null;
  main.replaceChildren();
  for (const [pattern, page] of ROUTES) {
    const match = location.pathname.match(pattern);
    if (match) {
      stopCurrent = page(main, match.slice(1), new URLSearchParams(location.search)) || null;
      return;
    }
  }
  main.append(h("p", {}, "No such page. ", link("/", "All sessions")));
}

document.addEventListener("click", (event) => {
  const anchor = event.target.closest && event.target.closest("a[data-nav]");
  if (anchor && plainClick(event)) {
    event.preventDefault();
    navigate(anchor.getAttribute("href"));
  }
});
window.addEventListener("popstate", render);
// The log-out button shows only where a login exists: the cookie is HttpOnly, so ask the page's
// origin whether a key is needed (the login page redirects home when none is).
fetch("/login", { method: "GET", redirect: "manual", credentials: "same-origin" })
  .then((response) => { document.getElementById("logout").hidden = response.type === "opaqueredirect"; })
  .catch(() => {});
render();
