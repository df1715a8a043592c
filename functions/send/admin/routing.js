// Routing, under the reservations: operators, the experiences bound to them, and the reservation
// codes, each listed with Edit and Delete beside a form. A target's sender may be a WAHA phone:
// its groups (as WAHA synced them) are offered to pick from.
// It uses admin.js's helpers (api, el, $, ask, notify, showError, refuseInForm, clearFormRefusal).
"use strict";

const routingData = {
  senders: [], // [{name, provider}]
  groups: new Map(), // WAHA sender -> its groups, read once a page
};

const ROUTING_LISTS = [
  // [list id, API path, the entry's key, its text]
  ["operators", "/v1/operators", (o) => o.id, (o) => `${o.id}: ${o.name}${target(o.default_target)}`],
  [
    "bindings",
    "/v1/bindings",
    (b) => b.experience_id,
    (b) => `${b.experience_id} → ${b.operator_id}${target(b.target)}${b.is_override ? " (override)" : ""}`,
  ],
  ["codes", "/v1/reservation-codes", (c) => c.code, (c) => `${c.code} → ${c.experience_id}`],
];

function target(t) {
  return t ? ` · ${t.to} from ${t.sender}` : "";
}

// (a save while a refresh runs: its entry shows in the next)
const refreshRouting = oneAtATime(async () => {
  try {
    routingData.senders = (await api("GET", "/v1/senders")).items;
    fillTargetSenders();
    const [operators] = await Promise.all(ROUTING_LISTS.map((list) => paintList(...list)));
    const pick = $("binding-form").elements.operator_id;
    const chosen = pick.value;
    pick.replaceChildren(...operators.map((o) => el("option", { value: o.id, text: `${o.id}: ${o.name}` })));
    if (chosen) pick.value = chosen;
  } catch (error) {
    showError(error);
  }
});

async function paintList(id, path, keyOf, textOf) {
  const items = (await api("GET", path)).items;
  $(id).replaceChildren(
    ...items.map((item) =>
      el(
        "li",
        { class: "entry", "data-key": keyOf(item) },
        el("span", { class: "what", text: textOf(item) }),
        el(
          "span",
          { class: "actions" },
          el("button", { type: "button", class: "quiet", onclick: () => editEntry(id, item) }, "Edit"),
          el("button", { type: "button", class: "quiet", onclick: () => deleteEntry(id, path, keyOf(item)) }, "Delete"),
        ),
      ),
    ),
  );
  return items;
}

function fillTargetSenders() {
  for (const select of document.querySelectorAll("#view-reservations .target-sender")) {
    const chosen = select.value;
    const keep = [...select.options].filter((option) => option.value === ""); // "the operator's default"
    select.replaceChildren(...keep, ...routingData.senders.map((s) => el("option", { value: s.name, text: s.name })));
    if (chosen) select.value = chosen;
    else if (!keep.length) select.value = "default";
  }
}

async function offerGroups(form) {
  // A WAHA sender's groups to pick from; the picked group's id becomes the target's `to`.
  const name = form.elements.sender.value;
  const pick = form.querySelector(".group-pick");
  const waha = routingData.senders.find((s) => s.name === name)?.provider === "waha";
  pick.hidden = !waha;
  if (!waha) return;
  try {
    if (!routingData.groups.has(name)) {
      routingData.groups.set(name, (await api("GET", `/v1/senders/${encodeURIComponent(name)}/groups`)).items);
    }
  } catch (error) {
    pick.hidden = true;
    return showError(error);
  }
  const groups = routingData.groups.get(name);
  form.querySelector(".target-group").replaceChildren(
    el("option", { value: "", text: groups.length ? "Choose a group" : "No groups synced yet" }),
    ...groups.map((g) => el("option", { value: g.id, text: g.name ? `${g.name} (${g.id})` : g.id })),
  );
}

function editEntry(id, item) {
  const form = $({ operators: "operator-form", bindings: "binding-form", codes: "code-form" }[id]);
  clearFormRefusal(form);
  const fields = form.elements;
  if (id === "operators") {
    fields.operator_id.value = item.id;
    fields.name.value = item.name;
  } else if (id === "bindings") {
    fields.experience_id.value = item.experience_id;
    fields.operator_id.value = item.operator_id;
    fields.is_override.checked = Boolean(item.is_override);
  } else {
    fields.code.value = item.code;
    fields.experience_id.value = item.experience_id;
  }
  const t = id === "operators" ? item.default_target : item.target;
  if (fields.sender) {
    fields.sender.value = t ? t.sender : fields.sender.options[0]?.value || "";
    fields.to.value = t ? t.to : "";
    offerGroups(form);
  }
  form.querySelector("input").focus();
}

async function deleteEntry(id, path, key) {
  if (!(await ask(`Delete ${key}?`))) return;
  try {
    await api("DELETE", `${path.replace("/v1/bindings", "/v1/experiences")}/${encodeURIComponent(key)}${id === "bindings" ? "/binding" : ""}`);
    notify(`${key}: deleted.`);
  } catch (error) {
    showError(error);
  }
  await refreshRouting();
}

function targetOf(form) {
  const sender = form.elements.sender.value;
  const to = form.elements.to.value.trim();
  return sender && to ? { sender, to } : undefined;
}

async function saveEntry(event) {
  event.preventDefault();
  const form = event.target;
  clearFormRefusal(form);
  const fields = form.elements;
  let path, body;
  if (form.id === "operator-form") {
    path = `/v1/operators/${encodeURIComponent(fields.operator_id.value.trim())}`;
    body = { name: fields.name.value.trim(), default_target: targetOf(form) };
  } else if (form.id === "binding-form") {
    path = `/v1/experiences/${encodeURIComponent(fields.experience_id.value.trim())}/binding`;
    body = { operator_id: fields.operator_id.value, target: targetOf(form), is_override: fields.is_override.checked };
  } else {
    path = `/v1/reservation-codes/${encodeURIComponent(fields.code.value.trim())}`;
    body = { experience_id: fields.experience_id.value.trim() };
  }
  try {
    await api("PUT", path, { body });
  } catch (error) {
    return refuseInForm(form, error);
  }
  notify("Saved.");
  form.reset();
  const sender = form.elements.sender;
  // Back to the form's own default: "the operator's default" where offered, else the stack's sender.
  if (sender) sender.value = sender.options[0].value === "" ? "" : "default";
  for (const pick of form.querySelectorAll(".group-pick")) pick.hidden = true;
  await refreshRouting();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const id of ["operator-form", "binding-form", "code-form"]) {
    const form = $(id);
    form.addEventListener("submit", saveEntry);
    if (!form.elements.sender) continue;
    form.elements.sender.addEventListener("change", () => offerGroups(form));
    form.querySelector(".target-group").addEventListener("change", (event) => {
      if (event.target.value) form.elements.to.value = event.target.value;
    });
  }
});
