/* The reports page: the KPIs of a period (today, yesterday, the last 7 or 30 days, or dates
 * chosen, all in the viewer's time zone), grouped by queue, channel, agent, reason or
 * interval, as a chart and a table; the same selection as CSV or Parquet. The "agent
 * performance" view is the same report grouped by agent, with the figures of an agent's
 * work. Everything comes from GET /api/v1/reports (docs/kpis.md); this page computes no
 * figure itself. The chart lives outside Alpine's reactive state (Chart.js objects must
 * not be proxied). */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  // the figures each view shows, in order, and how each is written
  const REPORT_COLUMNS = [
    ["offered", "count"], ["answered", "count"], ["abandoned", "count"], ["service_level", "pct"],
    ["asa_s", "secs"], ["aht_s", "secs"], ["transfer_rate", "pct"], ["fcr", "pct"],
    ["callbacks_kept", "count"], ["callbacks_answered", "count"], ["callbacks_failed", "count"],
    ["deflection", "pct"], ["csat", "pct"], ["ces", "decimal"],
  ];
  const AGENT_COLUMNS = [
    ["handled", "count"], ["answered", "count"], ["asa_s", "secs"], ["aht_s", "secs"],
    ["transfer_rate", "pct"], ["fcr", "pct"], ["csat", "pct"], ["csat_answers", "count"],
    ["ces", "decimal"], ["ces_answers", "count"], ["occupancy", "pct"],
  ];

  /** A local calendar date as YYYY-MM-DD, `days` after today (or after `from`). */
  function isoDate(date) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  }
  function shift(days, from) {
    const base = from ? new Date(`${from}T12:00:00`) : new Date();
    return isoDate(new Date(base.getFullYear(), base.getMonth(), base.getDate() + days));
  }

  window.Alpine.data("reports", (config) => {
    const t = config.t;
    const lang = document.documentElement.lang || "en";
    const browser = navigator.language || "";
    const locale = browser.toLowerCase().startsWith(lang) ? browser : lang;
    const pctFmt = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 });
    const intFmt = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
    const decFmt = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 2 });
    const timeFmt = new Intl.DateTimeFormat(locale, { dateStyle: "short", timeStyle: "short", timeZone: ZONE });
    const dayFmt = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone: ZONE });
    let chart = null;
    let reasonLabels = {};

    return {
      me: config.me,
      t,
      view: "report",
      period: "last7",
      custom: { from: shift(-6), to: shift(0) },
      groupBy: "queue",
      interval: "60m",
      rows: [],
      total: {},
      shown: { groupBy: "queue", interval: "60m" },
      span: null,
      loading: false,
      error: "",
      fieldErrors: {},

      init() {
        this.loadReasons();
        this.run();
      },

      async loadReasons() {
        try {
          const reasons = await T.api("GET", "/api/v1/reasons");
          reasonLabels = Object.fromEntries(reasons.map((r) => [r.code, r.labels[lang] || r.labels.en || r.code]));
        } catch (err) {
          reasonLabels = {}; // the codes stand in for the labels
        }
      },

      show(view) {
        this.view = view;
        this.run();
      },

      /** [from, to) as dates in the viewer's zone; `to` is the day after the last one shown. */
      range() {
        switch (this.period) {
          case "today": return { from: shift(0), to: shift(1) };
          case "yesterday": return { from: shift(-1), to: shift(0) };
          case "last30": return { from: shift(-29), to: shift(1) };
          case "custom": return { from: this.custom.from, to: this.custom.to ? shift(1, this.custom.to) : "" };
          default: return { from: shift(-6), to: shift(1) };
        }
      },

      get group() { return this.view === "agents" ? "agent" : this.groupBy; },

      params(format) {
        const { from, to } = this.range();
        const q = new URLSearchParams({ from, to, group_by: this.group, tz: ZONE });
        if (this.group === "interval") q.set("interval", this.interval);
        if (format) q.set("format", format);
        return q;
      },

      exportUrl(format) { return `/api/v1/reports?${this.params(format).toString()}`; },

      /** Check the dates here first (each error beside its field), then ask the server. */
      check() {
        const errors = {};
        if (this.period === "custom") {
          if (!this.custom.from) errors.from = t.error_date_missing;
          if (!this.custom.to) errors.to = t.error_date_missing;
          if (this.custom.from && this.custom.to && this.custom.to < this.custom.from) errors.to = t.error_to_before_from;
        }
        this.fieldErrors = errors;
        return !Object.keys(errors).length;
      },

      async run() {
        if (!this.check()) return;
        this.loading = true;
        const asked = { groupBy: this.group, interval: this.interval };
        try {
          const report = await T.api("GET", `/api/v1/reports?${this.params().toString()}`);
          // agent performance is about agents: the contacts nobody answered are not a row
          this.rows = this.view === "agents" ? report.rows.filter((r) => r.key) : report.rows;
          this.total = report.total;
          this.shown = asked;
          this.span = { start: report.start, end: report.end };
          this.error = "";
          this.draw();
        } catch (err) {
          this.serverError(err);
        } finally {
          this.loading = false;
        }
      },

      /** A refusal about `from` or `to` goes beside that field; anything else on top. */
      serverError(err) {
        const message = err.message || "";
        const field = /^from\b/.test(message) ? "from" : /^to\b/.test(message) ? "to" : null;
        if (field && this.period === "custom") {
          this.fieldErrors = { [field]: message };
          this.error = "";
        } else {
          this.error = this.fill(t.load_failed, { error: message });
        }
      },

      get columns() {
        const chosen = this.view === "agents" ? AGENT_COLUMNS : REPORT_COLUMNS;
        return chosen.map(([key, kind]) => ({ key, kind, label: t[`col_${key}`], title: t[`title_${key}`] || "" }));
      },

      get groupTitle() { return t[`group_${this.shown.groupBy}`]; },

      get spanText() {
        if (!this.span) return "";
        const end = new Date(new Date(this.span.end).getTime() - 1);
        return this.fill(t.span, { from: dayFmt.format(new Date(this.span.start)), to: dayFmt.format(end), tz: ZONE });
      },

      rowLabel(r) {
        const group = this.shown.groupBy;
        if (group === "interval") {
          return this.shown.interval === "day" ? dayFmt.format(new Date(r.key)) : timeFmt.format(new Date(r.key));
        }
        if (!r.key) return t.none;
        if (group === "channel") return t[`channel_${r.key}`] || r.key;
        if (group === "reason") return reasonLabels[r.key] || r.key;
        return r.label;
      },

      cell(row, column) {
        const value = row ? row[column.key] : null;
        if (value === null || value === undefined) return t.no_figure;
        if (column.kind === "pct") return pctFmt.format(value);
        if (column.kind === "secs") return T.formatDuration(value);
        if (column.kind === "decimal") return decFmt.format(value);
        return intFmt.format(value);
      },

      fill(text, values) { return String(text).replace(/\{(\w+)\}/g, (_, key) => (key in values ? values[key] : `{${key}}`)); },
      initials(name) { return T.initials(name); },
      logout() { T.logout(true); },

      /** Report: offered / answered / abandoned per group (service level as a line over
       * intervals). Agents: contacts handled and AHT per agent. */
      draw() {
        if (!window.Chart) return;
        const rows = this.rows;
        const labels = rows.map((r) => this.rowLabel(r));
        const series = (key, label, color, extra) => ({ label, data: rows.map((r) => r[key] || 0), backgroundColor: color, borderColor: color, ...extra });
        let datasets;
        const scales = { x: { stacked: false }, y: { beginAtZero: true, ticks: { precision: 0 } } };
        if (this.view === "agents") {
          datasets = [
            series("handled", t.col_handled, "#2563eb", { yAxisID: "y" }),
            series("aht_s", t.series_aht_min, "#f59e0b", { type: "line", yAxisID: "y1",
              data: rows.map((r) => (r.aht_s === null ? null : r.aht_s / 60)) }),
          ];
          scales.y1 = { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } };
        } else {
          datasets = [
            series("offered", t.col_offered, "#64748b"),
            series("answered", t.col_answered, "#16a34a"),
            series("abandoned", t.col_abandoned, "#dc2626"),
          ];
          if (this.shown.groupBy === "interval") {
            datasets.push(series("service_level", t.col_service_level, "#2563eb", { type: "line", yAxisID: "y1",
              spanGaps: true, data: rows.map((r) => (r.service_level === null ? null : r.service_level * 100)) }));
            scales.y1 = { beginAtZero: true, max: 100, position: "right", grid: { drawOnChartArea: false },
              ticks: { callback: (v) => pctFmt.format(v / 100) } };
          }
        }
        if (chart) chart.destroy();
        const canvas = document.getElementById("rp-chart");
        chart = canvas ? new window.Chart(canvas, {
          type: "bar",
          data: { labels, datasets },
          options: { responsive: true, maintainAspectRatio: false, animation: false, locale, scales },
        }) : null;
      },
    };
  });
});
