// The details of one event, read from /api/events/{id}: times and ids (with copy buttons),
// usage, the conversation of a model event, the error and its traceback, then every field as
// collapsible JSON. A field too big to come with the event is loaded when asked for.
import { api, copyButton, formatBytes, formatCost, formatCount, formatDuration, formatTime, h, typeBadge } from "./dom.js";
import { jsonView } from "./json.js";

let request = 0;

export async function showDetails(panel, row, view) {
  const mine = ++request;
  panel.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  let event;
  try {
    ({ body: event } = await api(`/api/events/${row.event_id}`));
  } catch (error) {
    if (mine === request) panel.replaceChildren(h("p", { class: "error" }, String(error.message)));
    return;
  }
  if (mine !== request) return;  // another event was opened meanwhile
  panel.replaceChildren(...render(event, row, view));
  panel.scrollTop = 0;
}

function render(event, row, view) {
  const parts = [];
  parts.push(h("h2", { id: "detail-title" }, typeBadge(event.event_type), " ", event.event_name || "unknown",
    event.error ? h("span", { class: "tag err" }, "error") : null,
    row.state ? h("span", { class: "tag warn" }, row.state) : null));
  if (row.state === "open") parts.push(h("p", { class: "banner warn" }, "This event has no end yet: it is still running, or its end was never delivered."));
  if (row.state === "incomplete") parts.push(h("p", { class: "banner warn" }, "This event was still running when its process exited; honeytrace closed it then."));

  const offset = typeof event.start_time === "number" ? event.start_time - view.t0 : null;
  parts.push(section("Times and ids", h("dl", { class: "facts" },
    fact("start", `${formatTime(event.start_time)}${offset !== null ? `  (+${formatDuration(offset)})` : ""}`, event.start_time),
    fact("end", formatTime(event.end_time), event.end_time),
    fact("duration", formatDuration(event.duration)),
    fact("event id", event.event_id, event.event_id, true),
    event.parent_id ? fact("parent id", event.parent_id, event.parent_id, true) : null,
    fact("session id", event.session_id, event.session_id, true),
    fact("source", event.source || "-"))));

  const usage = usageOf(event);
  if (usage.length) parts.push(section("Usage", h("dl", { class: "facts", id: "usage" }, ...usage)));

  const chat = conversation(event);
  if (chat) parts.push(section("Conversation", chat));

  if (event.error) {
    const traceback = event.metadata && event.metadata.traceback;
    parts.push(section("Error", h("pre", { class: "error-text", id: "error-text" }, event.error),
      traceback ? h("details", { open: true }, h("summary", {}, "traceback"), h("pre", { class: "traceback" }, String(traceback))) : null));
  }
  const config = event.config || {};
  if (Object.keys(config).length) {
    const { model, provider, ...params } = config;
    parts.push(section("Config", h("dl", { class: "facts" },
      model !== undefined ? fact("model", String(model)) : null,
      provider !== undefined ? fact("provider", String(provider)) : null),
    Object.keys(params).length ? jsonView(params, 1) : null));
  }
  for (const [field, title] of [["inputs", "Inputs"], ["outputs", "Outputs"], ["metadata", "Metadata"],
    ["metrics", "Metrics"], ["feedback", "Feedback"], ["user_properties", "User properties"]]) {
    parts.push(fieldSection(event, field, title));
  }
  return parts.filter(Boolean);
}

function section(title, ...content) {
  return h("section", { class: "detail-section", dataset: { section: title.toLowerCase() } }, h("h3", {}, title), ...content);
}

function fact(label, text, copy = null, code = false) {
  return [h("dt", {}, label), h("dd", {}, code ? h("code", {}, text) : text, copy !== null && copy !== undefined ? copyButton(String(copy)) : null)];
}

function fieldSection(event, field, title) {
  const deferred = event.deferred && event.deferred[field];
  if (deferred) {
    const holder = h("div", {});
    const button = h("button", { type: "button", class: "load" }, `Load ${field} (${formatBytes(deferred)})`);
    button.addEventListener("click", async () => {
      button.disabled = true;
      button.textContent = `Loading ${formatBytes(deferred)}…`;
      try {
        const { body } = await api(`/api/events/${event.event_id}/fields/${field}`);
        holder.replaceChildren(jsonView(body, 1));
      } catch (error) {
        button.disabled = false;
        button.textContent = `Load ${field} failed (${error.message}); retry`;
      }
    });
    holder.append(h("p", { class: "muted" }, `${title} are ${formatBytes(deferred)}: not loaded with the event.`), button);
    return section(title, holder);
  }
  const value = event[field];
  if (value === null || value === undefined) return null;
  if (typeof value === "object" && !Array.isArray(value) && !Object.keys(value).length) return null;
  if (field === "metadata" && event.error && Object.keys(value).length === 1 && value.traceback) return null;
  return section(title, jsonView(value, field === "inputs" || field === "outputs" ? 2 : 1));
}

