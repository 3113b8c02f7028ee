/* Admins' flows page: the flows (built-in ones read-only, copied to edit), an editor that
 * shows a flow's steps as cards from its first step, each edited as a form by its kind
 * (texts per language in tabs, targets picked among the step ids), the versions with their
 * diffs, publishing, and a preview (a small chat) that runs the flow being edited, saved or
 * not, through /api/v1/flows. The server checks every save: its reasons are shown beside
 * the steps they name. */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const KINDS = ["say", "ask", "branch", "answer", "call", "route", "verify", "handoff", "end"];
  const SLOT_KINDS = ["account_number", "date", "amount", "choice", "free_text"];
  const OPS = ["eq", "ne", "in", "present", "absent", "gt", "gte", "lt", "lte", "matches"];
  const LEVELS = ["none", "identified", "verified", "strong"];
  const CHANNELS = ["chat", "sms", "whatsapp", "voice"];
  // Fields that name another step, by kind (as schemas.py's targets()).
  const TARGETS = {
    say: ["next"], ask: ["next", "on_fail"], branch: ["otherwise"], answer: ["helped", "not_helped", "missing"],
    call: ["next", "on_error"], route: ["next"], verify: ["next", "on_fail"], handoff: [], end: [],
  };
  const OPTIONAL_TARGETS = ["on_fail", "missing"];
  const OPTIONAL_TEXTS = { branch: ["prompt"], handoff: ["text"], end: ["text"] };

  const depths = new Map(); // step id -> depth in the tree shown

  function fmt(text, values) {
    return String(text).replace(/\{(\w+)\}/g, (m, name) => (name in values ? values[name] : m));
  }

  function clone(value) { return JSON.parse(JSON.stringify(value)); }

  function pairs(object) {
    return Object.entries(object || {}).map(([k, v]) => ({ k, v: String(v) }));
  }

  function unpairs(rows) {
    const out = {};
    for (const row of rows || []) if (row.k.trim()) out[row.k.trim()] = row.v;
    return out;
  }

  function splitList(text) {
    return String(text).split(",").map((x) => x.trim()).filter((x) => x);
  }

  /** A step as the editor holds it: every text an object per language, rows for maps. */
  function editable(step) {
    const s = clone(step);
    for (const field of OPTIONAL_TEXTS[s.kind] || []) if (!s[field]) s[field] = {};
    if (s.kind === "call") {
      s._payload = pairs(s.payload);
      s._fills = pairs(s.fills);
    }
    if (s.kind === "branch") {
      for (const rule of s.rules || []) rule._text = ruleText(rule);
    }
    return s;
  }

  function ruleText(rule) {
    if (rule.value === null || rule.value === undefined) return "";
    return Array.isArray(rule.value) ? rule.value.join(", ") : String(rule.value);
  }

  function ruleValue(op, text) {
    if (op === "present" || op === "absent") return null;
    if (op === "in") return splitList(text);
    if (["gt", "gte", "lt", "lte"].includes(op)) return text.trim() === "" ? null : Number(text);
    return text === "" ? null : text;
  }

  function hasText(texts) { return Object.values(texts || {}).some((x) => String(x).trim()); }

  /** The step as the API takes it: rows back to maps, empty optional parts dropped. */
  function plain(step) {
    const s = clone(step);
    if (s.kind === "call") {
      s.payload = unpairs(s._payload);
      s.fills = unpairs(s._fills);
    }
    if (s.kind === "branch") {
      for (const rule of s.rules || []) {
        rule.value = ruleValue(rule.op, rule._text || "");
        delete rule._text;
      }
    }
    for (const field of OPTIONAL_TEXTS[s.kind] || []) if (!hasText(s[field])) s[field] = null;
    for (const field of OPTIONAL_TARGETS) if (field in s && !s[field]) s[field] = null;
    for (const key of Object.keys(s)) if (key.startsWith("_")) delete s[key];
    return s;
  }

  function blankStep(kind, id, language) {
    const text = {};
    text[language] = "";
    const base = { id, kind };
    switch (kind) {
      case "say": return { ...base, text: clone(text), next: "" };
      case "ask": return {
        ...base, slot: id, type: "free_text", prompt: clone(text), reprompt: clone(text), next: "",
        on_fail: null, max_attempts: 3, always: false, pattern: null, checksum: "none",
        min_days: null, max_days: null, currencies: ["EUR"], options: [], max_length: 500,
      };
      case "branch": return { ...base, rules: [], intents: [], prompt: null, threshold: 0.6, otherwise: "" };
      case "answer": return { ...base, query: "{message}", helped: "", not_helped: "", missing: null };
      case "call": return {
        ...base, url: "https://", method: "POST", payload: {}, timeout_s: 5, retries: 1, fills: {},
        next: "", on_error: "",
      };
      case "route": return { ...base, queue: null, skills: [], priority: null, next: "" };
      case "verify": return { ...base, level: "verified", next: "", on_fail: "" };
      case "handoff": return { ...base, reason: "customer_asked", text: null, queue: null, skills: [], priority: null };
      default: return { ...base, text: clone(text), deflected: true };
    }
  }

  window.Alpine.data("flowsAdmin", (config) => ({
    t: config.t,
    allLanguages: config.languages,
    kinds: KINDS,
    slotKinds: SLOT_KINDS,
    ops: OPS,
    levels: LEVELS,
    channels: CHANNELS,
    flows: [],
    current: null, // the flow's summary and versions (FlowDetail without the definition)
    draft: null, // the definition being edited: {id, version, name, languages, start, steps, ...}
    language: config.lang,
    errors: {}, // step id -> reasons
    flowErrors: [],
    diff: "",
    newId: "",
    copyId: "",
    newKind: "say",
    newStepId: "",
    saving: false,
    notice: "",
    noticeKind: "info",
    chat: [],
    chatState: null,
    chatText: "",
    chatChannel: "chat",
    chatLanguage: config.lang,
    chatChoices: [],
    chatDone: false,

    init() { this.load(); },

    say(text, kind) { this.notice = text; this.noticeKind = kind || "info"; },
    when(iso) { return iso ? T.formatFull(iso) : ""; },
    fmt(text, values) { return fmt(text, values); },
    logout() { T.logout(false); },

    async load() {
      await this.act(async () => { this.flows = await T.api("GET", "/api/v1/flows"); });
    },

    async act(work) {
      try {
        await work();
      } catch (err) {
        this.say(fmt(this.t.failed, { error: err.message }), "error");
      }
    },

    // ---- flows ------------------------------------------------------------------------

    async open(id, version) {
      await this.act(async () => {
        const query = version ? `?version=${encodeURIComponent(version)}` : "";
        const found = await T.api("GET", `/api/v1/flows/${encodeURIComponent(id)}${query}`);
        const { definition, ...summary } = found;
        this.current = summary;
        this.draft = { ...definition, steps: definition.steps.map(editable) };
        if (!this.draft.languages.includes(this.language)) this.language = this.draft.languages[0];
        if (!this.draft.languages.includes(this.chatLanguage)) this.chatLanguage = this.draft.languages[0];
        this.errors = {};
        this.flowErrors = [];
        this.diff = "";
        this.copyId = "";
        this.restart();
      });
    },

    isCurrent(flow) { return this.current !== null && this.current.id === flow.id; },

    badge(flow) {
      if (flow.builtin) return this.t.builtin;
      return flow.published ? fmt(this.t.published_v, { n: flow.published }) : this.t.unpublished;
    },

    async create() {
      const id = this.newId.trim();
      if (!id) return;
      const language = this.language;
      const hello = {};
      hello[language] = this.t.default_greeting;
      const definition = {
        name: id,
        languages: [language],
        start: "welcome",
        steps: [
          { id: "welcome", kind: "say", text: hello, next: "done" },
          { id: "done", kind: "end", text: null, deflected: true },
        ],
      };
      await this.act(async () => {
        await T.api("POST", "/api/v1/flows", { id, definition });
        this.newId = "";
        await this.load();
        await this.open(id);
        this.say(fmt(this.t.created, { id }), "info");
      });
    },

    async copy() {
      const id = this.copyId.trim();
      if (!id || !this.draft) return;
      await this.act(async () => {
        await T.api("POST", "/api/v1/flows", { id, definition: this.definition() });
        await this.load();
        await this.open(id);
        this.say(fmt(this.t.created, { id }), "info");
      });
    },

    get readOnly() { return this.current !== null && this.current.builtin; },

    definition() {
      const { steps, ...rest } = this.draft;
      return { ...clone(rest), steps: steps.map(plain) };
    },

    async save() {
      if (!this.draft || this.readOnly) return;
      this.saving = true;
      this.errors = {};
      this.flowErrors = [];
      try {
        const id = this.current.id;
        const saved = await T.api("POST", `/api/v1/flows/${encodeURIComponent(id)}/versions`, { definition: this.definition() });
        this.say(fmt(this.t.saved, { n: saved.number }), "info");
        await this.load();
        await this.open(id, saved.number);
      } catch (err) {
        this.showProblems(err);
      } finally {
        this.saving = false;
      }
    },

    /** A 422's reasons beside the steps they name; the others above the steps. */
    showProblems(err) {
      const details = err.details || {};
      const steps = details.steps || {};
      const ids = new Set(this.draft.steps.map((s) => s.id));
      this.errors = steps;
      this.flowErrors = (details.problems || []).filter((p) => {
        const m = /^step '([^']+)'/.exec(p);
        return !(m && ids.has(m[1]));
      });
      if (!details.problems && !Object.keys(steps).length) this.flowErrors = [err.message];
      this.say(this.t.not_saved, "error");
    },

    stepErrors(step) { return this.errors[step.id] || []; },

    async publish(number) {
      await this.act(async () => {
        const id = this.current.id;
        await T.api("POST", `/api/v1/flows/${encodeURIComponent(id)}/publish`, { version: number });
        this.say(fmt(this.t.published_notice, { n: number }), "info");
        await this.load();
        await this.open(id, this.draft.version);
      });
    },

    async showDiff(number) {
      await this.act(async () => {
        const id = encodeURIComponent(this.current.id);
        const answer = await T.api("GET", `/api/v1/flows/${id}/diff?from=${number - 1}&to=${number}`);
        this.diff = answer.diff || this.t.no_changes;
      });
    },

    exportJson() {
      const blob = new Blob([JSON.stringify(this.definition(), null, 2) + "\n"], { type: "application/json" });
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = `${this.draft.id}-v${this.draft.version}.json`;
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    },

    // ---- languages --------------------------------------------------------------------

    hasLanguage(code) { return this.draft !== null && this.draft.languages.includes(code); },

    toggleLanguage(code) {
      const list = this.draft.languages;
      if (list.includes(code)) {
        if (list.length === 1) return;
        list.splice(list.indexOf(code), 1);
        if (this.language === code) this.language = list[0];
        for (const step of this.draft.steps) this.eachText(step, (texts) => { delete texts[code]; });
      } else {
        list.push(code);
        for (const step of this.draft.steps) this.eachText(step, (texts) => { if (!(code in texts)) texts[code] = ""; });
      }
    },

    eachText(step, fn) {
      for (const field of ["text", "prompt", "reprompt"]) if (step[field]) fn(step[field]);
      for (const option of step.options || []) fn(option.label);
      for (const route of step.intents || []) fn(route.label);
    },

    // ---- steps, as a tree from the first -----------------------------------------------

    /** The steps from the start, each after the one that first leads to it (depth-first),
     * then those nothing leads to (their depth, for indenting, in `depths`). */
    get tree() {
      depths.clear();
      if (!this.draft) return [];
      const byId = new Map(this.draft.steps.map((s) => [s.id, s]));
      const out = [];
      const walk = (id, depth) => {
        const step = byId.get(id);
        if (!step || depths.has(id)) return;
        depths.set(id, Math.min(depth, 6));
        out.push(step);
        for (const target of this.targetsOf(step)) walk(target, depth + 1);
      };
      walk(this.draft.start, 0);
      for (const step of this.draft.steps) {
        if (!depths.has(step.id)) {
          depths.set(step.id, 0);
          out.push(step);
        }
      }
      return out;
    },

    depthOf(step) { return depths.get(step.id) || 0; },
    chatLanguages() { return this.draft ? this.draft.languages : []; },

    targetsOf(step) {
      const out = TARGETS[step.kind].map((f) => step[f]).filter((x) => x);
      for (const rule of step.rules || []) if (rule.goto) out.push(rule.goto);
      for (const route of step.intents || []) if (route.goto) out.push(route.goto);
      return out;
    },

    stepIds() { return this.draft ? this.draft.steps.map((s) => s.id) : []; },

    kindName(kind) { return this.t["kind_" + kind] || kind; },

    addStep() {
      const id = this.newStepId.trim();
      if (!id) return;
      if (this.stepIds().includes(id)) {
        this.say(fmt(this.t.step_exists, { id }), "error");
        return;
      }
      const step = editable(blankStep(this.newKind, id, this.language));
      for (const code of this.draft.languages) this.eachText(step, (texts) => { if (!(code in texts)) texts[code] = ""; });
      this.draft.steps.push(step);
      this.newStepId = "";
    },

    removeStep(step) {
      if (this.draft.steps.length === 1) return;
      this.draft.steps = this.draft.steps.filter((s) => s !== step);
    },

    renameStep(step, value) {
      const old = step.id;
      const id = value.trim();
      if (!id || id === old) return;
      for (const other of this.draft.steps) {
        for (const field of Object.values(TARGETS).flat()) if (other[field] === old) other[field] = id;
        for (const rule of other.rules || []) if (rule.goto === old) rule.goto = id;
        for (const route of other.intents || []) if (route.goto === old) route.goto = id;
      }
      if (this.draft.start === old) this.draft.start = id;
      if (this.errors[old]) { this.errors[id] = this.errors[old]; delete this.errors[old]; }
      step.id = id;
    },

    setNumber(step, field, value) { step[field] = value === "" ? null : Number(value); },
    setOptional(step, field, value) { step[field] = value.trim() === "" ? null : value.trim(); },
    listText(list) { return (list || []).join(", "); },
    setList(step, field, value) { step[field] = splitList(value); },
    setTexts(texts, value) { texts[this.language] = value; },

    addOption(step) {
      const label = {};
      for (const code of this.draft.languages) label[code] = "";
      step.options.push({ id: `option_${step.options.length + 1}`, label, synonyms: {} });
    },
    removeOption(step, option) { step.options = step.options.filter((o) => o !== option); },

    addRule(step) { step.rules.push({ slot: "", op: "eq", value: null, goto: "", _text: "" }); },
    removeRule(step, rule) { step.rules = step.rules.filter((r) => r !== rule); },

    addIntent(step) {
      const label = {};
      for (const code of this.draft.languages) label[code] = "";
      step.intents.push({ intent: "", goto: "", label });
      if (!hasText(step.prompt)) this.eachLanguage((code) => { step.prompt[code] = step.prompt[code] || ""; });
    },
    removeIntent(step, route) { step.intents = step.intents.filter((r) => r !== route); },
    eachLanguage(fn) { for (const code of this.draft.languages) fn(code); },

    addRow(rows) { rows.push({ k: "", v: "" }); },
    removeRow(step, field, row) { step[field] = step[field].filter((r) => r !== row); },

    // ---- preview ----------------------------------------------------------------------

    restart() {
      this.chat = [];
      this.chatState = null;
      this.chatChoices = [];
      this.chatDone = false;
    },

    async startChat() {
      this.restart();
      await this.turn(this.chatText.trim() || null, null);
      this.chatText = "";
    },

    async send() {
      const text = this.chatText.trim();
      if (!this.chatState) return this.startChat();
      if (!text) return;
      this.chat.push({ by: "customer", text });
      this.chatText = "";
      await this.turn(text, null);
    },

    async pick(choice) {
      this.chat.push({ by: "customer", text: choice.label });
      await this.turn(null, choice.id);
    },

    async turn(text, choice) {
      if (!this.draft) return;
      const body = {
        definition: this.definition(),
        channel: this.chatChannel,
        language: this.chatLanguage,
        state: this.chatState,
      };
      if (text !== null) body.text = text;
      if (choice !== null) body.choice = choice;
      try {
        const out = await T.api("POST", "/api/v1/flows/preview", body);
        for (const line of out.machine) this.chat.push({ by: "machine", text: line });
        for (const message of out.messages) this.chat.push({ by: "bot", text: message.text });
        if (out.twiml) this.chat.push({ by: "machine", text: out.twiml });
        const last = out.messages[out.messages.length - 1];
        this.chatChoices = this.chatChannel === "chat" && last ? last.choices : [];
        this.chatState = out.state;
        this.chatDone = out.done;
        if (out.done) this.chat.push({ by: "machine", text: fmt(this.t.chat_over, { outcome: this.outcomeText(out) }) });
        this.$nextTick(() => {
          const log = document.querySelector("[data-testid=preview-log]");
          if (log) log.scrollTop = log.scrollHeight;
        });
      } catch (err) {
        if (err.status === 422 && err.details && err.details.steps) {
          this.showProblems(err);
        } else {
          this.say(fmt(this.t.failed, { error: err.message }), "error");
        }
      }
    },

    outcomeText(out) {
      if (out.outcome === "handoff") return fmt(this.t.outcome_handoff, { queue: (out.handoff && out.handoff.queue) || "—" });
      return this.t.outcome_end;
    },
  }));
});
