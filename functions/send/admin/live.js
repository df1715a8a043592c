// The dashboard's live updates: the stack's WebSocket (a token from POST /v1/live), each table
// change applied as it comes; polling (admin.js's tick) only while the socket is down.
// Loaded after admin.js, whose helpers and state it uses.
"use strict";

// A dropped socket is opened again after these waits, the last one repeated.
const LIVE_RETRY_MS = [1000, 2000, 5000, 10000, 30000];
// API Gateway closes a WebSocket idle for 10 minutes.
const LIVE_KEEPALIVE_MS = 5 * 60 * 1000;
// A phase that arrives with the next one behind it still shows this long.
const PHASE_MIN_MS = 600;

// ---- live updates: a WebSocket, with polling only while it is down ---------------------------

async function connectLive() {
  const live = state.live;
  if (!apiKey() || live.socket) return;
  clearTimeout(live.retry);
  let grant;
  try {
    grant = await api("POST", "/v1/live");
  } catch (error) {
    liveDown(error.status === 503 ? "this stack has no live updates" : `no token (${error.message})`);
    return;
  }
  const url = new URL(grant.url);
  url.searchParams.set("token", grant.token);
  const socket = new WebSocket(url);
  live.socket = socket;
  socket.addEventListener("open", () => {
    live.open = true;
    live.tries = 0;
    live.keepalive = setInterval(() => socket.send('{"action":"ping"}'), LIVE_KEEPALIVE_MS);
    paintLive();
    catchUp(); // what changed while the socket was down
  });
  socket.addEventListener("message", (frame) => {
    let told;
    try {
      told = JSON.parse(frame.data);
    } catch {
      return;
    }
    for (const event of told.events || []) applyLive(event);
  });
  socket.addEventListener("close", () => {
    clearInterval(live.keepalive);
    if (live.socket === socket) {
      live.socket = null;
      live.open = false;
      liveDown("reconnecting");
    }
  });
}

function liveDown(why) {
  const live = state.live;
  live.why = why;
  paintLive();
  if (!apiKey()) return;
  const wait = LIVE_RETRY_MS[Math.min(live.tries, LIVE_RETRY_MS.length - 1)];
  live.tries += 1;
  clearTimeout(live.retry);
  live.retry = setTimeout(connectLive, wait);
}

function disconnectLive() {
  const live = state.live;
  clearTimeout(live.retry);
  clearInterval(live.keepalive);
  const socket = live.socket;
  live.socket = null;
  live.open = false;
  if (socket) socket.close();
  paintLive();
}

function paintLive() {
  const status = $("live-status");
  status.hidden = !apiKey();
  status.dataset.live = state.live.open ? "on" : "off";
  status.textContent = state.live.open
    ? "● Live"
    : `Live updates off (${state.live.why || "connecting"}): refreshing every ${QUEUE_EVERY_MS / 1000} s`;
}

function catchUp() {
  refreshView();
  if (state.view === "senders") refreshSenders();
}

function soon(name, refresh) {
  // A burst of events asks once: the refresh runs when the burst has passed.
  clearTimeout(state.soon.get(name));
  state.soon.set(name, setTimeout(refresh, 150));
}

function applyLive(event) {
  if (event.type === "message") {
    if (state.view === "inbox") inboxHeard(event); // an answer's status in the open conversation
    if (state.view === "campaigns") campaignHeard(); // campaigns.js
    // One message's events in order, a live phase shown a moment before the next replaces it.
    const queued = state.phaseQueues.get(event.id);
    if (queued) queued.push(event);
    else {
      state.phaseQueues.set(event.id, [event]);
      showPhases(event.id);
    }
  } else if (event.type === "reservation") {
    if (state.view === "reservations") soon("reservations", refreshReservations);
  } else if (event.type === "sender") {
    if (state.view === "senders") soon("senders", refreshSenders);
  } else if (event.type === "conversation" && state.view === "inbox") {
    inboxHeard(event); // inbox.js
  } else if (event.type === "conversation" && event.last_message?.direction === "in") {
    const who = event.name || event.contact;
    notify(`New message from ${who} to ${event.sender}: ${event.last_message.preview || ""}`);
  }
}

async function showPhases(id) {
  const queue = state.phaseQueues.get(id);
  const event = queue[0];
  const rowOf = () => $("queue").querySelector(`li[data-id="${CSS.escape(id)}"]`);
  state.liveEvents.set(id, { phase: event.phase, at: event.at, detail: event.detail });
  newestOf({ id, status: event.status, revision: event.revision });
  if (!rowOf() && state.view === "queue" && event.status !== "failed") {
    // A message new to the page: its row first, so that none of its phases goes unseen.
    await refreshQueue();
  }
  const row = rowOf();
  const shown = state.rows.get(id);
  if (row && shown && event.status !== "failed") {
    paintRow(row, { ...shown, status: event.status, revision: event.revision }, { live: true });
  }
  else if (row) soon("queue", () => refreshQueue()); // a failure: its error is read from the API
  if (state.drawerId === id) soon("drawer", refreshDrawer);
  const hold = LIVE_PHASES.includes(event.phase) && queue.length > 1 ? PHASE_MIN_MS : 0;
  setTimeout(() => {
    queue.shift();
    if (queue.length) showPhases(id);
    else state.phaseQueues.delete(id);
  }, hold);
}
