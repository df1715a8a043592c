// Campaigns: a campaign's report as a bar per status, and a bulk send from a CSV file with the
// CLI's checks and keys (cli/postino_cli/bulk.py): every row is checked before any is sent, and
// the same file sent again is answered with its first messages, never sent twice.
// It uses admin.js's helpers (api, el, $, notify, showError, ApiError) and inbox.js's template
// helpers (approvedTemplates, templateOptions, parameterInputs, templateParts, templateObject).
"use strict";

const BATCH_SIZE = 100; // POST /v1/messages/batch takes at most 100 items
const CAMPAIGN_CHARACTERS = 64; // the API's limit for a message's `campaign`
const PHONE = /^\+?[0-9 ().-]+$/;
const VARIABLE_NAME = /^[a-z][a-z0-9_]{0,31}$/; // the columns the server may fill in as {name}
const SIGNED_LINK = "signed_link"; // filled by the server from a message's link, never from a column
const COLUMN = /\{([^{}]+)\}/g; // a {column} in a text, as the CLI finds it
const REPORTED = ["queued", "sent", "delivered", "read", "failed", "unknown", "cancelled", "expired"];
const RECENT_CAMPAIGNS = "postino.campaigns"; // the names opened in this browser, for the picker
const REPORT_EVERY_MS = 2000; // a report reads every message: live events ask for it this often at most

const campaigns = {
  file: null, // {name, sha256, header, rows: [{number, values}]}
  templates: new Map(), // sender -> its approved templates
  parts: [], // the chosen template's parts (inbox.js templateParts)
  shown: null, // the campaign whose report is on the page
  reportTimer: null,
  reportReads: 0, // reads of the report asked so far, and the latest of them painted:
  reportPainted: 0, // a read answering after a later one (a slow API) is not painted
  sending: false,
};

// ---- a CSV file, read as Python's csv.DictReader reads it ---------------------------------

function csvRecords(text) {
  // RFC 4180 (Excel's dialect): quoted fields may hold commas, quotes ("") and line breaks.
  const records = [];
  let record = [];
  let field = "";
  let quoted = false;
  let touched = false; // the line has a quote or a comma: not a blank line
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === "") {
      quoted = touched = true;
    } else if (c === ",") {
      record.push(field);
      field = "";
      touched = true;
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      record.push(field);
      if (touched || field !== "" || record.length > 1) records.push(record);
      record = [];
      field = "";
      touched = false;
    } else field += c;
  }
  if (touched || field !== "" || record.length) {
    record.push(field);
    records.push(record);
  }
  return records;
}

async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function readCsv(file) {
  const bytes = await file.arrayBuffer();
  // utf-8-sig, strictly: the BOM a spreadsheet writes is dropped; bytes that are not UTF-8 refused.
  const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  const [header = [], ...records] = csvRecords(text);
  const names = header.map((name) => name.trim());
  const rows = records.map((record, i) => {
    const values = {};
    names.forEach((name, column) => {
      if (header[column]) values[name] = (record[column] || "").trim();
    });
    return { number: i + 2, values }; // as a spreadsheet numbers it: the header is row 1
  });
  return { name: file.name, sha256: await sha256Hex(bytes), header: names.filter(Boolean), rows };
}

// ---- the rows' checks and items, as the CLI makes them -----------------------------------

function columnsIn(text) {
  return [...(text || "").matchAll(COLUMN)].map((match) => match[1]);
}

function plausiblePhone(value) {
  const digits = value.replace(/\D/g, "");
  return PHONE.test(value) && digits.length >= 8 && digits.length <= 15;
}

function rowProblems(rows, toColumn, texts) {
  const needed = [...new Set(texts.flatMap(columnsIn))].sort();
  const problems = [];
  for (const row of rows) {
    const phone = row.values[toColumn] || "";
    if (!phone) problems.push([row.number, `no phone in column '${toColumn}'`]);
    else if (!plausiblePhone(phone)) problems.push([row.number, `'${phone}' does not look like a phone number`]);
    for (const column of needed) {
      if (!row.values[column]) problems.push([row.number, `column '${column}' is empty or missing`]);
    }
  }
  return problems;
}

async function idempotencyKey(file, row) {
  // The same file and row give the same key: a re-run is answered with the first message.
  const seed = new TextEncoder().encode(`${file.name}\0${file.sha256}\0${row.number}`);
  return `bulk-${(await sha256Hex(seed)).slice(0, 40)}`;
}

async function batchItem(file, row, plan) {
  const variables = Object.fromEntries(
    Object.entries(row.values).filter(([name, value]) => VARIABLE_NAME.test(name) && value && name !== SIGNED_LINK),
  );
  const item = {
    to: row.values[plan.toColumn],
    reference: `bulk-${file.sha256.slice(0, 12)}`,
    idempotency_key: await idempotencyKey(file, row),
    variables,
    ...(plan.sender ? { sender: plan.sender } : {}),
    ...(plan.campaign ? { campaign: plan.campaign } : {}),
  };
  if (!plan.template) return { ...item, type: "text", text: { body: plan.text } };
  // A parameter that is one {column} takes the row's value, as the CLI's --map does; any other
  // text goes as it is (as --param), its {column}s filled in by the server from `variables`.
  const valueOf = (part, name) => {
    const given = plan.parameters(part, name);
    const column = /^\{([^{}]+)\}$/.exec(given)?.[1];
    return column && column in row.values ? row.values[column] : given;
  };
  return { ...item, type: "template", template: templateObject(plan.template, campaigns.parts, valueOf) };
}

