/* The customer profile page (/customers/ID): agents read and edit the profile (errors from the
 * server beside the field), open previous conversations, link another customer record into
 * this one and undo the link; admins download the data export and erase the customer (typed
 * confirmation). Everything through /api/v1/customers; times in the viewer's time zone. */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const FIELDS = ["name", "language", "timezone"];
  const EDITABLE = ["email", "phone"];  // the identities edited here (others come from channels)
  const STATUSES = ["queued", "offered", "assigned", "bot", "waiting_customer", "resolved"];

  function fmt(text, values) {
    return String(text).replace(/\{(\w+)\}/g, (m, name) => (name in values ? values[name] : m));
  }

  /** The conversations in a customer's timeline (oldest first): channels and last activity. */
  function conversationsOf(events) {
    const byThread = new Map();
    for (const e of events) {
      let c = byThread.get(e.thread_id);
      if (!c) {
        c = { id: e.thread_id, status: null, channels: [], last: e.created_at, events: [] };
        byThread.set(e.thread_id, c);
      }
      if (e.channel && !c.channels.includes(e.channel)) c.channels.push(e.channel);
      c.last = e.created_at;
      c.events.push(e);
    }
    return Array.from(byThread.values()).sort((a, b) => (a.last < b.last ? 1 : -1));
  }

  window.Alpine.data("customerProfile", (config) => ({
    me: config.me,
    t: config.t,
    id: config.customer_id,
    isAdmin: config.me.role === "admin",
    customer: null,
    loading: true,
    missing: false,
    form: { name: "", language: "", timezone: "" },
    errors: {},
    saving: false,
    conversations: [],
    openId: null,
    mergeQuery: "",
    searched: false,
    candidates: [],
    links: [],
    confirm: "",
    editing: null,       // the identity being changed
    changeValue: "",
    changeError: "",
    changeTaken: null,   // {id, name} of the customer who holds the value typed
    addKind: "email",
    addValue: "",
    addError: "",
    addTaken: null,
    notice: "",
    noticeKind: "info",

    async init() {
      await this.load();
      if (this.customer) await Promise.all([this.loadConversations(), this.loadLinks()]);
    },

    base() { return `/api/v1/customers/${encodeURIComponent(this.id)}`; },

    async load() {
      this.loading = true;
      try {
        this.show(await T.api("GET", this.base()));
      } catch (err) {
        if (err.status === 404) this.missing = true;
        else this.say(fmt(this.t.load_failed, { error: err.message }), "error");
      } finally {
        this.loading = false;
      }
    },

    show(customer) {
      this.customer = customer;
      this.form = {
        name: customer.name || "",
        language: customer.language || "",
        timezone: customer.timezone || "",
      };
    },

    async loadConversations() {
      try {
        const events = await T.api("GET", `${this.base()}/timeline?limit=5000`);
        const conversations = conversationsOf(events);
        await Promise.all(conversations.slice(0, 50).map(async (c) => {
          try {
            const thread = await T.api("GET", `/api/v1/threads/${encodeURIComponent(c.id)}`);
            c.status = thread.status;
            if (thread.updated_at > c.last) c.last = thread.updated_at;
          } catch (err) { c.status = null; }
        }));
        this.conversations = conversations;
      } catch (err) {
        this.say(fmt(this.t.load_failed, { error: err.message }), "error");
      }
    },

    async loadLinks() {
      try {
        this.links = await T.api("GET", `${this.base()}/links`);
      } catch (err) {
        this.say(fmt(this.t.load_failed, { error: err.message }), "error");
      }
    },

    /** A field's error from a 422 problem: our own words for the field when we have them. */
    fieldErrors(err, fields) {
      const errors = {};
      const list = (err.details && err.details.errors) || [];
      for (const e of list) {
        const field = (e.loc || []).filter((part) => fields.includes(part))[0];
        if (field && !errors[field]) errors[field] = this.t[`invalid_${field}`] || e.msg;
      }
      return errors;
    },

    async save() {
      this.errors = {};
      const body = {};
      for (const f of FIELDS) {
        const value = this.form[f].trim();
        if (value !== (this.customer[f] || "")) body[f] = value === "" ? null : value;
      }
      if (!Object.keys(body).length) {
        this.say(this.t.nothing_changed, "info");
        return;
      }
      this.saving = true;
      try {
        this.show(await T.api("PATCH", this.base(), body));
        this.say(this.t.saved, "success");
      } catch (err) {
        this.errors = this.fieldErrors(err, FIELDS);
        if (!Object.keys(this.errors).length) this.say(fmt(this.t.save_failed, { error: err.message }), "error");
        else this.say(this.t.fix_fields, "error");
      } finally {
        this.saving = false;
      }
    },

    editable(i) { return !this.customer.erased_at && EDITABLE.includes(i.kind); },

    /** Why an identity was refused, in the page's words, and who holds it (a 409). */
    identityProblem(err, kind) {
      const details = err.details || {};
      if (err.status === 409 && details.customer_id) {
        const taken = { id: details.customer_id, name: details.customer_name || this.t.unnamed };
        return { error: fmt(this.t.identity_taken, { name: taken.name }), taken };
      }
      if (err.status === 409) return { error: this.t.identity_already, taken: null };
      if (err.status === 422) return { error: this.t[`invalid_identity_${kind}`], taken: null };
      return { error: fmt(this.t.save_failed, { error: err.message }), taken: null };
    },

    async addIdentity() {
      this.addError = "";
      this.addTaken = null;
      const value = this.addValue.trim();
      if (!value) { this.addError = this.t[`invalid_identity_${this.addKind}`]; return; }
      this.saving = true;
      try {
        this.show(await T.api("POST", `${this.base()}/identities`, { kind: this.addKind, value }));
        this.addValue = "";
        this.say(this.t.saved, "success");
      } catch (err) {
        const problem = this.identityProblem(err, this.addKind);
        this.addError = problem.error;
        this.addTaken = problem.taken;
      } finally {
        this.saving = false;
      }
    },

    startChange(i) {
      this.editing = i.id;
      this.changeValue = i.value;
      this.changeError = "";
      this.changeTaken = null;
      this.$nextTick(() => document.getElementById(`edit-${i.id}`).focus());
    },
    stopChange() { this.editing = null; this.changeError = ""; this.changeTaken = null; },

    async saveChange(i) {
      this.changeError = "";
      this.changeTaken = null;
      const value = this.changeValue.trim();
      if (!value) { this.changeError = this.t[`invalid_identity_${i.kind}`]; return; }
      this.saving = true;
      try {
        this.show(await T.api("PATCH", `${this.base()}/identities/${encodeURIComponent(i.id)}`, { value }));
        this.stopChange();
        this.say(this.t.identity_changed, "success");
      } catch (err) {
        const problem = this.identityProblem(err, i.kind);
        this.changeError = problem.error;
        this.changeTaken = problem.taken;
      } finally {
        this.saving = false;
      }
    },

    async removeIdentity(i) {
      if (!window.confirm(fmt(this.t.remove_confirm, { value: i.value }))) return;
      this.saving = true;
      try {
        await T.api("DELETE", `${this.base()}/identities/${encodeURIComponent(i.id)}`);
        await this.load();
        this.say(this.t.identity_removed, "success");
      } catch (err) {
        this.say(fmt(this.t.save_failed, { error: err.message }), "error");
      } finally {
        this.saving = false;
      }
    },

    openOther(taken) { return fmt(this.t.open_other, { name: taken.name }); },
    otherHref(taken) { return `/customers/${encodeURIComponent(taken.id)}`; },
    mergeOther(taken) { return fmt(this.t.merge_other, { name: taken.name }); },
    /** The customer who holds the value is the same person: merge them into this one. */
    async mergeTaken(taken) {
      await this.merge({ id: taken.id, name: taken.name });
      this.addError = "";
      this.addTaken = null;
      this.stopChange();
    },

    toggle(id) { this.openId = this.openId === id ? null : id; },
    openEvents() {
      const c = this.conversations.find((x) => x.id === this.openId);
      return c ? c.events : [];
    },

    async findOthers() {
      this.candidates = [];
      this.searched = false;
      if (!this.mergeQuery) return;
      try {
        const q = new URLSearchParams({ q: this.mergeQuery, limit: "20" });
        const found = await T.api("GET", `/api/v1/customers?${q.toString()}`);
        this.candidates = found.filter((c) => c.id !== this.customer.id);
        this.searched = true;
      } catch (err) {
        this.say(fmt(this.t.load_failed, { error: err.message }), "error");
      }
    },

    async merge(other) {
      const name = other.name || other.email || other.id;
      if (!window.confirm(fmt(this.t.merge_confirm, { name }))) return;
      this.saving = true;
      try {
        const merged = await T.api("POST", `${this.base()}/merge`, { source_id: other.id });
        this.show(merged);
        this.candidates = [];
        this.say(fmt(this.t.merged, { name }), "success");
        await Promise.all([this.loadConversations(), this.loadLinks()]);
      } catch (err) {
        this.say(fmt(this.t.merge_failed, { error: err.message }), "error");
      } finally {
        this.saving = false;
      }
    },

    async undo(link) {
      this.saving = true;
      try {
        await T.api("POST", `/api/v1/customers/links/${encodeURIComponent(link.id)}/undo`);
        this.say(this.t.undone, "success");
        await this.load();
        await Promise.all([this.loadConversations(), this.loadLinks()]);
      } catch (err) {
        this.say(fmt(this.t.undo_failed, { error: err.message }), "error");
      } finally {
        this.saving = false;
      }
    },

    async erase() {
      this.errors = {};
      if (this.confirm !== this.customer.id) {
        this.errors = { confirm: this.t.invalid_confirm };
        return;
      }
      this.saving = true;
      try {
        await T.api("POST", `${this.base()}/erase`, { confirm: this.confirm });
        this.confirm = "";
        await this.load();
        this.say(this.t.erased_done, "success");
      } catch (err) {
        if (err.status === 409) this.say(this.t.erase_in_progress, "error");
        else if (err.status === 422) this.errors = { confirm: this.t.invalid_confirm };
        else this.say(fmt(this.t.erase_failed, { error: err.message }), "error");
      } finally {
        this.saving = false;
      }
    },

    exportUrl() { return `${this.base()}/export`; },
    channelsOf(c) { return c.channels.join(", ") || "—"; },
    heading() {
      if (!this.customer) return this.t.title;
      return this.customer.name || (this.customer.erased_at ? this.t.erased : this.t.unnamed);
    },
    erasedNote() { return fmt(this.t.erased_on, { when: this.full(this.customer.erased_at) }); },
    eraseLabel() { return fmt(this.t.erase_confirm_label, { id: this.customer.id }); },
    statusName(s) { return s && STATUSES.includes(s) ? this.t[`status_${s}`] : (s || "—"); },
    author(e) {
      if (e.author_name) return e.author_name;
      return e.author_type === "customer" ? this.t.author_customer : this.t.author_system;
    },
    linkText(l) {
      return fmt(this.t.link_text, {
        name: l.source_name || l.source_id,
        when: this.when(l.linked_at),
        who: l.linked_by ? (l.linked_by.name || l.linked_by.id) : this.t.automatic,
      });
    },
    undoneText(l) { return fmt(this.t.undone_on, { when: this.when(l.undone_at) }); },
    say(text, kind) {
      this.notice = text;
      this.noticeKind = kind || "info";
    },
    when(iso) { return T.formatTime(iso); },
    full(iso) { return T.formatFull(iso); },
    day(iso) { return T.formatDay(iso); },
    initials(name) { return T.initials(name); },
    logout() { T.logout(false); },
  }));
});
