// Senders: a card each, with its rate windows and pause; a WAHA sender's session (Start, its QR
// code until the phone is paired, Restart, Logout, a test message); and the form that creates
// or edits one. It uses admin.js's helpers (api, el, $, notify, showError, ask, clock, time).
"use strict";

function senderCard(name) {
  const card = el(
    "article",
    { class: "card sender", "data-sender": name, "aria-labelledby": `sender-${name}` },
    el("h2", { id: `sender-${name}` }, el("span", { text: name }), el("span", { class: "provider" })),
    el("p", { class: "paused", hidden: true }),
    el("div", { class: "windows" }),
  );
  card.querySelector(".paused").append(
    el("span", { class: "paused-text" }),
    el("button", { type: "button", onclick: () => senderAction(name, "resume", null) }, "Resume"),
  );
  card.append(
    el(
      "div",
      { class: "actions" },
      el("button", { type: "button", class: "edit", onclick: () => editSender(name) }, "Edit"),
      el(
        "button",
        {
          type: "button",
          class: "pause",
          onclick: () => senderAction(name, "pause", `Pause ${name}? Its messages wait, queued, until you resume it.`),
        },
        "Pause",
      ),
    ),
  );
  return card;
}

function wahaPart(card, name) {
  const testForm = el(
    "form",
    { class: "test", "aria-label": `Send a test message from ${name}` },
    el("label", {}, "To ", el("input", { name: "to", type: "text", required: true, inputmode: "tel" })),
    el("label", {}, "Text ", el("input", { name: "text", type: "text", required: true, maxlength: "4096" })),
    el("button", { type: "submit" }, "Send test"),
  );
  testForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(testForm);
    try {
      const message = await api("POST", `/v1/senders/${encodeURIComponent(name)}/session/test`, {
        body: { to: form.get("to"), text: form.get("text") },
      });
      notify(`Test message queued: ${message.id}`);
      testForm.reset();
    } catch (error) {
      showError(error);
    }
  });
  const part = el(
    "div",
    { class: "session" },
    el("p", {}, "Session ", el("strong", { class: "session-status" }), el("span", { class: "me" })),
    el("img", { class: "qr", alt: `QR code to pair ${name}'s phone`, hidden: true, width: "220", height: "220" }),
    el(
      "div",
      { class: "actions" },
      el("button", { type: "button", onclick: () => senderAction(name, "session/start", null) }, "Start"),
      el("button", { type: "button", onclick: () => senderAction(name, "session/restart", null) }, "Restart"),
      el(
        "button",
        { type: "button", onclick: () => senderAction(name, "session/logout", `Log ${name}'s phone out?`) },
        "Logout",
      ),
    ),
    testForm,
  );
  card.append(part);
}

async function senderAction(name, action, question) {
  if (question && !(await ask(question))) return;
  try {
    await api("POST", `/v1/senders/${encodeURIComponent(name)}/${action}`);
    notify(`${name}: ${action.replace("session/", "")} done.`);
  } catch (error) {
    showError(error);
  }
  await refreshSenders();
}

function paintWindows(card, sender) {
  const windows = sender.windows || [];
  card.querySelector(".windows").replaceChildren(
    ...windows.map((w) =>
      el(
        "div",
        { class: "window" },
        el("span", { text: `${w.used} / ${w.max} per ${w.per_seconds} s` }),
        el("meter", {
          min: "0",
          max: String(w.max),
          value: String(w.used),
          low: String(Math.ceil(w.max * 0.6)),
          high: String(Math.ceil(w.max * 0.9)),
          optimum: "0",
          "aria-label": `${sender.name}: ${w.used} of ${w.max} sends in ${w.per_seconds} s`,
        }),
        el(
          "span",
          { class: "muted" },
          new Date(w.next_slot_at) <= Date.now() ? "a slot is free now" : ["next slot ", time(w.next_slot_at)],
        ),
      ),
    ),
  );
}

