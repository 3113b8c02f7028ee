/* Admins' organisation settings: name, time zone, the phone region national-format numbers
 * are read in, the languages offered (through /api/v1/org/settings), and the retention
 * policy (/api/v1/org/retention). Errors are shown beside their field. */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const P = window.TLPeople;

  window.Alpine.data("adminSettings", (config) => ({
    me: config.me,
    t: config.t,
    form: { name: "", timezone: "", phone_region: "", languages: [] },
    errors: {},
    retention: { mode: "forever", days: "" },
    retentionErrors: {},
    busy: false,
    notice: "",
    noticeKind: "info",

    async init() {
      try {
        const s = await T.api("GET", "/api/v1/org/settings");
        this.form = { name: s.name, timezone: s.timezone, phone_region: s.phone_region || "", languages: s.languages };
        this.retention = s.retention_days === null
          ? { mode: "forever", days: "" }
          : { mode: "days", days: String(s.retention_days) };
      } catch (err) {
        this.say(P.fmt(this.t.load_failed, { error: err.message }), "error");
      }
    },

    async save() {
      this.errors = {};
      const f = this.form;
      if (!f.name.trim()) this.errors.name = this.t.required;
      if (!f.timezone.trim()) this.errors.timezone = this.t.required;
      if (!f.languages.length) this.errors.languages = this.t.one_language;
      if (Object.keys(this.errors).length) return;
      // in the order offered: the first is the default
      const languages = config.languages.filter((l) => f.languages.includes(l))
        .concat(f.languages.filter((l) => !config.languages.includes(l)));
      this.busy = true;
      try {
        await T.api("PATCH", "/api/v1/org/settings", {
          name: f.name.trim(), timezone: f.timezone.trim(), phone_region: f.phone_region || null, languages,
        });
        this.say(this.t.saved, "info");
      } catch (err) {
        this.errors = P.fieldErrors(err, ["name", "timezone", "phone_region", "languages"]);
      } finally {
        this.busy = false;
      }
    },

    async saveRetention() {
      this.retentionErrors = {};
      let days = null;
      if (this.retention.mode === "days") {
        days = Number(String(this.retention.days).trim());
        if (!String(this.retention.days).trim() || !Number.isInteger(days)) {
          this.retentionErrors = { content_days: P.fmt(this.t.days_range, { min: config.min_days, max: config.max_days }) };
          return;
        }
      }
      this.busy = true;
      try {
        await T.api("PUT", "/api/v1/org/retention", { content_days: days });
        this.say(this.t.retention_saved, "info");
      } catch (err) {
        this.retentionErrors = P.fieldErrors(err, ["content_days"]);
      } finally {
        this.busy = false;
      }
    },

    say(text, kind) {
      this.notice = text;
      this.noticeKind = kind || "info";
    },

    initials(name) { return T.initials(name); },
    logout() { T.logout(false); },
  }));
});
