// Postino's dashboard: plain DOM code over the /v1 API, no build step, nothing remote.
"use strict";

const KEY_STORAGE = "postino.apiKey";
// The page is <base>/admin (under /prod/ on API Gateway): the API is <base>/v1/...
const BASE = location.pathname.replace(/\/admin\/?$/, "/");
// Polling is the fallback, while the live socket is down.
const QUEUE_EVERY_MS = 3000;
const SENDERS_EVERY_MS = 5000;
const LIVE_PHASES = ["reading", "waiting_human", "typing", "sending"];
// Each phase a person can watch, with its own icon and colour (admin.css: .badge.phase-*).
const PHASES = {
  reading: ["👀", "reading"],
  waiting_human: ["⏳", "waiting"],
  typing: ["⌨️", "typing"],
  sending: ["🚀", "sending"],
};
const RETRYABLE = ["failed", "expired", "unknown"];
const WAITING = ["scheduled", "queued"];
const NEXT_RESERVATION = {
  new: ["acknowledged", "confirmed", "rejected"],
  notified: ["acknowledged", "confirmed", "rejected"],
  acknowledged: ["confirmed", "rejected"],
};

const $ = (id) => document.getElementById(id);
const state = {
  view: "queue",
  queueCursor: null,
  queueBusy: false,
  queueResetPending: false,
  liveEvents: new Map(), // message id -> last timeline event, for queued/sending rows
  drawerId: null,
  sendersBusy: false,
  senderCards: new Map(),
  rows: new Map(), // message id -> the message as last shown in the queue
  newest: new Map(), // message id -> its newest status the page heard of, with its revision
  live: { socket: null, open: false, tries: 0, keepalive: null, retry: null, why: "" },
  soon: new Map(), // a refresh asked for by live events, once per burst
  phaseQueues: new Map(), // message id -> its live events still to show, in order
};

class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || (body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "";
    this.details = error.details || []; // [{field, problem}]: the Inbox shows each beside its field
  }
}

// ---- the API ---------------------------------------------------------------------------

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

