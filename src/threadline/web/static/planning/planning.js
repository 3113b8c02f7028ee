/* The planning page, through /api/v1/planning: for a queue and a week, contacts forecast
 * (the model chosen by backtest, with its error) against those that came, and agents required
 * (Erlang A, the queue's service-level target, the shrinkage set here) against those planned,
 * as two charts and, for one day, a table with the gap; the roster (agents planned per weekday
 * and half hour, in the queue's time zone) edited in a grid and saved; and a simulation of the
 * day from its forecast and roster, callbacks off and on, polled for progress.
 * Times are shown in the browser's time zone; the charts live outside Alpine's reactive state. */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const POLL_MS = 400;
  const FEW_HOURS = [7 * 60, 21 * 60]; // the roster rows shown until "all hours" is asked for
  const charts = { contacts: null, agents: null };

  function isoDate(d) {
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  }

  window.Alpine.data("planning", (config) => {
    const t = config.t;
    const lang = config.lang || "en";
    const browser = navigator.language || "";
    const locale = browser.toLowerCase().startsWith(lang) ? browser : lang;
    const pctFmt = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 });
    const intFmt = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
    const decFmt = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
    const timeFmt = new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit" });
    const dayTimeFmt = new Intl.DateTimeFormat(locale, { weekday: "short", hour: "2-digit", minute: "2-digit" });
    const dayFmt = new Intl.DateTimeFormat(locale, { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" });
    const fullFmt = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
    const weekdayFmt = new Intl.DateTimeFormat(locale, { weekday: "long", timeZone: "UTC" });
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

    return {
      me: config.me,
      t,
      queues: [],
      queueId: "",
      week: isoDate(new Date()),
      shrinkagePct: Math.round(config.shrinkage * 100),
      maxShrinkagePct: Math.round(config.max_shrinkage * 100),
      patience: 300,
      plan: null,
      loading: false,
      asked: 0,
      day: "",
      roster: {},
      dirty: {},
      saving: false,
      allHours: false,
      rosterZone: "",
      sim: null,
      simTimer: null,
      notice: "",
      noticeKind: "info",
      errors: {},

      async init() {
        try {
          this.queues = await T.api("GET", "/api/v1/queues");
        } catch (err) {
          this.say(err.message, "error");
          return;
        }
        if (!this.queues.length) { this.say(t.no_queues, "warn"); return; }
        this.queueId = this.queues[0].id;
        await Promise.all([this.load(), this.loadRoster()]);
      },

      say(text, kind) { this.notice = text; this.noticeKind = kind || "info"; },
      clearNotice() { this.notice = ""; },
      fill(text, values) { return String(text).replace(/\{(\w+)\}/g, (_, k) => (k in values ? values[k] : `{${k}}`)); },
      initials(name) { return T.initials(name); },
      logout() { T.logout(false); },
      pct(v) { return v === null || v === undefined ? "—" : pctFmt.format(v); },
      count(v) { return v === null || v === undefined ? "—" : intFmt.format(v); },
      decimal(v) { return v === null || v === undefined ? "—" : decFmt.format(v); },
      secs(v) { return v === null || v === undefined ? "—" : this.fill(t.seconds, { n: intFmt.format(v) }); },
      time(iso) { return timeFmt.format(new Date(iso)); },
      gapText(gap) {
        if (gap < 0) return this.fill(t.gap_under, { n: intFmt.format(-gap) });
        if (gap > 0) return this.fill(t.gap_over, { n: intFmt.format(gap) });
        return t.gap_none;
      },

      // ------------------------------------------------------------ the week
      pickQueue(event) { this.queueId = event.target.value; this.sim = null; this.load(); this.loadRoster(); },
      pickWeek(event) { if (event.target.value) { this.week = event.target.value; this.load(); } },
      pickShrinkage(event) { this.shrinkagePct = Number(event.target.value); this.load(); },
      pickPatience(event) { this.patience = Number(event.target.value); this.load(); },
      pickDay(event) { this.day = event.currentTarget.dataset.day; this.errors = { ...this.errors, day: "" }; },

      async load() {
        if (!this.queueId) return;
        this.loading = true;
        this.errors = {};
        const params = new URLSearchParams({
          week: this.week, shrinkage: String(this.shrinkagePct / 100), patience_s: String(this.patience),
        });
        const asked = ++this.asked; // an answer to an older question is dropped
        try {
          const plan = await T.api("GET", `/api/v1/planning/queues/${encodeURIComponent(this.queueId)}/week?${params}`);
          if (asked !== this.asked) return;
          this.plan = plan;
          const days = this.days;
          const today = isoDate(new Date());
          if (!days.some((d) => d.iso === this.day)) {
            this.day = (days.find((d) => d.iso === today) || days.find((d) => d.busy) || days[0] || {}).iso || "";
          }
          this.$nextTick(() => this.draw());
        } catch (err) {
          if (asked === this.asked) this.fieldErrors(err);
        } finally {
          if (asked === this.asked) this.loading = false;
        }
      },

      fieldErrors(err) {
        const details = err.details || {};
        const errors = {};
        if (details.field) errors[String(details.field).split(".")[0] === "cells" ? "cells" : details.field] = err.message;
        for (const e of details.errors || []) {
          const name = (e.loc || []).filter((x) => typeof x === "string" && x !== "query" && x !== "body")[0];
          if (name) errors[name] = e.msg;
        }
        this.errors = errors;
        if (!Object.keys(errors).length) this.say(err.message, "error");
      },

      get intervals() { return this.plan ? this.plan.intervals : []; },
      get zoneText() { return this.fill(t.zone_note, { zone }); },
      get modelName() {
        const model = this.plan && this.plan.forecast.model;
        return model ? (t["model_" + model] || model) : t.model_none;
      },
      get originText() {
        return this.plan ? this.fill(t.model_origin, { time: fullFmt.format(new Date(this.plan.forecast.origin)) }) : "";
      },
      get baselineText() {
        const base = this.plan && this.plan.forecast.baseline_wape;
        return base === null || base === undefined ? t.baseline_none : this.fill(t.baseline, { error: this.pct(base) });
      },
      get notesText() { return this.plan ? this.plan.forecast.notes.join(" · ") : ""; },
      get totals() {
        const out = { forecast: 0, actual: 0, under: 0, over: 0 };
        for (const i of this.intervals) {
          out.forecast += i.forecast;
          out.actual += i.actual || 0;
          if (i.gap < 0) out.under += 1;
          if (i.gap > 0 && i.required > 0) out.over += 1;
        }
        return out;
      },
      get days() {
        // the queue's local days (a day is simulated in the queue's time zone)
        const seen = new Map();
        for (const i of this.intervals) {
          if (!seen.has(i.day)) {
            const [y, m, d] = i.day.split("-").map(Number);
            seen.set(i.day, { iso: i.day, label: dayFmt.format(new Date(Date.UTC(y, m - 1, d, 12))), busy: false });
          }
          if (i.forecast > 0 || i.planned > 0) seen.get(i.day).busy = true;
        }
        return [...seen.values()];
      },
      get dayRows() {
        return this.intervals.filter((i) => i.day === this.day
          && (i.forecast > 0 || i.planned > 0 || i.actual || i.required > 0));
      },

      draw() {
        if (!window.Chart || !this.plan) return;
        const rows = this.intervals;
        const labels = rows.map((r) => dayTimeFmt.format(new Date(r.start)));
        const contacts = [
          { type: "bar", label: t.series_actual, data: rows.map((r) => r.actual), backgroundColor: "#94a3b8", order: 2 },
          { type: "line", label: t.series_forecast, data: rows.map((r) => r.forecast), borderColor: "#2563eb",
            backgroundColor: "#2563eb", pointRadius: 0, tension: 0.2, order: 1 },
        ];
        const agents = [
          { label: t.series_required, data: rows.map((r) => r.required), borderColor: "#dc2626",
            backgroundColor: "#dc2626", pointRadius: 0, stepped: true },
          { label: t.series_planned, data: rows.map((r) => r.planned), borderColor: "#16a34a",
            backgroundColor: "rgba(22,163,74,.15)", pointRadius: 0, stepped: true, fill: true },
        ];
        const options = {
          responsive: true, maintainAspectRatio: false, animation: false, locale,
          interaction: { mode: "index", intersect: false },
          scales: { x: { ticks: { maxTicksLimit: 14, autoSkip: true } }, y: { beginAtZero: true, ticks: { precision: 0 } } },
        };
        charts.contacts = this.chart(charts.contacts, "chart-contacts", "bar", labels, contacts, options);
        charts.agents = this.chart(charts.agents, "chart-agents", "line", labels, agents, options);
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

      // ------------------------------------------------------------ the roster
      async loadRoster() {
        if (!this.queueId) return;
        try {
          const found = await T.api("GET", `/api/v1/planning/queues/${encodeURIComponent(this.queueId)}/roster`);
          this.setRoster(found);
        } catch (err) {
          this.say(err.message, "error");
        }
      },
      setRoster(found) {
        const roster = {};
        for (const c of found.cells) roster[`${c.weekday}-${c.minute}`] = c.agents;
        this.roster = roster;
        this.rosterZone = found.timezone;
        this.dirty = {};
      },
      get weekdays() {
        // 2024-01-01 was a Monday: the names of the days, in the page's language
        return [0, 1, 2, 3, 4, 5, 6].map((i) => ({ index: i, label: weekdayFmt.format(new Date(Date.UTC(2024, 0, 1 + i))) }));
      },
      get rosterSlots() {
        const slots = [];
        for (let m = 0; m < 24 * 60; m += config.interval_minutes) {
          const used = [0, 1, 2, 3, 4, 5, 6].some((d) => this.cell(d, m) > 0);
          if (this.allHours || used || (m >= FEW_HOURS[0] && m < FEW_HOURS[1])) {
            const p = (n) => String(n).padStart(2, "0");
            slots.push({ minute: m, label: `${p(Math.floor(m / 60))}:${p(m % 60)}` });
          }
        }
        return slots;
      },
      get rosterIntro() { return this.fill(t.roster_intro, { zone: this.rosterZone || "—" }); },
      get dirtyCount() { return Object.keys(this.dirty).length; },
      get saveText() { return this.dirtyCount ? this.fill(t.roster_save_n, { n: this.dirtyCount }) : t.roster_save; },
      cell(weekday, minute) {
        const key = `${weekday}-${minute}`;
        return key in this.dirty ? this.dirty[key] : (this.roster[key] || 0);
      },
      cellLabel(weekday, minute) {
        const p = (n) => String(n).padStart(2, "0");
        return this.fill(t.cell_label, { day: this.weekdays[weekday].label, time: `${p(Math.floor(minute / 60))}:${p(minute % 60)}` });
      },
      toggleAllHours() { this.allHours = !this.allHours; },
      editCell(event) {
        const input = event.target;
        const value = Number(input.value);
        const key = `${input.dataset.weekday}-${input.dataset.minute}`;
        if (!Number.isInteger(value) || value < 0 || value > 1000) {
          input.setCustomValidity(t.cell_invalid);
          input.reportValidity();
          return;
        }
        input.setCustomValidity("");
        const dirty = { ...this.dirty };
        if (value === (this.roster[key] || 0)) delete dirty[key]; else dirty[key] = value;
        this.dirty = dirty;
        input.classList.toggle("is-dirty", key in dirty);
      },
      async saveRoster() {
        const cells = Object.entries(this.dirty).map(([key, agents]) => {
          const [weekday, minute] = key.split("-").map(Number);
          return { weekday, minute, agents };
        });
        if (!cells.length) return;
        this.saving = true;
        try {
          const found = await T.api("PUT", `/api/v1/planning/queues/${encodeURIComponent(this.queueId)}/roster`, { cells });
          this.setRoster(found);
          for (const el of document.querySelectorAll(".plan-cell.is-dirty")) el.classList.remove("is-dirty");
          this.say(t.roster_saved, "info");
          await this.load();
        } catch (err) {
          this.fieldErrors(err);
        } finally {
          this.saving = false;
        }
      },

      // ------------------------------------------------------------ simulation
      get simRunning() { return Boolean(this.sim && this.sim.status === "running"); },
      get simDone() { return Boolean(this.sim && this.sim.status === "done"); },
      get simButton() {
        const d = this.days.find((x) => x.iso === this.day);
        return this.simRunning ? t.sim_running : this.fill(t.sim_start, { day: d ? d.label : "" });
      },
      get simStatus() {
        if (!this.sim) return "";
        if (this.sim.status === "failed") return this.sim.error || t.sim_failed;
        if (this.sim.status === "done") return this.fill(t.sim_done, { s: decFmt.format(this.sim.elapsed_s) });
        return this.fill(t.sim_progress_n, { pct: pctFmt.format(this.sim.progress) });
      },
      get simRows() {
        if (!this.simDone) return [];
        const off = this.sim.callbacks_off;
        const on = this.sim.callbacks_on;
        const pctOf = (v) => (v === null ? "—" : pctFmt.format(v / 100));
        const rows = [
          ["contacts", t.sim_contacts, (r) => this.count(r.contacts)],
          ["answered", t.sim_answered, (r) => this.count(r.answered)],
          ["in_time", this.fill(t.sim_in_time, { s: this.plan ? this.plan.sl_threshold_s : 20 }), (r) => pctOf(r.answered_in_time_pct)],
          ["wait", t.sim_wait, (r) => this.secs(r.average_wait_s)],
          ["hung_up", t.sim_hung_up, (r) => `${this.count(r.hung_up)} (${pctOf(r.hung_up_pct)})`],
          ["busy", t.sim_busy, (r) => pctOf(r.agents_busy_pct)],
          ["cb_offered", t.sim_cb_offered, (r) => `${this.count(r.callbacks_offered)} / ${this.count(r.callbacks_accepted)}`],
          ["cb_reached", t.sim_cb_reached, (r) => this.count(r.callbacks_reached)],
          ["cb_failed", t.sim_cb_failed, (r) => this.count(r.callbacks_failed)],
          ["still", t.sim_still, (r) => this.count(r.still_waiting)],
        ];
        return rows.map(([key, label, f]) => ({ key, label, off: f(off), on: f(on) }));
      },
      async simulate() {
        this.errors = { ...this.errors, day: "" };
        const body = {
          day: this.day, shrinkage: this.shrinkagePct / 100, patience_s: this.patience,
        };
        try {
          this.sim = await T.api("POST", `/api/v1/planning/queues/${encodeURIComponent(this.queueId)}/simulations`, body);
          this.poll();
        } catch (err) {
          this.fieldErrors(err);
        }
      },
      poll() {
        clearTimeout(this.simTimer);
        if (!this.simRunning) return;
        this.simTimer = setTimeout(async () => {
          try {
            this.sim = await T.api("GET", `/api/v1/planning/simulations/${encodeURIComponent(this.sim.id)}`);
          } catch (err) {
            this.say(err.message, "error");
            return;
          }
          this.poll();
        }, POLL_MS);
      },
    };
  });
});
