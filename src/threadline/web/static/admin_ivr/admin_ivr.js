/* The voice number's IVR as a tree, inside the channels page's form (admin_channels.html):
 * the call -> the language question -> the main menu (greeting per language) -> each keypad
 * option (prompt and spoken keywords per language) -> a queue with a contact reason; the
 * "no choice" branch; the hold settings. Or a published flow runs as the IVR
 * (settings.bot.flow). It edits the channels form's `form.values.ivr` ({ivr, flow}), which
 * that form sends as settings.ivr and settings.bot; the server checks the menu
 * (channels/voice/ivr.py) and its error, naming a path such as settings.ivr.options[1].reason,
 * is shown at that node (`ivrErrorAt`, set by the channels page). */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const DIGITS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"];

  function words(text) {
    return String(text || "").split(",").map((w) => w.trim()).filter(Boolean);
  }

  function textsOf(byLanguage, codes) {
    const out = {};
    for (const code of codes) {
      const text = String((byLanguage || {})[code] || "").trim();
      if (text) out[code] = text;
    }
    return out;
  }

  function intOrNull(text) {
    const value = String(text === undefined || text === null ? "" : text).trim();
    return value === "" ? null : Number(value);
  }

  window.Alpine.data("ivrEditor", () => ({
    digits: DIGITS,
    flows: [],
    tree: null, // the editing state, see load()
    open: {}, // node id -> expanded

    init() {
      this.load(this.form.values.ivr || {});
      this.sync();
      this.$watch("tree", () => this.sync());
      T.api("GET", "/api/v1/flows")
        .then((flows) => { this.flows = flows.filter((f) => f.builtin || f.published); })
        .catch(() => { this.flows = []; });
    },

    /** The editing state from the stored settings ({ivr, flow}). */
    load(value) {
      const ivr = value.ivr || {};
      const languages = (ivr.languages && ivr.languages.length ? ivr.languages : [{ digit: "1", code: "en", say: "en-US", label: "" }])
        .map((l) => ({ digit: l.digit || "", code: l.code || "", say: l.say || "", label: l.label || "", keywords: (l.keywords || []).join(", ") }));
      const options = (ivr.options || []).map((o) => ({
        digit: o.digit || "",
        queue: o.queue || "",
        reason: o.reason || "",
        prompt: { ...(o.prompt || {}) },
        keywords: Object.fromEntries(Object.entries(o.keywords || {}).map(([code, list]) => [code, list.join(", ")])),
      }));
      const hold = ivr.hold || {};
      this.tree = {
        mode: value.flow ? "flow" : "menu",
        flow: value.flow || "",
        languages,
        greeting: { ...(ivr.greeting || {}) },
        options,
        default_queue: (ivr.default || {}).queue || "",
        default_reason: (ivr.default || {}).reason || "ivr_no_choice",
        max_prompts: String(ivr.max_prompts || 3),
        hold: {
          poll_s: hold.poll_s === undefined ? "" : String(hold.poll_s),
          announce_every_s: hold.announce_every_s === undefined ? "" : String(hold.announce_every_s),
          per_caller_s: hold.per_caller_s === undefined ? "" : String(hold.per_caller_s),
          music_url: hold.music_url || "",
        },
        messages: ivr.messages || null, // the endpoint's own texts: kept as they are
      };
      this.open = { languages: true, menu: true };
    },

    /** The settings the tree stands for: {ivr, flow} on the channels form. */
    sync() {
      this.form.values.ivr = this.output();
    },

    output() {
      const t = this.tree;
      const codes = t.languages.map((l) => l.code.trim()).filter(Boolean);
      const ivr = {
        languages: t.languages.map((l) => {
          const item = { code: l.code.trim(), say: l.say.trim() || l.code.trim(), label: l.label.trim() };
          if (l.digit) item.digit = l.digit;
          const kw = words(l.keywords);
          if (kw.length) item.keywords = kw;
          return item;
        }),
        greeting: textsOf(t.greeting, codes),
      };
      const hold = {};
      for (const name of ["poll_s", "announce_every_s", "per_caller_s"]) {
        const value = intOrNull(t.hold[name]);
        if (value !== null) hold[name] = value;
      }
      if (t.hold.music_url.trim()) hold.music_url = t.hold.music_url.trim();
      if (Object.keys(hold).length) ivr.hold = hold;
      if (t.messages) ivr.messages = t.messages;
      if (t.mode === "flow") {
        // a flow asks what the caller needs: the menu keeps only its language question,
        // greeting and hold settings, and only when it says something
        return { flow: t.flow, ivr: Object.keys(ivr.greeting).length ? ivr : undefined };
      }
      ivr.options = t.options.map((o) => {
        const item = { queue: o.queue, reason: o.reason.trim(), prompt: textsOf(o.prompt, codes) };
        if (o.digit) item.digit = o.digit;
        const keywords = {};
        for (const code of codes) {
          const kw = words((o.keywords || {})[code]);
          if (kw.length) keywords[code] = kw;
        }
        if (Object.keys(keywords).length) item.keywords = keywords;
        return item;
      });
      ivr.default = { reason: t.default_reason.trim() };
      if (t.default_queue) ivr.default.queue = t.default_queue;
      ivr.max_prompts = intOrNull(t.max_prompts);
      return { flow: "", ivr };
    },

    // ---- editing the tree ---------------------------------------------------------------------

    get codes() {
      return this.tree.languages.map((l) => l.code.trim()).filter(Boolean);
    },

    freeDigit(used) {
      return DIGITS.find((d) => !used.includes(d)) || "";
    },

    addLanguage() {
      const digit = this.freeDigit(this.tree.languages.map((l) => l.digit));
      this.tree.languages.push({ digit, code: "", say: "", label: "", keywords: "" });
    },

    removeLanguage(i) {
      this.tree.languages.splice(i, 1);
    },

    addOption() {
      const digit = this.freeDigit(this.tree.options.map((o) => o.digit));
      const queue = this.queues.length ? this.queues[0].name : "";
      this.tree.options.push({ digit, queue, reason: "", prompt: {}, keywords: {} });
      this.open = { ...this.open, ["option" + (this.tree.options.length - 1)]: true };
    },

    removeOption(i) {
      this.tree.options.splice(i, 1);
    },

    moveOption(i, by) {
      const j = i + by;
      if (j < 0 || j >= this.tree.options.length) return;
      const [item] = this.tree.options.splice(i, 1);
      this.tree.options.splice(j, 0, item);
    },

    toggle(id) {
      this.open = { ...this.open, [id]: !this.open[id] };
    },

    isOpen(id) {
      return !!this.open[id] || !!this.nodeError(id);
    },

    // ---- labels and errors --------------------------------------------------------------------

    optionSummary(o) {
      const key = o.digit ? this.fmt(this.ivrT.ivr_press, { digit: o.digit }) : this.ivrT.ivr_say_only;
      return `${key} → ${o.queue || "?"}${o.reason ? " (" + o.reason + ")" : ""}`;
    },

    languageName(code) {
      return code || "?";
    },

    /** The server's error for a node ("options[1]", "languages", "default", "hold", "menu",
     * "flow"), from the path the channels page kept (`ivrErrorAt`). */
    nodeError(node) {
      const at = this.ivrErrorAt || "";
      if (!at || !this.fieldErrors.ivr) return "";
      const path = at.replace(/^settings\./, "");
      const m = /^ivr\.(\w+)(\[\d+\])?/.exec(path);
      let found = "menu";
      if (path.startsWith("bot")) found = "flow";
      else if (m && (m[1] === "options" || m[1] === "languages") && m[2]) found = m[1].slice(0, -1) + m[2].slice(1, -1);
      else if (m && ["languages", "default", "hold", "greeting", "max_prompts", "messages"].includes(m[1])) {
        found = { greeting: "menu", max_prompts: "default", messages: "menu" }[m[1]] || m[1];
      }
      return found === node ? this.fieldErrors.ivr : "";
    },

    /** The field within a node the error names (e.g. "reason"), to mark it invalid. */
    fieldInvalid(node, field) {
      if (!this.nodeError(node)) return false;
      const at = this.ivrErrorAt || "";
      return new RegExp("\\]?\\." + field + "(\\.|$|\\[)").test(at.replace(/^settings\.ivr/, ""));
    },
  }));
});