async function api(method, path, { body, query, accept } = {}) {
  const url = new URL(BASE + path.replace(/^\//, ""), location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== "" && value !== null && value !== undefined) url.searchParams.set(name, value);
  }
  const headers = { "x-api-key": apiKey() || "", Accept: accept || "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const payload = await response.json().catch(() => null);
  if (response.status === 401 || response.status === 403) {
    signOut("The API refused the key (" + response.status + "). Check it and sign in again.");
    throw new ApiError(response.status, payload);
  }
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload;
}

function notify(text, kind = "info") {
  const notice = $("notice");
  notice.textContent = text;
  notice.className = "notice " + kind;
  notice.hidden = !text;
}

function showError(error) {
  if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return;
  const prefix = error instanceof ApiError ? `${error.status}${error.code ? " " + error.code : ""}: ` : "";
  notify(prefix + error.message, "error");
}

// ---- small DOM helpers -------------------------------------------------------------------

function clearFormRefusal(form) {
  for (const node of form.querySelectorAll(".form-error")) node.hidden = true;
  for (const node of form.querySelectorAll(".field-error")) node.remove();
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

// The API's own words in the form's .form-error, and each field's problem beside the visible
// input whose data-field names it (`fieldOf` turns the API's field path into that name).
function refuseInForm(form, error, fieldOf = (field) => field) {
  if (!(error instanceof ApiError)) return showError(error);
  const box = form.querySelector(".form-error");
  box.textContent = error.message;
  box.hidden = false;
  const inputs = [...form.querySelectorAll("[data-field]")].filter((input) => !input.closest("[hidden]"));
  error.details.forEach((detail, i) => {
    const field = fieldOf((detail.field || "").replace(/^body\./, "").replace(/\[(\d+)\]/g, ".$1"));
    const input =
      inputs.find((node) => node.dataset.field === field) ||
      inputs.find((node) => node.dataset.field.startsWith(field + "."));
    if (!input) return;
    const id = `${form.id}-problem-${i}`;
    (input.closest("label") || input).after(el("p", { id, class: "error field-error", text: detail.problem }));
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", id);
  });
}

// A refresh that runs one at a time: asked for while it runs (an event, a save), it runs once
// more when it ends, so that what changed meanwhile shows; never two at once.
function oneAtATime(refresh) {
  let busy = false;
  let again = false;
  const run = async () => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      await refresh();
    } finally {
      busy = false;
    }
    if (again) {
      again = false;
      await run();
    }
  };
  return run;
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function clock(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  return isNaN(at) ? iso : at.toLocaleString();
}

function time(iso) {
  return el("time", { datetime: iso, title: iso, text: clock(iso) });
}

function ask(question) {
  const dialog = $("confirm");
  $("confirm-text").textContent = question;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

// ---- status badges -----------------------------------------------------------------------

function badge(message, last) {
  let label = message.status;
  let kind = message.status;
  let title = "";
  if (message.status === "queued" && last && last.phase === "rate_limited") {
    kind = "rate-limited";
    const slot = last.detail && last.detail.next_slot_at;
    label = slot ? `rate-limited · next ${new Date(slot).toLocaleTimeString()}` : "rate-limited";
    title = slot || (last.detail && last.detail.reason) || "";
  } else if (message.status === "sending" && last && LIVE_PHASES.includes(last.phase)) {
    const [icon, name] = PHASES[last.phase];
    label = `${icon} ${name}`;
    kind = `live phase-${last.phase}`;
  } else if (message.status === "sent") {
    label = "✅ sent";
  } else if (message.status === "delivered") {
    label = "delivered ✓✓";
  } else if (message.status === "read") {
    label = "read ✓✓";
  } else if (message.status === "failed" && message.error) {
    label = `❌ failed · ${message.error.title}`;
    title = `${message.error.code}: ${message.error.message}`;
  } else if (message.status === "failed") {
    label = "❌ failed";
  } else if (message.status === "scheduled" && message.send_at) {
    title = message.send_at;
  }
  return el("span", { class: `badge ${kind}`, title: title || null, text: label });
}

// ---- navigation and sign-in --------------------------------------------------------------

function show(view) {
  state.view = view;
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.dataset.view === view;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $("view-" + tab.dataset.view).hidden = !selected;
  }
  notify("");
  if (view === "queue") refreshQueue();
  if (view === "senders") refreshSenders();
  if (view === "reservations") {
    refreshReservations();
    refreshRouting();
  }
  if (view === "send") fillSenderNames();
  if (view === "inbox") refreshInbox();
  if (view === "campaigns") showCampaigns();
}

function signedIn(on) {
  $("view-login").hidden = on;
  $("tabs").hidden = !on;
  $("logout").hidden = !on;
  if (!on) {
    for (const panel of document.querySelectorAll("[role=tabpanel]")) panel.hidden = true;
    closeDrawer();
  }
}

function signOut(reason) {
  sessionStorage.removeItem(KEY_STORAGE);
  disconnectLive();
  signedIn(false);
  notify("");
  const error = $("login-error");
  error.textContent = reason || "";
  error.hidden = !reason;
  $("api-key").value = "";
  $("api-key").focus();
}

async function signIn(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY_STORAGE, key);
  try {
    await api("GET", "/v1/senders");
  } catch (error) {
    if (!(error instanceof ApiError) || (error.status !== 401 && error.status !== 403)) {
      sessionStorage.removeItem(KEY_STORAGE);
      $("login-error").textContent = "Could not reach the API: " + error.message;
      $("login-error").hidden = false;
    }
    return;
  }
  $("login-error").hidden = true;
  $("api-key").value = "";
  signedIn(true);
  connectLive();
  show("queue");
  $("tab-queue").focus();
}

function onTabKey(event) {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  const at = tabs.indexOf(document.activeElement);
  const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -at, End: tabs.length - 1 - at };
  if (at < 0 || !(event.key in moves)) return;
  event.preventDefault();
  const next = tabs[(at + moves[event.key] + tabs.length) % tabs.length];
  next.focus();
  show(next.dataset.view);
}

// ---- the queue ---------------------------------------------------------------------------

