/* The supervisors' incidents page (outage mode), through /api/v1/incidents: the incidents in
 * force with how many customers follow them, were marked affected, told, skipped and wrote
 * about them, then the recently resolved ones; declare one (what customers see, per
 * language), change it, resolve it (after a confirmation), and mark affected customers from
 * a CSV file. Times are shown, and typed, in the supervisor's own time zone and sent as
 * aware ISO times. */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const LIST_FIELDS = ["keywords", "products", "regions", "intents"];
  const FIELDS = ["title", "messages", "resolution_messages", ...LIST_FIELDS, "expected_end_at"];
  const RESOLVED_SHOWN = 20; // the recent resolved incidents listed (with their counts)
  const REFRESH_MS = 30000; // counts move as customers follow and are told
  const MAX_CSV_BYTES = 2 * 1024 * 1024; // the API's limit
  const CSV_COLUMNS = ["customer_id", "phone", "email"];

  function fmt(text, values) {
    return String(text).replace(/\{(\w+)\}/g, (m, name) => (name in values ? values[name] : m));
  }

  // in the page's language (common.js); the zone stays the browser's, as the inputs are typed in it
  const whenFmt = new Intl.DateTimeFormat(T.LOCALE, { dateStyle: "medium", timeStyle: "short" });

  /** "2026-12-06T14:30" as the datetime-local input shows an ISO time, in this browser's zone. */
  function localInput(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  }

  /** A datetime-local value (wall time in this browser's zone) as an aware ISO time (UTC). */
  function awareIso(local) {
    const d = new Date(local); // a date-time without an offset is read as local time
    return Number.isNaN(d.getTime()) ? null : d.toISOString();
  }

  function splitList(text) {
    return String(text || "").split(",").map((x) => x.trim()).filter(Boolean);
  }

  function perLanguage(languages, texts) {
    const out = {};
    for (const code of languages) {
      const text = (texts[code] || "").trim();
      if (text) out[code] = text;
    }
    return out;
  }

  /** POST a file as text/csv; resolves to the JSON answer, rejects with TLDesk.ApiError. */
  async function postCsv(path, file) {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "Content-Type": "text/csv" },
        body: file,
      });
    } catch (err) {
      throw new T.ApiError(0, "network", "Cannot reach Threadline. Check your connection and try again.");
    }
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (!response.ok) {
      if (response.status === 401) window.location.assign("/login");
      const message = (data && data.message) || `Request failed (${response.status})`;
      throw new T.ApiError(response.status, (data && data.code) || "error", message, data && data.details);
    }
    return data;
  }

  window.Alpine.data("supervisorIncidents", (config) => ({
    me: config.me,
    t: config.t,
    languages: config.languages,
    listFields: LIST_FIELDS,
    zone: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC",
    active: [],
    resolved: [],
    loading: true,
    form: null,
    original: null,
    fieldErrors: {},
    formError: "",
    saving: false,
    notice: "",
    noticeKind: "info",
    affectedFor: null,
    tellNow: false,
    csvError: "",
    uploading: false,
    affectedResult: null,

    init() {
      this.load();
      setInterval(() => {
        if (document.visibilityState === "visible") this.load();
      }, REFRESH_MS);
    },

    async load() {
      try {
        const [active, resolved] = await Promise.all([
          T.api("GET", "/api/v1/incidents?status=active"),
          T.api("GET", "/api/v1/incidents?status=resolved"),
        ]);
        this.active = active; // each with its counts
        this.resolved = resolved.slice(0, RESOLVED_SHOWN);
        if (this.affectedFor && !this.active.some((i) => i.id === this.affectedFor.id)) this.closeAffected();
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

    // ---- declare / edit ---------------------------------------------------------------------

    blankTexts() {
      const texts = {};
      for (const code of this.languages) texts[code] = "";
      return texts;
    },

    openNew() {
      this.original = null;
      this.form = {
        id: null,
        title: "",
        messages: this.blankTexts(),
        resolution: this.blankTexts(),
        keywords: "",
        products: "",
        regions: "",
        intents: "",
        expected_end_at: "",
      };
      this.clearErrors();
      this.$nextTick(() => document.getElementById("f-title").focus());
    },

    openEdit(incident) {
      this.original = incident;
      this.form = {
        id: incident.id,
        title: incident.title,
        messages: { ...this.blankTexts(), ...incident.messages },
        resolution: { ...this.blankTexts(), ...incident.resolution_messages },
        keywords: incident.keywords.join(", "),
        products: incident.products.join(", "),
        regions: incident.regions.join(", "),
        intents: incident.intents.join(", "),
        expected_end_at: localInput(incident.expected_end_at),
      };
      this.clearErrors();
      this.$nextTick(() => {
        const title = document.getElementById("f-title");
        title.scrollIntoView({ block: "nearest" });
        title.focus();
      });
    },

    closeForm() {
      this.form = null;
      this.original = null;
      this.clearErrors();
    },

    clearErrors() {
      this.fieldErrors = {};
      this.formError = "";
    },

    /** The request body from the form, or null (with the errors shown) when it is not valid. */
    body() {
      const f = this.form;
      const errors = {};
      const body = {
        title: f.title.trim(),
        messages: perLanguage(this.languages, f.messages),
        resolution_messages: perLanguage(this.languages, f.resolution),
        expected_end_at: f.expected_end_at ? awareIso(f.expected_end_at) : null,
      };
      for (const name of LIST_FIELDS) body[name] = splitList(f[name]);
      if (body.title.length < 3) errors.title = this.t.title_short;
      if (!Object.keys(body.messages).length) errors.messages = this.t.message_required;
      for (const name of LIST_FIELDS) {
        const bad = body[name].find((x) => x.length < 2 || x.length > 100);
        if (bad !== undefined) errors[name] = fmt(this.t.term_length, { term: bad });
      }
      if (f.expected_end_at && !body.expected_end_at) errors.expected_end_at = this.t.end_invalid;
      else if (body.expected_end_at && new Date(body.expected_end_at) <= new Date() && !this.unchangedEnd(body)) {
        errors.expected_end_at = this.t.end_past;
      }
      if (Object.keys(errors).length) {
        this.fieldErrors = errors;
        return null;
      }
      return body;
    },

    unchangedEnd(body) {
      const was = this.original && this.original.expected_end_at;
      return !!was && localInput(was) === this.form.expected_end_at && !!body.expected_end_at;
    },

    /** What an edit changes: only those fields are sent (and audited). */
    changes(body) {
      const o = this.original;
      const before = {
        title: o.title,
        messages: o.messages,
        resolution_messages: o.resolution_messages,
        keywords: o.keywords,
        products: o.products,
        regions: o.regions,
        intents: o.intents,
      };
      const out = {};
      for (const [name, value] of Object.entries(body)) {
        if (name === "expected_end_at") {
          if (!this.unchangedEnd(body) && (value || o.expected_end_at)) out[name] = value;
        } else if (JSON.stringify(value) !== JSON.stringify(before[name])) {
          out[name] = value;
        }
      }
      return out;
    },

    async save() {
      this.clearErrors();
      const body = this.body();
      if (!body) return;
      this.saving = true;
      try {
        if (this.form.id) {
          const changed = this.changes(body);
          if (Object.keys(changed).length) {
            const saved = await T.api("PATCH", this.path(this.form), changed);
            this.say(fmt(this.t.saved, { title: saved.title }), "info");
          } else {
            this.say(this.t.nothing_changed, "info");
          }
        } else {
          const created = await T.api("POST", "/api/v1/incidents", body);
          this.say(fmt(this.t.declared, { title: created.title }), "info");
        }
        this.closeForm();
        await this.load();
      } catch (err) {
        this.showProblem(err);
      } finally {
        this.saving = false;
      }
    },

    /** A problem answer next to the field it names (a schema error's loc, or "field: ..."). */
    showProblem(err) {
      const errors = {};
      for (const e of (err.details && err.details.errors) || []) {
        const loc = e.loc || [];
        const msg = String(e.msg || "").replace(/^Value error, /, "");
        let field = loc[0] === "body" ? loc[1] : undefined;
        let text = msg;
        if (!FIELDS.includes(field)) {
          const named = /^(\w+)(:\s*| must )/.exec(msg);
          field = named && FIELDS.includes(named[1]) ? named[1] : undefined;
          if (named && named[2].trim() === ":") text = msg.slice(named[0].length);
        } else if (loc.length > 2) {
          const where = loc[2];
          const item = typeof where === "number" ? splitList(this.form[field])[where] : this.langName(where);
          if (item !== undefined) text = `${item}: ${msg}`;
        }
        if (field) errors[field] = errors[field] ? `${errors[field]} ${text}` : text;
      }
      if (!Object.keys(errors).length) {
        const named = /^(\w+)(:\s*| must )/.exec(err.message || "");
        if (named && FIELDS.includes(named[1])) errors[named[1]] = err.message;
      }
      if (Object.keys(errors).length) this.fieldErrors = errors;
      else this.formError = fmt(this.t.not_saved, { error: err.message });
    },

    // ---- resolve ----------------------------------------------------------------------------

    async resolve(incident) {
      if (!window.confirm(fmt(this.t.resolve_confirm, { title: incident.title }))) return;
      try {
        await T.api("POST", `${this.path(incident)}/resolve`, {});
        this.say(fmt(this.t.resolved_notice, { title: incident.title }), "info");
        if (this.form && this.form.id === incident.id) this.closeForm();
        await this.load();
      } catch (err) {
        this.say(fmt(this.t.failed, { error: err.message }), "error");
      }
    },

    // ---- affected customers from a CSV ------------------------------------------------------

    openAffected(incident) {
      this.affectedFor = incident;
      this.tellNow = false;
      this.csvError = "";
      this.affectedResult = null;
      if (this.$refs.csv) this.$refs.csv.value = "";
      this.$nextTick(() => {
        const panel = document.querySelector("[data-testid=affected-panel]");
        if (panel) panel.scrollIntoView({ block: "nearest" });
        document.getElementById("f-csv").focus();
      });
    },

    closeAffected() {
      this.affectedFor = null;
      this.affectedResult = null;
      this.csvError = "";
    },

    /** Why this file will be refused, checked here to say it in the supervisor's language. */
    async csvProblem(file) {
      if (!file) return this.t.csv_pick;
      if (file.size > MAX_CSV_BYTES) return this.t.csv_too_big;
      const head = (await file.slice(0, 4096).text()).replace(/^\uFEFF/, "").split(/\r?\n/)[0] || "";
      const names = head.toLowerCase().split(/[,;\t]/).map((x) => x.trim().replace(/^"|"$/g, ""));
      if (!CSV_COLUMNS.some((c) => names.includes(c))) return this.t.csv_no_header;
      return "";
    },

    async uploadAffected() {
      const incident = this.affectedFor;
      const file = this.$refs.csv.files[0];
      this.affectedResult = null;
      this.csvError = await this.csvProblem(file);
      if (this.csvError) return;
      this.uploading = true;
      try {
        const query = this.tellNow ? "?tell_now=true" : "";
        this.affectedResult = await postCsv(`${this.path(incident)}/affected.csv${query}`, file);
        await this.load();
      } catch (err) {
        this.csvError = fmt(this.t.failed, { error: err.message });
      } finally {
        this.uploading = false;
      }
    },

    unknownText() {
      const unknown = this.affectedResult ? this.affectedResult.unknown : [];
      const shown = unknown.slice(0, 20).join(", ");
      return unknown.length > 20 ? fmt(this.t.unknown_more, { list: shown, n: unknown.length - 20 }) : shown;
    },

    // ---- formatting -------------------------------------------------------------------------

    path(incident) {
      return `/api/v1/incidents/${encodeURIComponent(incident.id)}`;
    },

    count(incident, name) {
      return incident.counts ? incident.counts[name] : "–";
    },

    wordsText(incident) {
      return [...incident.products, ...incident.regions, ...incident.keywords].join(" · ");
    },

    langName(code) { return this.t["lang_" + code] || code; },
    when(iso) { return iso ? whenFmt.format(new Date(iso)) : ""; },
    fmt(text, values) { return fmt(text, values); },
    initials(name) { return T.initials(name); },
    logout() { T.logout(false); },
  }));
});
