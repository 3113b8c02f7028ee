/* The supervisor's live dashboard (and, with ?wallboard=1, the wallboard for a TV): one call
 * to GET /api/v1/dashboard gives per queue the live figures (waiting, longest wait), the
 * service level of the last 30 minutes and of today against the queue's target, ASA, AHT,
 * abandonment, CSAT and CES, the agents by presence and today per 30 minutes for the charts.
 *
 * Top contact reasons carry a spike badge when their reason (the taxonomy's code the row's
 * value means, as the reasons consumer maps it: a wrap-up first, then the IVR/app reason,
 * intent or code) has an alert today (GET /api/v1/reasons/alerts); a `reason.spiked` frame
 * flags it at once.
 *
 * Live: every contact.* / queue.changed / agent.presence frame of the stream fetches the
 * dashboard again (debounced, and once more a moment later: the KPI counters are kept by a
 * consumer of the same events, which may finish just after the frame); every 5 s besides.
 * The clocks (longest wait, time in state) tick locally in between. Numbers and times are in
 * the page's language and the supervisor's time zone (common.js). The charts live outside Alpine's
 * reactive state (Chart.js objects must not be proxied). */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const REFRESH_MS = 5000;
  const DEBOUNCE_MS = 120;
  const SETTLE_MS = 700;
  const ZONE = T.ZONE;  // the supervisor's profile time zone, else the browser's (common.js)
  const EMPTY = { service_level: null, answered: null, abandoned: null, abandon_rate: null,
    asa_s: null, aht_s: null, csat: null, csat_answers: null, ces: null, ces_answers: null };

  window.Alpine.data("supervisor", (config) => {
    const t = config.t;
    const lang = config.lang || "en";
    // numbers and times as the supervisor's browser writes them (en-GB: 17:00), in the page's language
    const browser = navigator.language || "";
    const locale = browser.toLowerCase().startsWith(lang) ? browser : lang;
    const pctFmt = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 0 });
    const intFmt = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
    const decFmt = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
    const hourFmt = new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit", timeZone: ZONE });
    const fullFmt = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone: ZONE });
    const charts = { volume: null, sl: null };
    let timer = null;
    let settle = null;
    let running = null;
    let again = false;

    return {
      me: config.me,
      t,
      wallboard: Boolean(config.wallboard),
      conn: "connecting",
      board: { queues: [], agents: [], intervals: [], reasons: [], today: { ...EMPTY }, recent: { ...EMPTY } },
      fetchedAt: 0,
      updatedAt: 0,
      now: Date.now(),
      error: "",
      presences: T.PRESENCES,
      alerts: [],
      taxonomy: { wrapup: {}, given: {}, labels: {} },

      init() {
        this.refresh();
        this.loadReasons();
        setInterval(() => { this.now = Date.now(); }, 1000);
        setInterval(() => this.refresh(), REFRESH_MS);
        T.connectStream({
          onState: (state) => { this.conn = state; },
          onReady: () => this.refresh(),
          onFrame: (frame) => {
            const type = String(frame.type || "");
            if (type === "queue.changed" || type === "agent.presence" || type.startsWith("contact.") || type.startsWith("agent.wrapup")) this.soon();
            if (type === "reason.spiked") this.spiked(frame);
          },
        });
      },

      soon() {
        clearTimeout(timer);
        clearTimeout(settle);
        timer = setTimeout(() => this.refresh(), DEBOUNCE_MS);
        settle = setTimeout(() => this.refresh(), SETTLE_MS);
      },

      /** One fetch at a time; a request meanwhile fetches once more after it. */
      async refresh() {
        if (running) { again = true; return running; }
        running = (async () => {
          try {
            this.loadAlerts(); // beside the board, never holding it up
            const board = await T.api("GET", `/api/v1/dashboard?tz=${encodeURIComponent(ZONE)}`);
            this.board = board;
            this.fetchedAt = this.updatedAt = Date.now();
            this.error = "";
            this.draw();
          } catch (err) {
            this.error = this.fill(t.refresh_failed, { reason: err.message });
          }
        })();
        await running;
        running = null;
        if (again) { again = false; await this.refresh(); }
        return undefined;
      },

      /** The taxonomy, to know which reason a row's value means (and its label). */
      async loadReasons() {
        try {
          const reasons = await T.api("GET", "/api/v1/reasons");
          const next = { wrapup: {}, given: {}, labels: {} };
          for (const r of reasons) {
            next.labels[r.code] = r.labels[lang] || r.labels.en || r.code;
            next.given[r.code] = r.code;
            for (const v of [...r.ivr, ...r.intents]) next.given[v] = r.code;
            for (const v of r.wrapup) next.wrapup[v] = r.code;
          }
          this.taxonomy = next;
        } catch (err) {
          // without the taxonomy a row still matches an alert on its own code
        }
      },

      /** Today's spikes; a failure keeps the ones known (the next refresh asks again). */
      async loadAlerts() {
        try {
          const fetched = await T.api("GET", "/api/v1/reasons/alerts");
          // a frame that came while this was asked is newer than the answer
          const live = this.alerts.filter((a) => a.live && !fetched.some((f) => f.reason === a.reason));
          this.alerts = fetched.concat(live);
        } catch (err) {
          // keep the alerts we have
        }
      },

      /** A `reason.spiked` frame: flag it now (the next fetch confirms it). */
      spiked(frame) {
        if (!this.alerts.some((a) => a.reason === frame.reason)) {
          this.alerts = [...this.alerts, { reason: frame.reason, count: frame.count, expected: frame.expected, limit: frame.limit, at: frame.at, live: true }];
        }
        if (!(frame.reason in this.taxonomy.labels)) this.loadReasons();
      },

      codeOf(value) { return this.taxonomy.wrapup[value] || this.taxonomy.given[value] || value; },

      alertOf(value) {
        const code = this.codeOf(value);
        return this.alerts.find((a) => a.reason === code) || null;
      },

      /** Today's top reasons, plus any reason that spiked today and is not among them. */
      get reasonRows() {
        const rows = this.board.reasons.map((r) => ({ key: r.reason, contacts: r.contacts, alert: this.alertOf(r.reason) }));
        const shown = new Set(rows.map((r) => this.codeOf(r.key)));
        for (const a of this.alerts) {
          if (!shown.has(a.reason)) rows.push({ key: a.reason, contacts: a.count, alert: a });
        }
        return rows;
      },

      reasonLabel(value) {
        const code = this.codeOf(value);
        return this.taxonomy.labels[code] || value;
      },

      spikeTitle(alert) {
        return this.fill(t.spike_title, { count: intFmt.format(alert.count), expected: decFmt.format(alert.expected) });
      },

      get connText() {
        if (this.conn === "live") return t.conn_live;
        return this.conn === "connecting" ? t.conn_connecting : t.conn_reconnecting;
      },

      get updatedText() {
        const s = Math.round((this.now - this.updatedAt) / 1000);
        return s < 2 ? t.updated_now : this.fill(t.updated_ago, { s: intFmt.format(s) });
      },

      /** The queue's longest wait now: the fetched figure plus the time since, while anyone waits. */
      longest(q) {
        if (!(q.waiting + q.offered_now) || !q.longest_wait_s) return q.longest_wait_s || 0;
        return q.longest_wait_s + Math.max(0, (this.now - this.fetchedAt) / 1000);
      },

      get totals() {
        return this.board.queues.reduce((sum, q) => ({
          waiting: sum.waiting + q.waiting,
          longest: Math.max(sum.longest, this.longest(q)),
        }), { waiting: 0, longest: 0 });
      },

      /** The organisation-wide target: the strictest of the queues'. */
      get overallTarget() {
        return this.board.queues.reduce((most, q) => Math.max(most, q.sl_target_pct), 0) || null;
      },

      byPresence(presence) {
        return this.board.agents.filter((a) => a.presence === presence).sort((a, b) => a.name.localeCompare(b.name, locale));
      },

      /** A reason's bar, in tenths of the most frequent one (a class: no inline style under the CSP). */
      barWidth(contacts) {
        const most = Math.max(1, ...this.reasonRows.map((r) => r.contacts));
        return Math.max(1, Math.round((contacts / most) * 10));
      },

      target(q) {
        return this.fill(t.target, { pct: intFmt.format(q.sl_target_pct), s: intFmt.format(q.sl_threshold_s) });
      },

      slClass(value, targetPct) {
        if (value === null || value === undefined || !targetPct) return "";
        return value * 100 >= targetPct ? "sl-ok" : "sl-low";
      },

      slTitle(value, targetPct) {
        return this.slClass(value, targetPct) === "sl-low" ? t.below_target : "";
      },

      pct(value) { return value === null || value === undefined ? t.no_figure : pctFmt.format(value); },
      count(value) { return intFmt.format(value || 0); },
      decimal(value) { return value === null || value === undefined ? t.no_figure : decFmt.format(value); },
      secs(value) { return value === null || value === undefined ? t.no_figure : T.formatDuration(value); },
      duration(s) { return T.formatDuration(s); },
      since(iso) { return T.formatDuration((this.now - new Date(iso).getTime()) / 1000); },
      fullTime(iso) { return iso ? fullFmt.format(new Date(iso)) : ""; },
      fill(text, values) { return String(text).replace(/\{(\w+)\}/g, (_, key) => (key in values ? values[key] : `{${key}}`)); },
      initials(name) { return T.initials(name); },
      logout() { T.logout(true); },

      /** A supervisor sets an agent's presence (audited; the agent's desktop shows it live). */
      async setPresence(agentId, presence) {
        try {
          await T.api("PUT", `/api/v1/agents/${agentId}/presence`, { presence });
          this.soon();
        } catch (err) {
          this.error = this.fill(t.presence_failed, { reason: err.message });
          this.refresh();
        }
      },

      /** Today per 30 minutes: offered / answered / abandoned bars, service level against the target. */
      draw() {
        if (!window.Chart) return;
        const rows = this.board.intervals;
        const labels = rows.map((r) => hourFmt.format(new Date(r.key)));
        const dark = this.wallboard;
        const ink = dark ? "#e8edf5" : "#334155";
        const grid = dark ? "rgba(255,255,255,.12)" : "rgba(0,0,0,.08)";
        const target = this.overallTarget;
        const volume = [
          { label: t.series_offered, data: rows.map((r) => r.offered || 0), backgroundColor: "#64748b" },
          { label: t.series_answered, data: rows.map((r) => r.answered || 0), backgroundColor: "#16a34a" },
          { label: t.series_abandoned, data: rows.map((r) => r.abandoned || 0), backgroundColor: "#dc2626" },
        ];
        const sl = [
          { label: t.series_sl, data: rows.map((r) => (r.service_level === null ? null : r.service_level * 100)),
            borderColor: "#2563eb", backgroundColor: "#2563eb", spanGaps: true, tension: 0.2 },
        ];
        if (target) sl.push({ label: t.series_target, data: rows.map(() => target), borderColor: "#f59e0b",
          borderDash: [6, 4], pointRadius: 0, backgroundColor: "#f59e0b" });
        const font = { size: dark ? 16 : 12 };
        const scales = (extra) => ({
          x: { ticks: { color: ink, font }, grid: { color: grid } },
          y: { beginAtZero: true, ticks: { color: ink, font, precision: 0 }, grid: { color: grid }, ...extra },
        });
        const options = (extra) => ({
          responsive: true, maintainAspectRatio: false, animation: false,
          plugins: { legend: { labels: { color: ink, font } } },
          locale, scales: scales(extra),
        });
        charts.volume = this.chart(charts.volume, "chart-volume", "bar", labels, volume, options({}));
        charts.sl = this.chart(charts.sl, "chart-sl", "line", labels, sl, options({ max: 100,
          ticks: { color: ink, font, callback: (v) => pctFmt.format(v / 100) } }));
      },

      chart(existing, id, type, labels, datasets, options) {
        if (existing) {
          existing.data.labels = labels;
          existing.data.datasets = datasets;
          existing.update("none");
          return existing;
        }
        const canvas = document.getElementById(id);
        return canvas ? new window.Chart(canvas, { type, data: { labels, datasets }, options }) : null;
      },
    };
  });
});