async function paintSession(card, name) {
  const session = await api("GET", `/v1/senders/${encodeURIComponent(name)}/session`);
  card.querySelector(".session-status").textContent = session.status;
  card.querySelector(".me").textContent = session.me ? ` · ${session.me.id || ""} ${session.me.push_name || ""}` : "";
  const img = card.querySelector(".qr");
  if (session.status === "SCAN_QR_CODE") {
    const qr = await api("GET", `/v1/senders/${encodeURIComponent(name)}/session/qr`, {
      accept: "application/json",
    });
    img.src = `data:${qr.mimetype};base64,${qr.data}`;
    img.hidden = false;
  } else {
    img.hidden = true;
    img.removeAttribute("src");
  }
}

async function refreshSenders() {
  if (state.sendersBusy || !apiKey()) return;
  state.sendersBusy = true;
  try {
    const list = await api("GET", "/v1/senders");
    const container = $("senders");
    for (const summary of list.items) {
      const name = summary.name;
      let card = state.senderCards.get(name);
      if (!card) {
        card = senderCard(name);
        if (summary.provider === "waha") wahaPart(card, name);
        state.senderCards.set(name, card);
        container.append(card);
      }
      const sender = await api("GET", `/v1/senders/${encodeURIComponent(name)}`);
      card.querySelector(".provider").textContent = sender.provider === "waha" ? "WAHA" : "Cloud API";
      const paused = card.querySelector(".paused");
      paused.hidden = !sender.paused;
      card.querySelector("button.pause").hidden = sender.paused;
      paused.querySelector(".paused-text").textContent = sender.paused
        ? `Paused: ${sender.paused_reason || "no reason given"}${sender.paused_until ? " until " + clock(sender.paused_until) : ""} `
        : "";
      paintWindows(card, sender);
      if (sender.provider === "waha") {
        try {
          await paintSession(card, name);
        } catch (error) {
          // A session WAHA has never seen is made by Start.
          card.querySelector(".session-status").textContent =
            error.code === "session_not_found" ? "not started" : `unavailable (${error.message})`;
        }
      }
    }
  } catch (error) {
    showError(error);
  } finally {
    state.sendersBusy = false;
  }
}

async function fillSenderNames() {
  try {
    const list = await api("GET", "/v1/senders");
    $("sender-names").replaceChildren(...list.items.map((s) => el("option", { value: s.name })));
  } catch (error) {
    showError(error);
  }
}


// ---- the form: a new sender, or one edited ------------------------------------------------

const MOST_LIMITS = 5; // the API takes one to five
const NUMBERS = /(^|\.)(max|min|per_seconds|typing_chars_per_second|typing_max_seconds)$/;

function limitRow(limit = { max: "", per_seconds: "" }) {
  const row = el("li", { class: "limit" });
  const input = (part, label, bounds) =>
    el("label", {}, `${label} `, el("input", { type: "number", required: true, "data-part": part, value: String(limit[part]), ...bounds }));
  row.append(
    input("max", "max", { min: "1", max: "1000" }),
    input("per_seconds", "per s", { min: "1", max: "86400" }),
    el("button", { type: "button", class: "quiet", "aria-label": "Remove this limit", onclick: () => removeLimit(row) }, "✕"),
  );
  return row;
}

function removeLimit(row) {
  row.remove();
  numberLimits();
}

function numberLimits() {
  // Each input names its API field (limits.N.max), so the API's problem lands beside it.
  const rows = [...$("sender-limits").children];
  rows.forEach((row, i) => {
    for (const input of row.querySelectorAll("input")) {
      input.name = input.dataset.field = `limits.${i}.${input.dataset.part}`;
      input.setAttribute("aria-label", `Limit ${i + 1}: ${input.dataset.part === "max" ? "max sends" : "per seconds"}`);
    }
  });
  $("sender-limit-add").disabled = rows.length >= MOST_LIMITS;
}

// A new sender starts from the API's defaults for its provider: a WAHA phone far below what
// Meta's Cloud API takes, as a number on WhatsApp Web is banned for looking like a bot.
const PROVIDER_LIMITS = {
  cloud_api: { limits: [{ max: 80, per_seconds: 1 }], pair: { max: 1, per_seconds: 6 } },
  waha: {
    limits: [
      { max: 10, per_seconds: 3600 },
      { max: 50, per_seconds: 86400 },
    ],
    pair: { max: 4, per_seconds: 3600 },
  },
};

