// The sessions page: every session, paged newest first, searched, filtered and sorted; the
// filters live in the address, so a reload or a shared link shows the same list. New sessions
// appear by themselves: the list is polled with its ETag (a 304 while nothing changed).
import { api, formatCost, formatCount, formatDuration, formatTime, h } from "./dom.js";
import { link, navigate } from "./app.js";

const POLL_MS = 2000;
const PAGE = 50;

export function sessionsPage(main, _match, query) {
  const state = Object.fromEntries(query.entries());
  const selected = new Set((state.pick || "").split(",").filter(Boolean));
  let etag = null;
  let timer = null;
  let stopped = false;
  let cursor = -1;
  let rows = [];

  const search = h("input", {
    id: "search", type: "search", placeholder: "Search name, id, inputs, outputs, errors  ( / )",
    value: state.q || "", "aria-label": "search sessions",
  });
  const errorsOnly = h("input", { id: "errors-only", type: "checkbox", checked: state.errors === "1" });
  const since = h("input", { id: "since", type: "datetime-local", value: toLocalInput(state.since) });
  const until = h("input", { id: "until", type: "datetime-local", value: toLocalInput(state.until) });
  const source = select("source", "all sources", state.source);
  const model = select("model", "all models", state.model);
  const type = select("type", "all event types", state.type);
  const compare = h("button", { id: "compare", type: "button", disabled: true }, "Compare 2 selected");
  const total = h("span", { id: "total", class: "muted" });
  const body = h("tbody", { id: "session-rows" });
  const pager = h("div", { class: "pager" });
  const sortHeader = (key, label) => h("th", { class: key === "start" ? "sortable" : "num sortable", dataset: { sort: key } },
    h("button", { type: "button", onclick: () => sortBy(key) }, label, sortMark(key)));

  main.append(
    h("div", { class: "toolbar" },
      search,
      h("label", { class: "check" }, errorsOnly, " errors only"),
      h("label", {}, "from ", since), h("label", {}, "to ", until),
      source, model, type, compare, total),
    h("table", { class: "sessions" },
      h("thead", {}, h("tr", {},
        h("th", {}, ""), h("th", {}, "name"), h("th", {}, "id"), sortHeader("start", "start"),
        sortHeader("duration", "duration"), h("th", { class: "num" }, "events"),
        h("th", { class: "num" }, "errors"), h("th", { class: "num" }, "tokens in"),
        h("th", { class: "num" }, "tokens out"), sortHeader("cost", "cost"))),
      body),
    pager,
  );

  function sortMark(key) {
    const current = state.sort || "start";
    if (current !== key) return "";
    return (state.order || "desc") === "desc" ? " ▼" : " ▲";
  }

  function select(id, label, value) {
    const el = h("select", { id, "aria-label": label }, h("option", { value: "" }, label));
    if (value) el.append(h("option", { value, selected: true }, value));
    el.addEventListener("change", () => update({ [id]: el.value, offset: "" }));
    return el;
  }

  function update(changes) {
    Object.assign(state, changes);
    for (const key of Object.keys(state)) if (!state[key]) delete state[key];
    const params = new URLSearchParams(state);
    history.replaceState(null, "", params.toString() ? `/?${params}` : "/");
    etag = null;
    load();
  }

  function sortBy(key) {
    const order = (state.sort || "start") === key && (state.order || "desc") === "desc" ? "asc" : "desc";
    update({ sort: key, order, offset: "" });
    for (const th of main.querySelectorAll("th.sortable")) {
      th.firstChild.lastChild.textContent = sortMark(th.dataset.sort);
    }
  }

  let debounce = null;
  search.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => update({ q: search.value.trim(), offset: "" }), 200);
  });
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { clearTimeout(debounce); update({ q: search.value.trim(), offset: "" }); }
    if (event.key === "Escape") search.blur();
    if (event.key === "ArrowDown") { event.preventDefault(); search.blur(); move(1); }
  });
  errorsOnly.addEventListener("change", () => update({ errors: errorsOnly.checked ? "1" : "", offset: "" }));
  for (const [input, key] of [[since, "since"], [until, "until"]]) {
    input.addEventListener("change", () => {
      const ms = input.value ? new Date(input.value).getTime() : "";
      update({ [key]: ms ? String(ms) : "", offset: "" });
    });
  }
  compare.addEventListener("click", () => {
    const [a, b] = [...selected];
    navigate(`/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
  });

  api("/api/facets").then(({ body: facets }) => {
    fill(source, facets.sources, state.source);
    fill(model, facets.models, state.model);
    fill(type, facets.types, state.type);
  }).catch(() => {});

  function fill(el, values, current) {
    for (const value of values) {
      if (value !== current) el.append(h("option", { value }, value));
    }
  }

  async function load() {
    clearTimeout(timer);
    const params = new URLSearchParams(state);
    params.delete("pick");
    params.set("limit", String(PAGE));
    const began = performance.now();
    try {
      const headers = etag ? { "If-None-Match": etag } : {};
      const answer = await api(`/api/sessions?${params}`, { headers });
      if (stopped) return;
      if (!answer.notModified) {
        etag = answer.etag;
        draw(answer.body);
      }
      document.getElementById("live").textContent = "live";
    } catch (error) {
      if (stopped) return;
      document.getElementById("live").textContent = "offline";
      body.replaceChildren(h("tr", {}, h("td", { colspan: 10, class: "error" }, String(error.message))));
    }
    // A slow query (a text search over a big store) is repeated less often: never more than a
    // fifth of the server's time goes to this page's polling.
    if (!stopped) timer = setTimeout(load, Math.max(POLL_MS, 5 * (performance.now() - began)));
  }

  function draw(page) {
    const offset = page.offset;
    total.textContent = page.total === 0 ? "no sessions" :
      `${formatCount(offset + 1)}–${formatCount(offset + page.sessions.length)} of ${formatCount(page.total)} sessions`;
    rows = page.sessions.map((session) => sessionRow(session));
    body.replaceChildren(...rows);
    if (!rows.length) {
      const empty = page.total === 0 && !Object.keys(state).length
        ? "No sessions yet. Run a traced program (HONEYTRACE_EXPORTER=local, or HH_API_URL pointing here) and it appears here."
        : "No session matches.";
      body.append(h("tr", {}, h("td", { colspan: 10, class: "muted" }, empty)));
    }
    if (cursor >= rows.length) cursor = rows.length - 1;
    if (cursor >= 0) rows[cursor].classList.add("cursor");
    pager.replaceChildren(
      h("button", { type: "button", disabled: offset === 0,
        onclick: () => update({ offset: String(Math.max(0, offset - PAGE)) }) }, "‹ newer"),
      h("button", { type: "button", disabled: offset + page.sessions.length >= page.total,
        onclick: () => update({ offset: String(offset + PAGE) }) }, "older ›"),
    );
  }

  function sessionRow(session) {
    const href = `/sessions/${session.session_id}`;
    const pick = h("input", { type: "checkbox", class: "pick", "aria-label": "select for compare",
      checked: selected.has(session.session_id) });
    pick.addEventListener("change", () => {
      if (pick.checked) selected.add(session.session_id); else selected.delete(session.session_id);
      while (selected.size > 2) selected.delete(selected.values().next().value);
      for (const box of body.querySelectorAll("input.pick")) {
        box.checked = selected.has(box.closest("tr").dataset.sessionId);
      }
      compare.disabled = selected.size !== 2;
    });
    const name = link(href, session.name || "unknown");
    const row = h("tr", { dataset: { sessionId: session.session_id }, class: session.errors ? "has-error" : "" },
      h("td", {}, pick),
      h("td", { class: "name" }, name, session.incomplete ? h("span", { class: "tag warn" }, "incomplete") : null),
      h("td", {}, h("code", {}, session.session_id.slice(0, 8))),
      h("td", {}, formatTime(session.start_time)),
      h("td", { class: "num" }, formatDuration(session.duration)),
      h("td", { class: "num" }, formatCount(session.events)),
      h("td", { class: session.errors ? "num err" : "num" }, formatCount(session.errors)),
      h("td", { class: "num" }, formatCount(session.tokens_in)),
      h("td", { class: "num" }, formatCount(session.tokens_out)),
      h("td", { class: "num" }, formatCost(session.cost)),
    );
    row.addEventListener("click", (event) => {
      if (event.target.closest("a, input")) return;
      navigate(href);
    });
    return row;
  }

  function move(step) {
    if (!rows.length) return;
    if (cursor >= 0 && rows[cursor]) rows[cursor].classList.remove("cursor");
    cursor = Math.max(0, Math.min(rows.length - 1, cursor + step));
    rows[cursor].classList.add("cursor");
    rows[cursor].scrollIntoView({ block: "nearest" });
  }

  function onKey(event) {
    if (event.target.matches("input, select, textarea")) return;
    if (event.key === "/") { event.preventDefault(); search.focus(); search.select(); }
    else if (event.key === "ArrowDown" || event.key === "j") { event.preventDefault(); move(1); }
    else if (event.key === "ArrowUp" || event.key === "k") { event.preventDefault(); move(-1); }
    else if (event.key === "Enter" && cursor >= 0 && rows[cursor]) {
      navigate(`/sessions/${rows[cursor].dataset.sessionId}`);
    }
  }
  document.addEventListener("keydown", onKey);
  compare.disabled = selected.size !== 2;
  load();
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener("keydown", onKey);
  };
}

function toLocalInput(ms) {
  if (!ms || isNaN(Number(ms))) return "";
  const d = new Date(Number(ms));
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 16);
}
