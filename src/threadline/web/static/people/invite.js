/* The invitation page: the token is in the link's fragment (never sent to the server by the
 * browser, so never in a log); it is checked, the agent greeted by name, and the password
 * they choose is set with it (POST /api/v1/auth/invite/accept), which signs them in. */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const P = window.TLPeople;

  window.Alpine.data("invite", (config) => ({
    t: config.t,
    token: "",
    who: null,
    broken: "",
    checking: true,
    password: "",
    repeat: "",
    errors: {},
    busy: false,

    async init() {
      this.token = decodeURIComponent(window.location.hash.replace(/^#/, ""));
      history.replaceState(null, "", window.location.pathname); // out of the address bar
      if (!this.token) {
        this.checking = false;
        this.broken = this.t.no_token;
        return;
      }
      try {
        this.who = await T.api("POST", "/api/v1/auth/invite/check", { token: this.token });
        this.$nextTick(() => document.getElementById("new-password").focus());
      } catch (err) {
        this.broken = err.status === 422 ? this.t.invalid : err.message;
      } finally {
        this.checking = false;
      }
    },

    async submit() {
      this.errors = {};
      if (this.password.length < 8) this.errors.password = this.t.too_short;
      else if (this.password !== this.repeat) this.errors.repeat = this.t.mismatch;
      if (Object.keys(this.errors).length) return;
      this.busy = true;
      try {
        await T.api("POST", "/api/v1/auth/invite/accept", { token: this.token, password: this.password });
        window.location.assign("/desktop");
      } catch (err) {
        const found = P.fieldErrors(err, ["password", "token"]);
        if (found.token) {
          this.who = null;
          this.broken = this.t.invalid;
        }
        this.errors = { password: found.password, form: found.form };
        this.busy = false;
      }
    },

    fmt(text, values) { return P.fmt(text, values); },
  }));
});
