/* Admins edit the contact-reason taxonomy (GET/POST/PATCH/DELETE /api/v1/reasons): a code,
 * a label per language (English required), a top-level parent (two levels), and the bot
 * intents, IVR/app reasons and wrap-up codes that mean the reason. The server validates;
 * its refusals are shown beside the field they name (a problem's `details.errors[].loc`, or
 * `details.field`), in the admin's language where we know the case. Trends per day or hour
 * (GET /api/v1/reasons/trends) in the admin's time zone, as a stacked chart. */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const KINDS = ["intents", "ivr", "wrapup"];
  const CODE = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
  const COLORS = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#64748b", "#ea580c"];

  function fmt(text, values) {
    return String(text).replace(/\{(\w+)\}/g, (m, name) => (name in values ? values[name] : m));
  }

  function blank(languages) {
    return { code: "", labels: Object.fromEntries(languages.map((l) => [l, ""])), parent: "", intents: "", ivr: "", wrapup: "" };
  }

  function values(text) {
    return String(text || "").split(",").map((v) => v.trim()).filter(Boolean);
  }

  window.Alpine.data("adminReasons", (config) => {
    const t = config.t;
    const lang = document.documentElement.lang || "en";
    const browser = navigator.language || "";
    const locale = browser.toLowerCase().startsWith(lang) ? browser : lang;
    const intFmt = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
    const names = new Intl.DisplayNames([locale], { type: "language" });
    const dayFmt = new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", timeZone: ZONE });
    const hourFmt = new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone: ZONE });
    let chart = null;

    return {
      me: config.me,
      t,
      languages: config.languages,
      kinds: KINDS,
      reasons: [],
      loading: true,
      saving: false,
      editing: null,
      form: blank(config.languages),
      errors: {},
      notice: "",
      noticeKind: "info",
      span: "days7",
      trendTotals: [],

      init() {
        this.load();
        this.loadTrends();
      },

      async load() {
        this.loading = true;
        try {
          this.reasons = await T.api("GET", "/api/v1/reasons");
        } catch (err) {
          this.say(fmt(t.load_failed, { error: err.message }), "error");
        } finally {
          this.loading = false;
        }
      },

      /** Top-level reasons, each followed by its sub-reasons. */
      get tree() {
        const top = this.reasons.filter((r) => !r.parent);
        const out = [];
        for (const r of top) {
          out.push(r);
          out.push(...this.reasons.filter((c) => c.parent === r.code));
        }
        // a sub-reason whose parent vanished still shows
        return out.concat(this.reasons.filter((r) => r.parent && !top.some((p) => p.code === r.parent)));
      },

      /** Who may be a parent: top-level reasons other than the one edited. */
      get parents() {
        return this.reasons.filter((r) => !r.parent && r.code !== this.editing);
      },

      label(r) { return r.labels[lang] || r.labels.en || r.code; },
      labelOf(code) {
        const found = this.reasons.find((r) => r.code === code);
        return found ? this.label(found) : code;
      },
      languageName(code) { return `${names.of(code)} (${code})${code === "en" ? " *" : ""}`; },
      mapped(r) {
        const parts = KINDS.filter((k) => r[k].length).map((k) => `${t["short_" + k]}: ${r[k].join(", ")}`);
        return parts.join(" · ") || "—";
      },
      count(n) { return intFmt.format(n); },
      fill(text, values) { return fmt(text, values); },
      initials(name) { return T.initials(name); },
      logout() { T.logout(true); },
      say(text, kind) { this.notice = text; this.noticeKind = kind || "info"; },

      edit(r) {
        this.editing = r.code;
        this.errors = {};
        this.form = {
          code: r.code,
          labels: Object.fromEntries(this.languages.map((l) => [l, r.labels[l] || ""])),
          parent: r.parent || "",
          intents: r.intents.join(", "),
          ivr: r.ivr.join(", "),
          wrapup: r.wrapup.join(", "),
        };
        document.getElementById("rs-code").focus();
      },

      reset() {
        this.editing = null;
        this.errors = {};
        this.form = blank(this.languages);
      },

      body() {
        const labels = {};
        for (const l of this.languages) if (this.form.labels[l].trim()) labels[l] = this.form.labels[l].trim();
        const out = { labels, parent: this.form.parent || null };
        for (const k of KINDS) out[k] = values(this.form[k]);
        if (!this.editing) out.code = this.form.code;
        return out;
      },

      /** What we can tell before asking: the code's shape and the English label. */
      check() {
        const errors = {};
        if (!this.editing && !CODE.test(this.form.code)) errors.code = t.error_code;
        if (!this.form.labels.en.trim()) errors.labels = t.error_label_en;
        this.errors = errors;
        return !Object.keys(errors).length;
      },

      async save() {
        if (!this.check()) return;
        this.saving = true;
        try {
          if (this.editing) {
            await T.api("PATCH", `/api/v1/reasons/${encodeURIComponent(this.editing)}`, this.body());
            this.say(fmt(t.saved, { code: this.editing }), "info");
          } else {
            const made = await T.api("POST", "/api/v1/reasons", this.body());
            this.say(fmt(t.added, { code: made.code }), "info");
          }
          this.reset();
          await this.load();
        } catch (err) {
          this.refused(err);
        } finally {
          this.saving = false;
        }
      },

      /** The server's refusal beside the field it names; else on top. */
      refused(err) {
        const errors = {};
        for (const e of (err.details && err.details.errors) || []) {
          const field = e.loc && e.loc[0] === "body" ? e.loc[1] : null;
          if (field && !errors[field]) errors[field] = this.known(field, err.status) || e.msg;
        }
        const field = err.details && err.details.field;
        if (field) errors[field] = this.known(field, err.status) || err.message;
        if (Object.keys(errors).length) {
          this.errors = errors;
          this.notice = "";
        } else {
          this.say(fmt(t.save_failed, { error: err.message }), "error");
        }
      },

      /** Our own words for the refusals we know, with the server's detail where it helps. */
      known(field, status) {
        if (field === "code") return status === 409 ? t.error_code_taken : t.error_code;
        if (field === "labels") return t.error_label_en;
        if (field === "parent") return t.error_parent;
        if (KINDS.includes(field) && status === 409) return t.error_value_taken;
        return null;
      },

      async remove(r) {
        if (!window.confirm(fmt(t.delete_confirm, { name: this.label(r) }))) return;
        try {
          await T.api("DELETE", `/api/v1/reasons/${encodeURIComponent(r.code)}`);
          if (this.editing === r.code) this.reset();
          this.say(fmt(t.deleted, { code: r.code }), "info");
          await this.load();
        } catch (err) {
          const message = err.status === 409 ? fmt(t.delete_has_children, { name: this.label(r) }) : err.message;
          this.say(fmt(t.delete_failed, { error: message }), "error");
        }
      },

      /** [from, to) and the interval of the chosen span, in the admin's zone. */
      trendQuery() {
        const now = new Date();
        const pad = (n) => String(n).padStart(2, "0");
        const day = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
        const tomorrow = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
        const back = (days) => new Date(now.getFullYear(), now.getMonth(), now.getDate() - days);
        if (this.span === "hours48") return { from: day(back(1)), to: day(tomorrow), interval: "hour" };
        const days = this.span === "days30" ? 29 : 6;
        return { from: day(back(days)), to: day(tomorrow), interval: "day" };
      },

      async loadTrends() {
        const q = this.trendQuery();
        const params = new URLSearchParams({ ...q, tz: ZONE });
        try {
          const trends = await T.api("GET", `/api/v1/reasons/trends?${params.toString()}`);
          this.trendTotals = Object.entries(trends.totals).map(([code, n]) => ({ code, n })).sort((a, b) => b.n - a.n);
          this.draw(trends, q.interval);
        } catch (err) {
          this.say(fmt(t.load_failed, { error: err.message }), "error");
        }
      },

      /** Every interval of the span on the x axis (empty ones too), a stacked bar per reason. */
      draw(trends, interval) {
        if (!window.Chart) return;
        const step = interval === "hour" ? 3600e3 : 864e5;
        const starts = [];
        for (let at = new Date(trends.start).getTime(); at < new Date(trends.end).getTime(); at += step) {
          if (interval === "day") {
            const d = new Date(at);
            starts.push(new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime());
          } else {
            starts.push(at);
          }
        }
        const unique = [...new Set(starts)];
        const index = new Map(unique.map((s, i) => [s, i]));
        const codes = this.trendTotals.map((r) => r.code);
        const datasets = codes.map((code, i) => ({
          label: this.labelOf(code) || t.none,
          data: unique.map(() => 0),
          backgroundColor: COLORS[i % COLORS.length],
        }));
        for (const row of trends.rows) {
          const at = new Date(row.start).getTime();
          const key = interval === "day" ? new Date(new Date(at).getFullYear(), new Date(at).getMonth(), new Date(at).getDate()).getTime() : at;
          const i = index.get(key);
          if (i !== undefined) datasets[codes.indexOf(row.reason)].data[i] += row.count;
        }
        const format = interval === "hour" ? hourFmt : dayFmt;
        const labels = unique.map((s) => format.format(new Date(s)));
        if (chart) chart.destroy();
        const canvas = document.getElementById("rs-chart");
        chart = canvas ? new window.Chart(canvas, {
          type: "bar",
          data: { labels, datasets },
          options: {
            responsive: true, maintainAspectRatio: false, animation: false, locale,
            scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
          },
        }) : null;
      },
    };
  });
});
