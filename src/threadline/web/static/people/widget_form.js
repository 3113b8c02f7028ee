/* The chat widget's part of the channels page (admin_channels.js mixes it in): colours with
 * a preview, the languages it speaks and its default, a greeting per language, the sites
 * allowed to embed it; and its identity secret, made by the server, shown here once with a
 * copy button and never again (a new one replaces it). Strings: config.widget. */
"use strict";

(function () {
  const LANGUAGES = ["en", "pt", "es", "ru", "el"];
  const DEFAULT_COLOR = "#0b5cad";
  const FIELDS = ["color", "languages", "language", "greeting", "allowed_origins"];

  function mixin(config) {
    const w = config.widget || {};
    return {
      w,
      widgetLanguages: LANGUAGES,
      widgetSecret: null,
      widgetCopied: false,

      /** The widget form's values from an endpoint's settings. */
      widgetFrom(settings) {
        const s = settings || {};
        const language = s.language || "en";
        const greeting = {};
        for (const l of LANGUAGES) greeting[l] = (s.greeting && s.greeting[l]) || "";
        return {
          color: s.color || DEFAULT_COLOR,
          languages: s.languages && s.languages.length ? s.languages.slice() : [language],
          language,
          greeting,
          origins: (s.allowed_origins || []).join("\n"),
        };
      },

      /** Write the widget form into the settings to send; errors by field. */
      widgetInto(settings, errors) {
        const f = this.form.widget;
        if (!/^#[0-9a-fA-F]{6}$/.test(f.color)) errors.color = w.color_wrong;
        const chosen = LANGUAGES.filter((l) => f.languages.includes(l));
        if (!chosen.length) errors.languages = w.one_language;
        const language = chosen.includes(f.language) ? f.language : chosen[0];
        settings.color = f.color.toLowerCase();
        settings.language = language;
        settings.languages = [language, ...chosen.filter((l) => l !== language)];
        settings.greeting = {};
        for (const l of chosen) {
          const text = String(f.greeting[l] || "").trim();
          if (text) settings.greeting[l] = text;
        }
        settings.allowed_origins = f.origins.split(/[\s,]+/).map((o) => o.trim()).filter(Boolean);
      },

      /** "greeting.pt: ..." -> "greeting.pt"; "languages: ..." -> "languages". */
      widgetField(where) {
        if (!this.form || this.form.channel !== "chat") return null;
        const head = String(where).replace(/^settings\./, "");
        if (/^greeting\.[a-z]{2}$/.test(head)) return head;
        const name = head.split(/[.[]/)[0];
        return FIELDS.includes(name) ? name : null;
      },

      widgetChosen() {
        return LANGUAGES.filter((l) => this.form.widget.languages.includes(l));
      },

      widgetChecked(l) {
        return this.form.widget.languages.includes(l);
      },

      widgetGreetingPreview() {
        const f = this.form.widget;
        return String(f.greeting[f.language] || "").trim() || w.preview_greeting;
      },

      widgetLanguageName(l) {
        return w["lang_" + l] || l;
      },

      /** A new identity secret for a chat widget, shown once. */
      async widgetSecretNew(endpoint, ask) {
        if (ask && endpoint.has_secret && !window.confirm(this.fmt(w.confirm_regenerate, { name: endpoint.name }))) return;
        try {
          const made = await window.TLDesk.api("POST", `/api/v1/endpoints/${encodeURIComponent(endpoint.id)}/identity-secret`);
          this.widgetSecret = { name: endpoint.name, secret: made.secret };
          this.widgetCopied = false;
          const row = this.endpoints.find((e) => e.id === endpoint.id);
          if (row) row.has_secret = true;
        } catch (err) {
          this.say(this.fmt(w.secret_failed, { error: err.message }), "error");
        }
      },

      async widgetCopySecret() {
        await window.TLPeople.copy(this.widgetSecret.secret, document.querySelector("[data-testid=identity-secret]"));
        this.widgetCopied = true;
      },

      widgetSecretHide() {
        this.widgetSecret = null; // gone: it cannot be shown again
      },
    };
  }

  window.TLWidgetForm = { mixin };
})();
