// Two sessions side by side: their totals, then one row per event path (the n-th "search"
// under the n-th "answer" matches the n-th one of the other session), with both durations,
// tokens and costs, what only one side has, and the events whose outputs differ.
import { api, formatCost, formatCount, formatDuration, formatTime, h, typeBadge } from "./dom.js";
import { link } from "./app.js";
import { jsonView } from "./json.js";

export function comparePage(main, _match, query) {
  const a = query.get("a") || "";
  const b = query.get("b") || "";
  main.append(h("p", { class: "muted" }, "Loading…"));
  api(`/api/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`).then(({ body }) => {
    main.replaceChildren(...draw(body));
  }).catch((error) => {
    main.replaceChildren(h("p", { class: "error" }, `Cannot compare: ${error.message}. `, link("/", "All sessions")));
  });
}

function draw(result) {
  document.title = "compare · honeytrace";
  const head = (side, label) => {
    const { session, totals } = side;
    const tokens = totals.tokens || {};
    return h("div", { class: `card side side-${label}` },
      h("div", { class: "side-label" }, label.toUpperCase()),
      h("h2", {}, link(`/sessions/${session.session_id}`, session.name || "unknown")),
      h("p", { class: "muted" }, `${session.session_id.slice(0, 8)} · ${formatTime(session.start_time)}`),
      h("p", {}, `${formatDuration(totals.duration)} · ${formatCount(totals.events)} events · ` +
        `${formatCount(totals.errors)} errors · tokens ${formatCount(tokens.prompt_tokens)} in / ` +
        `${formatCount(tokens.completion_tokens)} out · ${formatCost(totals.cost)}`));
  };
  const differing = result.rows.filter((row) => row.outputs_differ).length;
  const onlyOne = result.rows.filter((row) => !row.a || !row.b).length;
  const cell = (value, cls = "num") => h("td", { class: cls }, value);
  const rows = result.rows.map((row) => {
    const name = h("td", { class: "name" }, typeBadge(row.event_type), " ", row.event_name || "unknown");
    name.style.paddingLeft = `${6 + row.depth * 14}px`;
    const side = (s) => s ? [cell(formatDuration(s.duration)), cell(`${formatCount(s.tokens_in)} / ${formatCount(s.tokens_out)}`), cell(formatCost(s.cost))]
      : [cell("—", "num missing"), cell("—", "num missing"), cell("—", "num missing")];
    const delta = row.a && row.b && typeof row.a.duration === "number" && typeof row.b.duration === "number"
      ? row.b.duration - row.a.duration : null;
    const marks = [];
    if (!row.a) marks.push(h("span", { class: "tag" }, "only in B"));
    if (!row.b) marks.push(h("span", { class: "tag" }, "only in A"));
    if (row.outputs_differ) {
      marks.push(h("button", { type: "button", class: "tag diff", onclick: (event) => showOutputs(event, row) },
        "outputs differ ▸"));
    }
    if ((row.a && row.a.error) !== (row.b && row.b.error) && row.a && row.b) marks.push(h("span", { class: "tag err" }, "error on one side"));
    return h("tr", { class: `${row.outputs_differ ? "differs" : ""}${!row.a || !row.b ? " one-sided" : ""}`, dataset: { path: row.path.join("/") } },
      name, ...side(row.a), ...side(row.b),
      cell(delta === null ? "" : `${delta >= 0 ? "+" : "−"}${formatDuration(Math.abs(delta))}`, delta > 0 ? "num slower" : "num"),
      h("td", {}, ...marks));
  });
  return [
    h("div", { class: "crumbs" }, link("/", "← all sessions")),
    h("h1", {}, "Compare sessions"),
    h("div", { class: "sides" }, head(result.a, "a"), head(result.b, "b")),
    h("p", { class: "muted", id: "compare-summary" },
      `${result.rows.length} event paths · ${differing} with different outputs · ${onlyOne} on one side only`),
    h("table", { class: "compare", id: "compare-table" },
      h("thead", {},
        h("tr", {}, h("th", {}, ""), h("th", { colspan: 3 }, "A"), h("th", { colspan: 3 }, "B"), h("th", {}, ""), h("th", {}, "")),
        h("tr", {}, h("th", {}, "event"), ...["duration", "tokens in/out", "cost", "duration", "tokens in/out", "cost"].map((t) => h("th", { class: "num" }, t)),
          h("th", { class: "num" }, "Δ duration"), h("th", {}, ""))),
      h("tbody", {}, ...rows)),
  ];
}

// Both sides' outputs (and errors) under the row, read when asked for.
async function showOutputs(event, row) {
  const tr = event.target.closest("tr");
  const next = tr.nextElementSibling;
  if (next && next.classList.contains("outputs-row")) { next.remove(); return; }
  const cells = h("div", { class: "sides" });
  const holder = h("tr", { class: "outputs-row" }, h("td", { colspan: 9 }, cells));
  tr.after(holder);
  for (const [label, side] of [["A", row.a], ["B", row.b]]) {
    const box = h("div", { class: "card" }, h("div", { class: "side-label" }, `${label} outputs`));
    cells.append(box);
    try {
      const { body } = await api(`/api/events/${side.event_id}`);
      if (body.error) box.append(h("pre", { class: "error-text" }, body.error));
      box.append(body.deferred && body.deferred.outputs
        ? h("p", { class: "muted" }, "Too big to show here: open the event in its trace.")
        : jsonView(body.outputs, 2));
    } catch (error) {
      box.append(h("p", { class: "error" }, String(error.message)));
    }
  }
}
