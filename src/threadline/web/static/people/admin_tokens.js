/* Admins' API tokens: create one (the token is shown here once, with a copy button, and
 * never again: only its digest is stored), list them, revoke one. Through
 * /api/v1/auth/tokens. */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const P = window.TLPeople;

  window.Alpine.data("adminTokens", (config) => ({
    me: config.me,
    t: config.t,
    tokens: [],
    loading: true,
    name: "",
    errors: {},
    busy: false,
    shown: null,
    copied: false,
    notice: "",
    noticeKind: "info",

    init() {
      this.load();
    },

    async load() {
      try {
        this.tokens = await T.api("GET", "/api/v1/auth/tokens");
      } catch (err) {
        this.say(P.fmt(this.t.load_failed, { error: err.message }), "error");
      } finally {
        this.loading = false;
      }
    },

    async create() {
      this.errors = {};
      const name = this.name.trim();
      if (!name) {
        this.errors = { name: this.t.required };
        return;
      }
      this.busy = true;
      try {
        const made = await T.api("POST", "/api/v1/auth/tokens", { name });
        this.shown = { name: made.name, token: made.token };
        this.copied = false;
        this.name = "";
        await this.load();
      } catch (err) {
        const found = P.fieldErrors(err, ["name"]);
        if (found.form) this.say(P.fmt(this.t.not_saved, { error: found.form }), "error");
        delete found.form;
        this.errors = found;
      } finally {
        this.busy = false;
      }
    },

    async copyToken() {
      await P.copy(this.shown.token, document.querySelector("[data-testid=token-value]"));
      this.copied = true;
    },

    hide() {
      this.shown = null; // gone from the page: it cannot be shown again
    },

    async revoke(token) {
      if (!window.confirm(P.fmt(this.t.confirm_revoke, { name: token.name }))) return;
      try {
        await T.api("DELETE", `/api/v1/auth/tokens/${encodeURIComponent(token.id)}`);
        this.say(P.fmt(this.t.revoked, { name: token.name }), "info");
        await this.load();
      } catch (err) {
        this.say(P.fmt(this.t.not_saved, { error: err.message }), "error");
      }
    },

    say(text, kind) {
      this.notice = text;
      this.noticeKind = kind || "info";
    },

    when(iso) { return T.formatTime(iso); },
    full(iso) { return T.formatFull(iso); },
    fmt(text, values) { return P.fmt(text, values); },
    initials(name) { return T.initials(name); },
    logout() { T.logout(false); },
  }));
});
