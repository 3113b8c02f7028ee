/* Admins train their organisation's intent model: upload a text,category CSV, follow the
 * training (queued, training, evaluating, done or failed and why), see the model in use with
 * its held-out evaluation and per-intent F1, and try a sentence, through /api/v1/intents. */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const POLL_MS = 1000;
  const STEPS = {
    "starting": "step_starting",
    "embedding the examples": "step_embedding",
    "calibrating on a held-out part": "step_calibrating",
    "final fit": "step_final",
    "held-out model": "step_held_out",
    "scoring the held-out part": "step_scoring",
    "writing the model": "step_writing",
  };

  function fmt(text, values) {
    return String(text).replace(/\{(\w+)\}/g, (m, name) => (name in values ? values[name] : m));
  }

  window.Alpine.data("intentsAdmin", (config) => ({
    t: config.t,
    maxBytes: config.max_bytes,
    loaded: false,
    canTrain: true,
    model: null,
    training: null,
    uploading: false,
    sentence: "",
    tried: null,
    notice: "",
    noticeKind: "info",
    timer: null,

    init() { this.load(); },

    async load() {
      try {
        const overview = await T.api("GET", "/api/v1/intents");
        this.model = overview.model;
        this.training = overview.training;
        this.canTrain = overview.can_train;
        this.loaded = true;
        this.follow();
      } catch (err) {
        this.say(fmt(this.t.failed, { error: err.message }), "error");
      }
    },

    /** While a training runs, ask for its state every second; reload the model when done. */
    follow() {
      clearTimeout(this.timer);
      if (!this.running()) return;
      this.timer = setTimeout(async () => {
        try {
          this.training = await T.api("GET", "/api/v1/intents/trainings/latest");
        } catch (err) {
          this.say(fmt(this.t.failed, { error: err.message }), "error");
        }
        if (this.running()) this.follow();
        else await this.load();
      }, POLL_MS);
    },

    running() {
      return Boolean(this.training) && ["queued", "training", "evaluating"].includes(this.training.state);
    },

    async upload() {
      const file = this.$refs.file.files[0];
      if (!file) return;
      if (file.size > this.maxBytes) {
        this.say(this.t.too_big, "error");
        return;
      }
      this.uploading = true;
      this.notice = "";
      try {
        const response = await fetch("/api/v1/intents/trainings", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "text/csv", Accept: "application/json" },
          body: file,
        });
        const data = await response.json().catch(() => null);
        if (!response.ok) {
          throw new Error((data && data.message) || `${response.status}`);
        }
        this.training = data;
        this.$refs.file.value = "";
        this.follow();
      } catch (err) {
        this.say(fmt(this.t.refused, { error: err.message }), "error");
      } finally {
        this.uploading = false;
      }
    },

    async tryText() {
      const text = this.sentence.trim();
      if (!text) return;
      try {
        this.tried = await T.api("POST", "/api/v1/intents/try", { text });
      } catch (err) {
        this.tried = null;
        this.say(fmt(this.t.failed, { error: err.message }), "error");
      }
    },

    stateName() { return this.training ? this.t["state_" + this.training.state] : ""; },
    stepName() {
      const step = this.training ? this.training.step : "";
      return this.t[STEPS[step]] || step;
    },
    barValue() { return this.training ? Math.round(this.training.progress * 100) : 0; },
    evaluated(model) { return Boolean(model && model.evaluation && model.evaluation.held_out); },
    pct(value) { return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)} %`; },
    answeredText() {
      if (!this.evaluated(this.model)) return "–";
      const e = this.model.evaluation;
      return fmt(this.t.answered_value, { share: this.pct(e.answered), threshold: this.pct(e.threshold) });
    },
    doneText() {
      const e = this.training && this.training.evaluation;
      return e ? fmt(this.t.done_value, { accuracy: this.pct(e.accuracy), f1: this.pct(e.macro_f1) }) : "";
    },
    when(iso) { return T.formatFull(iso); },
    say(text, kind) { this.notice = text; this.noticeKind = kind; },
    logout() { return T.logout(); },
  }));
});
