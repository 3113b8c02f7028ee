/* The sign-in form: posts JSON to /api/v1/auth/login (which sets the session cookie). Every
 * message is in the page's language (config.t, web/locales/login); the language picker
 * reloads the page with ?lang=, which the server remembers in a cookie. */
"use strict";

document.addEventListener("alpine:init", () => {
  const fmt = (text, values) => String(text).replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));

  window.Alpine.data("login", (config) => ({
    t: config.t,
    email: "",
    password: "",
    error: "",
    busy: false,

    init() {
      const picker = document.getElementById("login-lang");
      if (picker) picker.addEventListener("change", () => picker.form.submit());
    },

    /** What went wrong, in the page's language (never the server's English message). */
    reason(err) {
      if (err.status === 401 || err.code === "not_authenticated") return this.t.wrong;
      if (err.status === 429) {
        const wait = err.details && err.details.retry_after_s;
        if (!wait) return this.t.throttled;
        return wait < 120 ? fmt(this.t.throttled_s, { n: wait }) : fmt(this.t.throttled_min, { n: Math.ceil(wait / 60) });
      }
      if (err.status === 0) return this.t.net_error;
      return fmt(this.t.failed, { status: err.status });
    },

    async submit() {
      this.error = "";
      if (!this.email.trim() || !this.password) {
        this.error = this.t.missing;
        return;
      }
      this.busy = true;
      try {
        await window.TLDesk.api("POST", "/api/v1/auth/login", {
          email: this.email.trim(), password: this.password,
        });
        window.location.assign("/desktop");
      } catch (err) {
        this.error = this.reason(err);
        this.password = "";
        this.busy = false;
        this.$nextTick(() => document.getElementById("password").focus());
      }
    },
  }));
});
