// A collapsible JSON view. Nested values are drawn when first opened (a big value costs
// nothing until a person looks), long strings and arrays show a part with a button for the
// rest: nothing is ever cut without saying so, and the whole value is one click away.
import { h } from "./dom.js";

const STRING_SHOWN = 1500;
const ITEMS_SHOWN = 100;

/** The view of `value`; levels up to `openDepth` start opened. */
export function jsonView(value, openDepth = 1) {
  return h("div", { class: "json" }, node(null, value, 0, openDepth));
}

function node(key, value, depth, openDepth) {
  const label = key === null ? null : h("span", { class: "j-key" }, `${key}: `);
  if (value !== null && typeof value === "object") {
    const isArray = Array.isArray(value);
    const entries = isArray ? value.map((item, i) => [i, item]) : Object.entries(value);
    const summary = h("summary", {}, label,
      h("span", { class: "j-meta" }, isArray ? `[${entries.length}]` : `{${entries.length}}`),
      entries.length ? h("span", { class: "j-preview" }, preview(value)) : null);
    const details = h("details", { class: "j-node" }, summary);
    let drawn = false;
    const drawChildren = () => {
      if (drawn) return;
      drawn = true;
      const list = h("div", { class: "j-children" });
      details.append(list);
      let shown = 0;
      const more = () => {
        const next = entries.slice(shown, shown + ITEMS_SHOWN);
        for (const [k, v] of next) list.append(node(k, v, depth + 1, openDepth));
        shown += next.length;
        if (shown < entries.length) {
          const button = h("button", { type: "button", class: "more" },
            `show ${Math.min(ITEMS_SHOWN, entries.length - shown)} more of ${entries.length - shown} remaining`);
          button.addEventListener("click", () => { button.remove(); more(); });
          list.append(button);
        }
      };
      more();
    };
    details.addEventListener("toggle", () => { if (details.open) drawChildren(); });
    if (depth < openDepth && entries.length) { details.open = true; drawChildren(); }
    return details;
  }
  return h("div", { class: "j-leaf" }, label, scalar(value));
}

function scalar(value) {
  if (typeof value === "string") {
    if (value.length <= STRING_SHOWN) return h("span", { class: "j-str" }, JSON.stringify(value));
    const text = h("span", { class: "j-str" }, JSON.stringify(value.slice(0, STRING_SHOWN)).slice(0, -1) + "…");
    const button = h("button", { type: "button", class: "more" },
      `show all ${value.length.toLocaleString("en-US")} characters`);
    button.addEventListener("click", () => {
      text.textContent = JSON.stringify(value);
      button.remove();
    });
    return h("span", {}, text, " ", button);
  }
  const cls = value === null ? "j-null" : typeof value === "number" ? "j-num" : "j-bool";
  return h("span", { class: cls }, String(value));
}

function preview(value) {
  const text = JSON.stringify(value);
  return text.length > 80 ? ` ${text.slice(0, 80)}…` : ` ${text}`;
}
