/* Admins read the audit log: who did what to which target and when, filtered by action,
 * person, target and dates (in the admin's own time zone), newest first, a page at a time,
 * through /api/v1/audit. */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;

  function fmt(text, values) {
    return String(text).replace(/\{(\w+)\}/g, (m, name) => (name in values ? values[name] : m));
  }

  /** A date from <input type=date> as the start of that day in the browser's time zone. */
  function startOfDay(value, plusDays) {
    const [y, m, d] = value.split("-").map(Number);
    return new Date(y, m - 1, d + (plusDays || 0)).toISOString();
  }

  window.Alpine.data("adminAudit", (config) => ({
    me: config.me,
    t: config.t,
    actions: [],
    agents: [],
    entries: [],
    nextBefore: null,
    loading: true,
    notice: "",
    noticeKind: "info",
    filters: { action: "", actor_id: "", target: "", since: "", until: "" },

    init() {
      this.loadChoices();
      this.search();
    },

    async loadChoices() {
      try {
        const [actions, agents] = await Promise.all([
          T.api("GET", "/api/v1/audit/actions"),
          T.api("GET", "/api/v1/agents"),
        ]);
        this.actions = actions.actions;
        this.agents = agents;
      } catch (err) {
        this.say(fmt(this.t.load_failed, { error: err.message }), "error");
      }
    },

    query(before) {
      const q = new URLSearchParams();
      const f = this.filters;
      if (f.action) q.set("action", f.action);
      if (f.actor_id) q.set("actor_id", f.actor_id);
      if (f.target) q.set("target", f.target);
      if (f.since) q.set("since", startOfDay(f.since));
      if (f.until) q.set("until", startOfDay(f.until, 1));  // the whole last day
      if (before) q.set("before_id", String(before));
      q.set("limit", "50");
      return `/api/v1/audit?${q.toString()}`;
    },

    async search() {
      this.entries = [];
      this.nextBefore = null;
      await this.fetchPage(null);
    },

    async more() {
      if (this.nextBefore) await this.fetchPage(this.nextBefore);
    },

    async fetchPage(before) {
      this.loading = true;
      try {
        const page = await T.api("GET", this.query(before));
        this.entries = this.entries.concat(page.entries);
        this.nextBefore = page.next_before_id;
        this.notice = "";
      } catch (err) {
        this.say(fmt(this.t.load_failed, { error: err.message }), "error");
      } finally {
        this.loading = false;
      }
    },

    clear() {
      this.filters = { action: "", actor_id: "", target: "", since: "", until: "" };
      this.search();
    },

    say(text, kind) {
      this.notice = text;
      this.noticeKind = kind || "info";
    },

    when(iso) { return T.formatTime(iso); },
    full(iso) { return T.formatFull(iso); },
    who(e) { return e.actor_name || (e.actor_id ? e.actor_id : this.t.system); },
    details(e) {
      const keys = Object.keys(e.data || {});
      return keys.length ? keys.map((k) => `${k}: ${JSON.stringify(e.data[k])}`).join(", ") : "";
    },
    initials(name) { return T.initials(name); },
    logout() { T.logout(false); },
  }));
});