function queueFilters() {
  const form = new FormData($("queue-filters"));
  return {
    status: form.get("status"),
    sender: form.get("sender").trim(),
    reference: form.get("reference").trim(),
  };
}

function messageRow(message) {
  const row = el(
    "li",
    { class: "row", "data-id": message.id },
    el(
      "button",
      { type: "button", class: "row-main", "aria-label": `Message ${message.id} to ${message.to}` },
      el("span", { class: "badge-slot" }),
      el("span", { class: "to", text: message.to }),
      el("span", { class: "meta", text: `${message.sender} · ${message.type}` }),
      el("span", { class: "ref", text: message.reference || "" }),
      time(message.created_at),
    ),
  );
  row.querySelector("button").addEventListener("click", () => openDrawer(message.id));
  return row;
}

// Under load a read of the API can leave before a change and answer after the change's live
// event. A message's revision (bumped by each of its writes) tells which of the two is newer:
// an older read shows the newer status, never undoes it. Live events are shown as they come:
// the stream gives each message's in the order of its writes.
function newestOf(message) {
  const known = state.newest.get(message.id);
  if (known && message.revision < known.revision) return { ...message, status: known.status };
  state.newest.set(message.id, { status: message.status, revision: message.revision });
  return message;
}

function isStale(message) {
  return message.revision < (state.newest.get(message.id)?.revision ?? -1);
}

function paintRow(row, message, { live = false } = {}) {
  const newest = newestOf(message);
  if (!live) message = newest;
  state.rows.set(message.id, message);
  row.querySelector(".badge-slot").replaceChildren(badge(message, state.liveEvents.get(message.id)));
  row.dataset.status = message.status;
}

function upsertRows(items, { append }) {
  const list = $("queue");
  let anchor = null; // new rows of a refresh go on top, in the API's order
  for (const message of items) {
    let row = list.querySelector(`li[data-id="${CSS.escape(message.id)}"]`);
    if (!row) {
      row = messageRow(message);
      if (append) list.append(row);
      else if (anchor) anchor.after(row);
      else list.prepend(row);
    }
    paintRow(row, message);
    anchor = row;
  }
  $("queue-empty").hidden = list.children.length > 0;
}

async function liveEventsFor(items) {
  // The list has no timeline: read the last event of the few messages on the move.
  // (A message whose live events are still being shown keeps them: they are newer.)
  const moving = items
    .filter((m) => (m.status === "queued" || m.status === "sending") && !state.phaseQueues.has(m.id))
    .slice(0, 10);
  const seen = new Set(moving.map((m) => m.id));
  for (const id of state.liveEvents.keys()) {
    if (!seen.has(id) && !state.phaseQueues.has(id)) state.liveEvents.delete(id);
  }
  await Promise.all(
    moving.map(async (m) => {
      const full = await api("GET", `/v1/messages/${encodeURIComponent(m.id)}`);
      if (isStale(full)) return;
      const events = full.events || [];
      state.liveEvents.set(m.id, events[events.length - 1]);
    }),
  );
}

async function refreshQueue({ reset = false } = {}) {
  if (!apiKey()) return;
  if (state.queueBusy) {
    // a filter changed mid-refresh: start over once this one ends
    state.queueResetPending = state.queueResetPending || reset;
    return;
  }
  state.queueBusy = true;
  try {
    if (reset) {
      $("queue").replaceChildren();
      state.queueCursor = null;
    }
    const page = await api("GET", "/v1/messages", { query: { ...queueFilters(), limit: 50 } });
    await liveEventsFor(page.items);
    upsertRows(page.items, { append: false });
    if (reset || $("queue").children.length <= page.items.length) state.queueCursor = page.next_cursor;
    $("queue-more").hidden = !state.queueCursor;
  } catch (error) {
    showError(error);
  } finally {
    state.queueBusy = false;
  }
  if (state.queueResetPending) {
    state.queueResetPending = false;
    await refreshQueue({ reset: true });
  }
}

async function moreMessages() {
  try {
    const page = await api("GET", "/v1/messages", {
      query: { ...queueFilters(), limit: 50, cursor: state.queueCursor },
    });
    upsertRows(page.items, { append: true });
    state.queueCursor = page.next_cursor;
    $("queue-more").hidden = !state.queueCursor;
  } catch (error) {
    showError(error);
  }
}

