/* The desktop's inbox: views with counts (mine, unassigned, my queues, snoozed, resolved,
 * all), filters, keyset pages, search over messages and customers, keyboard shortcuts; and
 * the conversation's tools (labels, snooze, macros, reopen).
 * It talks to desktop.js through DOM events only: `tl-open` {id} opens a conversation,
 * `tl-resolve` asks for the resolve dialog; desktop.js re-broadcasts each stream frame as a
 * window `tl-frame` event. Strings come from web/locales/inbox, in the agent's language. */
"use strict";

(function () {
  const tag = document.getElementById("inbox-strings");
  const S = tag ? JSON.parse(tag.textContent || "{}") : {};
  const tr = (key, values) => String(S[key] || key)
    .replace(/\{(\w+)\}/g, (m, k) => (values && k in values ? values[k] : m));
  const VIEWS = ["mine", "unassigned", "queues", "snoozed", "resolved", "all"];
  const CHANNELS = ["chat", "sms", "email", "voice", "whatsapp", "telegram", "messenger", "app"];
  const STATUSES = ["bot", "queued", "assigned", "waiting_customer", "callback_scheduled", "resolved"];
  const REFRESH_MS = 400;     // a burst of changes refreshes the list once
  const COUNTS_MS = 1500;     // and not more often than this
  const enc = encodeURIComponent;
  const typingIn = (el) => el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  const language = () => (document.documentElement.lang || "en").slice(0, 2);

  /** How the timeline reads the inbox's entries (desktop.js asks, for kinds it does not know). */
  function eventText(e) {
    const who = e.author_name || "";
    const d = e.data || {};
    switch (e.kind) {
      case "labelled":
        return tr(d.added ? "ev_labelled" : "ev_unlabelled", { who, label: d.label || "" });
      case "snoozed":
        return tr("ev_snoozed", { who, time: window.TLDesk.formatTime(d.until) });
      case "woke":
        return tr("ev_woke", { by: tr(`ev_woke_${d.by || "timer"}`) });
      case "reopened":
        return tr("ev_reopened", { who });
      default:
        return "";
    }
  }
  window.TLInbox = { tr, eventText };

  document.addEventListener("alpine:init", () => {
    const T = window.TLDesk;

    window.Alpine.data("inbox", () => ({
      ti: tr,
      views: VIEWS,
      channels: CHANNELS,
      statuses: STATUSES,
      view: "queues",
      counts: {},
      rows: [],
      nextCursor: null,
      loading: false,
      filters: { channel: "", queue_id: "", label_id: "", status: "" },
      inboxQueues: [],
      inboxLabels: [],
      query: "",
      results: null,         // {messages, customers} while searching
      cursor: -1,            // the highlighted row (j/k)
      openId: null,          // the conversation open in the desktop
      _refresh: null,
      _countsAt: 0,

      init() {
        this.loadReference();
        this.load();
        window.addEventListener("tl-frame", (event) => this.onFrame(event.detail));
        window.addEventListener("tl-labels-changed", () => this.loadReference());
        window.addEventListener("keydown", (event) => this.onKey(event));
      },

      async loadReference() {
        try {
          [this.inboxQueues, this.inboxLabels] = await Promise.all([
            T.api("GET", "/api/v1/queues"), T.api("GET", "/api/v1/labels"),
          ]);
        } catch (err) { /* the lists stay as they were */ }
      },

      params() {
        const p = new URLSearchParams();
        Object.entries(this.filters).forEach(([k, v]) => { if (v) p.set(k, v); });
        return p;
      },

      async load(more) {
        const p = this.params();
        p.set("view", this.view);
        if (more && this.nextCursor) p.set("cursor", this.nextCursor);
        this.loading = true;
        try {
          const page = await T.api("GET", `/api/v1/inbox?${p}`);
          this.rows = more ? this.rows.concat(page.rows) : page.rows;
          this.nextCursor = page.next_cursor;
          if (!more) await this.loadCounts();
        } catch (err) {
          this.rows = more ? this.rows : [];
        } finally {
          this.loading = false;
        }
      },

      async loadCounts() {
        this._countsAt = Date.now();
        try { this.counts = await T.api("GET", `/api/v1/inbox/counts?${this.params()}`); } catch (err) { /* kept */ }
      },

      setView(view) {
        this.view = view;
        this.cursor = -1;
        this.results = null;
        this.load();
      },

      viewLabel(view) { return tr(`view_${view}`); },
      countOf(view) { return this.counts[view] == null ? "" : String(this.counts[view]); },
      isView(view) { return this.view === view; },
      rowName(row) { return row.customer_name || tr("visitor"); },
      rowTime(row) { return T.formatTime(row.updated_at); },
      rowStatus(row) { return row.status.replace(/_/g, " "); },
      rowUnread(row) { return row.last_seq > row.agent_read_seq; },
      isOpen(id) { return id === this.openId; },
      isCursor(index) { return index === this.cursor; },
      labelStyle(label) { return `border-color:${label.colour};color:${label.colour}`; },
      statusText(status) { return status.replace(/_/g, " "); },
      hitTime(hit) { return T.formatTime(hit.created_at); },
      hitWho(hit) { return hit.customer_name || tr("visitor"); },
      customerSub(c) { return [c.email, c.phone].filter(Boolean).join(" · "); },
      track(id) { this.openId = id || null; },

      /** A change pushed by the server: refresh the list soon, the counts now and then. */
      onFrame(frame) {
        if (frame.type !== "thread.changed") return;
        if (this._refresh) return;  // one is coming, and will see this change too
        // a burst of changes (and many agents' changes) costs one refresh per REFRESH_MS,
        // and the counts one per COUNTS_MS at most
        const wait = Math.max(REFRESH_MS, COUNTS_MS - (Date.now() - this._countsAt));
        this._refresh = setTimeout(() => {
          this._refresh = null;
          this.loadCounts();
          if (this.results) return;  // the search results stay as they are
          const keepCursor = this.cursor;
          this.reloadRows().then(() => { this.cursor = Math.min(keepCursor, this.rows.length - 1); });
        }, wait);
      },

      /** The rows shown so far, fetched again (as many as were loaded). */
      async reloadRows() {
        const p = this.params();
        p.set("view", this.view);
        p.set("limit", String(Math.min(200, Math.max(50, this.rows.length))));
        try {
          const page = await T.api("GET", `/api/v1/inbox?${p}`);
          this.rows = page.rows;
          this.nextCursor = page.next_cursor;
        } catch (err) { /* kept */ }
      },

      open(id) {
        if (!id) return;
        this.openId = id;
        this.$dispatch("tl-open", { id });
      },

      // ---------------------------------------------------------------- search
      async search() {
        const q = this.query.trim();
        if (!q) { this.clearSearch(); return; }
        try {
          this.results = await T.api("GET", `/api/v1/inbox/search?q=${enc(q)}&language=${enc(language())}`);
          this.cursor = -1;
        } catch (err) {
          this.results = { messages: [], customers: [] };
        }
      },

      clearSearch() {
        this.query = "";
        this.results = null;
        this.cursor = -1;
      },

      get searchEmpty() {
        return !!this.results && !this.results.messages.length && !this.results.customers.length;
      },

      // ---------------------------------------------------------------- keyboard
      /** The ids j/k walk through: search hits while searching, else the view's rows. */
      walkable() {
        if (this.results) {
          return this.results.messages.map((h) => h.thread_id)
            .concat(this.results.customers.map((c) => c.thread_id).filter(Boolean));
        }
        return this.rows.map((r) => r.id);
      },

      onKey(event) {
        if (event.ctrlKey || event.metaKey || event.altKey) return;
        if (document.querySelector("dialog[open]")) {
          return;  // a dialog has the keyboard (Escape closes it natively)
        }
        if (typingIn(event.target)) {
          if (event.key === "Escape" && event.target === this.$refs.search) {
            this.clearSearch();
            event.target.blur();
          }
          return;
        }
        const ids = this.walkable();
        switch (event.key) {
          case "j":
          case "k":
            if (!ids.length) return;
            event.preventDefault();
            this.cursor = event.key === "j"
              ? Math.min(ids.length - 1, this.cursor + 1)
              : Math.max(0, this.cursor - 1);
            this.open(ids[this.cursor]);
            break;
          case "Enter":
            if (this.cursor >= 0 && ids[this.cursor]) this.open(ids[this.cursor]);
            break;
          case "e":
            event.preventDefault();
            this.$dispatch("tl-resolve");
            break;
          case "/":
            event.preventDefault();
            this.$refs.search.focus();
            break;
          case "?":
            event.preventDefault();
            this.$refs.help.showModal();
            break;
          default:
            break;
        }
      },
    }));

    /** Labels, snooze, macros and reopen for the open conversation. */
    window.Alpine.data("threadTools", () => ({
      ti: tr,
      toolThreadId: null,
      toolStatus: "",
      snoozedUntil: null,
      threadLabels: [],
      orgLabels: [],
      orgMacros: [],
      snoozeLocal: "",
      toolBusy: false,
      toolError: "",

      init() {
        this.loadOrg();
        window.addEventListener("tl-labels-changed", () => this.loadOrg());
        window.addEventListener("tl-frame", (event) => {
          const f = event.detail;
          if (f.type === "timeline" && f.thread_id === this.toolThreadId
              && ["labelled", "snoozed", "woke", "reopened", "resolved", "queued", "assigned"].includes(f.event.kind)) {
            this.refresh();
          }
        });
      },

      async loadOrg() {
        try {
          [this.orgLabels, this.orgMacros] = await Promise.all([
            T.api("GET", "/api/v1/labels"), T.api("GET", "/api/v1/macros"),
          ]);
        } catch (err) { /* kept */ }
      },

      /** Follow the desktop's selected thread (x-effect passes it). */
      track(thread) {
        const id = thread ? thread.id : null;
        const status = thread ? thread.status : "";
        this.toolStatus = status;
        if (id === this.toolThreadId) return;
        this.toolThreadId = id;
        this.threadLabels = [];
        this.snoozedUntil = null;
        this.toolError = "";
        if (id) this.refresh();
      },

      async refresh() {
        const id = this.toolThreadId;
        if (!id) return;
        try {
          const [thread, labels] = await Promise.all([
            T.api("GET", `/api/v1/threads/${enc(id)}`),
            T.api("GET", `/api/v1/threads/${enc(id)}/labels`),
          ]);
          if (id !== this.toolThreadId) return;
          this.threadLabels = labels;
          this.snoozedUntil = thread.snoozed_until;
          this.toolStatus = thread.status;
        } catch (err) { /* kept */ }
      },

      get addableLabels() {
        const on = new Set(this.threadLabels.map((l) => l.id));
        return this.orgLabels.filter((l) => !on.has(l.id));
      },
      get isResolved() { return this.toolStatus === "resolved"; },
      get snoozedText() { return this.snoozedUntil ? tr("snoozed_until", { time: T.formatTime(this.snoozedUntil) }) : ""; },
      removeLabelText(label) { return tr("remove_label", { name: label.name }); },
      chipStyle(label) { return `border-color:${label.colour};color:${label.colour}`; },

      async act(fn) {
        this.toolBusy = true;
        this.toolError = "";
        try {
          await fn();
        } catch (err) {
          this.toolError = err.message;
        } finally {
          this.toolBusy = false;
        }
      },

      addLabel(labelId, select) {
        if (select) select.value = "";
        if (!labelId) return;
        return this.act(async () => {
          this.threadLabels = await T.api("PUT", `/api/v1/threads/${enc(this.toolThreadId)}/labels/${enc(labelId)}`);
        });
      },

      removeLabel(labelId) {
        return this.act(async () => {
          this.threadLabels = await T.api("DELETE", `/api/v1/threads/${enc(this.toolThreadId)}/labels/${enc(labelId)}`);
        });
      },

      snooze(body) {
        return this.act(async () => {
          const thread = await T.api("POST", `/api/v1/threads/${enc(this.toolThreadId)}/snooze`, body);
          this.snoozedUntil = thread.snoozed_until;
          const menu = this.$refs.snoozeMenu;
          if (menu) menu.open = false;
        });
      },
      snoozePreset(preset) { return this.snooze({ preset }); },
      snoozeCustom() { return this.snoozeLocal ? this.snooze({ local: this.snoozeLocal.slice(0, 16) }) : null; },

      unsnooze() {
        return this.act(async () => {
          const thread = await T.api("DELETE", `/api/v1/threads/${enc(this.toolThreadId)}/snooze`);
          this.snoozedUntil = thread.snoozed_until;
        });
      },

      reopen() {
        return this.act(async () => {
          const thread = await T.api("POST", `/api/v1/threads/${enc(this.toolThreadId)}/reopen`, {});
          this.toolStatus = thread.status;
          this.$dispatch("tl-flash", { message: tr("reopened") });
        });
      },

      runMacro(macroId, select) {
        if (select) select.value = "";
        const macro = this.orgMacros.find((m) => m.id === macroId);
        if (!macro) return;
        return this.act(async () => {
          const thread = await T.api("POST",
            `/api/v1/threads/${enc(this.toolThreadId)}/macros/${enc(macroId)}/run?client_msg_id=${enc(T.uuid())}`);
          this.toolStatus = thread.status;
          this.snoozedUntil = thread.snoozed_until;
          await this.refresh();
          this.$dispatch("tl-flash", { message: tr("macro_done", { name: macro.name }) });
        });
      },
    }));
  });
})();
