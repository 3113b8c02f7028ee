/* Admins' outbound webhooks page: subscriptions (add, edit, enable/disable, delete, send a
 * test event, rotate the signing secret) and each one's deliveries with their attempts
 * (redeliver), through /api/v1/webhooks. A signing secret is shown once, right after it is
 * made, and is gone from the page when dismissed. */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const ALL = "*";

  function fmt(text, values) {
    return String(text).replace(/\{(\w+)\}/g, (m, name) => (name in values ? values[name] : m));
  }

  window.Alpine.data("adminWebhooks", (config) => ({
    me: config.me,
    t: config.t,
    hooks: [],
    eventTypes: [],
    loading: true,
    form: null,
    fieldErrors: {},
    formError: "",
    saving: false,
    notice: "",
    noticeKind: "info",
    secret: null, // {url, value}: shown once
    copied: false,
    selected: null,
    statusFilter: "",
    deliveries: [],
    open: null,
    detail: null,

    init() {
      this.load();
    },

    async load() {
      try {
        const [hooks, types] = await Promise.all([
          T.api("GET", "/api/v1/webhooks"),
          T.api("GET", "/api/v1/webhooks/event-types"),
        ]);
        this.hooks = hooks;
        this.eventTypes = types.event_types.filter((x) => x !== ALL);
      } catch (err) {
        this.say(fmt(this.t.load_failed, { error: err.message }), "error");
      } finally {
        this.loading = false;
      }
    },

    say(text, kind) {
      this.notice = text;
      this.noticeKind = kind || "info";
    },

    // ---- the form ---------------------------------------------------------------------------

    openNew() {
      this.form = { id: null, url: "", description: "", all: false, types: [], active: true };
      this.clearErrors();
      this.$nextTick(() => document.getElementById("f-url").focus());
    },

    openEdit(hook) {
      const all = hook.event_types.includes(ALL);
      this.form = {
        id: hook.id,
        url: hook.url,
        description: hook.description || "",
        all,
        types: all ? [] : [...hook.event_types],
        active: hook.active,
      };
      this.clearErrors();
      this.$nextTick(() => document.getElementById("f-url").focus());
    },

    closeForm() {
      this.form = null;
      this.clearErrors();
    },

    clearErrors() {
      this.fieldErrors = {};
      this.formError = "";
    },

    async save() {
      this.clearErrors();
      const errors = {};
      const url = this.form.url.trim();
      const types = this.form.all ? [ALL] : [...this.form.types];
      if (!url) errors.url = this.t.required;
      if (!types.length) errors.event_types = this.t.pick_events;
      if (Object.keys(errors).length) {
        this.fieldErrors = errors;
        return;
      }
      const body = { url, event_types: types, description: this.form.description.trim(), active: !!this.form.active };
      this.saving = true;
      try {
        if (this.form.id) {
          const saved = await T.api("PATCH", `/api/v1/webhooks/${encodeURIComponent(this.form.id)}`, body);
          this.upsert(saved);
          this.say(fmt(this.t.saved, { url: saved.url }), "info");
        } else {
          const created = await T.api("POST", "/api/v1/webhooks", body);
          const { secret, ...hook } = created;
          this.upsert(hook);
          this.showSecret(hook.url, secret);
          this.say(fmt(this.t.created, { url: hook.url }), "info");
        }
        this.closeForm();
      } catch (err) {
        this.showProblem(err);
      } finally {
        this.saving = false;
      }
    },

    /** A problem answer next to the field it names ("url: ...", or a schema error's loc). */
    showProblem(err) {
      const named = /^(url|event_types):\s/.exec(err.message || "");
      if (named) {
        this.fieldErrors = { [named[1]]: err.message.slice(named[0].length) };
        return;
      }
      const errors = {};
      for (const e of (err.details && err.details.errors) || []) {
        const field = (e.loc || []).find((p) => p === "url" || p === "event_types");
        if (field) errors[field] = e.msg;
      }
      if (Object.keys(errors).length) this.fieldErrors = errors;
      else this.formError = fmt(this.t.not_saved, { error: err.message });
    },

    upsert(hook) {
      const i = this.hooks.findIndex((h) => h.id === hook.id);
      if (i >= 0) this.hooks.splice(i, 1, hook);
      else this.hooks.push(hook);
      if (this.selected && this.selected.id === hook.id) this.selected = hook;
    },

    // ---- actions on a subscription ----------------------------------------------------------

    showSecret(url, value) {
      this.secret = { url, value };
      this.copied = false;
      this.$nextTick(() => {
        const panel = document.querySelector("[data-testid=secret-panel]");
        if (panel) panel.scrollIntoView({ block: "nearest" });
      });
    },

    async copySecret() {
      try {
        await navigator.clipboard.writeText(this.secret.value);
      } catch (err) {
        const input = document.querySelector("[data-testid=secret]");
        if (input) {
          input.select();
          document.execCommand("copy");
        }
      }
      this.copied = true;
    },

    async setActive(hook, active) {
      await this.act(async () => {
        const saved = await T.api("PATCH", this.path(hook), { active });
        this.upsert(saved);
        this.say(fmt(active ? this.t.enabled_notice : this.t.disabled_notice, { url: saved.url }), "info");
      });
    },

    async rotate(hook) {
      if (!window.confirm(fmt(this.t.rotate_confirm, { url: hook.url }))) return;
      await this.act(async () => {
        const answer = await T.api("POST", `${this.path(hook)}/rotate-secret`);
        this.showSecret(hook.url, answer.secret);
      });
    },

    async remove(hook) {
      if (!window.confirm(fmt(this.t.delete_confirm, { url: hook.url }))) return;
      await this.act(async () => {
        await T.api("DELETE", this.path(hook));
        this.hooks = this.hooks.filter((h) => h.id !== hook.id);
        if (this.selected && this.selected.id === hook.id) this.selected = null;
        this.say(fmt(this.t.deleted, { url: hook.url }), "info");
      });
    },

    async ping(hook) {
      await this.act(async () => {
        await T.api("POST", `${this.path(hook)}/ping`);
        this.say(fmt(this.t.ping_sent, { url: hook.url }), "info");
        await this.showDeliveries(hook);
        this.refreshSoon();
      });
    },

    async act(work) {
      try {
        await work();
      } catch (err) {
        this.say(fmt(this.t.failed, { error: err.message }), "error");
      }
    },

    path(hook) {
      return `/api/v1/webhooks/${encodeURIComponent(hook.id)}`;
    },

    // ---- deliveries ---------------------------------------------------------------------------

    async showDeliveries(hook) {
      if (!this.selected || this.selected.id !== hook.id) {
        this.open = null;
        this.detail = null;
      }
      this.selected = hook;
      await this.loadDeliveries();
    },

    async loadDeliveries() {
      if (!this.selected) return;
      const query = this.statusFilter ? `?status=${encodeURIComponent(this.statusFilter)}` : "";
      await this.act(async () => {
        this.deliveries = await T.api("GET", `${this.path(this.selected)}/deliveries${query}`);
        if (this.open) await this.loadDetail(this.open);
      });
    },

    /** Deliveries still on their way are looked at again a few times (sends take a moment). */
    refreshSoon(times) {
      const left = times === undefined ? 5 : times;
      if (left <= 0) return;
      setTimeout(async () => {
        await this.loadDeliveries();
        if (this.deliveries.some((d) => d.status === "pending" || d.status === "sending")) this.refreshSoon(left - 1);
      }, 1000);
    },

    async toggleDetail(delivery) {
      if (this.open === delivery.id) {
        this.open = null;
        this.detail = null;
        return;
      }
      this.open = delivery.id;
      this.detail = null;
      await this.act(() => this.loadDetail(delivery.id));
    },

    async loadDetail(id) {
      this.detail = await T.api("GET", `${this.path(this.selected)}/deliveries/${encodeURIComponent(id)}`);
    },

    get attemptLog() {
      return this.detail ? this.detail.attempt_log : [];
    },

    async redeliver(delivery) {
      await this.act(async () => {
        const again = await T.api("POST", `${this.path(this.selected)}/deliveries/${encodeURIComponent(delivery.id)}/redeliver`);
        const i = this.deliveries.findIndex((d) => d.id === again.id);
        if (i >= 0) this.deliveries.splice(i, 1, again);
        this.say(this.t.redelivering, "info");
        this.refreshSoon();
      });
    },

    // ---- formatting -------------------------------------------------------------------------

    typesText(hook) {
      return hook.event_types.includes(ALL) ? this.t.all_events : hook.event_types.join(", ");
    },

    statusText(status) {
      return this.t["status_" + status] || status;
    },

    statusClass(status) {
      return status === "delivered" ? "badge-ok" : status === "failed" ? "badge-bad" : "badge-warn";
    },

    resultText(delivery) {
      if (delivery.status === "pending" && delivery.attempts && delivery.next_attempt_at) {
        return fmt(this.t.retry_at, { when: T.formatTime(delivery.next_attempt_at), error: delivery.last_error || "" });
      }
      if (delivery.last_status_code) return String(delivery.last_status_code);
      return delivery.last_error || "";
    },

    when(iso) { return T.formatFull(iso); },
    pretty(value) { return JSON.stringify(value, null, 2); },
    fmt(text, values) { return fmt(text, values); },
    initials(name) { return T.initials(name); },
    logout() { T.logout(false); },
  }));
});