// ---- the drawer: one message and its timeline --------------------------------------------

async function openDrawer(id) {
  state.drawerId = id;
  $("drawer").hidden = false;
  $("drawer-id").textContent = id;
  $("drawer-fields").replaceChildren();
  $("timeline").replaceChildren();
  $("drawer-actions").replaceChildren();
  await refreshDrawer();
  $("drawer-close").focus();
}

function closeDrawer() {
  const id = state.drawerId;
  state.drawerId = null;
  $("drawer").hidden = true;
  const row = id && $("queue").querySelector(`li[data-id="${CSS.escape(id)}"] button`);
  if (row) row.focus();
}

function detailText(detail) {
  return Object.entries(detail || {})
    .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(" · ");
}

async function refreshDrawer() {
  const id = state.drawerId;
  if (!id) return;
  let message;
  try {
    message = await api("GET", `/v1/messages/${encodeURIComponent(id)}`);
  } catch (error) {
    showError(error);
    return;
  }
  if (state.drawerId !== id) return;
  if (isStale(message)) {
    soon("drawer", refreshDrawer); // a read that left before the change its event told
    return;
  }
  newestOf(message);
  const events = message.events || [];
  const fields = [
    ["Status", badge(message, events[events.length - 1])],
    ["To", message.to],
    ["Sender", message.sender],
    ["Type", message.type],
    ["Reference", message.reference],
    ["Created", time(message.created_at)],
    ["Scheduled for", message.send_at && time(message.send_at)],
    ["Provider id", message.provider_message_id],
    ["Attempts", String(message.attempts)],
    ["Error", message.error && `${message.error.code} ${message.error.title}: ${message.error.message}`],
    ["Metadata", message.metadata && JSON.stringify(message.metadata)],
  ].filter(([, value]) => value);
  $("drawer-fields").replaceChildren(
    ...fields.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", {}, value)]),
  );
  $("timeline").replaceChildren(
    ...events.map((e) =>
      el(
        "li",
        { "data-phase": e.phase },
        time(e.at),
        el("span", { class: "phase", text: e.phase }),
        el("span", { class: "detail", text: detailText(e.detail) }),
      ),
    ),
  );
  const actions = [];
  if (RETRYABLE.includes(message.status)) actions.push(["retry", "Retry", null]);
  if (WAITING.includes(message.status))
    actions.push(["force", "Force", "Send it now, past the sender's rate window?"]);
  if (WAITING.includes(message.status)) actions.push(["cancel", "Cancel message", "Cancel this message?"]);
  const wanted = actions.map(([action]) => action).join(",");
  if ($("drawer-actions").dataset.actions !== wanted) {
    $("drawer-actions").dataset.actions = wanted;
    $("drawer-actions").replaceChildren(
      ...actions.map(([action, label, question]) =>
        el("button", { type: "button", "data-action": action, onclick: () => act(id, action, question) }, label),
      ),
    );
  }
  const row = $("queue").querySelector(`li[data-id="${CSS.escape(id)}"]`);
  if (row) paintRow(row, message);
}

async function act(id, action, question) {
  if (question && !(await ask(question))) return;
  try {
    await api("POST", `/v1/messages/${encodeURIComponent(id)}/${action}`);
    notify(`Message ${id}: ${action} done.`);
  } catch (error) {
    showError(error);
  }
  await refreshDrawer();
  await refreshQueue();
}

// ---- reservations ------------------------------------------------------------------------

function routing(r) {
  if (!r.matched) return "unknown code";
  if (!r.routed || !r.target) return `${r.experience_id || "?"} · not routed`;
  return `${r.experience_id} → ${r.operator_id || "?"} via ${r.target.sender} to ${r.target.to}`;
}