// ---- the bulk form -------------------------------------------------------------------------

async function chooseFile() {
  const chosen = $("bulk-file").files[0];
  campaigns.file = null;
  $("bulk-file-info").textContent = "";
  if (!chosen) return;
  try {
    campaigns.file = await readCsv(chosen);
  } catch (error) {
    bulkRefused(`Cannot read ${chosen.name}: ${error.message || "it is not UTF-8 text"}.`);
    return;
  }
  const { name, rows, header } = campaigns.file;
  $("bulk-file-info").textContent = `${name}: ${rows.length} rows; columns ${header.join(", ") || "none"}`;
}

async function bulkSenders() {
  try {
    const list = await api("GET", "/v1/senders");
    const current = $("bulk-sender").value;
    $("bulk-sender").replaceChildren(...list.items.map((s) => el("option", { value: s.name, text: s.name })));
    if (current) $("bulk-sender").value = current;
    await bulkKind();
  } catch (error) {
    showError(error);
  }
}

async function bulkKind() {
  const template = new FormData($("bulk-form")).get("kind") === "template";
  $("bulk-text").hidden = template;
  $("bulk-template").hidden = !template;
  if (!template) return;
  const sender = $("bulk-sender").value;
  try {
    $("bulk-template-name").replaceChildren(...templateOptions(await approvedTemplates(campaigns.templates, sender)));
  } catch (error) {
    return bulkRefused(error.message);
  }
  bulkTemplate();
}

function chosenBulkTemplate() {
  const index = $("bulk-template-name").value;
  return index === "" ? null : campaigns.templates.get($("bulk-sender").value)[Number(index)];
}

function bulkTemplate() {
  campaigns.parts = templateParts(chosenBulkTemplate()); // inbox.js
  $("bulk-template-text").textContent = campaigns.parts.map((part) => part.text).join("\n");
  $("bulk-parameters").replaceChildren(...parameterInputs("bulk", campaigns.parts, { placeholder: "{column} or text" }));
}

function bulkPlan() {
  // What every row's message says, or the first thing wrong with the form.
  const form = new FormData($("bulk-form"));
  const campaign = String(form.get("campaign") || "").trim();
  const plan = { toColumn: String(form.get("to_column") || "").trim(), sender: form.get("sender"), campaign };
  if (!campaigns.file) return { problem: "Choose a CSV file first." };
  if (!plan.toColumn) return { problem: "Name the column that holds the phone numbers." };
  if (campaign.length > CAMPAIGN_CHARACTERS) {
    return { problem: `A campaign's name is at most ${CAMPAIGN_CHARACTERS} characters; this one has ${campaign.length}.` };
  }
  if (form.get("kind") !== "template") {
    plan.text = String(form.get("text") || "");
    if (!plan.text.trim()) return { problem: "Write the text to send." };
    return { ...plan, texts: [plan.text] };
  }
  const template = chosenBulkTemplate();
  if (!template) return { problem: "Choose a template." };
  plan.template = template;
  plan.parameters = (part, name) => String(form.get(`${part.type}:${name}`) || "");
  const texts = campaigns.parts.flatMap((part) => part.names.map((name) => plan.parameters(part, name)));
  return { ...plan, texts };
}

function bulkRefused(text, problems = []) {
  $("bulk-error").textContent = text;
  $("bulk-error").hidden = !text;
  $("bulk-problems").replaceChildren(
    ...problems.map(([row, problem]) => el("tr", {}, el("td", { text: String(row) }), el("td", { text: problem }))),
  );
  $("bulk-problems-table").hidden = !problems.length;
}

function progress(done, total) {
  $("bulk-progress").max = total;
  $("bulk-progress").value = done;
  $("bulk-progress-text").textContent = `${done} of ${total} rows sent to the queue`;
}