function senderProvider() {
  const form = $("sender-form");
  const provider = form.elements.provider.value;
  for (const part of form.querySelectorAll("fieldset[data-provider]")) {
    part.hidden = part.dataset.provider !== provider;
  }
  if (form.elements.name.readOnly) return; // an edited sender keeps its own limits
  const defaults = PROVIDER_LIMITS[provider];
  $("sender-limits").replaceChildren(...defaults.limits.map((limit) => limitRow(limit)));
  numberLimits();
  form.elements["pair_limit.max"].value = String(defaults.pair.max);
  form.elements["pair_limit.per_seconds"].value = String(defaults.pair.per_seconds);
}

function openSenderForm(title, sender) {
  const form = $("sender-form");
  form.reset();
  clearFormRefusal(form);
  $("sender-form-title").textContent = title;
  form.elements.name.readOnly = Boolean(sender);
  const values = sender ? flatten(sender) : {};
  for (const input of form.querySelectorAll("input[data-field], select[data-field]")) {
    const value = values[input.dataset.field];
    if (value === undefined || value === null) continue;
    if (input.type === "checkbox") input.checked = Boolean(value);
    else input.value = String(value);
  }
  $("sender-limits").replaceChildren(...(sender ? sender.limits : []).map((limit) => limitRow(limit)));
  numberLimits();
  senderProvider();
  form.hidden = false;
  form.elements[sender ? "provider" : "name"].focus();
}

function flatten(value, prefix = "", into = {}) {
  for (const [key, inner] of Object.entries(value)) {
    if (inner && typeof inner === "object" && !Array.isArray(inner)) flatten(inner, `${prefix}${key}.`, into);
    else into[prefix + key] = inner;
  }
  return into;
}

async function editSender(name) {
  try {
    const sender = await api("GET", `/v1/senders/${encodeURIComponent(name)}`);
    openSenderForm(`Edit ${name}`, sender);
  } catch (error) {
    showError(error);
  }
}

function senderSettings() {
  // The PUT body from the form's visible fields: numbers as numbers, "a.b" as nested objects.
  const form = $("sender-form");
  const provider = form.elements.provider.value;
  const body = { provider, limits: [] };
  for (const input of form.querySelectorAll("[data-field]")) {
    const field = input.dataset.field;
    if (field === "name" || input.closest("[hidden]")) continue;
    let value = input.type === "checkbox" ? input.checked : input.value.trim();
    if (value === "") continue;
    if (NUMBERS.test(field)) value = Number(value);
    // A WAHA sender's limit per contact is its per_contact_limit; the API shows it as pair_limit.
    const path = (provider === "waha" ? field.replace(/^pair_limit\./, "per_contact_limit.") : field).split(".");
    let spot = body;
    path.slice(0, -1).forEach((key, i) => {
      spot[key] ??= /^\d+$/.test(path[i + 1]) ? [] : {};
      spot = spot[key];
    });
    spot[path.at(-1)] = value;
  }
  return body;
}

function senderField(field) {
  // "waha.limits.0.max" -> "limits.0.max"; a WAHA sender's per_contact_limit is the form's pair_limit
  return field.replace(/^(cloud_api|waha)\./, "").replace(/^per_contact_limit\b/, "pair_limit");
}

async function saveSender(event) {
  event.preventDefault();
  const form = $("sender-form");
  clearFormRefusal(form);
  const name = form.elements.name.value.trim();
  if (!name) {
    const details = [{ field: "name", problem: "required" }];
    return refuseInForm(form, new ApiError(422, { error: { message: "Give the sender a name.", details } }));
  }
  try {
    await api("PUT", `/v1/senders/${encodeURIComponent(name)}`, { body: senderSettings() });
  } catch (error) {
    return refuseInForm(form, error, senderField);
  }
  $("sender-form").hidden = true;
  notify(`${name}: saved.`);
  await refreshSenders();
}

document.addEventListener("DOMContentLoaded", () => {
  $("sender-new").addEventListener("click", () => openSenderForm("New sender", null));
  $("sender-form-cancel").addEventListener("click", () => ($("sender-form").hidden = true));
  $("sender-form").elements.provider.addEventListener("change", senderProvider);
  $("sender-limit-add").addEventListener("click", () => {
    $("sender-limits").append(limitRow());
    numberLimits();
  });
  $("sender-form").addEventListener("submit", saveSender);
});