async function refreshReservations() {
  try {
    const status = new FormData($("reservation-filters")).get("status");
    const list = await api("GET", "/v1/reservations", { query: { status } });
    $("reservations").replaceChildren(
      ...list.items.map((r) =>
        el(
          "li",
          { class: "row reservation", "data-id": r.id },
          el("span", { class: `badge r-${r.status}`, text: r.status }),
          el("strong", { class: "code", text: r.code }),
          el("span", { class: "to", text: `${r.profile_name ? r.profile_name + " " : ""}${r.from}` }),
          el("span", { class: "meta", text: routing(r) }),
          el("q", { class: "text", text: r.text || "" }),
          time(r.created_at),
          el(
            "span",
            { class: "actions" },
            (NEXT_RESERVATION[r.status] || []).map((next) =>
              el("button", { type: "button", onclick: () => moveReservation(r.id, next) }, next),
            ),
          ),
        ),
      ),
    );
    $("reservations-empty").hidden = list.items.length > 0;
  } catch (error) {
    showError(error);
  }
}

async function moveReservation(id, status) {
  try {
    await api("POST", `/v1/reservations/${encodeURIComponent(id)}/status`, { body: { status } });
    notify(`Reservation ${id}: ${status}.`);
  } catch (error) {
    showError(error);
  }
  await refreshReservations();
}

// ---- send --------------------------------------------------------------------------------

function sendKind() {
  const template = new FormData($("send-form")).get("kind") === "template";
  $("send-text").hidden = template;
  $("send-template").hidden = !template;
}

async function send(event) {
  event.preventDefault();
  const form = new FormData($("send-form"));
  const message = { sender: form.get("sender").trim(), to: form.get("to").trim() };
  if (form.get("kind") === "template") {
    const parameters = form
      .get("parameters")
      .split("\n")
      .map((line) => line.trim())
      .filter(Boolean);
    message.type = "template";
    message.template = { name: form.get("template").trim(), language: { code: form.get("language").trim() } };
    if (parameters.length) {
      message.template.components = [
        { type: "body", parameters: parameters.map((text) => ({ type: "text", text })) },
      ];
    }
  } else {
    message.type = "text";
    message.text = { body: form.get("body") };
  }
  try {
    const accepted = await api("POST", "/v1/messages", { body: message });
    $("send-result").textContent = `Accepted: ${accepted.id} (${accepted.status})`;
    show("queue");
    openDrawer(accepted.id);
  } catch (error) {
    $("send-result").textContent = "";
    showError(error);
  }
}

// ---- wiring ------------------------------------------------------------------------------

function refreshView() {
  if (state.view === "queue") refreshQueue();
  // A request that comes in while an operator watches appears without a reload.
  if (state.view === "reservations") refreshReservations();
  if (state.view === "inbox") refreshInbox();
  if (state.view === "campaigns") refreshCampaign();
  if (state.drawerId) refreshDrawer();
}

function tick() {
  if (!document.hidden && apiKey() && !state.live.open) refreshView();
}

function senderTick() {
  // A QR code changes in WAHA, not in a table: it is fetched again while one waits for a scan.
  const scanning = [...state.senderCards.values()].some((card) =>
    ["STARTING", "SCAN_QR_CODE"].includes(card.querySelector(".session-status")?.textContent),
  );
  if (document.hidden || !apiKey() || state.view !== "senders") return;
  if (!state.live.open || scanning) refreshSenders();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", signIn);
  $("logout").addEventListener("click", () => signOut(""));
  $("tabs").addEventListener("keydown", onTabKey);
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.addEventListener("click", () => show(tab.dataset.view));
  }
  $("queue-filters").addEventListener("change", () => refreshQueue({ reset: true }));
  $("queue-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    refreshQueue({ reset: true });
  });
  $("queue-more").addEventListener("click", moreMessages);
  $("reservation-filters").addEventListener("change", refreshReservations);
  $("drawer-close").addEventListener("click", closeDrawer);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.drawerId && !$("confirm").open) closeDrawer();
  });
  $("send-form").addEventListener("change", sendKind);
  $("send-form").addEventListener("submit", send);
  setInterval(tick, QUEUE_EVERY_MS);
  setInterval(senderTick, SENDERS_EVERY_MS);
  if (apiKey()) {
    signedIn(true);
    connectLive();
    show("queue");
  } else {
    signOut("");
  }
});
