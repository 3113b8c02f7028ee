/* Admins' queues page: list, add and edit queues through /api/v1/queues: skills, priority,
 * service-level target, offer timeout, overflow, business hours (ranges per weekday, time
 * zone, holidays and closed dates) and the callback policy (routing/callback_policy.py) as a
 * form. The server validates; its errors name a path ("days.mon[1]: ...", "plan.tue[0]: ...",
 * or a schema error's loc) and are shown beside that field. */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  const POLICY_DEFAULTS = {
    enabled: false, offer_after_s: 300, keep_place: true, booking: true, max_attempts: 3,
    retry_after_s: [120, 600], ring_timeout_s: 25, window_minutes: 30, book_days: 7,
    min_notice_minutes: 30, timezone: "UTC", plan: {},
  };
  const NUMBERS = ["priority", "sl_target_pct", "sl_threshold_s", "offer_timeout_s", "overflow_after_s", "wrapup_s"];
  const OPTIONAL = ["offer_timeout_s", "overflow_after_s"];
  const POLICY_NUMBERS = ["offer_after_s", "max_attempts", "ring_timeout_s", "window_minutes", "book_days", "min_notice_minutes"];

  function fmt(text, values) {
    return String(text).replace(/\{(\w+)\}/g, (m, name) => (name in values ? values[name] : m));
  }

  function skillsText(list) {
    return (list || []).join(", ");
  }

  function skillsList(text) {
    return String(text || "").split(",").map((s) => s.trim()).filter(Boolean);
  }

  function clock(value) {
    // <input type=time> cannot show 24:00: the end of the day is 23:59 on screen
    return value === "24:00" ? "23:59" : value;
  }

  function endClock(value) {
    return value === "23:59" ? "24:00" : value;
  }

  function localZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    } catch (err) {
      return "UTC";
    }
  }

  function zones() {
    try {
      return Intl.supportedValuesOf("timeZone");
    } catch (err) {
      return ["UTC"];
    }
  }

  window.Alpine.data("adminQueues", (config) => ({
    me: config.me,
    t: config.t,
    days: DAYS,
    policyMain: ["offer_after_s", "max_attempts", "retry_after_s", "ring_timeout_s"],
    policyBooking: ["window_minutes", "book_days", "min_notice_minutes"],
    zones: zones(),
    queues: [],
    loading: true,
    form: null,
    errors: {},
    formError: "",
    saving: false,
    notice: "",
    noticeKind: "info",

    init() {
      this.load();
    },

    async load() {
      try {
        this.queues = await T.api("GET", "/api/v1/queues");
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

    toForm(q) {
      const hours = q.business_hours || {};
      const always = !hours.days && !hours.closed_dates && !hours.holidays && !hours.timezone;
      const days = {};
      for (const d of DAYS) {
        days[d] = ((hours.days || {})[d] || []).map(([start, end]) => ({ start: clock(start), end: clock(end) }));
      }
      const closed = [
        ...(hours.closed_dates || []).map((date) => ({ date, label: "", yearly: false })),
        ...(hours.holidays || []).map((h) => ({ date: h.date, label: h.label || "", yearly: !!h.yearly })),
      ];
      const policy = { ...POLICY_DEFAULTS, ...(q.callback_policy || {}) };
      const plan = {};
      for (const d of DAYS) {
        plan[d] = ((policy.plan || {})[d] || []).map(([start, end, agents]) => ({ start: clock(start), end: clock(end), agents: String(agents) }));
      }
      const form = {
        id: q.id || null,
        name: q.name || "",
        required_skills: skillsText(q.required_skills),
        overflow_skills: skillsText(q.overflow_skills),
        overflow_queue_id: q.overflow_queue_id || "",
        always,
        timezone: hours.timezone || localZone(),
        days,
        closed,
        policy: {
          ...policy,
          retry_after_s: [].concat(policy.retry_after_s).join(", "),
          plan,
        },
      };
      for (const n of NUMBERS) form[n] = q[n] === null || q[n] === undefined ? "" : String(q[n]);
      for (const n of POLICY_NUMBERS) form.policy[n] = String(policy[n]);
      return form;
    },

    /** The queues this one may overflow to: the others. */
    get overflowTargets() {
      return this.queues.filter((q) => !this.form || q.id !== this.form.id);
    },

    openNew() {
      this.form = this.toForm({ priority: 0, sl_target_pct: 80, sl_threshold_s: 20, wrapup_s: 0, business_hours: {}, callback_policy: {} });
      this.clearErrors();
      this.$nextTick(() => document.getElementById("f-name").focus());
    },

    openEdit(queue) {
      this.form = this.toForm(queue);
      this.clearErrors();
      this.$nextTick(() => document.getElementById("f-name").focus());
    },

    closeForm() {
      this.form = null;
      this.clearErrors();
    },

    clearErrors() {
      this.errors = {};
      this.formError = "";
    },

    addRange(day) {
      const ranges = this.form.days[day];
      const last = ranges[ranges.length - 1];
      ranges.push(last ? { start: last.end, end: "23:59" } : { start: "09:00", end: "17:00" });
    },

    removeRange(day, i) {
      this.form.days[day].splice(i, 1);
    },

    copyToWeekdays(day) {
      for (const d of DAYS.slice(0, 5)) {
        if (d !== day) this.form.days[d] = this.form.days[day].map((r) => ({ ...r }));
      }
    },

    addClosed() {
      this.form.closed.push({ date: "", label: "", yearly: false });
      const i = this.form.closed.length - 1;
      this.$nextTick(() => { const el = document.getElementById("f-closed-" + i); if (el) el.focus(); });
    },

    removeClosed(i) {
      this.form.closed.splice(i, 1);
    },

    addShift(day) {
      this.form.policy.plan[day].push({ start: "09:00", end: "17:00", agents: "1" });
    },

    removeShift(day, i) {
      this.form.policy.plan[day].splice(i, 1);
    },

    dayName(day) {
      return this.t["day_" + day];
    },

    // ---- building the request ---------------------------------------------------------------

    number(text) {
      const value = String(text).trim();
      return value === "" ? null : Number(value);
    },

    buildHours() {
      const f = this.form;
      if (f.always) return {};
      const days = {};
      for (const d of DAYS) {
        if (f.days[d].length) days[d] = f.days[d].map((r) => [r.start, endClock(r.end)]);
      }
      const holidays = f.closed.map((c) => {
        const item = { date: c.date, label: c.label.trim() };
        if (c.yearly) item.yearly = true;
        return item;
      });
      const hours = { timezone: f.timezone, days };
      if (holidays.length) hours.holidays = holidays;
      return hours;
    },

    buildPolicy() {
      const p = this.form.policy;
      const plan = {};
      for (const d of DAYS) {
        if (p.plan[d].length) plan[d] = p.plan[d].map((s) => [s.start, endClock(s.end), this.number(s.agents)]);
      }
      const retry = String(p.retry_after_s).split(",").map((x) => x.trim()).filter(Boolean).map(Number);
      const policy = {
        enabled: !!p.enabled, keep_place: !!p.keep_place, booking: !!p.booking,
        retry_after_s: retry, timezone: p.timezone, plan,
      };
      for (const n of POLICY_NUMBERS) policy[n] = this.number(p[n]);
      return policy;
    },

    buildBody() {
      const f = this.form;
      const body = {
        name: f.name.trim(),
        required_skills: skillsList(f.required_skills),
        business_hours: this.buildHours(),
        callback_policy: this.buildPolicy(),
      };
      const overflow = skillsList(f.overflow_skills);
      body.overflow_skills = overflow.length && !f.overflow_queue_id ? overflow : null;
      body.overflow_queue_id = f.overflow_queue_id || null;
      for (const n of NUMBERS) {
        const value = this.number(f[n]);
        if (value !== null || OPTIONAL.includes(n)) body[n] = value;
      }
      return body;
    },

    async save() {
      this.clearErrors();
      if (!this.form.name.trim()) {
        this.errors = { name: this.t.required };
        return;
      }
      const body = this.buildBody();
      this.saving = true;
      try {
        const saved = this.form.id
          ? await T.api("PUT", `/api/v1/queues/${encodeURIComponent(this.form.id)}`, body)
          : await T.api("POST", "/api/v1/queues", body);
        const i = this.queues.findIndex((q) => q.id === saved.id);
        if (i >= 0) this.queues.splice(i, 1, saved);
        else this.queues.push(saved);
        this.say(fmt(this.form.id ? this.t.saved : this.t.created, { name: saved.name }), "info");
        this.closeForm();
      } catch (err) {
        this.showProblem(err);
      } finally {
        this.saving = false;
      }
    },

    /** A problem answer beside the field it names: a schema error's loc (["body", "name"]),
     * and inside business_hours / callback_policy the path its message starts with. */
    showProblem(err) {
      if (err.status === 409) {
        this.errors = { name: err.message };
        return;
      }
      const errors = {};
      const details = err.details || {};
      if (details.field && details.reason) { // the overflow queue's refusals, in the page's language
        const why = {
          self: this.t.overflow_err_self,
          loop: this.t.overflow_err_loop,
          unknown: this.t.overflow_err_unknown,
          both: this.t.overflow_err_both,
          wait: this.t.overflow_err_wait,
        };
        errors[details.field] = why[details.reason] || err.message;
      }
      for (const e of details.errors || []) {
        const loc = (e.loc || []).filter((p) => p !== "body");
        const msg = String(e.msg || "").replace(/^Value error, /, "");
        const top = loc[0];
        if (top === "business_hours" || top === "callback_policy") {
          const m = /^([a-z_]+(?:\.[a-z]+)?(?:\[\d+\])?)(?:\.[a-z_]+)?:\s*/.exec(msg);
          const named = /^([a-z_]+) must /.exec(msg);
          const key = m ? m[1] : (named ? named[1] : "");
          errors[top + (key ? "." + key : "")] = m ? msg.slice(m[0].length) : msg;
        } else if (top) {
          errors[String(top)] = msg;
        }
      }
      if (Object.keys(errors).length) this.errors = errors;
      else this.formError = fmt(this.t.not_saved, { error: err.message });
    },

    /** The error shown beside a field (its key as showProblem made it). */
    err(key) {
      return this.errors[key] || "";
    },

    /** The first error at a path or below it ("business_hours.days.mon" has days.mon[1]'s). */
    errAt(prefix) {
      const key = Object.keys(this.errors).find((k) => k === prefix || k.startsWith(prefix + "[") || k.startsWith(prefix + "."));
      return key ? this.errors[key] : "";
    },

    // ---- the list ---------------------------------------------------------------------------

    hoursText(q) {
      const h = q.business_hours || {};
      if (!Object.keys(h).length) return this.t.always_open;
      const closed = (h.closed_dates || []).length + (h.holidays || []).length;
      const open = DAYS.filter((d) => ((h.days || {})[d] || []).length).map((d) => this.t["day_short_" + d]).join(" ");
      return fmt(this.t.hours_summary, { zone: h.timezone || "UTC", days: open || this.t.never_open, closed });
    },

    slText(q) {
      return fmt(this.t.sl_summary, { pct: q.sl_target_pct, s: q.sl_threshold_s });
    },

    callbackText(q) {
      const p = q.callback_policy || {};
      return p.enabled ? fmt(this.t.callback_on, { s: p.offer_after_s === undefined ? 300 : p.offer_after_s }) : this.t.callback_off;
    },

    skillsText(list) {
      return skillsText(list) || "—";
    },

    fmt(text, values) { return fmt(text, values); },
    initials(name) { return T.initials(name); },
    logout() { T.logout(false); },
  }));
});
