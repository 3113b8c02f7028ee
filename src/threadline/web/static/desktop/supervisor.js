/* The supervisor's live view: per-queue figures and agents by presence. Figures are fetched
 * again on every `queue.changed` / `agent.presence` frame (debounced) and every 5 s; the
 * longest-wait clocks tick locally in between. */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const REFRESH_MS = 5000;
  const DEBOUNCE_MS = 250;

  window.Alpine.data("supervisor", (me) => ({
    me,
    conn: "connecting",
    queues: [],
    agents: [],
    fetchedAt: 0,
    updatedAt: 0,
    now: Date.now(),
    error: "",
    presences: T.PRESENCES,
    _timer: null,

    init() {
      this.refresh();
      setInterval(() => { this.now = Date.now(); }, 1000);
      setInterval(() => this.refresh(), REFRESH_MS);
      T.connectStream({
        onState: (state) => { this.conn = state; },
        onReady: () => this.refresh(),
        onFrame: (frame) => {
          if (frame.type === "queue.changed" || frame.type === "agent.presence") this.soon();
        },
      });
    },

    soon() {
      clearTimeout(this._timer);
      this._timer = setTimeout(() => this.refresh(), DEBOUNCE_MS);
    },

    async refresh() {
      try {
        const [queues, agents] = await Promise.all([
          T.api("GET", "/api/v1/queues/stats"),
          T.api("GET", "/api/v1/agents"),
        ]);
        this.queues = queues;
        this.agents = agents;
        this.fetchedAt = this.updatedAt = Date.now();
        this.error = "";
      } catch (err) {
        this.error = `Could not refresh: ${err.message}`;
      }
    },

    /** The queue's longest wait now: the fetched figure plus the time since, while anyone waits. */
    longest(q) {
      if (!(q.waiting + q.offered) || !q.longest_wait_s) return q.longest_wait_s || 0;
      return q.longest_wait_s + Math.max(0, (this.now - this.fetchedAt) / 1000);
    },

    get totals() {
      return this.queues.reduce((t, q) => ({
        waiting: t.waiting + q.waiting,
        offered: t.offered + q.offered,
        in_service: t.in_service + q.in_service,
        longest: Math.max(t.longest, this.longest(q)),
      }), { waiting: 0, offered: 0, in_service: 0, longest: 0 });
    },

    byPresence(presence) {
      return this.agents.filter((a) => a.presence === presence).sort((a, b) => a.name.localeCompare(b.name));
    },

    get updatedText() {
      const s = Math.round((this.now - this.updatedAt) / 1000);
      return s < 2 ? "just now" : `${s} s ago`;
    },

    since(iso) {
      return T.formatDuration((this.now - new Date(iso).getTime()) / 1000);
    },

    duration(s) { return T.formatDuration(s); },
    fullTime(iso) { return T.formatFull(iso); },
    initials(name) { return T.initials(name); },
    logout() { T.logout(true); },
  }));
});
