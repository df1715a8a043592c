// The Inbox: conversations newest first, one open beside the list, and a reply box that follows
// WhatsApp's 24-hour window (free text inside it or on a WAHA phone, an approved template outside).
// It uses admin.js's helpers (api, el, time, badge, soon, showError, $).
"use strict";

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;
const inbox = {
  senders: null, // the filter's sender names, read once
  items: new Map(), // "sender contact" -> the conversation as last listed
  open: null, // the open conversation's key
  templates: new Map(), // sender -> its approved templates
  parts: [], // the chosen template's text parts: [{type, text, names}]
};

const keyOf = (c) => `${c.sender} ${c.contact}`;
const rowKey = (row) => `${row.dataset.sender} ${row.dataset.contact}`;
const rowOf = (key) => [...$("conversations").children].find((row) => rowKey(row) === key);
const pathOf = (c) => `/v1/conversations/${encodeURIComponent(c.sender)}/${encodeURIComponent(c.contact)}`;

// ---- the window: none (null) for a WAHA sender -------------------------------------------------

function windowText(until) {
  if (!until) return "";
  const minutes = Math.floor((new Date(until) - Date.now()) / 60000);
  return minutes >= 0 ? `${Math.floor(minutes / 60)}h ${minutes % 60}m left` : "closed";
}

function repaintWindows() {
  // The socket says nothing while a window runs out: the time left is counted down here.
  for (const node of document.querySelectorAll("#view-inbox [data-until]")) {
    node.textContent = windowText(node.dataset.until);
  }
  const open = inbox.items.get(inbox.open);
  if (open) replyMode(open);
}

// ---- the list ------------------------------------------------------------------------------

function shortTime(iso) {
  // Today's time, or an older day's date: a row or a bubble has no room for both.
  const at = new Date(iso);
  const today = at.toDateString() === new Date().toDateString();
  const text = today ? at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : at.toLocaleDateString();
  return el("time", { datetime: iso, title: clock(iso), text });
}

function conversationRow(c) {
  const last = c.last_message;
  const unread = c.unread > 0;
  const row = el(
    "li",
    { class: `row conversation${unread ? " unread" : ""}`, "data-sender": c.sender, "data-contact": c.contact },
    el(
      "button",
      { type: "button", class: "conversation-main", "aria-current": String(inbox.open === keyOf(c)) },
      el("span", { class: "who", text: c.name || c.contact }),
      unread ? el("span", { class: "count" }, String(c.unread), el("span", { class: "sr-only", text: " unread" })) : null,
      last ? shortTime(last.at) : null,
      el("span", { class: "preview", text: last ? `${last.direction === "in" ? "←" : "→"} ${last.preview}` : "" }),
      el("span", { class: "meta", text: c.name ? `${c.contact} · ${c.sender}` : c.sender }),
      el("span", { class: "time-left", "data-until": c.window_open_until, text: windowText(c.window_open_until) }),
    ),
  );
  row.querySelector("button").addEventListener("click", () => openConversation(keyOf(c)));
  return row;
}

// (an event that came in mid-refresh: read once more when this one ends)
const refreshInbox = oneAtATime(async () => {
  if (!apiKey()) return;
  try {
    if (!inbox.senders) {
      inbox.senders = (await api("GET", "/v1/senders")).items.map((s) => s.name);
      $("inbox-sender").append(...inbox.senders.map((name) => el("option", { value: name, text: name })));
    }
    const query = { limit: 50, sender: $("inbox-sender").value };
    const page = await api("GET", "/v1/conversations", { query });
    const focused = document.activeElement?.closest("#conversations li");
    inbox.items = new Map(page.items.map((c) => [keyOf(c), c]));
    $("conversations").replaceChildren(...page.items.map(conversationRow));
    $("conversations-empty").hidden = page.items.length > 0;
    if (focused) rowOf(rowKey(focused))?.querySelector("button").focus();
    if (inbox.open) await loadConversation();
  } catch (error) {
    showError(error);
  }
});

function inboxHeard(event) {
  // A conversation changed (a message in, or read elsewhere): the list says where it goes now.
  soon("inbox", refreshInbox);
}

// ---- one conversation ----------------------------------------------------------------------

async function openConversation(key) {
  const c = inbox.items.get(key);
  inbox.open = key;
  for (const row of $("conversations").children) {
    row.querySelector("button").setAttribute("aria-current", String(rowKey(row) === key));
  }
  $("conversation").hidden = false;
  $("conversation-title").textContent = c.name || c.contact;
  $("conversation-meta").textContent = `${c.name ? c.contact + " · " : ""}via ${c.sender}`;
  $("chat").replaceChildren();
  $("reply-form").reset();
  clearRefusal();
  replyMode(c, { fresh: true });
  $("conversation-title").focus();
  try {
    await loadConversation();
  } catch (error) {
    showError(error);
  }
}

