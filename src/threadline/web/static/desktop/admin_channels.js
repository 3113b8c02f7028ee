/* Admins' channel endpoints page: list, add, edit, disable, through /api/v1/endpoints.
 * Secrets are write-only: the API only says whether one is set; what an admin types in a
 * secret field is sent once and cleared from the page. Server-side validation errors are
 * shown next to the field they name ("key: ...", "settings.smtp.port: ...", or a schema
 * error's location), else above the form. */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;

  // What each channel's form asks. `key`: the label of the endpoint's public id; `secret`:
  // the parts of its write-only secret (Meta's two credentials are stored as one JSON
  // secret); `fields`: settings, by path. `writeOnly` names the setting the server keeps in
  // its place (the verify token is kept as its digest).
  const TWILIO = [
    { path: "account_sid", label: "account_sid", required: true },
    { path: "api_base", label: "api_base", placeholder: "https://api.twilio.com" },
  ];
  const META = [
    { path: "verify_token", label: "verify_token", type: "password", required: true, writeOnly: "verify_token_sha256" },
    { path: "api_version", label: "api_version", placeholder: "v21.0" },
    { path: "api_base", label: "api_base", placeholder: "https://graph.facebook.com" },
  ];
  const FORMS = {
    sms: { key: "key_phone", secret: ["auth_token"], fields: TWILIO },
    voice: {
      key: "key_phone",
      secret: ["auth_token"],
      // the IVR menu, or the flow run as the IVR: a tree (static/admin_ivr/admin_ivr.js)
      fields: [
        ...TWILIO,
        { path: "record", label: "record_calls", type: "checkbox", initial: false },
        // calls in a conference: hold, and a supervisor's listen / whisper / barge
        { path: "conference", label: "conference", type: "checkbox", initial: false },
        { path: "ivr", label: "ivr", type: "ivr" },
      ],
    },
    whatsapp: { key: "key_phone_number_id", secret: ["app_secret", "access_token"], fields: META },
    messenger: { key: "key_page_id", secret: ["app_secret", "access_token"], fields: META },
    telegram: {
      key: "key_bot_username",
      secret: ["bot_token"],
      fields: [{ path: "api_base", label: "api_base", placeholder: "https://api.telegram.org" }],
    },
    email: {
      key: "key_mailbox",
      secret: ["mailbox_password"],
      groups: ["smtp", "imap"], // a block without a host is left out: that way is not used
      fields: [
        { path: "from_name", label: "from_name" },
        { path: "smtp.host", label: "smtp_host" },
        { path: "smtp.port", label: "smtp_port", type: "number", placeholder: "587" },
        { path: "smtp.username", label: "smtp_username" },
        { path: "smtp.starttls", label: "smtp_starttls", type: "checkbox", initial: true },
        { path: "smtp.ssl", label: "smtp_ssl", type: "checkbox", initial: false },
        { path: "imap.host", label: "imap_host" },
        { path: "imap.port", label: "imap_port", type: "number", placeholder: "993" },
        { path: "imap.username", label: "imap_username" },
        { path: "imap.folder", label: "imap_folder", placeholder: "INBOX" },
        { path: "imap.ssl", label: "imap_ssl", type: "checkbox", initial: true },
        // how a message's From is checked (channels/email/authentication.py)
        { path: "sender_auth.mode", label: "sender_auth_mode", type: "select", options: ["dkim", "relay", "off"], initial: "dkim" },
        { path: "sender_auth.authserv_id", label: "sender_auth_authserv_id", placeholder: "mx.example.com" },
      ],
    },
    // the widget's settings and identity secret are people/widget_form.js's
    chat: { key: "key_widget", secret: [], fields: [], widget: true },
  };

  function getPath(obj, path) {
    return path.split(".").reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), obj);
  }

  function setPath(obj, path, value) {
    const keys = path.split(".");
    let o = obj;
    for (const k of keys.slice(0, -1)) {
      if (!o[k] || typeof o[k] !== "object") o[k] = {};
      o = o[k];
    }
    if (value === undefined) delete o[keys[keys.length - 1]];
    else o[keys[keys.length - 1]] = value;
  }

  function fmt(text, values) {
    return String(text).replace(/\{(\w+)\}/g, (m, name) => (name in values ? values[name] : m));
  }

  window.Alpine.data("adminChannels", (config) => ({
    ...window.TLWidgetForm.mixin(config),
    me: config.me,
    t: config.t,
    channels: config.channels,
    endpoints: [],
    queues: [],
    loading: true,
    form: null,
    fieldErrors: {},
    formError: "",
    saving: false,
    notice: "",
    noticeKind: "info",
    copiedId: null,
    ivrT: config.ivr_t || {}, // the IVR tree's strings
    ivrErrorAt: "", // the settings path of the server's last error (the IVR tree shows it at its node)

    init() {
      this.load();
    },

    get spec() {
      return FORMS[(this.form && this.form.channel) || "sms"];
    },

    async load() {
      try {
        const [endpoints, queues] = await Promise.all([
          T.api("GET", "/api/v1/endpoints"),
          T.api("GET", "/api/v1/queues"),
        ]);
        this.endpoints = endpoints;
        this.queues = queues;
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

    blankForm(channel) {
      return { id: null, channel, name: "", key: "", queue_id: "", settings: {}, has_secret: false, values: {}, secrets: {} };
    },

    openNew() {
      this.form = this.blankForm(this.channels[0]);
      this.fillValues();
      this.clearErrors();
      this.$nextTick(() => document.getElementById("f-channel").focus());
    },

    openEdit(endpoint) {
      this.form = {
        ...this.blankForm(endpoint.channel),
        id: endpoint.id,
        name: endpoint.name,
        key: endpoint.key,
        queue_id: endpoint.queue_id || "",
        settings: JSON.parse(JSON.stringify(endpoint.settings || {})),
        has_secret: endpoint.has_secret,
      };
      this.fillValues();
      this.clearErrors();
      this.$nextTick(() => document.getElementById("f-name").focus());
    },

    /** The form's field values from the endpoint's settings (every channel's, so that
     * switching channel while adding keeps nothing stale: values are by channel + path). */
    fillValues() {
      const values = {};
      for (const spec of Object.values(FORMS)) {
        for (const f of spec.fields) {
          const current = getPath(this.form.settings, f.path);
          if (f.writeOnly) values[f.path] = "";
          else if (f.type === "checkbox") values[f.path] = current === undefined ? !!f.initial : !!current;
          else if (f.type === "ivr") values[f.path] = { ivr: getPath(this.form.settings, "ivr"), flow: getPath(this.form.settings, "bot.flow") || "" };
          else if (f.type === "json") values[f.path] = current === undefined ? "" : JSON.stringify(current, null, 2);
          else if (f.type === "select") values[f.path] = current === undefined || current === null ? f.initial : String(current);
          else values[f.path] = current === undefined || current === null ? "" : String(current);
        }
      }
      this.form.values = values;
      this.form.widget = this.widgetFrom(this.form.settings);
    },

    closeForm() {
      this.form = null; // the typed secrets go with it
      this.clearErrors();
    },

    clearErrors() {
      this.fieldErrors = {};
      this.formError = "";
      this.ivrErrorAt = "";
    },

    isRequired(f) {
      return !!f.required && !(f.writeOnly && this.form.id);
    },

    fieldId(f) {
      return "f-" + f.path.replace(/\./g, "-");
    },

    /** The form's settings fields in their sections, in order ("" for the unnamed one). */
    get sections() {
      const sections = [];
      for (const f of this.spec.fields) {
        const name = f.path.includes(".") ? f.path.split(".")[0] : "";
        let section = sections.find((x) => x.name === name);
        if (!section) sections.push((section = { name, fields: [] }));
        section.fields.push(f);
      }
      return sections;
    },

    /** The settings to send: what the endpoint had (server-kept entries such as an IMAP
     * cursor or a token's digest included), with this form's fields written over it. */
    buildSettings(errors) {
      const spec = this.spec;
      const settings = this.form.id ? JSON.parse(JSON.stringify(this.form.settings)) : {};
      for (const f of spec.fields) {
        const raw = this.form.values[f.path];
        if (f.type === "checkbox") {
          setPath(settings, f.path, !!raw);
          continue;
        }
        if (f.type === "ivr") { // {ivr, flow} from the IVR tree
          setPath(settings, "ivr", raw && raw.ivr ? JSON.parse(JSON.stringify(raw.ivr)) : undefined);
          setPath(settings, "bot", raw && raw.flow ? { flow: raw.flow } : undefined);
          continue;
        }
        const text = String(raw === undefined ? "" : raw).trim();
        if (!text) {
          if (f.writeOnly && this.form.id && this.form.settings[f.writeOnly]) continue; // kept
          if (f.required) errors[f.path] = this.t.required;
          setPath(settings, f.path, undefined);
        } else if (f.type === "json") {
          try {
            setPath(settings, f.path, JSON.parse(text));
          } catch (err) {
            errors[f.path] = fmt(this.t.invalid_json, { error: err.message });
          }
        } else if (f.type === "number") {
          setPath(settings, f.path, Number(text));
        } else {
          setPath(settings, f.path, text);
        }
      }
      if (spec.widget) this.widgetInto(settings, errors);
      for (const group of spec.groups || []) {
        if (!settings[group] || !settings[group].host) delete settings[group];
      }
      return settings;
    },

    /** The secret to send, or undefined to keep the stored one. */
    buildSecret(errors) {
      const parts = this.spec.secret.map((p) => String(this.form.secrets[p] || "").trim());
      if (parts.every((p) => !p)) return undefined;
      if (parts.length === 1) return parts[0];
      if (parts.some((p) => !p)) {
        errors.secret = this.t.both_parts;
        return undefined;
      }
      return JSON.stringify(Object.fromEntries(this.spec.secret.map((p, i) => [p, parts[i]])));
    },

    async save() {
      this.clearErrors();
      const errors = {};
      if (!this.form.name.trim()) errors.name = this.t.required;
      if (!this.form.key.trim()) errors.key = this.t.required;
      const settings = this.buildSettings(errors);
      const secret = this.buildSecret(errors);
      if (Object.keys(errors).length) {
        this.fieldErrors = errors;
        return;
      }
      const body = { name: this.form.name.trim(), queue_id: this.form.queue_id || null, settings };
      if (secret !== undefined) body.secret = secret;
      this.saving = true;
      try {
        let saved;
        if (this.form.id) {
          saved = await T.api("PATCH", `/api/v1/endpoints/${encodeURIComponent(this.form.id)}`, body);
        } else {
          saved = await T.api("POST", "/api/v1/endpoints", { ...body, channel: this.form.channel, key: this.form.key.trim() });
        }
        this.upsert(saved);
        this.say(fmt(this.form.id ? this.t.saved : this.t.created, { name: saved.name }), "info");
        if (!this.form.id && saved.channel === "chat") await this.widgetSecretNew(saved, false);
        this.closeForm();
      } catch (err) {
        this.showProblem(err);
      } finally {
        this.saving = false;
      }
    },

    upsert(endpoint) {
      const i = this.endpoints.findIndex((e) => e.id === endpoint.id);
      if (i >= 0) this.endpoints.splice(i, 1, endpoint);
      else this.endpoints.push(endpoint);
    },

    /** A problem answer, next to the field it names when it names one. */
    showProblem(err) {
      if (err.status === 405 || (err.status === 404 && err.message === "Not Found")) {
        this.formError = fmt(this.t.cannot_change, { error: err.message }); // no such route
        return;
      }
      if (err.status === 404) return this.setError("queue_id", err.message); // no such queue
      if (err.status === 409) return this.setError("key", err.message); // the key is taken
      const field = this.fieldOf(err.message);
      if (field) this.ivrErrorAt = /^([^:\s]+):/.exec(err.message)[1];
      if (field) return this.setError(field, err.message.slice(err.message.indexOf(":") + 1).trim());
      this.formError = fmt(this.t.not_saved, { error: err.message });
      for (const e of (err.details && err.details.errors) || []) {
        const loc = (e.loc || []).filter((p) => p !== "body");
        const named = loc.length ? this.knownField(loc.join(".")) : null;
        if (named) this.setError(named, e.msg);
      }
    },

    setError(field, message) {
      if (field === "form") {
        this.formError = message;
        return;
      }
      this.fieldErrors = { ...this.fieldErrors, [field]: message };
    },

    /** "settings.smtp.port: a TCP port" -> "smtp.port" (a field of this form), "key: ..." -> "key". */
    fieldOf(message) {
      const m = /^([A-Za-z_][\w.[\]]*):\s/.exec(message || "");
      return m ? this.knownField(m[1]) : null;
    },

    knownField(where) {
      const widget = this.widgetField(where);
      if (widget) return widget;
      if (["key", "name", "queue_id", "secret"].includes(where)) return where;
      if (/^settings\.bot(\.|$)/.test(where) && this.spec.fields.some((f) => f.type === "ivr")) return "ivr";
      let path = where.replace(/^settings\./, "").replace(/\[\d+\].*$/, "");
      while (path) {
        if (this.spec.fields.some((f) => f.path === path)) return path;
        if (!path.includes(".")) break;
        path = path.slice(0, path.lastIndexOf("."));
      }
      return null;
    },

    // ---- the list ---------------------------------------------------------------------------

    async setActive(endpoint, active) {
      try {
        const saved = await T.api("PATCH", `/api/v1/endpoints/${encodeURIComponent(endpoint.id)}`, { active });
        this.upsert(saved);
        this.say(fmt(active ? this.t.enabled_notice : this.t.disabled_notice, { name: saved.name }), "info");
      } catch (err) {
        const text = err.status === 405 || (err.status === 404 && err.message === "Not Found")
          ? fmt(this.t.cannot_change, { error: err.message })
          : fmt(this.t.not_saved, { error: err.message });
        this.say(text, "error");
      }
    },

    channelName(channel) {
      return this.t["ch_" + channel] || channel;
    },

    queueName(id) {
      const q = this.queues.find((x) => x.id === id);
      return q ? q.name : "—";
    },

    webhookUrl(endpoint) {
      const path = config.webhooks[endpoint.channel];
      if (!path) return "";
      const provider = (endpoint.settings && endpoint.settings.provider) || "twilio";
      return config.base_url + path
        .replace("{provider}", encodeURIComponent(provider))
        .replace("{key}", encodeURIComponent(endpoint.key));
    },

    hint(endpoint) {
      if (endpoint.channel === "email") {
        const imap = endpoint.settings && endpoint.settings.imap;
        if (config.smtp_inbound) return fmt(this.t.inbound_smtp, { address: config.smtp_inbound });
        if (imap && imap.host) return fmt(this.t.inbound_imap, { host: imap.host });
        return this.t.inbound_none;
      }
      return this.t["hint_" + endpoint.channel] || "";
    },

    async copy(endpoint) {
      const url = this.webhookUrl(endpoint);
      try {
        await navigator.clipboard.writeText(url);
      } catch (err) {
        // no clipboard API (an insecure origin): select the text and copy it the old way
        const input = document.querySelector(`tr[data-endpoint="${CSS.escape(endpoint.key)}"] input[data-testid=webhook-url]`);
        if (input) {
          input.select();
          document.execCommand("copy");
        }
      }
      this.copiedId = endpoint.id;
      setTimeout(() => { if (this.copiedId === endpoint.id) this.copiedId = null; }, 2000);
    },

    fmt(text, values) { return fmt(text, values); },
    initials(name) { return T.initials(name); },
    logout() { T.logout(false); },
  }));
});