function pick(objects, ...keys) {
  for (const key of keys) {
    for (const object of objects) {
      if (object && typeof object[key] === "number") return object[key];
    }
  }
  return undefined;
}

function usageOf(event) {
  const sources = [event.metrics, event.metadata];
  const tokensIn = pick(sources, "prompt_tokens", "input_tokens");
  const tokensOut = pick(sources, "completion_tokens", "output_tokens");
  const total = pick(sources, "total_tokens");
  const cost = pick(sources, "cost_usd", "cost");
  const ttft = pick(sources, "time_to_first_token", "time_to_first_token_ms", "ttft_ms", "ttft");
  const facts = [];
  if (tokensIn !== undefined) facts.push(fact("tokens in", formatCount(tokensIn)));
  if (tokensOut !== undefined) facts.push(fact("tokens out", formatCount(tokensOut)));
  if (total !== undefined || (tokensIn !== undefined && tokensOut !== undefined)) {
    facts.push(fact("tokens total", formatCount(total !== undefined ? total : tokensIn + tokensOut)));
  }
  if (cost !== undefined) facts.push(fact("cost", formatCost(cost)));
  if (ttft !== undefined) facts.push(fact("time to first token", formatDuration(ttft)));
  return facts;
}

// -- conversation ---------------------------------------------------------------------------

function isMessage(value) {
  return value && typeof value === "object" && !Array.isArray(value) &&
    typeof value.role === "string" && ("content" in value || "tool_calls" in value);
}

function messagesIn(inputs) {
  if (!inputs || typeof inputs !== "object") return null;
  for (const key of ["messages", "chat_history", "prompt"]) {
    const list = inputs[key];
    if (Array.isArray(list) && list.length && list.every(isMessage)) return list;
  }
  return null;
}

function answerIn(outputs) {
  if (!outputs || typeof outputs !== "object") return null;
  if (isMessage(outputs)) return outputs;
  if (outputs.tool_calls || typeof outputs.content === "string") return { role: "assistant", ...outputs };
  if (isMessage(outputs.message)) return outputs.message;
  const choices = outputs.choices;
  if (Array.isArray(choices) && choices.length && choices[0] && isMessage(choices[0].message)) return choices[0].message;
  if (isMessage(outputs.result)) return outputs.result;
  if (typeof outputs.result === "string") return { role: "assistant", content: outputs.result };
  return null;
}

function conversation(event) {
  if (event.event_type !== "model") return null;
  const messages = messagesIn(event.inputs) || [];
  const answer = answerIn(event.outputs);
  if (!messages.length && !answer) return null;
  const list = h("ol", { class: "chat", id: "conversation" });
  for (const message of messages) list.append(bubble(message, false));
  if (answer) list.append(bubble(answer, true));
  return list;
}

function bubble(message, isAnswer) {
  const role = String(message.role || "assistant");
  const item = h("li", { class: `msg role-${["system", "user", "assistant", "tool"].includes(role) ? role : "other"}${isAnswer ? " answer" : ""}` },
    h("div", { class: "role" }, role, isAnswer ? " (output)" : "", message.name ? ` · ${message.name}` : ""));
  const content = message.content;
  if (typeof content === "string") item.append(h("div", { class: "content" }, content));
  else if (Array.isArray(content)) {
    for (const part of content) {
      if (part && typeof part.text === "string") item.append(h("div", { class: "content" }, part.text));
      else item.append(jsonView(part, 0));
    }
  } else if (content !== undefined && content !== null) item.append(jsonView(content, 1));
  for (const call of message.tool_calls || []) {
    const fn = call.function || call;
    let args = fn.arguments !== undefined ? fn.arguments : fn.input;
    if (typeof args === "string") { try { args = JSON.parse(args); } catch { /* shown as text */ } }
    item.append(h("div", { class: "tool-call" }, h("span", { class: "badge type-tool" }, "tool call"), " ",
      h("code", {}, String(fn.name || "?")), call.id ? h("span", { class: "muted" }, ` ${call.id}`) : null,
      args !== undefined ? jsonView(args, 1) : null));
  }
  if (message.tool_call_id) item.append(h("div", { class: "muted" }, `answers tool call ${message.tool_call_id}`));
  return item;
}