function closeConversation() {
  const row = rowOf(inbox.open);
  inbox.open = null;
  $("conversation").hidden = true;
  row?.querySelector("button").setAttribute("aria-current", "false");
  row?.querySelector("button").focus();
}

async function loadConversation() {
  const key = inbox.open;
  const c = inbox.items.get(key);
  if (!c) return;
  const page = await api("GET", `${pathOf(c)}/messages`, { query: { limit: 50 } });
  if (inbox.open !== key) return;
  $("conversation-window").dataset.until = c.window_open_until || "";
  $("conversation-window").textContent = windowText(c.window_open_until);
  showMessages(page.items.slice().reverse());
  replyMode(c);
  if (c.unread > 0) {
    const read = await api("POST", `${pathOf(c)}/read`);
    inbox.items.set(key, read);
    rowOf(key)?.replaceWith(conversationRow(read));
  }
}

function textOf(m) {
  const content = m.content || {};
  if (m.type === "template") {
    const values = (content.components || []).flatMap((part) => (part.parameters || []).map((p) => p.text));
    return `📄 ${content.name}${values.length ? ": " + values.join(" · ") : ""}`;
  }
  if (m.type === "reaction") return `reacted ${content.emoji || ""}`;
  return content.text || content.body || content.caption || content.reply_title || `[${m.type}]`;
}

function bubble(m, byId) {
  const quoted = byId.get(m.replied_to);
  const reactions = Object.entries(m.reactions || {}); // [author, emoji]
  const reacted = { class: "reactions", title: reactions.map(([who, emoji]) => `${emoji} ${who}`).join(", ") };
  const url = m.content?.media?.url;
  const origin = { phone: " · typed on the phone", system: " · system" }[m.origin] || "";
  return el(
    "li",
    { class: `bubble ${m.direction}`, "data-id": m.id },
    m.replied_to ? el("q", { class: "quoted", text: quoted ? textOf(quoted) : "↩ a message" }) : null,
    el("p", { class: "text", text: textOf(m) }),
    url ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: "Open the file" }) : null,
    el("p", { class: "bubble-meta" }, shortTime(m.at), origin, m.direction === "out" && m.status ? badge(m) : null),
    reactions.length ? el("p", { ...reacted, text: reactions.map(([, emoji]) => emoji).join(" ") }) : null,
  );
}

function showMessages(items) {
  const chat = $("chat");
  const byId = new Map(items.map((m) => [m.id, m]));
  // A reaction to one of our messages shows on it; one to anything else, as its own line.
  const shown = items.filter((m) => m.type !== "reaction" || !byId.has(m.replied_to));
  const atBottom = !chat.children.length || chat.scrollHeight - chat.scrollTop - chat.clientHeight < 40;
  let present = [...chat.children];
  // New messages go after those shown, and a bubble is drawn again only when it changed: the live
  // region then reads out what is new, not the whole conversation again.
  if (!present.every((li, i) => shown[i]?.id === li.dataset.id)) {
    chat.replaceChildren();
    present = [];
  }
  shown.forEach((m, i) => {
    const drawn = bubble(m, byId);
    if (!present[i]) chat.append(drawn);
    else if (present[i].textContent !== drawn.textContent) present[i].replaceWith(drawn);
  });
  $("chat-empty").hidden = shown.length > 0;
  if (atBottom) chat.scrollTop = chat.scrollHeight;
}

// ---- the reply box -------------------------------------------------------------------------

function replyMode(c, { fresh = false } = {}) {
  const template = windowText(c.window_open_until) === "closed";
  if (!fresh && $("reply-template").hidden === !template) return;
  $("reply-text").hidden = template;
  $("reply-body").required = !template;
  $("reply-template").hidden = !template;
  $("reply-template-name").required = template;
  if (template) loadTemplates(c.sender);
}

async function loadTemplates(sender) {
  try {
    await approvedTemplates(inbox.templates, sender);
  } catch (error) {
    refused(error);
    return;
  }
  if (inbox.items.get(inbox.open)?.sender !== sender) return; // another conversation opened since
  $("reply-template-name").replaceChildren(...templateOptions(inbox.templates.get(sender)));
  chooseTemplate();
}

function placeholders(text) {
  const names = [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1]))];
  return names.every((n) => /^\d+$/.test(n)) ? names.sort((a, b) => a - b) : names;
}

function chosenTemplate() {
  const c = inbox.items.get(inbox.open);
  const index = $("reply-template-name").value;
  return c && index !== "" ? inbox.templates.get(c.sender)[Number(index)] : null;
}

// ---- templates (also the bulk send's, in campaigns.js) --------------------------------------

