/* Canned replies in the composer: "/" followed by a shortcut opens a picker filtered as the
 * agent types; choosing one puts its text (variables filled by the server for this thread's
 * customer) in place of "/shortcut". And the small management dialog for canned replies,
 * labels and macros (the organisation's are a supervisor's to change). */
"use strict";

(function () {
  const enc = encodeURIComponent;
  const TOKEN = /(^|\s)\/([a-z0-9_-]*)$/;  // "/shortcut" being typed just before the cursor
  const MAX_SHOWN = 8;

  document.addEventListener("alpine:init", () => {
    const T = window.TLDesk;
    const tr = (key, values) => window.TLInbox.tr(key, values);

    async function loadCanned() {
      try { return await T.api("GET", "/api/v1/canned-replies"); } catch (err) { return []; }
    }

    window.Alpine.data("canned", () => ({
      cannedAll: [],
      cannedOpen: false,
      cannedQuery: "",
      cannedIndex: 0,
      cannedStart: -1,      // where "/" is in the draft

      async init() {
        this.cannedAll = await loadCanned();
        window.addEventListener("tl-canned-changed", async () => { this.cannedAll = await loadCanned(); });
      },

      get cannedShown() {
        const q = this.cannedQuery.toLowerCase();
        return this.cannedAll
          .filter((c) => c.shortcut.startsWith(q) || c.title.toLowerCase().includes(q))
          .slice(0, MAX_SHOWN);
      },
      get cannedNone() { return tr("canned_none", { q: this.cannedQuery }); },
      cannedLabel() { return tr("canned_picker"); },
      isPicked(index) { return index === this.cannedIndex; },
      personalTag(c) { return c.owner_agent_id ? tr("personal_tag") : ""; },

      /** On each input in the reply box: is a "/shortcut" being typed? */
      cannedInput(event) {
        const box = event.target;
        if (!box || box.tagName !== "TEXTAREA") return;
        const before = box.value.slice(0, box.selectionStart);
        const found = TOKEN.exec(before);
        if (!found) { this.cannedOpen = false; return; }
        this.cannedQuery = found[2];
        this.cannedStart = before.length - found[2].length - 1;
        this.cannedIndex = 0;
        this.cannedOpen = true;
      },

      /** Runs before the reply box's own keys (capture): the picker's keys stay in it. */
      cannedKey(event) {
        if (!this.cannedOpen) return;
        const shown = this.cannedShown;
        const stop = () => { event.preventDefault(); event.stopPropagation(); };
        if (event.key === "ArrowDown") { stop(); this.cannedIndex = Math.min(shown.length - 1, this.cannedIndex + 1); }
        else if (event.key === "ArrowUp") { stop(); this.cannedIndex = Math.max(0, this.cannedIndex - 1); }
        else if (event.key === "Escape") { stop(); this.cannedOpen = false; }
        else if ((event.key === "Enter" || event.key === "Tab") && shown.length) {
          stop();
          this.pickCanned(shown[this.cannedIndex]);
        }
      },

      async pickCanned(item) {
        const form = document.querySelector("form.composer");
        const box = form && form.querySelector("textarea");
        const threadId = form && form.dataset.thread;
        this.cannedOpen = false;
        if (!box || !item || !threadId) return;
        let text = item.body;
        try {
          text = (await T.api("POST",
            `/api/v1/threads/${enc(threadId)}/canned-replies/${enc(item.id)}/render`)).text;
        } catch (err) { /* the text as written; the server fills nothing */ }
        const start = Math.max(0, this.cannedStart);
        const end = box.selectionStart;
        box.value = box.value.slice(0, start) + text + box.value.slice(end);
        box.dispatchEvent(new Event("input", { bubbles: true }));  // x-model follows
        const cursor = start + text.length;
        box.focus();
        box.setSelectionRange(cursor, cursor);
      },
    }));

    /** Canned replies, labels and macros: a small management dialog. */
    window.Alpine.data("manage", () => ({
      ti: tr,
      canSupervise: false,
      mCanned: [],
      mLabels: [],
      mMacros: [],
      cannedForm: { id: null, shortcut: "", title: "", body: "", personal: true },
      labelForm: { id: null, name: "", colour: "#1f5fbf" },
      macroForm: { id: null, name: "", reply: "", label_ids: [], then: "", resolve_reason: "", snooze_minutes: 60 },
      mErrors: {},
      mError: "",

      setRole(role) { this.canSupervise = role === "supervisor" || role === "admin"; },

      async openManage() {
        this.mError = "";
        this.mErrors = {};
        await this.reload();
        this.$refs.manageDialog.showModal();
      },

      async reload() {
        try {
          [this.mCanned, this.mLabels, this.mMacros] = await Promise.all([
            T.api("GET", "/api/v1/canned-replies"), T.api("GET", "/api/v1/labels"), T.api("GET", "/api/v1/macros"),
          ]);
        } catch (err) {
          this.mError = err.message;
        }
      },

      fieldError(name) { return this.mErrors[name] || ""; },
      mayChange(c) { return !!c.owner_agent_id || this.canSupervise; },
      mine(c) { return c.owner_agent_id ? tr("personal_tag") : ""; },
      labelName(id) { const l = this.mLabels.find((x) => x.id === id); return l ? l.name : ""; },
      macroSummary(m) {
        return [m.reply ? "↩" : "", m.label_ids.map((id) => this.labelName(id)).join(", "),
          m.then ? tr(`then_${m.then}`) : ""].filter(Boolean).join(" · ");
      },
      swatch(label) { return `background:${label.colour}`; },

      /** The server's reasons beside the form's fields, keyed "form.field" (a 422's
       * details.errors; a 409 on a name says so in the page's language). */
      failed(err, fallbackField, taken) {
        const [form] = fallbackField.split(".");
        const errors = (err.details && err.details.errors) || [];
        this.mErrors = {};
        if (err.status === 409 && taken) { this.mErrors[fallbackField] = taken; return; }
        errors.forEach((e) => {
          this.mErrors[`${form}.${String((e.loc || []).slice(-1)[0] || fallbackField.split(".")[1])}`] = e.msg;
        });
        if (!errors.length) this.mErrors[fallbackField] = err.message;
      },

      async save(fn, fallbackField, changed, taken) {
        this.mErrors = {};
        this.mError = "";
        try {
          await fn();
          await this.reload();
          window.dispatchEvent(new Event(changed));
          return true;
        } catch (err) {
          this.failed(err, fallbackField, taken);
          return false;
        }
      },

      editCanned(c) {
        this.cannedForm = { id: c.id, shortcut: c.shortcut, title: c.title, body: c.body, personal: !!c.owner_agent_id };
      },
      resetCanned() { this.cannedForm = { id: null, shortcut: "", title: "", body: "", personal: true }; },

      async saveCanned() {
        const f = this.cannedForm;
        const body = { shortcut: f.shortcut.trim(), title: f.title.trim(), body: f.body, personal: !!f.personal };
        const ok = await this.save(() => (f.id
          ? T.api("PUT", `/api/v1/canned-replies/${enc(f.id)}`, body)
          : T.api("POST", "/api/v1/canned-replies", body)), "canned.shortcut", "tl-canned-changed");
        if (ok) this.resetCanned();
      },

      deleteCanned(c) {
        return this.save(() => T.api("DELETE", `/api/v1/canned-replies/${enc(c.id)}`), "canned.shortcut", "tl-canned-changed");
      },

      /** Rename or recolour a label: the form below the list takes it. */
      editLabel(label) {
        this.mErrors = {};
        this.labelForm = { id: label.id, name: label.name, colour: label.colour };
        this.$nextTick(() => document.getElementById("label-name").focus());
      },
      resetLabel() { this.mErrors = {}; this.labelForm = { id: null, name: "", colour: "#1f5fbf" }; },

      async saveLabel() {
        const f = this.labelForm;
        const body = { name: f.name.trim(), colour: f.colour };
        const ok = await this.save(() => (f.id
          ? T.api("PUT", `/api/v1/labels/${enc(f.id)}`, body)
          : T.api("POST", "/api/v1/labels", body)), "label.name", "tl-labels-changed", tr("label_name_taken"));
        if (ok) this.resetLabel();
      },

      deleteLabel(label) {
        return this.save(() => T.api("DELETE", `/api/v1/labels/${enc(label.id)}`), "label.name", "tl-labels-changed");
      },

      toggleMacroLabel(id) {
        const on = this.macroForm.label_ids;
        this.macroForm.label_ids = on.includes(id) ? on.filter((x) => x !== id) : on.concat([id]);
      },
      macroHas(id) { return this.macroForm.label_ids.includes(id); },

      /** Rename (or otherwise change) a macro: the form below the list takes it. */
      editMacro(m) {
        this.mErrors = {};
        this.macroForm = {
          id: m.id, name: m.name, reply: m.reply || "", label_ids: m.label_ids.slice(), then: m.then || "",
          resolve_reason: m.resolve_reason || "", snooze_minutes: m.snooze_minutes || 60,
        };
        this.$nextTick(() => document.getElementById("macro-name").focus());
      },
      resetMacro() {
        this.mErrors = {};
        this.macroForm = { id: null, name: "", reply: "", label_ids: [], then: "", resolve_reason: "", snooze_minutes: 60 };
      },

      async saveMacro() {
        const f = this.macroForm;
        const body = {
          name: f.name.trim(),
          reply: f.reply.trim() || null,
          label_ids: f.label_ids,
          then: f.then || null,
          resolve_reason: f.then === "resolve" ? (f.resolve_reason.trim() || null) : null,
          snooze_minutes: f.then === "snooze" ? Number(f.snooze_minutes) || null : null,
        };
        const ok = await this.save(() => (f.id
          ? T.api("PUT", `/api/v1/macros/${enc(f.id)}`, body)
          : T.api("POST", "/api/v1/macros", body)), "macro.name", "tl-labels-changed", tr("macro_name_taken"));
        if (ok) this.resetMacro();
      },

      deleteMacro(m) {
        return this.save(() => T.api("DELETE", `/api/v1/macros/${enc(m.id)}`), "macro.name", "tl-labels-changed");
      },
    }));
  });
})();
