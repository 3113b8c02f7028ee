/* Supervision (issue 13 §3): two small Alpine components.
 *
 * Both share the page's one desktop stream (TLDesk.onStreamFrame / sendOnStream).
 *
 * `supervision`, on the supervisor dashboard: the live conversations (GET
 * /api/v1/supervision/conversations) by queue, filtered by queue or agent; one opened
 * read-only (POST .../monitor, audited) shows its timeline, kept live by watching the thread on
 * the stream, with no composer; from there the supervisor whispers to the agent, joins (then
 * may write to the customer), leaves, takes it over or reassigns it to another agent.
 *
 * `supervisionDesk`, on the agent desktop: what a supervisor does to this agent, live — a
 * whisper (shown until dismissed), a supervisor joining or leaving one of their
 * conversations, a conversation taken over (the desktop's list refreshes:
 * the `tl-threads-changed` window event), presence set by a supervisor.
 *
 * Strings come from <script id="supervision-strings"> ({"t": ..., "me": agent id}), in the
 * page's language; times in the agent's time zone (common.js: their profile's, else the browser's). */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const REFRESH_MS = 10000;
  const DEBOUNCE_MS = 150;
  const config = () => JSON.parse(document.getElementById("supervision-strings").textContent);
  const fill = (text, values) => String(text).replace(/\{(\w+)\}/g, (_, key) => (key in values ? values[key] : `{${key}}`));

  window.Alpine.data("supervision", () => {
    const { t, me } = config();
    let timer = null;
    return {
      sv: t,
      callMode: "",  // listen | whisper | barge while the supervisor is on the open call
      me,
      conversations: [],
      agents: [],
      queueFilter: "",
      agentFilter: "",
      open: null,
      events: [],
      whisperText: "",
      replyText: "",
      reassignTo: "",
      busy: false,
      error: "",
      now: Date.now(),

      init() {
        this.load();
        this.loadAgents();
        setInterval(() => this.load(), REFRESH_MS);
        setInterval(() => { this.now = Date.now(); }, 1000);
        T.onStreamFrame((frame) => {
          if (frame.type !== "hello") { this.onFrame(frame); return; }
          if (this.open) T.sendOnStream({ type: "watch", thread_id: this.open.thread_id });
          this.load();
        });
      },

      onFrame(frame) {
        const type = String(frame.type || "");
        if (type === "timeline" && this.open && frame.thread_id === this.open.thread_id) this.addEvent(frame.event);
        if (type === "agent.presence") this.loadAgents();
        if (type === "timeline" || type === "queue.changed" || type.startsWith("contact.") || type.startsWith("thread.")) this.soon();
      },

      soon() {
        clearTimeout(timer);
        timer = setTimeout(() => this.load(), DEBOUNCE_MS);
      },

      async load() {
        const query = new URLSearchParams();
        if (this.queueFilter) query.set("queue_id", this.queueFilter);
        if (this.agentFilter) query.set("agent_id", this.agentFilter);
        try {
          this.conversations = await T.api("GET", `/api/v1/supervision/conversations?${query}`);
          if (this.open) {
            const fresh = this.conversations.find((c) => c.thread_id === this.open.thread_id);
            if (fresh) this.open = fresh;
          }
        } catch (err) {
          this.error = fill(t.failed, { reason: err.message });
        }
      },

      async loadAgents() {
        try { this.agents = await T.api("GET", "/api/v1/agents"); } catch (err) { /* the list stays */ }
      },

      /** The queues that have live conversations, each with its conversations. */
      get groups() {
        const byQueue = new Map();
        for (const c of this.conversations) {
          if (!byQueue.has(c.queue_id)) byQueue.set(c.queue_id, { queue_id: c.queue_id, name: c.queue_name, items: [] });
          byQueue.get(c.queue_id).items.push(c);
        }
        return [...byQueue.values()];
      },

      get queues() {
        const seen = new Map(this.conversations.map((c) => [c.queue_id, c.queue_name]));
        return [...seen].map(([id, name]) => ({ id, name }));
      },

      get otherAgents() {
        return this.agents.filter((a) => !this.open || a.id !== this.open.agent_id);
      },

      customerName(c) { return c.customer_name || t.visitor; },
      statusText(c) { return t[`status_${c.status}`] || c.status; },
      since(c) { return T.formatDuration((this.now - new Date(c.enqueued_at).getTime()) / 1000); },
      time(iso) { return T.formatTime(iso); },
      agentName(c) { return c.agent_name || t.nobody; },
      isOpen(c) { return Boolean(this.open && this.open.thread_id === c.thread_id); },
      get openTitle() { return this.open ? fill(t.opened_label, { name: this.customerName(this.open) }) : ""; },
      get joined() { return Boolean(this.open && this.open.participants.some((p) => p.agent_id === me)); },
      get mine() { return Boolean(this.open && this.open.agent_id === me); },
      get canWrite() { return this.joined || this.mine; },
      get canWhisper() { return Boolean(this.open && this.open.agent_id && !this.mine && this.open.status === "assigned"); },
      get whisperLabel() { return this.open ? fill(t.whisper_label, { agent: this.open.agent_name || "" }) : ""; },
      get participantsText() {
        const names = this.open ? this.open.participants.map((p) => p.name).join(", ") : "";
        return names ? fill(t.participants, { names }) : "";
      },

      async openConversation(c) {
        if (this.open) T.sendOnStream({ type: "unwatch", thread_id: this.open.thread_id });
        await this.act(async () => {
          const opened = await T.api("POST", `/api/v1/supervision/threads/${c.thread_id}/monitor`);
          this.open = opened.conversation;
          this.events = opened.events;
          T.sendOnStream({ type: "watch", thread_id: c.thread_id });
        });
      },

      close() {
        if (this.open) T.sendOnStream({ type: "unwatch", thread_id: this.open.thread_id });
        this.open = null;
        this.callMode = "";
        this.events = [];
      },

      addEvent(e) {
        if (this.events.some((x) => x.id === e.id)) return;
        this.events.push(e);
        this.events.sort((a, b) => a.seq - b.seq);
      },

      async act(work) {
        this.busy = true;
        this.error = "";
        try { await work(); } catch (err) { this.error = fill(t.failed, { reason: err.message }); } finally { this.busy = false; }
      },

      async whisper() {
        const body = this.whisperText.trim();
        if (!body || !this.open) return;
        await this.act(async () => {
          this.addEvent(await T.api("POST", `/api/v1/supervision/threads/${this.open.thread_id}/whisper`, { body }));
          this.whisperText = "";
        });
      },

      async change(action, body) {
        if (!this.open) return;
        await this.act(async () => {
          this.open = await T.api("POST", `/api/v1/supervision/threads/${this.open.thread_id}/${action}`, body);
          this.load();
        });
      },

      /** A live call in a conference: the supervisor listens (muted), whispers to the
       * agent, barges in or leaves, through the provider's conference coaching. */
      get onCall() { return Boolean(this.open && this.open.channel === "voice" && this.open.status === "assigned" && !this.mine); },
      async coach(mode) {
        if (!this.open) return;
        await this.act(async () => {
          const answer = await T.api("POST", `/api/v1/supervision/threads/${this.open.thread_id}/call/${mode}`);
          this.callMode = answer.mode === "leave" ? "" : answer.mode;
        });
      },

      join() { return this.change("join"); },
      leave() { return this.change("leave"); },
      takeOver() {
        if (!window.confirm(fill(t.take_over_confirm, { agent: this.open.agent_name || "" }))) return undefined;
        return this.change("take-over");
      },
      async reassign() {
        if (!this.reassignTo) return;
        await this.change("reassign", { agent_id: this.reassignTo });
        this.reassignTo = "";
      },

      async reply() {
        const body = this.replyText.trim();
        if (!body || !this.open) return;
        await this.act(async () => {
          this.addEvent(await T.api("POST", `/api/v1/threads/${this.open.thread_id}/messages`, { body, client_msg_id: T.uuid() }));
          this.replyText = "";
        });
      },

      rowClass(e) {
        if (e.kind === "message") return e.author_type === "customer" ? "sv-msg sv-in" : "sv-msg sv-out";
        if (e.kind === "whisper") return "sv-msg sv-whisper";
        if (e.kind === "note") return "sv-msg sv-note";
        return "sv-sys";
      },
      hasBody(e) { return ["message", "whisper", "note"].includes(e.kind); },
      eventTitle(e) {
        const who = e.author_name || (e.author_type === "customer" ? this.customerName(this.open || {}) : e.author_type);
        const d = e.data || {};
        switch (e.kind) {
          case "message": return who;
          case "whisper": return fill(t.event_whisper, { who });
          case "note": return fill(t.event_note, { who });
          case "joined": return fill(t.event_joined, { who });
          case "left": return fill(t.event_left, { who });
          case "assigned": return fill(d.taken_over_from ? t.event_taken_over : t.event_assigned, { who });
          case "queued": return t.event_queued;
          case "transferred": return fill(t.event_transferred, { who, to: d.to_name || "" });
          case "resolved": return fill(t.event_resolved, { who });
          default: return e.kind.replace(/_/g, " ");
        }
      },
    };
  });

  window.Alpine.data("supervisionDesk", () => {
    const { t, me } = config();
    let seq = 0;
    return {
      sv: t,
      whispers: [],
      notice: "",

      init() {
        T.onStreamFrame((frame) => this.onFrame(frame));
      },

      onFrame(frame) {
        if (frame.agent_id !== me) return;
        if (frame.type === "thread.whispered") {
          seq += 1;
          this.whispers.push({ key: seq, from: fill(t.desk_whisper_from, { who: frame.supervisor_name }),
            body: frame.body, at: T.formatTime(frame.occurred_at), thread_id: frame.thread_id });
        } else if (frame.type === "contact.taken_over") {
          this.notice = fill(t.desk_taken_over, { who: frame.supervisor_name });
          window.dispatchEvent(new CustomEvent("tl-threads-changed"));
        } else if (frame.type === "thread.joined" || frame.type === "thread.left") {
          const text = frame.type === "thread.joined" ? t.desk_joined : t.desk_left;
          this.notice = fill(text, { who: frame.supervisor_name });
        } else if (frame.type === "agent.presence" && frame.reason === "supervisor") {
          this.notice = fill(t.desk_presence_set, { presence: t[`presence_${frame.presence}`] || frame.presence });
        }
      },

      dismiss(key) { this.whispers = this.whispers.filter((w) => w.key !== key); },
      clearNotice() { this.notice = ""; },
    };
  });
});
