// deploybot dashboard: relative times, confirmations, token sign-in from the link
// `deploybot serve` prints, and a running deployment followed live (server-sent events).
"use strict";

function relative(iso) {
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  const future = seconds < 0;
  const s = Math.abs(seconds);
  let text;
  if (s < 45) return "just now";
  if (s < 3600) text = Math.round(s / 60) + " min";
  else if (s < 86400) text = Math.round(s / 3600) + " h";
  else { const d = Math.round(s / 86400); text = d + (d === 1 ? " day" : " days"); }
  return future ? "in " + text : text + " ago";
}

function since(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? "running " + s + " s" : "running " + Math.floor(s / 60) + " m " +
    String(s % 60).padStart(2, "0") + " s";
}

function refreshTimes(root) {
  (root || document).querySelectorAll("[data-rel]").forEach((el) => {
    el.textContent = relative(el.dataset.rel);
  });
  (root || document).querySelectorAll("[data-since]").forEach((el) => {
    el.textContent = since(el.dataset.since);
  });
}

function confirmForms() {
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
}

function tokenFromLink() {
  // `deploybot serve` prints …/login#token=…: the fragment never reaches a server log.
  const match = window.location.hash.match(/^#token=([A-Za-z0-9_-]+)$/);
  const form = document.getElementById("token-form");
  if (!match || !form) return;
  history.replaceState(null, "", window.location.pathname + window.location.search);
  form.querySelector("input[name=token]").value = match[1];
  form.submit();
}

function stepElement(name, position) {
  let el = document.getElementById("step-" + name);
  if (el) return el;
  const none = document.getElementById("no-steps");
  if (none) none.remove();
  el = document.createElement("details");
  el.id = "step-" + name;
  el.className = "step";
  el.dataset.step = name;
  el.dataset.position = position;
  const head = document.createElement("summary");
  head.className = "step-head";
  head.id = "head-" + name;
  const log = document.createElement("pre");
  log.className = "log";
  log.id = "log-" + name;
  el.append(head, log);
  const steps = document.getElementById("steps");
  const after = Array.from(steps.children).find((c) => Number(c.dataset.position) > position);
  steps.insertBefore(el, after || null);
  return el;
}

const STATUS_CLASS = {
  succeeded: "ok", up_to_date: "ok", planned: "info", running: "run", queued: "wait",
  pending: "wait", failed: "bad", rolled_back: "undone", rollback_failed: "fatal",
  cancelled: "muted", skipped: "muted",
};

function showStep(data) {
  const el = stepElement(data.name, data.position);
  el.className = "step st-" + (STATUS_CLASS[data.status] || "muted");
  el.querySelector(".step-head").innerHTML = data.head;  // rendered (escaped) by the server
  if (data.status === "running" || data.status === "failed") el.open = true;
  refreshTimes(el);
}

function appendOutput(name, text) {
  const log = document.getElementById("log-" + name);
  if (!log) return;
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  log.append(document.createTextNode(text));
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function follow(url) {
  const source = new EventSource(url);
  source.addEventListener("reset", (e) => {
    const data = JSON.parse(e.data);
    document.getElementById("dep-head").innerHTML = data.head;
    data.steps.forEach((s) => {
      showStep(s);
      const log = document.getElementById("log-" + s.name);
      log.textContent = s.output;
    });
    refreshTimes();
  });
  source.addEventListener("step", (e) => showStep(JSON.parse(e.data)));
  source.addEventListener("output", (e) => {
    const data = JSON.parse(e.data);
    appendOutput(data.name, data.text);
  });
  source.addEventListener("deployment", (e) => {
    document.getElementById("dep-head").innerHTML = JSON.parse(e.data).head;
    refreshTimes();
  });
  source.addEventListener("end", (e) => {
    source.close();
    const status = JSON.parse(e.data).status;
    document.body.dataset.finished = status;
    const note = document.getElementById("live-note");
    if (note) note.textContent = "finished: " + status.replace(/_/g, " ");
    document.querySelectorAll("form[data-show-when]").forEach((form) => {
      form.hidden = form.dataset.showWhen !== status;
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  tokenFromLink();
  confirmForms();
  refreshTimes();
  window.setInterval(() => refreshTimes(), 1000);
  if (document.body.dataset.stream) follow(document.body.dataset.stream);
});
