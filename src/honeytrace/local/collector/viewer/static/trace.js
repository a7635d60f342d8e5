// The trace page: the session's totals, its event tree beside a waterfall (one row each, so the
// two stay aligned), and the details of the event opened. The tree comes as compact rows (see
// /api/sessions/{id}); only the rows in view are in the page (virtual rendering), so a
// 5,000-event session costs as little DOM as a 50-event one. Details are read per event.
import {
  api, copyButton, formatCost, formatCount, formatDuration, formatTime, h, typeBadge, typeClass,
} from "./dom.js";
import { link } from "./app.js";
import { showDetails } from "./details.js";

const ROW = 26;       // px, one row of the tree and the waterfall (kept in step with the CSS)
const OVERSCAN = 12;  // rows drawn beyond the view, so that scrolling shows no gap
const POLL_MS = 3000;

export function tracePage(main, [sessionId]) {
  let view = null;          // the API's answer
  let events = [];          // rows as objects, depth first
  let visible = [];         // indexes into events, collapsed subtrees left out
  const collapsed = new Set();
  let cursor = 0;           // position in `visible`
  let opened = null;        // event id whose details show
  let etag = null;
  let stopped = false;
  let timer = null;
  let filterText = "";

  const header = h("section", { class: "trace-head" });
  const banner = h("div", { class: "banners" });
  const filter = h("input", { id: "event-filter", type: "search", placeholder: "Find events by name or type  ( / )",
    "aria-label": "find events" });
  const depthNote = h("span", { class: "muted", id: "depth-note" });
  const scroller = h("div", { class: "rows", id: "rows", tabindex: "0", role: "tree", "aria-label": "events" });
  const spacer = h("div", { class: "spacer" });
  const layer = h("div", { class: "layer" });
  scroller.append(spacer, layer);
  const axis = h("div", { class: "axis" });
  const details = h("aside", { class: "details", id: "details" },
    h("p", { class: "muted" }, "Select an event (click, or ↑ ↓ then Enter) to see its details."));

  main.append(
    header, banner,
    h("div", { class: "toolbar" }, filter,
      h("button", { type: "button", onclick: () => { collapsed.clear(); relayout(); } }, "Expand all"),
      h("button", { type: "button", onclick: collapseAll }, "Collapse all"),
      depthNote),
    h("div", { class: "trace" },
      h("div", { class: "tree-pane" },
        h("div", { class: "columns" }, h("div", { class: "col-tree" }, "event"), axis),
        scroller),
      details),
  );

  async function load() {
    clearTimeout(timer);
    const began = performance.now();
    try {
      const answer = await api(`/api/sessions/${sessionId}`, { headers: etag ? { "If-None-Match": etag } : {} });
      if (stopped) return;
      if (!answer.notModified) {
        etag = answer.etag;
        accept(answer.body);
      }
    } catch (error) {
      if (stopped) return;
      if (!view) {
        main.replaceChildren(h("p", { class: "error" }, `Could not open this session: ${error.message}. `,
          link("/", "All sessions")));
        return;
      }
    }
    // A session still receiving events keeps refreshing; a finished one is polled too, slowly
    // enough to cost nothing (a 304), in case late events or updates arrive.
    if (!stopped) timer = setTimeout(load, Math.max(POLL_MS, 5 * (performance.now() - began)));
  }

  function accept(answer) {
    view = answer;
    const columns = answer.columns;
    events = answer.events.map((row, index) => {
      const event = { index, children: 0 };
      columns.forEach((name, i) => { event[name] = row[i]; });
      return event;
    });
    for (const event of events) if (event.parent >= 0) events[event.parent].children += 1;
    const t0 = events.reduce((min, e) => (typeof e.start_time === "number" && e.start_time < min ? e.start_time : min), Infinity);
    let t1 = -Infinity;
    for (const e of events) {
      if (typeof e.start_time === "number") t1 = Math.max(t1, e.start_time + (e.duration || 0));
    }
    view.t0 = isFinite(t0) ? t0 : 0;
    view.span = isFinite(t1) && t1 > view.t0 ? t1 - view.t0 : 1;
    drawHeader();
    drawAxis();
    relayout();
    if (opened === null && events.length) openAt(0, false);
  }

  function drawHeader() {
    const { session, totals } = view;
    document.title = `${session.name || "session"} · honeytrace`;
    const tokens = totals.tokens || {};
    const stat = (id, label, value, cls = "") => h("div", { class: `stat ${cls}`, id },
      h("span", { class: "label" }, label), h("span", { class: "value" }, value));
    header.replaceChildren(
      h("div", { class: "crumbs" }, link("/", "← all sessions")),
      h("h1", {}, session.name || "unknown"),
      h("div", { class: "ids" }, h("code", {}, session.session_id), copyButton(session.session_id),
        h("span", { class: "muted" }, ` started ${formatTime(session.start_time)} · source ${session.source || "-"}`)),
      h("div", { class: "stats" },
        stat("total-duration", "duration", formatDuration(totals.duration)),
        stat("total-events", "events", formatCount(totals.events)),
        stat("total-errors", "errors", formatCount(totals.errors), totals.errors ? "err" : ""),
        stat("total-tokens-in", "tokens in", formatCount(tokens.prompt_tokens)),
        stat("total-tokens-out", "tokens out", formatCount(tokens.completion_tokens)),
        // A cost is never shown as complete while a model call in it could not be priced.
        stat("total-cost", "cost", costText(totals))),
    );
    const notes = [];
    if (session.incomplete) notes.push("This session is marked incomplete: the process ended before it closed, so its events were closed at exit.");
    if (session.dropped_events) notes.push(`${formatCount(session.dropped_events)} events of this session were dropped before delivery; the tree below lacks them.`);
    const open = events.filter((e) => e.state === "open").length;
    if (open) notes.push(`${formatCount(open)} event(s) have no end yet (still open, or their end never arrived).`);
    const incomplete = events.filter((e) => e.state === "incomplete" && e.index > 0).length;
    if (incomplete) notes.push(`${formatCount(incomplete)} event(s) were still running at exit and were closed then (metadata.incomplete).`);
    banner.replaceChildren(...notes.map((text) => h("p", { class: "banner warn" }, text)));
  }

  function drawAxis() {
    axis.replaceChildren(...[0, 0.25, 0.5, 0.75, 1].map((f) => {
      const tick = h("span", { class: "tick" }, formatDuration(view.span * f));
      tick.style.left = `${f * 100}%`;
      return tick;
    }));
    axis.classList.add("col-bars");
  }

  function relayout() {
    visible = [];
    let skipBelow = Infinity;
    let maxDepth = 0;
    for (const event of events) {
      if (event.depth > skipBelow) continue;
      skipBelow = collapsed.has(event.event_id) ? event.depth : Infinity;
      visible.push(event.index);
      maxDepth = Math.max(maxDepth, event.depth);
    }
    spacer.style.height = `${visible.length * ROW}px`;
    depthNote.textContent = `${formatCount(events.length)} events · ${formatCount(visible.length)} shown · depth ${maxDepth}`;
    if (opened !== null) {
      const at = visible.findIndex((i) => events[i].event_id === opened);
      if (at >= 0) cursor = at;
    }
    cursor = Math.min(cursor, visible.length - 1);
    draw();
  }

  function draw() {
    const top = scroller.scrollTop;
    const height = scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(visible.length, Math.ceil((top + height) / ROW) + OVERSCAN);
    const rows = [];
    for (let position = first; position < last; position++) rows.push(row(events[visible[position]], position));
    layer.replaceChildren(...rows);
  }

  function row(event, position) {
    const hasChildren = event.children > 0;
    const toggle = hasChildren
      ? h("button", { type: "button", class: "toggle", "aria-label": collapsed.has(event.event_id) ? "expand" : "collapse",
          onclick: (e) => { e.stopPropagation(); toggleAt(event); } }, collapsed.has(event.event_id) ? "▸" : "▾")
      : h("span", { class: "toggle" }, "");
    const tree = h("div", { class: "cell-tree" }, toggle, typeBadge(event.event_type),
      h("span", { class: "ev-name" }, event.event_name || "unknown"),
      event.error ? h("span", { class: "err-mark", title: "error" }, "✗") : null,
      event.state ? h("span", { class: "tag warn" }, event.state) : null,
      h("span", { class: "ev-dur" }, formatDuration(event.duration)),
      event.tokens_in != null || event.tokens_out != null
        ? h("span", { class: "ev-tok", title: "tokens in / out" }, `${formatCount(event.tokens_in)}/${formatCount(event.tokens_out)}`)
        : null);
    tree.style.paddingLeft = `${4 + event.depth * 14}px`;
    const bar = h("div", { class: `bar type-${typeClass(event.event_type)}${event.error ? " error" : ""}${event.state ? " unfinished" : ""}`,
      dataset: { eventId: event.event_id }, title: `${event.event_name}: ${formatDuration(event.duration)}` });
    const start = typeof event.start_time === "number" ? event.start_time - view.t0 : 0;
    bar.style.left = `${(start / view.span) * 100}%`;
    bar.style.width = `max(2px, ${((event.duration || 0) / view.span) * 100}%)`;
    const matches = filterText && (`${event.event_name} ${event.event_type}`.toLowerCase().includes(filterText));
    const el = h("div", {
      class: `row${position === cursor ? " cursor" : ""}${event.event_id === opened ? " open" : ""}${matches ? " match" : ""}${filterText && !matches ? " dim" : ""}`,
      role: "treeitem", "aria-level": event.depth + 1, "aria-selected": event.event_id === opened ? "true" : "false",
      dataset: { eventId: event.event_id, index: String(event.index), depth: String(event.depth) },
      onclick: () => { cursor = position; openAt(position, true); },
    }, tree, h("div", { class: "cell-bar" }, bar));
    el.style.top = `${position * ROW}px`;
    return el;
  }

  function toggleAt(event) {
    if (collapsed.has(event.event_id)) collapsed.delete(event.event_id); else collapsed.add(event.event_id);
    relayout();
  }

  function collapseAll() {
    for (const event of events) if (event.children && event.depth > 0) collapsed.add(event.event_id);
    relayout();
  }

  function openAt(position, focusRows) {
    const event = events[visible[position]];
    if (!event) return;
    opened = event.event_id;
    draw();
    showDetails(details, event, view);
    if (focusRows) scroller.focus({ preventScroll: true });
  }

  function moveCursor(step) {
    cursor = Math.max(0, Math.min(visible.length - 1, cursor + step));
    const top = cursor * ROW;
    if (top < scroller.scrollTop) scroller.scrollTop = top;
    else if (top + ROW > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = top + ROW - scroller.clientHeight;
    draw();
  }

  function onKey(event) {
    if (event.target.matches("input, select, textarea")) {
      if (event.target === filter && (event.key === "Enter" || event.key === "Escape")) {
        event.preventDefault();
        if (event.key === "Enter") jumpToMatch(); else filter.blur();
      }
      return;
    }
    const current = events[visible[cursor]];
    if (event.key === "/") { event.preventDefault(); filter.focus(); filter.select(); }
    else if (event.key === "ArrowDown" || event.key === "j") { event.preventDefault(); moveCursor(1); }
    else if (event.key === "ArrowUp" || event.key === "k") { event.preventDefault(); moveCursor(-1); }
    else if (event.key === "Enter") { event.preventDefault(); openAt(cursor, true); }
    else if (event.key === "ArrowLeft" && current) {
      event.preventDefault();
      if (current.children && !collapsed.has(current.event_id)) toggleAt(current);
      else if (current.parent >= 0) { cursor = visible.indexOf(current.parent); moveCursor(0); }
    } else if (event.key === "ArrowRight" && current && collapsed.has(current.event_id)) {
      event.preventDefault(); toggleAt(current);
    }
  }

  function jumpToMatch() {
    if (!filterText) return;
    for (let step = 1; step <= visible.length; step++) {
      const position = (cursor + step) % visible.length;
      const event = events[visible[position]];
      if (`${event.event_name} ${event.event_type}`.toLowerCase().includes(filterText)) {
        cursor = position;
        moveCursor(0);
        return;
      }
    }
  }

  filter.addEventListener("input", () => {
    filterText = filter.value.trim().toLowerCase();
    if (filterText) {
      // Show every match: open the collapsed subtrees that hide one.
      for (const event of events) {
        if (!`${event.event_name} ${event.event_type}`.toLowerCase().includes(filterText)) continue;
        for (let p = event.parent; p >= 0; p = events[p].parent) collapsed.delete(events[p].event_id);
      }
      relayout();
    } else draw();
  });
  scroller.addEventListener("scroll", () => requestAnimationFrame(draw));
  document.addEventListener("keydown", onKey);
  load();
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener("keydown", onKey);
  };
}

// "$0.0042", "$0.0042 + 1 unpriced", "2 unpriced", or "-" when nothing reported usage.
function costText(totals) {
  const unpriced = totals.unpriced ? `${formatCount(totals.unpriced)} unpriced` : "";
  if (totals.cost == null) return unpriced || formatCost(totals.cost);
  return unpriced ? `${formatCost(totals.cost)} + ${unpriced}` : formatCost(totals.cost);
}
