// DOM building and formatting shared by the pages. Every value from the API reaches the page as
// text (textContent or a text node), never parsed as markup, anywhere in this viewer.

/** An element: h("a", {href: "/", class: "x", onclick: fn}, "text", child, [more]). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** GET a JSON route; a missing login sends the browser to the login page. */
export async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401) {
    location.assign("/login");
    throw new Error("login needed");
  }
  if (response.status === 304) return { notModified: true, etag: response.headers.get("ETag") };
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new Error((body && body.message) || `HTTP ${response.status}`);
  }
  return { body, etag: response.headers.get("ETag") };
}

export function formatDuration(ms) {
  if (typeof ms !== "number" || !isFinite(ms)) return "-";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60000);
  return `${minutes}m ${Math.round((ms % 60000) / 1000)}s`;
}

export function formatTime(ms) {
  if (typeof ms !== "number" || !isFinite(ms)) return "-";
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function formatCount(n) {
  return typeof n === "number" && isFinite(n) ? n.toLocaleString("en-US") : "-";
}

export function formatCost(n) {
  if (typeof n !== "number" || !isFinite(n)) return "-";
  return n >= 1 ? `$${n.toFixed(2)}` : `$${n.toPrecision(3)}`;
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** A small button that copies `text` to the clipboard. */
export function copyButton(text, label = "copy") {
  const button = h("button", { type: "button", class: "copy", title: `copy ${text}` }, label);
  button.addEventListener("click", async (event) => {
    event.stopPropagation();
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "copied";
    } catch {
      button.textContent = "copy failed";
    }
    setTimeout(() => { button.textContent = label; }, 1200);
  });
  return button;
}

/** A type badge: its class colours it (model, tool, chain, session, other). */
export function typeBadge(type) {
  return h("span", { class: `badge type-${typeClass(type)}` }, type || "?");
}

export function typeClass(type) {
  return ["model", "tool", "chain", "session"].includes(type) ? type : "other";
}

/** Is this a plain left click that the page should handle itself? */
export function plainClick(event) {
  return event.button === 0 && !event.metaKey && !event.ctrlKey && !event.shiftKey && !event.altKey;
}
