/* Admins write the knowledge base: categories, articles, each language's text (every save
 * is a new version), publish or unpublish, and the diff between versions, through
 * /api/v1/kb. */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;

  function fmt(text, values) {
    return String(text).replace(/\{(\w+)\}/g, (m, name) => (name in values ? values[name] : m));
  }

  window.Alpine.data("helpAdmin", (config) => ({
    t: config.t,
    languages: config.languages,
    categories: [],
    articles: [],
    selected: null,
    language: config.lang,
    title: "",
    body: "",
    versions: [],
    diff: "",
    saving: false,
    newCategory: "",
    newArticle: "",
    newArticleCategory: "",
    notice: "",
    noticeKind: "info",

    init() { this.load(); },

    async load() {
      try {
        const [categories, articles] = await Promise.all([
          T.api("GET", "/api/v1/kb/categories"),
          T.api("GET", "/api/v1/kb/articles"),
        ]);
        this.categories = categories;
        this.articles = articles;
        if (!this.newArticleCategory && categories.length) this.newArticleCategory = categories[0].id;
        if (this.selected) this.selected = articles.find((a) => a.id === this.selected.id) || null;
      } catch (err) {
        this.say(fmt(this.t.failed, { error: err.message }), "error");
      }
    },

    say(text, kind) { this.notice = text; this.noticeKind = kind; },
    when(iso) { return T.formatFull ? T.formatFull(iso) : iso; },
    logout() { return T.logout(); },

    async createCategory() {
      const slug = this.newCategory.trim();
      if (!slug) return;
      const names = {};
      names[this.language] = slug;
      await this.call(async () => {
        await T.api("POST", "/api/v1/kb/categories", { slug, names });
        this.newCategory = "";
      });
    },

    async createArticle() {
      const slug = this.newArticle.trim();
      if (!slug || !this.newArticleCategory) return;
      await this.call(async () => {
        const made = await T.api("POST", "/api/v1/kb/articles", { slug, category_id: this.newArticleCategory });
        this.newArticle = "";
        await this.load();
        this.pick(made);
      });
    },

    pick(article) {
      this.selected = article;
      this.switchLanguage(this.language);
    },

    switchLanguage(language) {
      this.language = language;
      this.diff = "";
      const text = (this.selected.translations || []).find((x) => x.language === language);
      this.title = text ? text.title : "";
      this.body = text ? text.body : "";
      this.loadVersions();
    },

    async loadVersions() {
      this.versions = [];
      const has = (this.selected.translations || []).some((x) => x.language === this.language);
      if (!has) return;
      const path = `/api/v1/kb/articles/${this.selected.id}/translations/${this.language}/versions`;
      this.versions = await T.api("GET", path);
    },

    async save() {
      this.saving = true;
      await this.call(async () => {
        const path = `/api/v1/kb/articles/${this.selected.id}/translations/${this.language}`;
        const saved = await T.api("PUT", path, { title: this.title, body: this.body });
        this.say(fmt(this.t.saved, { version: saved.version }), "info");
        await this.load();
        await this.loadVersions();
      });
      this.saving = false;
    },

    async publish() { await this.status("publish"); },
    async unpublish() { await this.status("unpublish"); },

    async status(action) {
      await this.call(async () => {
        await T.api("POST", `/api/v1/kb/articles/${this.selected.id}/${action}`);
        this.say(action === "publish" ? this.t.published_notice : this.t.unpublished_notice, "info");
      });
    },

    async showDiff(number) {
      const path = `/api/v1/kb/articles/${this.selected.id}/translations/${this.language}/diff`;
      await this.call(async () => {
        const found = await T.api("GET", `${path}?from=${number - 1}&to=${number}`);
        this.diff = found.diff || this.t.no_changes;
      }, false);
    },

    async call(work, reload = true) {
      try {
        await work();
        if (reload) await this.load();
      } catch (err) {
        this.say(fmt(this.t.failed, { error: err.message }), "error");
      }
    },
  }));
});
