/* Admins set their organisation's surveys (on or off, channels, questions, the comment, how
 * often a customer may be asked, how long answers count, the WhatsApp template) through
 * GET/PUT /api/v1/surveys/settings, the server's errors beside the fields; and see today's
 * figures from /api/v1/surveys/summary. */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const FIELDS = ["channels", "questions", "every_days", "reply_hours", "link_days", "whatsapp_template"];
  const NUMBERS = ["every_days", "reply_hours", "link_days"];

  function fmt(text, values) {
    return String(text).replace(/\{(\w+)\}/g, (m, name) => (name in values ? values[name] : m));
  }

  window.Alpine.data("surveysAdmin", (config) => ({
    t: config.t,
    form: null,
    summary: null,
    summaryError: "",
    fieldErrors: {},
    formError: "",
    saving: false,
    notice: "",
    noticeKind: "info",

    init() {
      this.load();
      this.loadSummary();
    },

    async load() {
      try {
        this.form = this.toForm(await T.api("GET", "/api/v1/surveys/settings"));
      } catch (err) {
        this.say(fmt(this.t.failed, { error: err.message }), "error");
      }
    },

    async loadSummary() {
      try {
        this.summary = await T.api("GET", "/api/v1/surveys/summary");
        this.summaryError = "";
      } catch (err) {
        this.summaryError = fmt(this.t.failed, { error: err.message });
      }
    },

    toForm(s) {
      return {
        enabled: s.enabled,
        channels: [...s.channels],
        questions: [...s.questions],
        comment: s.comment,
        every_days: String(s.every_days),
        reply_hours: String(s.reply_hours),
        link_days: String(s.link_days),
        whatsapp_template: s.whatsapp_template || "",
      };
    },

    /** The form as the API takes it: a whole number as a number, anything else as typed
     * (the server says what is wrong, beside the field). */
    body() {
      const f = this.form;
      const body = {
        enabled: !!f.enabled,
        channels: [...f.channels],
        questions: ["csat", "ces"].filter((k) => f.questions.includes(k)),
        comment: !!f.comment,
        whatsapp_template: f.whatsapp_template.trim() || null,
      };
      for (const name of NUMBERS) {
        const raw = String(f[name]).trim();
        body[name] = /^-?\d+$/.test(raw) ? Number(raw) : raw;
      }
      return body;
    },

    async save() {
      this.fieldErrors = {};
      this.formError = "";
      this.saving = true;
      try {
        this.form = this.toForm(await T.api("PUT", "/api/v1/surveys/settings", this.body()));
        this.say(this.t.saved, "info");
      } catch (err) {
        this.showProblem(err);
      } finally {
        this.saving = false;
      }
    },

    /** A schema error beside the field its `loc` names; anything else above the form. */
    showProblem(err) {
      const errors = {};
      for (const e of (err.details && err.details.errors) || []) {
        const field = (e.loc || []).find((p) => FIELDS.includes(p));
        if (field && !errors[field]) errors[field] = e.msg;
      }
      if (Object.keys(errors).length) this.fieldErrors = errors;
      else this.formError = fmt(this.t.not_saved, { error: err.message });
    },

    invalid(name) { return this.fieldErrors[name] ? "true" : "false"; },
    channelName(c) { return this.t["channel_" + c] || c; },
    pct(v) { return v === null || v === undefined ? "–" : `${Math.round(v * 100)} %`; },
    num(v) { return v === null || v === undefined ? "–" : Number(v).toFixed(1); },
    csatText(s) {
      return s.responses ? fmt(this.t.csat_value, { share: this.pct(s.satisfied_share), n: s.responses }) : "–";
    },
    cesText(s) {
      return s.responses ? fmt(this.t.ces_value, { mean: this.num(s.mean), n: s.responses }) : "–";
    },
    noticeClass() { return "notice-" + this.noticeKind; },
    say(text, kind) { this.notice = text; this.noticeKind = kind; },
    logout() { return T.logout(); },
  }));
});