async function approvedTemplates(cache, sender) {
  // A sender's approved templates, read once into `cache` (sender -> templates).
  if (!cache.has(sender)) {
    const listed = await api("GET", "/v1/templates", { query: { sender } });
    cache.set(sender, listed.items.filter((t) => t.status.toUpperCase() === "APPROVED"));
  }
  return cache.get(sender);
}

function templateOptions(approved) {
  return [
    el("option", { value: "", text: approved.length ? "Choose a template" : "No approved templates" }),
    ...approved.map((t, i) => el("option", { value: String(i), text: `${t.name} (${t.language})` })),
  ];
}

// An input per parameter, named "<part>:<name>", its id "<prefix>-<part>-<name>".
function parameterInputs(prefix, parts, extra = {}) {
  const input = (part, name) => {
    const id = `${prefix}-${part.type}-${name}`;
    return el(
      "div",
      { class: "parameter" },
      el("label", { for: id, text: `${part.type === "body" ? "Body" : "Header"} {{${name}}}` }),
      el("input", { id, name: `${part.type}:${name}`, type: "text", required: true, autocomplete: "off", ...extra }),
    );
  };
  return parts.flatMap((part) => part.names.map((name) => input(part, name)));
}

// A template's parts that take text parameters, each with its placeholders' names. Header and
// body only: a template that needs more, the API refuses and says why.
function templateParts(template) {
  return (template?.components || [])
    .map((part) => ({ type: String(part.type).toLowerCase(), text: part.text || "" }))
    .filter((part) => part.type === "header" || part.type === "body")
    .map((part) => ({ ...part, names: placeholders(part.text) }));
}

// The message's `template`: each parameter's text from valueOf(part, name).
function templateObject(template, parts, valueOf) {
  const parameter = (part, name) => ({
    type: "text",
    text: valueOf(part, name),
    ...(/^\d+$/.test(name) ? {} : { parameter_name: name }),
  });
  const components = parts
    .filter((part) => part.names.length)
    .map((part) => ({ type: part.type, parameters: part.names.map((name) => parameter(part, name)) }));
  return { name: template.name, language: { code: template.language }, ...(components.length ? { components } : {}) };
}

function chooseTemplate() {
  inbox.parts = templateParts(chosenTemplate());
  $("reply-template-text").textContent = inbox.parts.map((part) => part.text).join("\n");
  $("reply-parameters").replaceChildren(...parameterInputs("reply", inbox.parts));
}

function replyMessage(c) {
  const form = new FormData($("reply-form"));
  const message = { sender: c.sender, to: c.contact };
  if ($("reply-template").hidden) return { ...message, type: "text", text: { body: form.get("body") } };
  const template = templateObject(chosenTemplate(), inbox.parts, (part, name) => form.get(`${part.type}:${name}`));
  return { ...message, type: "template", template };
}

function clearRefusal() {
  $("reply-error").hidden = true;
  for (const node of $("reply-form").querySelectorAll(".field-error")) node.remove();
  for (const node of $("reply-form").querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

// Where a refused field's problem shows: the API names fields by the request's paths.
const FIELDS = [
  ["text", "reply-body"],
  ["template.components", "reply-parameters"],
  ["template", "reply-template-name"],
];

function refused(error) {
  // The API's own words beside the box, and each field's problem beside that field.
  if (!(error instanceof ApiError)) return showError(error);
  $("reply-error").textContent = error.message;
  $("reply-error").hidden = false;
  error.details.forEach((detail, i) => {
    const spot = FIELDS.find(([prefix]) => (detail.field || "").startsWith(prefix));
    const field = spot && $(spot[1]);
    if (!field || field.closest("[hidden]")) return;
    field.after(el("p", { id: `reply-problem-${i}`, class: "error field-error", text: detail.problem }));
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-describedby", `reply-problem-${i}`);
  });
}

async function sendReply(event) {
  event.preventDefault();
  const c = inbox.items.get(inbox.open);
  if (!c) return;
  clearRefusal();
  $("reply-send").disabled = true;
  try {
    await api("POST", "/v1/messages", { body: replyMessage(c) });
  } catch (error) {
    refused(error);
    return;
  } finally {
    $("reply-send").disabled = false;
  }
  $("reply-body").value = "";
  for (const input of $("reply-parameters").querySelectorAll("input")) input.value = "";
  await loadConversation().catch(showError);
}

document.addEventListener("DOMContentLoaded", () => {
  $("inbox-sender").addEventListener("change", refreshInbox);
  $("conversation-close").addEventListener("click", closeConversation);
  $("reply-form").addEventListener("submit", sendReply);
  $("reply-template-name").addEventListener("change", chooseTemplate);
  // Enter writes a new line; Ctrl+Enter (⌘+Enter) sends.
  $("reply-body").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("reply-form").requestSubmit();
  });
  $("conversation").addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("confirm").open) closeConversation();
  });
  setInterval(repaintWindows, 30000);
});
