// karajan dashboard: live updates over Server-Sent Events, actions over the JSON API.
// No framework, no build step. The server renders every page; this script only swaps
// the page's live region (#live) with a fresh rendering when something happens.
//
// When the live feed drops (the daemon stopped, the network went away) the page says
// so: a banner, frozen timers, disabled actions; it reconnects by itself and fetches
// the page state again when the feed is back. Open <details> (a prompt, stderr, a raw
// event) stay open across re-renders.
(() => {
  "use strict";
  const live = document.getElementById("live");
  const conn = document.getElementById("conn");
  const flash = document.getElementById("flash");
  const staleBanner = document.getElementById("stale");
  const ticketEl = document.getElementById("ticket");
  const thisTicket = ticketEl ? ticketEl.dataset.ticket : null;
  let timer = null;
  let stale = false;

  // Do not pull the page from under someone typing rework feedback or mid-click.
  let pressing = 0;
  document.addEventListener("pointerdown", () => { pressing = Date.now(); }, true);
  const busy = () => {
    const a = document.activeElement;
    return (a && a.tagName === "TEXTAREA") || live.querySelector("details.rework[open]")
      || Date.now() - pressing < 400;
  };

  // Actions are disabled while the page is stale (and after every re-render then).
  function applyStale() {
    document.body.classList.toggle("is-stale", stale);
    if (staleBanner) staleBanner.hidden = !stale;
    for (const el of live.querySelectorAll("button[data-action], textarea")) {
      el.disabled = stale;
    }
    for (const el of document.querySelectorAll("button[data-action]")) el.disabled = stale;
  }

  // The open/closed state of every <details id> in the live region, to restore it.
  function detailsState() {
    const m = new Map();
    for (const d of live.querySelectorAll("details[id]")) m.set(d.id, d.open);
    return m;
  }
  function restoreDetails(m) {
    for (const d of live.querySelectorAll("details[id]")) {
      if (m.has(d.id)) d.open = m.get(d.id);
    }
  }
  // Scroll positions of the scrolling panes (logs, prompt), by their position.
  function scrolls() {
    return [...live.querySelectorAll("pre.scroll")].map((p) => p.scrollTop);
  }

  async function reload() {
    timer = null;
    if (busy()) { schedule(1500); return; }
    try {
      const res = await fetch(location.pathname + location.search, { cache: "no-store", credentials: "same-origin" });
      if (!res.ok && res.status !== 404) return;
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      const fresh = doc.getElementById("live");
      if (fresh) {
        const open = detailsState(), tops = scrolls();
        live.replaceChildren(...fresh.childNodes);
        restoreDetails(open);
        live.querySelectorAll("pre.scroll").forEach((p, i) => { if (tops[i]) p.scrollTop = tops[i]; });
        document.title = doc.title;
        applyStale();
        tick();
      }
    } catch (_) { /* the feed's state decides about staleness */ }
  }
  const schedule = (ms) => { if (!timer) timer = setTimeout(reload, ms === undefined ? 200 : ms); };

  const human = (s) => {
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (h) return `${h}h ${String(m).padStart(2, "0")}m`;
    if (m) return `${m}m ${String(r).padStart(2, "0")}s`;
    return `${r}s`;
  };
  function tick() {
    if (stale) return;
    const now = Date.now();
    for (const el of document.querySelectorAll("[data-since]")) {
      const t = Date.parse(el.dataset.since);
      if (!isNaN(t)) el.textContent = human((now - t) / 1000);
    }
    for (const el of document.querySelectorAll("[data-until]")) {
      const t = Date.parse(el.dataset.until);
      if (!isNaN(t)) el.textContent = human((t - now) / 1000);
    }
  }
  let ticker = setInterval(tick, 1000);

  function say(text, ok) {
    flash.textContent = text;
    flash.className = ok ? "ok" : "error";
    clearTimeout(say.t);
    say.t = setTimeout(() => { flash.textContent = ""; flash.className = ""; }, 6000);
  }

  function goStale() {
    if (stale) return;
    stale = true;
    clearInterval(ticker);
    ticker = null;
    conn.classList.remove("on");
    conn.textContent = "● offline";
    conn.title = "live updates: disconnected, reconnecting";
    applyStale();
  }
  function goLive() {
    const was = stale;
    stale = false;
    conn.classList.add("on");
    conn.textContent = "● live";
    conn.title = "live updates: connected";
    if (!ticker) ticker = setInterval(tick, 1000);
    applyStale();
    // Whatever happened while the feed was down is only in a fresh rendering.
    if (was) { timer = null; reload(); }
  }

  // Live feed: recorded events re-render the page; agent activity patches its row.
  const KINDS = ["transition", "held", "resumed", "escalated", "run_started", "run_spawned",
    "run_finished", "run_orphaned", "intent_completed", "intent_failed", "config_applied",
    "config_rejected", "workspace_created", "workspace_removed", "tracker_error",
    "daemon_started", "daemon_stopped", "lagged", "hello", "budget_decision", "hook_ran",
    "recovered", "runner_paused", "runner_resumed", "chain_verified",
    // A new read model was published: what a rendering shows. It follows the events it
    // includes; a rendering fetched between an event and that publish is stale until it.
    "view"];
  const usd = (v) => (v == null ? "—" : `$${(v + 0).toFixed(4)}`);
  let es = null, retry = null, heard = Date.now();
  function connect() {
    retry = null;
    heard = Date.now();
    es = new EventSource("/api/v1/events");
    es.onopen = () => { heard = Date.now(); goLive(); };
    es.addEventListener("ping", () => { heard = Date.now(); });
    es.onerror = () => {
      goStale();
      // The browser retries a dropped stream by itself, but not one refused (the
      // daemon answering an error, or not at all on some browsers): then we do.
      if (es.readyState === EventSource.CLOSED && !retry) {
        es.close();
        retry = setTimeout(connect, 2000);
      }
    };
    for (const k of KINDS) es.addEventListener(k, () => { heard = Date.now(); schedule(); });
    es.addEventListener("activity", (m) => {
      heard = Date.now();
      let ev;
      try { ev = JSON.parse(m.data); } catch (_) { return; }
      const d = ev.data || {};
      const row = document.querySelector(`tr[data-run="${CSS.escape(d.run_id || "")}"]`);
      if (!row) {
        // The ticket page re-renders for its own ticket only, at most once a second.
        if (!thisTicket || ev.identifier === thisTicket) schedule(thisTicket ? 1000 : 200);
        return;
      }
      const set = (sel, v) => { const el = row.querySelector(sel); if (el && v != null) el.textContent = v; };
      set(".last-event", d.last_event);
      set(".last-message", d.last_message);
      set(".turns", d.turns);
      if (d.tokens) set(".tokens", `${d.tokens.input} / ${d.tokens.output}`);
      if ("cost_usd" in d) set(".cost", usd(d.cost_usd));
    });
  }
  connect();
  // The server sends at least a `ping` every 15 s: a stream silent for 40 s is dead even
  // if it never closed (a dropped network path). Start over.
  setInterval(() => {
    if (es && es.readyState === EventSource.OPEN && Date.now() - heard > 40000) {
      es.close();
      goStale();
      if (!retry) retry = setTimeout(connect, 1000);
    }
  }, 5000);

  // Actions: Approve, Rework (with feedback), Pause/Resume, Poll now, Verify now.
  document.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-action]");
    if (!b) return;
    ev.preventDefault();
    if (stale) { say("karajan is not reachable: this page is stale.", false); return; }
    const action = b.dataset.action, id = b.dataset.id;
    let url, body = {};
    if (action === "approve" || action === "rework") {
      url = `/api/v1/issues/${encodeURIComponent(id)}/${action}`;
      if (action === "rework") {
        const ta = b.closest("details").querySelector("textarea");
        body.feedback = ta.value.trim();
        if (!body.feedback) { say("Rework needs feedback for the agent.", false); ta.focus(); return; }
      }
    } else if (action === "pause" || action === "resume") {
      url = `/api/v1/dispatch/${action}`;
    } else if (action === "refresh") {
      url = "/api/v1/refresh";
    } else if (action === "verify") {
      url = "/api/v1/verify";
      say("verifying the chain…", true);
    } else return;
    b.disabled = true;
    try {
      const res = await fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" }, body: JSON.stringify(body),
      });
      const j = await res.json().catch(() => ({}));
      if (res.ok && action === "verify") {
        say(j.running ? "the chain is long: verification goes on, its result will show here"
          : j.ok ? `chain intact: ${j.events} events verified`
          : `chain BROKEN: ${j.breaks} break(s), the first at seq ${j.first_break.seq}`, !!(j.running || j.ok));
      } else if (res.ok) {
        const what = { approve: "approved", rework: "sent back", pause: "dispatch paused",
          resume: "dispatch resumed", refresh: j.coalesced ? "a poll was already queued" : "poll queued" }[action];
        say(id ? `${id}: ${what}${j.to ? ` → ${j.to}` : ""}${j.escalated ? " (escalated: rework limit)" : ""}` : what, true);
        const d = b.closest("details"); if (d) d.open = false;
        if (document.activeElement) document.activeElement.blur();
      } else {
        say((j.error && j.error.message) || `${res.status} ${res.statusText}`, false);
      }
    } catch (e) {
      say(`request failed: ${e}`, false);
    } finally {
      b.disabled = stale;
      schedule(50);
    }
  });
  tick();
})();