async function sendBulk(event) {
  event.preventDefault();
  if (campaigns.sending) return;
  bulkRefused("");
  $("bulk-result").textContent = "";
  const plan = bulkPlan();
  if (plan.problem) return bulkRefused(plan.problem);
  const file = campaigns.file;
  if (!file.rows.length) return bulkRefused(`${file.name} has no rows under its header: nothing to send.`);
  const problems = rowProblems(file.rows, plan.toColumn, plan.texts);
  if (problems.length) {
    return bulkRefused(`${file.name}: ${problems.length} problem(s). Fix the rows below first: nothing was sent.`, problems);
  }
  campaigns.sending = true;
  $("bulk-send").disabled = true;
  $("bulk-progress-box").hidden = false;
  progress(0, file.rows.length);
  const refused = [];
  let done = 0;
  try {
    for (let start = 0; start < file.rows.length; start += BATCH_SIZE) {
      const rows = file.rows.slice(start, start + BATCH_SIZE);
      const items = await Promise.all(rows.map((row) => batchItem(file, row, plan)));
      const answer = await api("POST", "/v1/messages/batch", { body: { messages: items } });
      for (const result of answer.results) {
        if (!result.id) refused.push([rows[result.index].number, `${result.error.code}: ${result.error.message}`]);
      }
      done += rows.length;
      progress(done, file.rows.length);
    }
  } catch (error) {
    // Nothing sent twice if the same file is sent again: each row keeps its first message.
    bulkRefused(
      `Stopped after ${done} of ${file.rows.length} rows: ${error.message}. Send the same file again to go on: ` +
        "rows already accepted keep their first message.",
    );
  } finally {
    campaigns.sending = false;
    $("bulk-send").disabled = false;
  }
  if (done < file.rows.length) return;
  $("bulk-result").textContent =
    `accepted ${done - refused.length}, refused ${refused.length}; reference bulk-${file.sha256.slice(0, 12)}`;
  if (refused.length) bulkRefused(`${refused.length} row(s) refused by the API:`, refused);
  if (plan.campaign) await openCampaign(plan.campaign);
}

// ---- a campaign's report -------------------------------------------------------------------

function recentCampaigns() {
  try {
    return JSON.parse(localStorage.getItem(RECENT_CAMPAIGNS) || "[]");
  } catch {
    return [];
  }
}

function remember(name) {
  const names = [name, ...recentCampaigns().filter((n) => n !== name)].slice(0, 20);
  localStorage.setItem(RECENT_CAMPAIGNS, JSON.stringify(names));
  $("campaign-names").replaceChildren(...names.map((n) => el("option", { value: n })));
}

async function openCampaign(name) {
  $("campaign-name").value = name;
  campaigns.shown = name;
  await refreshCampaign();
}

async function refreshCampaign() {
  const name = campaigns.shown;
  if (!name) return;
  const asked = ++campaigns.reportReads;
  let report;
  try {
    report = await api("GET", `/v1/campaigns/${encodeURIComponent(name)}`);
  } catch (error) {
    $("campaign-report").hidden = true;
    if (error instanceof ApiError && error.status === 404) notify(error.message, "error");
    else showError(error);
    return;
  }
  if (campaigns.shown !== name) return; // another campaign opened meanwhile
  if (asked < campaigns.reportPainted) return;
  campaigns.reportPainted = asked;
  remember(name);
  paintReport(report);
}

function paintReport(report) {
  $("campaign-title").textContent = report.campaign;
  $("campaign-summary").textContent = `${report.total} messages · ${report.replied} replied`;
  const bars = REPORTED.filter((status) => report.statuses[status]).map((status) => {
    const count = report.statuses[status];
    const fill = el("span", { class: `bar-fill ${status}` });
    fill.style.width = `${(100 * count) / report.total}%`; // CSSOM, not a style attribute: the CSP allows it
    return el(
      "li",
      { class: "bar", "data-status": status },
      el("span", { class: "bar-label", text: status }),
      el("span", { class: "bar-track", role: "img", "aria-label": `${status}: ${count} of ${report.total}` }, fill),
      el("span", { class: "bar-count", text: String(count) }),
    );
  });
  $("campaign-bars").replaceChildren(...bars);
  const failures = Object.entries(report.failed_by_code);
  $("campaign-failures").replaceChildren(...failures.map(([code, n]) => el("li", { text: `${code}: ${n}` })));
  $("campaign-failures-box").hidden = !failures.length;
  $("campaign-buttons").replaceChildren(
    ...report.buttons.map((b) => el("li", { "data-button": b.id, text: `${b.title || b.id}: ${b.count}` })),
  );
  $("campaign-buttons-box").hidden = !report.buttons.length;
  $("campaign-report").hidden = false;
}

function campaignHeard() {
  // A message moved: the report is read again, at most every REPORT_EVERY_MS.
  if (!campaigns.shown || campaigns.reportTimer) return;
  campaigns.reportTimer = setTimeout(() => {
    campaigns.reportTimer = null;
    refreshCampaign();
  }, REPORT_EVERY_MS);
}

function showCampaigns() {
  $("campaign-names").replaceChildren(...recentCampaigns().map((n) => el("option", { value: n })));
  bulkSenders();
  refreshCampaign();
}

document.addEventListener("DOMContentLoaded", () => {
  $("campaign-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("campaign-name").value.trim();
    if (name) openCampaign(name);
  });
  $("bulk-file").addEventListener("change", chooseFile);
  $("bulk-sender").addEventListener("change", bulkKind);
  for (const radio of document.querySelectorAll("#bulk-form [name=kind]")) radio.addEventListener("change", bulkKind);
  $("bulk-template-name").addEventListener("change", bulkTemplate);
  $("bulk-form").addEventListener("submit", sendBulk);
});
