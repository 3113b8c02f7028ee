/* The voice number's IVR as a tree, inside the channels page's form (admin_channels.html):
 * the call -> the language question -> the main menu (greeting per language) -> each keypad
 * option (prompt and spoken keywords per language) -> a queue with a contact reason; the
 * "no choice" branch; the hold settings. Or a published flow runs as the IVR
 * (settings.bot.flow). It edits the channels form's `form.values.ivr` ({ivr, flow}), which
 * that form sends as settings.ivr and settings.bot; the server checks the menu
 * (channels/voice/ivr.py) and its error, naming a path such as settings.ivr.options[1].reason,
 * is shown at that node (`ivrErrorAt`, set by the channels page), in the page's language.
 * An option either leads to a queue or opens a submenu (its intro and options, nested up to
 * MAX_DEPTH menus): the nested options are drawn as one indented list (`rows`), each with the
 * path of its node ("option0.1": the second option of the first option's submenu). */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const DIGITS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"];
  const BACK_KEYS = ["*", ...DIGITS];
  const MAX_DEPTH = 5; // menus deep, the main one included (ivr.py)

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

  /** An option's editing state from its stored form (a submenu's options in turn). */
  function optionOf(o) {
    const submenu = o.submenu || null;
    return {
      digit: o.digit || "",
      kind: submenu ? "submenu" : "queue",
      queue: o.queue || "",
      reason: o.reason || "",
      prompt: { ...(o.prompt || {}) },
      keywords: Object.fromEntries(Object.entries(o.keywords || {}).map(([code, list]) => [code, list.join(", ")])),
      intro: { ...((submenu && submenu.intro) || {}) },
      options: ((submenu && submenu.options) || []).map(optionOf),
    };
  }

  /** The stored form of an option (ivr.py's shape). */
  function optionOut(o, codes) {
    const item = { prompt: textsOf(o.prompt, codes) };
    if (o.digit) item.digit = o.digit;
    const keywords = {};
    for (const code of codes) {
      const kw = words((o.keywords || {})[code]);
      if (kw.length) keywords[code] = kw;
    }
    if (Object.keys(keywords).length) item.keywords = keywords;
    if (o.kind === "submenu") {
      item.submenu = { options: o.options.map((child) => optionOut(child, codes)) };
      const intro = textsOf(o.intro, codes);
      if (Object.keys(intro).length) item.submenu.intro = intro;
    } else {
      item.queue = o.queue;
      item.reason = o.reason.trim();
    }
    return item;
  }

  window.Alpine.data("ivrEditor", () => ({
    digits: DIGITS,
    backKeys: BACK_KEYS,
    maxDepth: MAX_DEPTH,
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
      const options = (ivr.options || []).map(optionOf);
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
        back_key: ivr.back_key || "*",
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
      ivr.options = t.options.map((o) => optionOut(o, codes));
      if (t.back_key !== "*") ivr.back_key = t.back_key; // stored menus stay as they were
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
      return DIGITS.find((d) => !used.includes(d) && d !== this.tree.back_key) || "";
    },

    /** The options, submenus' included, as one list in the order they are said: each with
     * its node id, its list (to move or remove it), its depth and its label ("1.2"). */
    get rows() {
      const rows = [];
      const walk = (list, path, hidden) => {
        list.forEach((o, i) => {
          const at = [...path, i];
          const id = "option" + at.join(".");
          rows.push({ o, list, i, id, depth: at.length, label: at.map((n) => n + 1).join("."), hidden });
          if (o.kind === "submenu") walk(o.options, at, hidden || !this.isOpen(id));
        });
      };
      walk(this.tree.options, [], false);
      return rows;
    },

    addLanguage() {
      const digit = this.freeDigit(this.tree.languages.map((l) => l.digit));
      this.tree.languages.push({ digit, code: "", say: "", label: "", keywords: "" });
    },

    removeLanguage(i) {
      this.tree.languages.splice(i, 1);
    },

    newOption(list) {
      const digit = this.freeDigit(list.map((o) => o.digit));
      const queue = this.queues.length ? this.queues[0].name : "";
      return { digit, kind: "queue", queue, reason: "", prompt: {}, keywords: {}, intro: {}, options: [] };
    },

    addOption() {
      this.tree.options.push(this.newOption(this.tree.options));
      this.open = { ...this.open, ["option" + (this.tree.options.length - 1)]: true };
    },

    /** One more option in the submenu a row opens. */
    addSubOption(row) {
      row.o.options.push(this.newOption(row.o.options));
      this.open = { ...this.open, [row.id]: true, [row.id + "." + (row.o.options.length - 1)]: true };
    },

    /** An option turned into a submenu starts with one option of its own. */
    setKind(row, kind) {
      row.o.kind = kind;
      if (kind === "submenu" && !row.o.options.length) this.addSubOption(row);
    },

    removeOption(row) {
      row.list.splice(row.i, 1);
    },

    moveOption(row, by) {
      const j = row.i + by;
      if (j < 0 || j >= row.list.length) return;
      const [item] = row.list.splice(row.i, 1);
      row.list.splice(j, 0, item);
    },

    toggle(id) {
      this.open = { ...this.open, [id]: !this.open[id] };
    },

    isOpen(id) {
      return !!this.open[id] || !!this.nodeError(id) || this.errorBelow(id);
    },

    /** Whether the server's error is at a node inside this submenu (it opens to show it). */
    errorBelow(id) {
      return !!this.fieldErrors.ivr && this.errorNode().startsWith(id + ".");
    },

    // ---- labels and errors --------------------------------------------------------------------

    optionSummary(o) {
      const key = o.digit ? this.fmt(this.ivrT.ivr_press, { digit: o.digit }) : this.ivrT.ivr_say_only;
      if (o.kind === "submenu") return `${key} → ${this.fmt(this.ivrT.ivr_submenu_summary, { count: o.options.length })}`;
      return `${key} → ${o.queue || "?"}${o.reason ? " (" + o.reason + ")" : ""}`;
    },

    /** What is wrong with a row as it stands, before the server is asked ("" if nothing). */
    localError(row) {
      const o = row.o;
      if (o.digit && o.digit === this.tree.back_key) return this.fmt(this.ivrT.ivr_err_back_key, { key: o.digit });
      if (o.digit && row.list.filter((x) => x.digit === o.digit).length > 1) return this.ivrT.ivr_err_digit_twice;
      if (o.kind === "submenu" && !o.options.length) return this.ivrT.ivr_err_submenu_empty;
      return "";
    },

    digitInvalid(row) {
      const error = this.localError(row);
      return this.fieldInvalid(row.id, "digit") || (!!error && error !== this.ivrT.ivr_err_submenu_empty);
    },

    /** The server's message in the page's language (its own words when not one we know). */
    translated(message) {
      const known = [ // the server's refusals (English sentences, ivr.py)
        [/the contact reason/, this.ivrT.ivr_err_reason],
        [/no queue named '(?<queue>[^']*)'/, this.ivrT.ivr_err_no_queue],
        [/the name of a queue/, this.ivrT.ivr_err_queue],
        [/each digit once/, this.ivrT.ivr_err_digit_twice],
        [/the key (?<key>\S+) goes back/, this.ivrT.ivr_err_back_key],
        [/submenu\.options: a non-empty list/, this.ivrT.ivr_err_submenu_empty],
        [/menus nest at most (?<max>\d+) deep/, this.ivrT.ivr_err_depth],
        [/either a queue and reason or a submenu/, this.ivrT.ivr_err_queue_or_submenu],
        [/a digit, keywords, or both/, this.ivrT.ivr_err_digit_or_keywords],
      ];
      for (const [pattern, text] of known) {
        const m = pattern.exec(this.ivrErrorAt + ": " + message);
        if (m) return this.fmt(text, m.groups || {});
      }
      return message;
    },

    languageName(code) {
      return code || "?";
    },

    /** The server's error for a node ("options[1]", "languages", "default", "hold", "menu",
     * "flow"), from the path the channels page kept (`ivrErrorAt`). */
    nodeError(node) {
      if (!this.ivrErrorAt || !this.fieldErrors.ivr) return "";
      return this.errorNode() === node ? this.translated(this.fieldErrors.ivr) : "";
    },

    /** The node the server's error path names: "options[0].submenu.options[1].reason" ->
     * "option0.1"; a submenu's own list ("options[0].submenu.options") -> "option0". */
    errorNode() {
      const path = (this.ivrErrorAt || "").replace(/^settings\./, "");
      if (path.startsWith("bot")) return "flow";
      const nested = /^ivr\.options((?:\[\d+\](?:\.submenu\.options)?)+)/.exec(path);
      if (nested) {
        const indexes = [...nested[1].matchAll(/\[(\d+)\]/g)].map((x) => x[1]);
        if (indexes.length) return "option" + indexes.join(".");
      }
      const m = /^ivr\.(\w+)(\[\d+\])?/.exec(path);
      if (m && m[1] === "languages" && m[2]) return "language" + m[2].slice(1, -1);
      if (m && ["languages", "default", "hold", "greeting", "max_prompts", "messages", "back_key"].includes(m[1])) {
        return { greeting: "menu", max_prompts: "default", messages: "menu", back_key: "default" }[m[1]] || m[1];
      }
      return "menu";
    },

    /** The field within a node the error names (e.g. "reason"), to mark it invalid. */
    fieldInvalid(node, field) {
      if (!this.nodeError(node)) return false;
      const at = this.ivrErrorAt || "";
      return new RegExp("\\]?\\." + field + "(\\.|$|\\[)").test(at.replace(/^settings\.ivr/, ""));
    },
  }));
});
