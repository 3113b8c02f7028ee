/* Admins' agents page: list (by role, team, standing), add with a password or an
 * invitation link, edit the routing profile (skills with levels 1-5, languages, tier,
 * capacity per channel), role and team, deactivate and reactivate; and teams. Through
 * /api/v1/agents and /api/v1/teams; the server's validation errors are shown beside the
 * field they name. */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const P = window.TLPeople;
  const FIELDS = ["name", "email", "role", "team_id", "tier", "password", "languages", "skills", "capacity"];
  let skillKeys = 0;

  window.Alpine.data("adminAgents", (config) => ({
    me: config.me,
    t: config.t,
    config,
    levels: ["1", "2", "3", "4", "5"],
    agents: [],
    everyone: [],
    teams: [],
    loading: true,
    filters: { role: "", team_id: "", standing: "active" },
    form: null,
    errors: {},
    formError: "",
    saving: false,
    invite: null,
    copied: false,
    teamForm: { name: "", supervisor_id: "" },
    teamErrors: {},
    notice: "",
    noticeKind: "info",

    init() {
      this.loadTeams();
      this.load();
    },

    get supervisors() {
      return this.everyone.filter((a) => a.role !== "agent");
    },

    async load() {
      const q = new URLSearchParams({ standing: this.filters.standing });
      if (this.filters.role) q.set("role", this.filters.role);
      if (this.filters.team_id) q.set("team_id", this.filters.team_id);
      try {
        this.agents = await T.api("GET", `/api/v1/agents?${q.toString()}`);
        this.everyone = await T.api("GET", "/api/v1/agents");
      } catch (err) {
        this.say(P.fmt(this.t.load_failed, { error: err.message }), "error");
      } finally {
        this.loading = false;
      }
    },

    async loadTeams() {
      try {
        this.teams = await T.api("GET", "/api/v1/teams");
      } catch (err) {
        this.say(P.fmt(this.t.load_failed, { error: err.message }), "error");
      }
    },

    say(text, kind) {
      this.notice = text;
      this.noticeKind = kind || "info";
    },

    // ---- the form -----------------------------------------------------------------------

    blank() {
      const capacity = {};
      for (const c of config.channels) capacity[c] = "";
      capacity.chat = "3";
      return {
        id: null, name: "", email: "", role: "agent", team_id: "", tier: "1", access: "invite",
        password: "", languages: ["en"], moreLanguages: "", skills: [], capacity,
      };
    },

    openNew() {
      this.form = this.blank();
      this.addSkill();
      this.clearErrors();
      this.$nextTick(() => document.getElementById("a-name").focus());
    },

    openEdit(agent) {
      const form = this.blank();
      const known = agent.languages.filter((l) => config.languages.includes(l));
      Object.assign(form, {
        id: agent.id, name: agent.name, email: agent.email, role: agent.role,
        team_id: agent.team_id || "", tier: String(agent.tier), languages: known,
        moreLanguages: agent.languages.filter((l) => !known.includes(l)).join(", "),
        skills: Object.entries(agent.skills).map(([name, level]) => ({ key: ++skillKeys, name, level: String(level) })),
      });
      for (const c of config.channels) form.capacity[c] = c in agent.capacity ? String(agent.capacity[c]) : "";
      this.form = form;
      this.clearErrors();
      this.$nextTick(() => document.getElementById("a-name").focus());
    },

    closeForm() {
      this.form = null;
      this.clearErrors();
    },

    clearErrors() {
      this.errors = {};
      this.formError = "";
    },

    addSkill() {
      this.form.skills.push({ key: ++skillKeys, name: "", level: "3" });
    },

    removeSkill(i) {
      this.form.skills.splice(i, 1);
    },

    /** The body to send, checking on the way what the browser can (the server checks all). */
    body(errors) {
      const f = this.form;
      const body = { name: f.name.trim(), role: f.role, team_id: f.team_id || null };
      if (!body.name) errors.name = this.t.required;
      const tier = Number(f.tier);
      if (!Number.isInteger(tier)) errors.tier = this.t.whole_number;
      body.tier = tier;
      const more = f.moreLanguages.split(/[\s,]+/).map((l) => l.trim().toLowerCase()).filter(Boolean);
      body.languages = [...new Set([...f.languages, ...more])];
      if (!body.languages.length) errors.languages = this.t.one_language;
      body.skills = {};
      for (const s of f.skills) {
        const name = s.name.trim();
        if (name) body.skills[name] = Number(s.level);
      }
      body.capacity = {};
      for (const c of config.channels) {
        const raw = String(f.capacity[c] === undefined ? "" : f.capacity[c]).trim();
        if (raw === "") continue;
        const n = Number(raw);
        if (!Number.isInteger(n)) errors.capacity = this.t.whole_number;
        body.capacity[c] = n;
      }
      if (!f.id) {
        body.email = f.email.trim();
        if (!body.email) errors.email = this.t.required;
        if (f.access === "password") {
          body.password = f.password;
          if (!f.password) errors.password = this.t.required;
        }
      }
      return body;
    },

    async save() {
      this.clearErrors();
      const errors = {};
      const body = this.body(errors);
      if (Object.keys(errors).length) {
        this.errors = errors;
        return;
      }
      this.saving = true;
      try {
        if (this.form.id) {
          const saved = await T.api("PATCH", `/api/v1/agents/${encodeURIComponent(this.form.id)}`, body);
          this.say(P.fmt(this.t.saved, { name: saved.name }), "info");
        } else {
          const created = await T.api("POST", "/api/v1/agents", body);
          this.say(P.fmt(this.t.created, { name: created.name }), "info");
          if (created.invite_url) this.showInvite(created.name, created.invite_url);
        }
        this.closeForm();
        await Promise.all([this.load(), this.loadTeams()]);
      } catch (err) {
        const found = P.fieldErrors(err, FIELDS);
        this.formError = found.form ? P.fmt(this.t.not_saved, { error: found.form }) : "";
        delete found.form;
        this.errors = found;
      } finally {
        this.saving = false;
      }
    },

    // ---- the list -----------------------------------------------------------------------

    async setActive(agent, active) {
      if (!active && !window.confirm(P.fmt(this.t.confirm_deactivate, { name: agent.name }))) return;
      try {
        await T.api("PATCH", `/api/v1/agents/${encodeURIComponent(agent.id)}`, { active });
        this.say(P.fmt(active ? this.t.reactivated : this.t.deactivated_notice, { name: agent.name }), "info");
        await Promise.all([this.load(), this.loadTeams()]);
      } catch (err) {
        this.say(P.fmt(this.t.not_saved, { error: err.message }), "error");
      }
    },

    async reinvite(agent) {
      try {
        const link = await T.api("POST", `/api/v1/agents/${encodeURIComponent(agent.id)}/invite`);
        this.showInvite(agent.name, link.invite_url);
      } catch (err) {
        this.say(P.fmt(this.t.not_saved, { error: err.message }), "error");
      }
    },

    showInvite(name, url) {
      this.invite = { name, url };
      this.copied = false;
    },

    async copyInvite() {
      await P.copy(this.invite.url, document.querySelector("[data-testid=invite-url]"));
      this.copied = true;
    },

    teamName(id) {
      const team = this.teams.find((x) => x.id === id);
      return team ? team.name : "—";
    },

    agentName(id) {
      const agent = this.everyone.find((a) => a.id === id);
      return agent ? agent.name : "—";
    },

    skillsText(agent) {
      return Object.entries(agent.skills).map(([s, l]) => `${s} ${l}`).join(", ") || "—";
    },

    capacityText(agent) {
      return Object.entries(agent.capacity)
        .filter(([, n]) => n > 0)
        .map(([c, n]) => `${this.t["ch_" + c] || c} ${n}`)
        .join(", ") || "—";
    },

    // ---- teams --------------------------------------------------------------------------

    async addTeam() {
      this.teamErrors = {};
      const name = this.teamForm.name.trim();
      if (!name) {
        this.teamErrors = { name: this.t.required };
        return;
      }
      try {
        await T.api("POST", "/api/v1/teams", { name, supervisor_id: this.teamForm.supervisor_id || null });
        this.teamForm = { name: "", supervisor_id: "" };
        this.say(P.fmt(this.t.team_created, { name }), "info");
        await this.loadTeams();
      } catch (err) {
        const found = P.fieldErrors(err, ["name", "supervisor_id"]);
        if (found.form) this.say(P.fmt(this.t.not_saved, { error: found.form }), "error");
        delete found.form;
        this.teamErrors = found;
      }
    },

    async deleteTeam(team) {
      if (!window.confirm(P.fmt(this.t.confirm_delete_team, { name: team.name }))) return;
      try {
        await T.api("DELETE", `/api/v1/teams/${encodeURIComponent(team.id)}`);
        if (this.filters.team_id === team.id) this.filters.team_id = "";
        await Promise.all([this.loadTeams(), this.load()]);
      } catch (err) {
        this.say(P.fmt(this.t.not_saved, { error: err.message }), "error");
      }
    },

    fmt(text, values) { return P.fmt(text, values); },
    initials(name) { return T.initials(name); },
    logout() { T.logout(false); },
  }));
});
