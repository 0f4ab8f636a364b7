// The sandbox inspector: reads the JSON control API of the sandbox that serves this page.
// Plain DOM, no framework, no external file. Everything the sandbox sends is written with
// textContent, never parsed as HTML.
"use strict";

const API = location.pathname.replace(/\/+$/, ""); // "/_sandbox"
const KEEP = 5000; // journal entries kept in the page; older ones leave the window
const PAGE = 500; // entries asked for per request
const ROW = 24; // px, as in the stylesheet
const POLL_MS = 1000;

const $ = (id) => document.getElementById(id);
const state = {
  entries: [], // oldest first, at most KEEP
  lastSeq: 0,
  selected: null,
  token: sessionStorage.getItem("sandbox-control-token"),
  snapshot: null,
  tab: "journal",
  stateDirty: true,
  coverageDirty: true,
  driftDirty: true,
  operations: [],
};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, body) {
    const errors = (body && body.errors) || [];
    super(errors.map((e) => e.description).join(" ") || `HTTP ${status}`);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = {};
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : null;
  if (response.status === 401) {
    $("token-form").hidden = false;
    throw new ApiError(401, parsed);
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed.data;
}

function say(text, error) {
  const box = $("message");
  box.hidden = false;
  box.textContent = text;
  box.classList.toggle("error", Boolean(error));
}

// ---------------------------------------------------------------- journal

function flags(entry) {
  const out = [];
  if (entry.off_contract) out.push(["off-contract", "bad"]);
  if (entry.contract_violation) out.push(["contract violation", "bad"]);
  if (entry.fault) out.push([`fault=${entry.fault}`, ""]);
  const body = entry.response_body;
  if (body && body.errors && body.errors.some((e) => e.meta && e.meta.forced)) out.push(["forced", ""]);
  return out;
}

function matches(entry, needle, problemsOnly) {
  if (problemsOnly && !(entry.off_contract || entry.contract_violation || entry.fault)) return false;
  if (!needle) return true;
  const hay = `${entry.seq} ${entry.method} ${entry.path}?${entry.query} ${entry.operation_id || ""} ${entry.status === null ? "fault" : entry.status}`;
  return hay.toLowerCase().includes(needle);
}

let visible = []; // the filtered entries, what the list scrolls over

function refilter() {
  const needle = $("journal-filter").value.trim().toLowerCase();
  const problemsOnly = $("only-problems").checked;
  visible = state.entries.filter((e) => matches(e, needle, problemsOnly));
  $("journal-spacer").style.height = `${visible.length * ROW}px`;
  const first = state.entries.length ? state.entries[0].seq : 0;
  $("journal-window").textContent = state.entries.length
    ? `showing ${visible.length} of ${state.entries.length} calls kept here (seq ${first} to ${state.lastSeq})`
    : "no calls yet";
  $("journal-count").textContent = `(${state.lastSeq})`;
  if ($("follow").checked) {
    const viewport = $("journal-viewport");
    viewport.scrollTop = viewport.scrollHeight;
  }
  paintRows();
}

// Only the rows in view (and a few around them) exist in the DOM: thousands of entries
// cost a filter pass, not thousands of nodes.
function paintRows() {
  const viewport = $("journal-viewport");
  const spacer = $("journal-spacer");
  const from = Math.max(0, Math.floor(viewport.scrollTop / ROW) - 10);
  const to = Math.min(visible.length, from + Math.ceil(viewport.clientHeight / ROW) + 20);
  const rows = [];
  for (let i = from; i < to; i++) {
    const entry = visible[i];
    const statusClass = entry.status === null ? "fault" : `s${String(entry.status)[0]}`;
    const row = el(
      "div",
      { class: `row entry ${statusClass}${entry.seq === state.selected ? " selected" : ""}`, "data-seq": entry.seq },
      el("span", { class: "mono" }, entry.seq),
      el("span", { class: "mono" }, entry.method),
      el("span", { class: "mono", title: entry.path }, entry.path + (entry.query ? `?${entry.query}` : "")),
      el("span", { title: entry.operation_id || "" }, entry.operation_id || "(no operation)"),
      el("span", { class: "status mono" }, entry.status === null ? "—" : entry.status),
      el("span", {}, ...flags(entry).map(([text, kind]) => el("span", { class: `flag ${kind}` }, text))),
    );
    row.style.top = `${i * ROW}px`;
    rows.push(row);
  }
  spacer.replaceChildren(...rows);
}

function json(value) {
  if (value === null || value === undefined) return el("pre", {}, "(none)");
  if (typeof value === "string") {
    // A body the sandbox could not decode against the contract is kept as its text.
    try {
      return el("pre", {}, JSON.stringify(JSON.parse(value), null, 2));
    } catch {
      return el("pre", {}, value);
    }
  }
  return el("pre", {}, JSON.stringify(value, null, 2));
}

function showEntry(seq) {
  const entry = state.entries.find((e) => e.seq === seq);
  if (!entry) return;
  state.selected = seq;
  paintRows();
  const detail = $("entry-detail");
  const errors = (entry.response_body && entry.response_body.errors) || [];
  const parts = [
    el("h2", {}, `#${entry.seq} ${entry.method} ${entry.path}${entry.query ? "?" + entry.query : ""}`),
    el(
      "p",
      {},
      "operation ",
      el("code", {}, entry.operation_id || "(none)"),
      " · status ",
      el("strong", { class: "detail-status" }, entry.status === null ? "none (connection fault)" : entry.status),
      entry.business_id ? " · business " : "",
      entry.business_id ? el("code", {}, entry.business_id) : "",
    ),
    el("p", {}, ...flags(entry).map(([text, kind]) => el("span", { class: `flag ${kind}` }, text))),
  ];
  // What `mockserver proxy` found wrong with the request or the upstream's answer (the
  // answer itself is the upstream's, passed on unchanged).
  const violations = entry.violations || [];
  if (violations.length) {
    parts.push(el("h2", {}, "Violations"));
    parts.push(
      el(
        "ul",
        { class: "errors" },
        ...violations.map((v) =>
          el(
            "li",
            { class: "violation" },
            el("span", { class: v.in === "response" ? "flag bad" : "flag" }, v.in),
            el("code", {}, v.location),
            el("code", { class: "pointer" }, ` ${v.pointer || "(root)"}`),
            v.keyword ? el("span", { class: "muted" }, ` [${v.keyword}] `) : " ",
            v.message,
          ),
        ),
      ),
    );
  }
  if (errors.length) {
    parts.push(el("h2", {}, entry.contract_violation && !violations.length ? "Contract violations" : "Errors"));
    parts.push(
      el(
        "ul",
        { class: "errors" },
        ...errors.map((error) => {
          const meta = error.meta || {};
          return el(
            "li",
            { class: "violation" },
            meta.location ? el("code", {}, meta.location) : "",
            meta.pointer !== undefined ? el("code", { class: "pointer" }, ` ${meta.pointer || "(root)"}`) : "",
            meta.keyword ? el("span", { class: "muted" }, ` [${meta.keyword}] `) : " ",
            error.description,
          );
        }),
      ),
    );
  }
  parts.push(el("h2", {}, "Request body"), json(entry.request_body));
  parts.push(el("h2", {}, "Response body"), json(entry.response_body));
  detail.replaceChildren(...parts);
}

async function pollJournal() {
  const health = await api("GET", "/health");
  $("served").textContent = `${health.document.title} ${health.document.version} · sandbox ${health.version} · ${health.businesses} businesses`;
  if (health.journal.last_seq < state.lastSeq) {
    // The sandbox restarted: its sequence began again.
    state.entries = [];
    state.lastSeq = 0;
    state.driftDirty = true;
  }
  if (state.lastSeq === 0 && health.journal.last_seq > KEEP) state.lastSeq = health.journal.last_seq - KEEP;
  let added = 0;
  for (;;) {
    const page = await api("GET", `/journal?after_seq=${state.lastSeq}&limit=${PAGE}`);
    if (page.length) {
      state.entries.push(...page);
      state.lastSeq = page[page.length - 1].seq;
      added += page.length;
    }
    if (page.length < PAGE) break;
  }
  if (health.journal.last_seq > state.lastSeq) state.lastSeq = health.journal.last_seq; // cleared
  if (state.entries.length > KEEP) state.entries.splice(0, state.entries.length - KEEP);
  if (added || !visible.length) refilter();
  if (added) {
    state.stateDirty = true;
    state.coverageDirty = true;
    state.driftDirty = true;
  }
}

// ---------------------------------------------------------------- state

const PREFERRED = ["id", "legal_name", "company_name", "individual_name", "name", "external_id", "invoice_number", "bill_number", "stable_name", "status", "total_amount", "outstanding_balance", "amount", "memo", "deleted_at"];

function columns(records) {
  const seen = new Set();
  for (const record of records.slice(0, 50)) {
    for (const [key, value] of Object.entries(record)) {
      if (value === null || typeof value !== "object") seen.add(key);
    }
  }
  seen.delete("business_id");
  const ordered = PREFERRED.filter((key) => seen.has(key));
  for (const key of seen) if (!ordered.includes(key)) ordered.push(key);
  return ordered.slice(0, 9);
}

function creditTotal(record) {
  return (record.line_items || []).reduce((sum, item) => sum + (item.amount || 0), 0);
}

async function loadState() {
  const view = await api("GET", "/state");
  state.stateDirty = false;
  const select = $("business");
  const chosen = select.value;
  select.replaceChildren(
    ...view.businesses.map((b) => el("option", { value: b.id }, `${b.legal_name || b.id}`)),
  );
  if (chosen && view.businesses.some((b) => b.id === chosen)) select.value = chosen;
  const business = select.value;
  // Records without a business_id (credits, in the API's shape) belong to the business of
  // the record they name (their customer or vendor).
  // Layer's collections, then the records of resources inferred from any document.
  const collections = Object.entries(view).filter(([, records]) => Array.isArray(records));
  for (const [name, records] of Object.entries(view.resources || {})) collections.push([name, records]);
  const owner = new Map();
  for (const [, records] of collections) {
    for (const r of records) if (r.business_id) owner.set(r.id, r.business_id);
  }
  const businessOf = (r) => {
    if (r.business_id) return r.business_id;
    for (const value of Object.values(r)) {
      if (value && typeof value === "object" && owner.has(value.id)) return owner.get(value.id);
    }
    return undefined;
  };
  const sections = [];
  for (const [collection, records] of collections) {
    if (collection === "businesses") continue;
    const mine = records.filter((r) => {
      const of = businessOf(r);
      return of === undefined || of === business;
    });
    const cols = columns(mine);
    const isCredit = mine.some((r) => Array.isArray(r.line_items));
    if (isCredit) cols.splice(1, 0, "credit total");
    const table = el(
      "table",
      { class: "grid", "data-collection": collection },
      el("thead", {}, el("tr", {}, ...cols.map((c) => el("th", {}, c)))),
      el(
        "tbody",
        {},
        ...mine.slice(0, 500).map((record) =>
          el(
            "tr",
            { class: record.deleted_at ? "deleted" : "" },
            ...cols.map((c) => {
              const value = c === "credit total" ? creditTotal(record) : record[c];
              return el("td", { class: typeof value === "number" ? "num" : "" }, value === null || value === undefined ? "" : value);
            }),
          ),
        ),
      ),
    );
    sections.push(el("h2", {}, `${collection} `, el("span", { class: "count" }, `(${mine.length})`)), table);
  }
  $("state-body").replaceChildren(...sections);
  $("state-stamp").textContent = `as of ${new Date().toLocaleTimeString()}`;
}

// ---------------------------------------------------------------- coverage

async function loadCoverage() {
  const report = await api("GET", "/coverage");
  state.coverageDirty = false;
  const { operations, responses } = report.summary;
  $("coverage-summary").textContent = `operations exercised ${operations.exercised}/${operations.total} · documented responses exercised ${responses.exercised}/${responses.total}`;
  $("coverage-count").textContent = `(${operations.exercised}/${operations.total})`;
  const rows = Object.entries(report.operations).map(([id, op]) =>
    el(
      "tr",
      { "data-operation": id },
      el("td", {}, el("code", {}, id)),
      el("td", {}, op.method),
      el("td", { class: "mono" }, op.path),
      el("td", { class: "num" }, op.calls),
      el(
        "td",
        {},
        ...Object.entries(op.responses).map(([status, n]) =>
          el("span", { class: n ? "chip hit" : "chip", title: n ? `${n} call(s)` : "never exercised", "data-status": status }, n ? `${status} ×${n}` : status),
        ),
        ...Object.entries(op.undocumented_responses).map(([status, n]) =>
          el("span", { class: "chip", title: "not documented" }, `${status}? ×${n}`),
        ),
      ),
    ),
  );
  $("coverage-table").tBodies[0].replaceChildren(...rows);
  const ops = Object.keys(report.operations);
  if (ops.join() !== state.operations.join()) {
    state.operations = ops;
    $("fault-operation").replaceChildren(
      el("option", { value: "*" }, "* (every operation)"),
      ...ops.map((id) => el("option", { value: id }, id)),
    );
  }
}

// ---------------------------------------------------------------- drift

async function loadDrift() {
  const report = await api("GET", "/drift");
  state.driftDirty = false;
  const { calls, calls_with_violations: withViolations, violations, groups } = report.summary;
  $("drift-count").textContent = `(${violations})`;
  $("drift-summary").textContent = report.groups.length
    ? `drift: ${violations} violation(s) in ${groups} group(s), from ${withViolations} of ${calls} journaled call(s)`
    : `no drift: ${calls} journaled call(s), no violation`;
  $("drift-table").hidden = !report.groups.length;
  const rows = report.groups.map((group) =>
    el(
      "tr",
      { class: "drift-group", "data-operation": group.operation_id || "", "data-side": group.in },
      el("td", { class: "num" }, group.count),
      el("td", {}, el("span", { class: group.in === "response" ? "flag bad" : "flag" }, group.in)),
      el("td", {}, el("code", {}, group.operation_id || "(no operation)")),
      el("td", {}, group.status === null ? "—" : group.status),
      el("td", {}, group.location),
      el("td", {}, el("code", { class: "pointer" }, group.pointer || "(root)")),
      el("td", { class: "muted" }, group.keywords.join(", ")),
      el("td", { class: "drift-message" }, group.first.message),
      el(
        "td",
        {},
        el(
          "button",
          { class: "link first", "data-seq": group.first.seq, title: "show this call in the journal" },
          `#${group.first.seq} ${group.first.method} ${group.first.path}`,
        ),
      ),
    ),
  );
  $("drift-table").tBodies[0].replaceChildren(...rows);
}

// The journal entry a drift group names, selected in the journal (when the page still keeps it).
function openEntry(seq) {
  if (!state.entries.some((e) => e.seq === seq)) {
    say(`Call #${seq} is not among the calls this page keeps (see the journal window).`, true);
    return;
  }
  showTab("journal");
  showEntry(seq);
  const index = visible.findIndex((e) => e.seq === seq);
  if (index >= 0) {
    $("follow").checked = false;
    const viewport = $("journal-viewport");
    viewport.scrollTop = Math.max(0, index * ROW - viewport.clientHeight / 2);
  }
  $("entry-detail").focus();
}

// ---------------------------------------------------------------- controls

async function loadControls() {
  const clock = await api("GET", "/clock");
  $("clock-now").textContent = clock.now;
  $("clock-frozen").textContent = clock.frozen ? "frozen" : "running";
  const rules = await api("GET", "/faults");
  $("fault-list").replaceChildren(
    ...rules.map((rule) => el("li", {}, el("code", {}, JSON.stringify(rule)))),
  );
  if (!rules.length) $("fault-list").replaceChildren(el("li", { class: "muted" }, "no fault rules"));
  if (!state.operations.length) await loadCoverage();
}

async function act(label, action) {
  try {
    const result = await action();
    say(`${label}: done${result ? ` (${result})` : ""}`);
    state.stateDirty = true;
    await refreshTab();
  } catch (error) {
    say(`${label} failed: ${error.message}`, true);
  }
}

function bindControls() {
  $("do-reset").onclick = () => act("Reset", () => api("POST", "/reset").then(() => ""));
  $("do-snapshot").onclick = () =>
    act("Snapshot", async () => {
      state.snapshot = await api("GET", "/snapshot");
      const text = JSON.stringify(state.snapshot);
      $("snapshot-info").textContent = `Snapshot taken at ${new Date().toLocaleTimeString()} (${text.length} bytes).`;
      $("do-restore").disabled = false;
      const link = $("snapshot-download");
      link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
      link.hidden = false;
      return "";
    });
  $("do-restore").onclick = () => act("Restore", () => api("POST", "/restore", state.snapshot).then(() => ""));
  $("restore-file").onchange = (event) => {
    const file = event.target.files[0];
    if (!file) return;
    act("Restore from file", async () => {
      const parsed = JSON.parse(await file.text());
      await api("POST", "/restore", parsed.data || parsed); // a saved response or its data
      return file.name;
    });
  };
  $("do-freeze").onclick = () =>
    act("Freeze", () => {
      const at = $("freeze-at").value.trim();
      return api("POST", "/clock", at ? { action: "freeze", at } : { action: "freeze" }).then((c) => c.now);
    });
  $("do-advance").onclick = () =>
    act("Advance", () =>
      api("POST", "/clock", { action: "advance", seconds: Number($("advance-seconds").value) }).then((c) => c.now),
    );
  $("do-real").onclick = () => act("Real time", () => api("POST", "/clock", { action: "real" }).then((c) => c.now));
  $("do-fault").onclick = () =>
    act("Add fault", () =>
      api("POST", "/faults", {
        operation_id: $("fault-operation").value,
        fail_next: Number($("fault-times").value),
        status: Number($("fault-status").value),
      }).then((rule) => rule.operation_id),
    );
  $("do-clear-faults").onclick = () => act("Clear faults", () => api("DELETE", "/faults").then((d) => `${d.cleared} cleared`));
  $("do-clear-journal").onclick = () =>
    act("Clear journal", async () => {
      const done = await api("DELETE", "/journal");
      state.entries = [];
      state.selected = null;
      state.driftDirty = true;
      refilter();
      return `${done.cleared} cleared`;
    });
}

// ---------------------------------------------------------------- wiring

async function refreshTab() {
  if (state.tab === "state" && state.stateDirty) await loadState();
  if (state.tab === "coverage" && state.coverageDirty) await loadCoverage();
  if (state.tab === "drift" && state.driftDirty) await loadDrift();
  if (state.tab === "controls") await loadControls();
}

function showTab(name) {
  state.tab = name;
  for (const button of document.querySelectorAll("#tabs button")) {
    button.classList.toggle("active", button.dataset.tab === name);
  }
  for (const section of document.querySelectorAll("section.tab")) section.hidden = section.id !== name;
  if (name === "journal") paintRows();
  refreshTab().catch((error) => say(error.message, true));
}

async function tick() {
  if (!$("pause").checked) {
    try {
      await pollJournal();
      if (state.tab !== "controls") await refreshTab();
      $("connection").textContent = "live";
      $("connection").className = "badge ok";
    } catch (error) {
      $("connection").textContent = error.status === 401 ? "needs token" : "disconnected";
      $("connection").className = "badge bad";
    }
  }
  setTimeout(tick, POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("#tabs button")) {
    button.onclick = () => showTab(button.dataset.tab);
  }
  $("journal-viewport").addEventListener("scroll", () => {
    const viewport = $("journal-viewport");
    $("follow").checked = viewport.scrollTop + viewport.clientHeight >= viewport.scrollHeight - ROW;
    paintRows();
  });
  $("journal-spacer").addEventListener("click", (event) => {
    const row = event.target.closest(".row.entry");
    if (row) showEntry(Number(row.dataset.seq));
  });
  $("journal-filter").addEventListener("input", refilter);
  $("only-problems").addEventListener("change", refilter);
  $("business").addEventListener("change", () => loadState());
  $("state-refresh").onclick = () => loadState().catch((e) => say(e.message, true));
  $("coverage-refresh").onclick = () => loadCoverage().catch((e) => say(e.message, true));
  $("drift-refresh").onclick = () => loadDrift().catch((e) => say(e.message, true));
  $("drift-table").addEventListener("click", (event) => {
    const button = event.target.closest("button.first");
    if (button) openEntry(Number(button.dataset.seq));
  });
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value;
    sessionStorage.setItem("sandbox-control-token", state.token);
    $("token-form").hidden = true;
  });
  bindControls();
  tick();
});
