/* The agent desktop: presence, live offers, my conversations, the customer's whole timeline,
 * reply / note / transfer / resolve. State comes from the REST API; the event stream
 * (/api/v1/stream) pushes what changes. After every (re)connect the state is fetched again,
 * because frames sent while the socket was down are gone. */
"use strict";

document.addEventListener("alpine:init", () => {
  const T = window.TLDesk;
  const MY_OPEN_STATUSES = ["assigned", "waiting_customer", "callback_scheduled"];
  const WRAPUP_REASONS = ["card_arrival", "card_activation", "lost_card", "billing", "account_access", "complaint", "other"];
  const TYPING_IDLE_MS = 3000;
  const CUSTOMER_TYPING_TTL_MS = 8000;
  const KB_LANGUAGES = ["en", "pt", "es", "ru", "el"];  // the knowledge base's languages
  const KB_REFRESH_MS = 400;  // a burst of customer messages asks for suggestions once

  /** What the app reached, as agents read it: " · verified · passkey · 2 min ago". */
  const assuranceText = (a) => {
    if (!a || !a.level || a.level === "none") return "";
    const min = a.at ? Math.max(0, Math.round((Date.now() - Date.parse(a.at)) / 60000)) : null;
    const age = min == null ? null : min < 1 ? tr("just_now") : min < 120 ? tr("min_ago", { n: min }) : tr("h_ago", { n: Math.round(min / 60) });
    return ` · ${[known(`level_${a.level}`, a.level), a.method, age].filter(Boolean).join(" · ")}`;
  };

  /* Reactions to, edits of, and what else a customer's message is (a location, contact
   * cards), as the timeline shows them. The page's strings come from the server, in the
   * agent's language (web/locales/desktop). */
  const stringsTag = document.getElementById("desktop-strings");
  const S = stringsTag ? JSON.parse(stringsTag.textContent || "{}") : {};
  const tr = (key, values) => String(S[key] || key).replace(/\{(\w+)\}/g, (m, k) => (values && k in values ? values[k] : m));
  const known = (key, fallback) => (key in S ? S[key] : fallback);
  let languageNames = null;
  try {
    languageNames = new Intl.DisplayNames([T.LOCALE], { type: "language" });
  } catch (err) {
    languageNames = null;  // an old browser: the code as it is
  }
  const languageName = (code) => {
    if (!code) return "";
    try { return (languageNames && languageNames.of(code)) || code; } catch (err) { return code; }
  };
  /** A search hit's snippet (escaped by the server, matches in <mark>) as text runs, so the
   * template can highlight them with x-text (the CSP build has no x-html). */
  const unescape = (html) => new DOMParser().parseFromString(html, "text/html").documentElement.textContent;
  const markRuns = (html) => {
    const runs = [];
    let marked = false;
    String(html || "").split(/(<mark>|<\/mark>)/).forEach((part, i) => {
      if (part === "<mark>") marked = true;
      else if (part === "</mark>") marked = false;
      else if (part) runs.push({ key: i, text: unescape(part), mark: marked });
    });
    return runs;
  };
  /** A map link that embeds nothing: OpenStreetMap, opened in a new tab. */
  const osmUrl = (lat, lon) => `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=17/${lat}/${lon}`;
  const locationOf = (d) => {
    const place = d && d.location;
    const lat = place ? Number(place.latitude) : NaN;
    const lon = place ? Number(place.longitude) : NaN;
    if (!Number.isFinite(lat) || !Number.isFinite(lon)) return null;
    const where = [place.name, place.address].filter(Boolean).join(", ");
    return { url: osmUrl(lat, lon), label: where || `${lat.toFixed(5)}, ${lon.toFixed(5)}`, open: tr("location_open") };
  };
  const cardsOf = (d, key) => ((d && Array.isArray(d.contacts)) ? d.contacts : []).map((c, i) => ({
    key: `${key}-card-${i}`,
    name: c.name || tr("contact_no_name"),
    org: c.org || "",
    phones: (c.phones || []).map((p) => [p.phone, p.type].filter(Boolean).join(" · ")).join(", "),
    emails: (c.emails || []).map((m) => m.email).filter(Boolean).join(", "),
  }));
  /* Files on the timeline. What Threadline keeps (an email's attachments, an agent's
   * uploads, a call's recording, a customer's media from WhatsApp, Messenger, Telegram or
   * MMS: a digest and a content type) is served to staff by
   * /api/v1/threads/{id}/files/{sha256}; a provider's media it could not fetch (a WhatsApp
   * media id, a Telegram file id) shows as a tile without a link. Images
   * are scaled by the browser (capped in app.css, loaded lazily): no thumbnails to make. */
  const PREVIEW_IMAGES = ["image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp"];
  const SHA256 = /^[0-9a-f]{64}$/;
  const fileUrl = (threadId, sha256) => `/api/v1/threads/${encodeURIComponent(threadId)}/files/${sha256}`;
  const sizeText = (bytes) => {
    const n = Number(bytes);
    if (!Number.isFinite(n) || n < 0) return "";
    const [unit, value] = n >= 1048576 ? ["megabyte", n / 1048576] : n >= 1024 ? ["kilobyte", n / 1024] : ["byte", n];
    try {
      return new Intl.NumberFormat(T.LOCALE, { style: "unit", unit, unitDisplay: "short", maximumFractionDigits: 1 }).format(value);
    } catch (err) {
      return String(Math.round(n));
    }
  };
  /** A file's badge: its extension (PDF, PNG, MP3), else its type's subtype; no icon font
   * or emoji needed, and it reads the same in every language. */
  const fileBadge = (name, type) => {
    const ext = /\.([A-Za-z0-9]{1,5})$/.exec(name);
    const sub = type.split("/")[1] || "";
    return (ext ? ext[1] : sub.replace(/^(x-|vnd\.)/, "").split(/[.+-]/)[0] || "…").slice(0, 4).toUpperCase();
  };
  /** One file as the timeline shows it: kind image|audio|video|file, a link when kept. */
  const fileView = (threadId, file, key) => {
    const type = String(file.content_type || file.mime_type || "").toLowerCase();
    const kept = typeof file.sha256 === "string" && SHA256.test(file.sha256) && !!file.content_type;
    const name = String(file.filename || file.file_name || file.title || tr("file_untitled"));
    let kind = "file";
    if (kept && PREVIEW_IMAGES.includes(type)) kind = "image";
    else if (kept && type.startsWith("audio/")) kind = "audio";
    else if (kept && type.startsWith("video/")) kind = "video";
    return {
      key, kind, name, type, kept,
      url: kept ? fileUrl(threadId, file.sha256) : "",
      size: sizeText(file.size != null ? file.size : file.file_size),
      icon: fileBadge(name, type),
      label: kind === "image" ? tr("file_image_label", { name })
        : kind === "audio" ? tr("file_audio_label", { name })
        : kind === "video" ? tr("file_video_label", { name }) : name,
      openLabel: tr("file_open", { name }),
      downloadLabel: tr("file_download_label", { name }),
    };
  };
  const filesOf = (e, d) => ((d && Array.isArray(d.attachments)) ? d.attachments : [])
    .filter((f) => f && typeof f === "object")
    .map((f, i) => fileView(e.thread_id, f, `e-${e.id}-file-${i}`));
  /** A call's recording, kept by Threadline: played from our server. */
  const recordingOf = (e) => {
    const r = e.kind === "call_recording" && e.data && e.data.recording;
    if (!r || typeof r.sha256 !== "string" || !SHA256.test(r.sha256)) return null;
    return fileView(e.thread_id, { ...r, content_type: r.content_type || "audio/mpeg" }, `e-${e.id}-recording`);
  };

  /** Per message event id: its reactions (the latest of each author; "" takes one back) and
   * its versions (edits, oldest first). Events arrive in timeline order. */
  const relationsOf = (events) => {
    const reactions = new Map();
    const edits = new Map();
    for (const e of events) {
      const target = e.data && e.data.relates_to && e.data.relates_to.event_id;
      if (!target) continue;
      if (e.kind === "reaction") {
        const mine = reactions.get(target) || new Map();
        mine.set(`${e.author_type}:${e.author_id}`, e.data.emoji || "");
        reactions.set(target, mine);
      } else if (e.kind === "edit") {
        edits.set(target, [...(edits.get(target) || []), e]);
      }
    }
    return { reactions, edits };
  };
  /** What a message row shows: its latest text, whether and when it was edited (the earlier
   * versions in the title), its reactions, its location or contact cards. */
  const messageView = (e, rel) => {
    const versions = rel.edits.get(e.id) || [];
    const latest = versions.length ? versions[versions.length - 1] : e;
    const d = latest.data || {};
    const emojis = [...(rel.reactions.get(e.id) || new Map()).values()].filter(Boolean).join(" ");
    const unsupported = d.unsupported ? tr("unsupported", { type: d.unsupported.type || "?" }) : "";
    return {
      body: latest.body || unsupported,
      edited: versions.length ? tr("edited", { time: T.formatTime(latest.created_at) }) : "",
      history: [e, ...versions.slice(0, -1)].map((v) => `${T.formatTime(v.created_at)}: ${v.body || "—"}`).join("\n"),
      reactions: emojis,
      reactionsLabel: emojis ? tr("reactions", { emojis }) : "",
      location: locationOf(d),
      cards: cardsOf(d, `e-${e.id}`),
      files: filesOf(latest, d),
    };
  };
  /** A reaction or edit whose message is not on this timeline, as a line of its own. */
  const relationText = (e) => (e.kind === "reaction"
    ? (e.data && e.data.emoji ? tr("reacted_unknown", { emoji: e.data.emoji }) : tr("unreacted_unknown"))
    : tr("edited_unknown", { body: e.body || "" }));

  window.Alpine.data("desktop", (me) => ({
    me,
    presence: "offline",
    presenceSaving: false,
    conn: "connecting",
    now: Date.now(),
    notice: "",
    announcement: "",    // for screen readers: a new offer
    noticeKind: "info",

    offers: [],          // pending offers made to me, newest last
    threads: [],         // my open (assigned) threads
    customers: {},       // customer id -> profile (with identities)
    queues: [],
    agents: [],

    selectedId: null,
    thread: null,        // the selected thread
    botCard: null,       // what the bot learnt before handing the selected thread over
    tr: (key, values) => tr(key, values),  // the page's translated strings, for the template
    botConfidence() {
      const c = this.botCard && this.botCard.confidence;
      return c == null ? "" : `· ${tr("bot_confidence", { pct: Math.round(c * 100) })}`;
    },
    botSlots() {
      const slots = (this.botCard && this.botCard.slots) || {};
      return Object.entries(slots).map(([k, v]) => `${k}: ${v}`).join(", ");
    },
    botTranscriptTitle() {
      return tr("bot_transcript", { n: this.botCard ? this.botCard.transcript.length : 0 });
    },
    botWho(line) {
      return `${tr(line.by === "customer" ? "bot_customer" : "bot_bot")}:`;
    },
    // knowledge base beside the thread: suggestions for what the customer said, or a search
    kb: { hits: [], query: "", searched: false, loading: false },
    kbRuns(hit) { return markRuns(hit.snippet_html); },
    events: [],          // the customer's timeline, all threads and channels
    pending: [],         // my replies not yet confirmed: {client_msg_id, body, state}
    customerTyping: false,
    customerReadSeq: 0,
    loadingTimeline: false,

    mode: "reply",       // composer: "reply" | "note"
    draft: "",
    sending: false,
    transferForm: { target: "", note: "", error: "", busy: false },
    resolveForm: { reason: "", note: "", error: "", busy: false },
    holdBusy: false,
    wrapupReasons: WRAPUP_REASONS,
    // my open wrap-ups (after-contact work): {contact_id, thread_id, started_at, limit_s};
    // no new offer comes on the channel until Done or the queue's wrap-up time runs out
    wrapups: [],
    wrapupBusy: false,
    preview: null,       // the image open in the preview dialog: a file view (fileView)

    _stream: null,
    _seen: new Set(),
    _typingOn: false,
    _typingTimer: null,
    _customerTypingTimer: null,
    _refreshTimer: null,
    _kbTimer: null,

    // ------------------------------------------------------------ start-up
    init() {
      setInterval(() => { this.now = Date.now(); this.expireOffers(); }, 1000);
      this.loadReference();
      this._stream = T.connectStream({
        onState: (state) => { this.conn = state; },
        onReady: () => this.resync(),
        onFrame: (frame) => this.onFrame(frame),
      });
      document.addEventListener("visibilitychange", () => {
        if (!document.hidden) this.markRead();
      });
      this.$watch("offers", () => this.updateTitle());
    },

    async loadReference() {
      try {
        const [self, queues, agents] = await Promise.all([
          T.api("GET", `/api/v1/agents/${encodeURIComponent(this.me.id)}`),
          T.api("GET", "/api/v1/queues"),
          T.api("GET", "/api/v1/agents"),
        ]);
        this.presence = self.presence;
        this.queues = queues;
        this.agents = agents;
      } catch (err) {
        this.flash(err.message, "error");
      }
    },

    /** After each (re)connect: pending offers, my threads, my open wrap-ups (a reload
     * keeps the wrap-up bar) and the open timeline. */
    async resync() {
      await Promise.all([this.loadOffers(), this.loadThreads(), this.loadReference(), this.loadWrapups()]);
      if (this.selectedId) {
        this._stream.send({ type: "watch", thread_id: this.selectedId });
        await this.loadTimeline();
      }
    },

    // ------------------------------------------------------------ presence
    async setPresence(value) {
      const previous = this.presence;
      this.presence = value;
      this.presenceSaving = true;
      try {
        const agent = await T.api("PUT", "/api/v1/agents/me/presence", { presence: value });
        this.presence = agent.presence;
      } catch (err) {
        this.presence = previous;
        this.flash(tr("presence_failed", { error: err.message }), "error");
      } finally {
        this.presenceSaving = false;
      }
    },

    // ------------------------------------------------------------ offers
    async loadOffers() {
      try {
        const rows = await T.api("GET", "/api/v1/offers");
        const known = new Map(this.offers.map((o) => [o.id, o]));
        // The list carries the same details as the pushed offer.created frames.
        this.offers = rows.map((row) => known.get(row.id) || {
          ...row, busy: false, received_at: new Date(row.created_at).getTime(),
        });
      } catch (err) {
        this.flash(err.message, "error");
      }
    },

    addOffer(offer) {
      if (this.offers.some((o) => o.id === offer.id)) return;
      this.offers.push({ ...offer, busy: false, received_at: Date.now() });
      const who = (offer.customer && offer.customer.name) || tr("a_visitor");
      const channel = offer.channel ? known(`channel_${offer.channel}`, offer.channel) : tr("contact_word");
      this.announcement = offer.queue
        ? tr("announce_offer_queue", { channel, who, queue: offer.queue })
        : tr("announce_offer", { channel, who });
    },

    removeOffer(id) {
      this.offers = this.offers.filter((o) => o.id !== id);
    },

    secondsLeft(offer) {
      return Math.max(0, Math.ceil((new Date(offer.expires_at).getTime() - this.now) / 1000));
    },

    /** What is left of the offer's time, in percent, for the countdown bar. */
    offerProgress(offer) {
      const total = (new Date(offer.expires_at).getTime() - offer.received_at) / 1000;
      const left = this.secondsLeft(offer);
      return total > 0 ? Math.min(100, (left / Math.max(total, left)) * 100) : 0;
    },

    expireOffers() {
      // The server closes timed-out offers (offer.closed); this is the fallback if that frame is lost.
      const cutoff = this.now - 5000;
      const before = this.offers.length;
      this.offers = this.offers.filter((o) => new Date(o.expires_at).getTime() > cutoff);
      if (this.offers.length !== before) this.loadOffers();
    },

    async accept(offer) {
      offer.busy = true;
      try {
        const contact = await T.api("POST", `/api/v1/offers/${encodeURIComponent(offer.id)}/accept`);
        this.removeOffer(offer.id);
        await this.loadThreads();
        await this.select(contact.thread_id);
        this.$nextTick(() => { const box = this.draftBox(); if (box) box.focus(); });
      } catch (err) {
        this.removeOffer(offer.id);
        this.flash(tr("accept_failed", { error: err.message }), "error");
      }
    },

    async reject(offer) {
      offer.busy = true;
      try {
        await T.api("POST", `/api/v1/offers/${encodeURIComponent(offer.id)}/reject`);
      } catch (err) {
        this.flash(tr("reject_failed", { error: err.message }), "error");
      }
      this.removeOffer(offer.id);
    },

    updateTitle() {
      document.title = this.offers.length
        ? `${tr("title_offers", { n: this.offers.length })} · Threadline`
        : `${tr("title")} · Threadline`;
    },

    // ------------------------------------------------------------ my threads
    async loadThreads() {
      try {
        // One call per open status: with `mine` alone, old resolved threads would crowd the page.
        const pages = await Promise.all(MY_OPEN_STATUSES.map((status) =>
          T.api("GET", `/api/v1/threads?mine=true&status=${status}&limit=200`)));
        this.threads = pages.flat().sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1));
        this.threads.forEach((t) => this.ensureCustomer(t.customer_id));
        const current = this.threads.find((t) => t.id === this.selectedId);
        if (current && this.thread) this.thread.status = current.status;
      } catch (err) {
        this.flash(err.message, "error");
      }
    },

    scheduleThreadRefresh() {
      clearTimeout(this._refreshTimer);
      this._refreshTimer = setTimeout(() => this.loadThreads(), 250);
    },

    async ensureCustomer(id, fresh) {
      if (!id || (this.customers[id] && !fresh)) return this.customers[id];
      if (!this.customers[id]) this.customers[id] = { id, name: null, loading: true, identities: [] };
      try {
        this.customers[id] = await T.api("GET", `/api/v1/customers/${encodeURIComponent(id)}`);
      } catch (err) {
        if (this.customers[id].loading) this.customers[id] = { id, name: null, identities: [] };
      }
      return this.customers[id];
    },

    customerName(id) {
      const c = this.customers[id];
      return (c && c.name) || tr("visitor");
    },

    isUnread(t) {
      return t.last_seq > t.agent_read_seq && !(t.id === this.selectedId && !document.hidden);
    },

    get unreadCount() {
      return this.threads.filter((t) => this.isUnread(t)).length;
    },

    // ------------------------------------------------------------ the selected conversation
    async select(threadId) {
      if (!threadId) return;
      if (this.selectedId && this.selectedId !== threadId) {
        this.stopTyping();
        this._stream.send({ type: "unwatch", thread_id: this.selectedId });
      }
      this.selectedId = threadId;
      this.events = [];
      this._seen = new Set();
      this.pending = [];
      this.customerTyping = false;
      this.mode = "reply";
      this._stream.send({ type: "watch", thread_id: threadId });
      try {
        this.thread = await T.api("GET", `/api/v1/threads/${encodeURIComponent(threadId)}`);
        this.customerReadSeq = this.thread.customer_read_seq;
        this.botCard = null;
        T.api("GET", `/api/v1/threads/${encodeURIComponent(threadId)}/bot`)
          .then((card) => { if (this.selectedId === threadId) this.botCard = card; })
          .catch(() => {});
        this.kb = { hits: [], query: "", searched: false, loading: false };
        this.loadSuggestions();
        await this.ensureCustomer(this.thread.customer_id, true);
        await this.loadTimeline();
      } catch (err) {
        this.flash(err.message, "error");
      }
    },

    // ------------------------------------------------------------ knowledge base panel
    /** Articles for the customer's last messages, in the thread's language (the server's
     * suggestions); a search the agent typed stays until they clear it. */
    async loadSuggestions() {
      const threadId = this.selectedId;
      if (!threadId || this.kb.searched) return;
      this.kb.loading = true;
      try {
        const hits = await T.api("GET", `/api/v1/kb/threads/${encodeURIComponent(threadId)}/suggestions`);
        if (this.selectedId === threadId && !this.kb.searched) this.kb.hits = hits;
      } catch (err) {
        if (this.selectedId === threadId) this.kb.hits = [];
      } finally {
        this.kb.loading = false;
      }
    },

    scheduleSuggestions() {
      clearTimeout(this._kbTimer);
      this._kbTimer = setTimeout(() => this.loadSuggestions(), KB_REFRESH_MS);
    },

    /** The customer's language if the knowledge base has it, else English. */
    kbLanguage() {
      const raw = (this.thread && this.thread.language) || (this.customer && this.customer.language) || "en";
      const code = String(raw).slice(0, 2).toLowerCase();
      return KB_LANGUAGES.includes(code) ? code : "en";
    },

    /** Search in the customer's language; when no article there matches, in English. */
    async searchKb() {
      const q = this.kb.query.trim();
      if (!q) { this.clearKbSearch(); return; }
      const threadId = this.selectedId;
      this.kb.loading = true;
      this.kb.searched = true;
      try {
        const ask = (language) => T.api("GET",
          `/api/v1/kb/search?q=${encodeURIComponent(q)}&language=${language}&limit=5`);
        const language = this.kbLanguage();
        let hits = await ask(language);
        if (!hits.length && language !== "en") hits = await ask("en");
        if (this.selectedId === threadId) this.kb.hits = hits;
      } catch (err) {
        this.flash(err.message, "error");
      } finally {
        this.kb.loading = false;
      }
    },

    clearKbSearch() {
      this.kb.query = "";
      this.kb.searched = false;
      this.loadSuggestions();
    },

    /** The reply box. It sits inside the canned-replies picker's own component, whose
     * x-refs this component's $refs cannot see: found by its id. */
    draftBox() {
      return document.getElementById("draft");
    },

    /** Put "title: link" into the reply at the cursor (or in place of the selection). */
    insertLink(hit) {
      const box = this.draftBox();
      const text = `${hit.title}: ${hit.url}`;
      const start = box ? box.selectionStart : this.draft.length;
      const end = box ? box.selectionEnd : this.draft.length;
      const before = this.draft.slice(0, start);
      const after = this.draft.slice(end);
      const lead = before && !/\s$/.test(before) ? " " : "";
      const tail = after && !/^\s/.test(after) ? " " : "";
      this.draft = before + lead + text + tail + after;
      const cursor = (before + lead + text).length;
      this.$nextTick(() => {
        if (!box) return;
        box.focus();
        box.setSelectionRange(cursor, cursor);
      });
    },

    async loadTimeline() {
      if (!this.thread) return;
      this.loadingTimeline = true;
      try {
        const rows = await T.api("GET",
          `/api/v1/customers/${encodeURIComponent(this.thread.customer_id)}/timeline?limit=1000`);
        rows.forEach((e) => this.addEvent(e, false));
        this.sortEvents();
        this.scrollToEnd();
        this.markRead();
      } catch (err) {
        this.flash(err.message, "error");
      } finally {
        this.loadingTimeline = false;
      }
    },

    addEvent(event, live) {
      if (this._seen.has(event.id)) return false;
      this._seen.add(event.id);
      this.events.push(event);
      if (event.client_msg_id) {
        this.pending = this.pending.filter((p) => p.client_msg_id !== event.client_msg_id);
      }
      if (live) {
        this.sortEvents();
        this.scrollToEnd();
      }
      return true;
    },

    sortEvents() {
      this.events.sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id - b.id));
    },

    scrollToEnd() {
      this.$nextTick(() => {
        const el = this.$refs.timeline;
        if (el) el.scrollTop = el.scrollHeight;
      });
    },

    async markRead() {
      const t = this.thread;
      if (!t || document.hidden || t.assigned_agent_id !== this.me.id) return;
      const listed = this.threads.find((x) => x.id === t.id);
      const seq = Math.max(t.last_seq, listed ? listed.last_seq : 0);
      if (!seq || (listed && listed.agent_read_seq >= seq)) return;
      if (listed) listed.agent_read_seq = seq;
      try {
        await T.api("POST", `/api/v1/threads/${encodeURIComponent(t.id)}/read`, { seq });
      } catch (err) { /* a read pointer can wait for the next one */ }
    },

    /** The selected thread's customer (profile with identities), from the cache. */
    get customer() {
      return this.thread ? this.customers[this.thread.customer_id] || null : null;
    },

    get isOpen() {
      return !!this.thread && this.thread.status !== "resolved";
    },

    /** Replies go out only from the assigned agent (or a supervisor) on an open thread. */
    get canReply() {
      return this.isOpen && (this.thread.assigned_agent_id === this.me.id || this.me.role !== "agent");
    },

    get replyPlaceholder() {
      if (this.mode === "note") return tr("ph_note");
      if (!this.isOpen) return tr("ph_resolved");
      if (!this.canReply) return tr("ph_not_yours");
      return tr("ph_reply");
    },

    get canHandle() {
      return this.isOpen && (this.thread.assigned_agent_id === this.me.id || this.me.role !== "agent")
        && this.thread.status !== "queued";
    },

    /** The live call in a conference on this thread: its contact id and whether its caller
     * is on hold (the conference's callbacks put call_held / call_resumed on the timeline);
     * null when there is none, or when the call ended or was resolved. */
    get liveCall() {
      let call = null;
      for (const e of this.events) {
        if (!e.contact_id || e.thread_id !== this.selectedId) continue;
        if (e.kind === "resolved" && call && call.contactId === e.contact_id) call = null;
        else if (e.kind === "call_held" || e.kind === "call_resumed") {
          call = { contactId: e.contact_id, held: e.kind === "call_held" };
        } else if (e.kind === "call_status" && e.data && e.data.conference_sid) {
          call = { contactId: e.contact_id, held: false };  // the caller joined the conference
        }
      }
      return call;
    },

    /** Put the caller on hold, or take them off it; the timeline follows from the provider. */
    async toggleHold() {
      const call = this.liveCall;
      if (!call || this.holdBusy) return;
      this.holdBusy = true;
      try {
        const action = call.held ? "resume" : "hold";
        await T.api("POST", `/api/v1/voice/contacts/${encodeURIComponent(call.contactId)}/${action}`);
      } catch (err) {
        this.flash(tr("hold_failed", { error: err.message }), "error");
      } finally {
        this.holdBusy = false;
      }
    },

    /** Timeline rows with a divider wherever a new thread (conversation) starts. */
    get timelineRows() {
      const rows = [];
      let lastThread = null;
      const rel = relationsOf(this.events);
      const shown = new Set(this.events.map((e) => e.id));
      for (const e of this.events) {
        const target = e.data && e.data.relates_to && e.data.relates_to.event_id;
        if ((e.kind === "reaction" || e.kind === "edit") && target && shown.has(target)) continue;
        if (e.thread_id !== lastThread) {
          rows.push({ key: `divider-${e.thread_id}-${e.id}`, divider: true,
                      label: tr(e.thread_id === this.selectedId ? "current_conversation" : "earlier_conversation"),
                      day: T.formatDay(e.created_at) });
          lastThread = e.thread_id;
        }
        const view = e.kind === "message" ? messageView(e, rel) : { body: e.body, cards: [], files: [] };
        view.recording = recordingOf(e);
        rows.push({ key: `e-${e.id}`, divider: false, e, ...view });
      }
      return rows;
    },

    rowClass(e) {
      if (e.kind === "message") return e.author_type === "customer" ? "msg msg-in" : "msg msg-out";
      if (e.kind === "note") return "note";
      return "sys";
    },

    systemText(e) {
      const who = e.author_name || "";
      const d = e.data || {};
      const waited = d.wait_s != null ? ` · ${tr("sys_waited", { duration: T.formatDuration(d.wait_s) })}` : "";
      switch (e.kind) {
        case "queued":
          return `${d.queue ? tr("sys_queued_in", { queue: d.queue }) : tr("sys_queued")}${d.reason ? ` · ${tr("sys_reason", { reason: d.reason })}` : ""}`;
        case "assigned":
          return `${tr("sys_assigned", { who })}${waited}`;
        case "transferred":
          return tr("sys_transferred", { who, to: d.to_name || tr(d.to_queue ? "a_queue" : "an_agent") });
        case "resolved":
          return `${tr("sys_resolved", { who })}${d.reason ? ` · ${d.reason}` : ""}`;
        case "abandoned":
          return `${tr("sys_abandoned", { why: d.why || tr("gone") })}${waited}`;
        case "call": {
          const key = d.direction === "inbound" || d.direction === "outbound" ? `sys_call_${d.direction}` : "sys_call";
          return tr(key, { from: d.from || tr("unknown_number") });
        }
        case "ivr":
          return e.body || tr("ivr_choice");
        case "request":
          return `${tr("sys_request", { what: e.body || d.reason || tr("request_word") })}${assuranceText(d.assurance)}`;
        case "continuation":
          return d.action === "redeemed"
            ? `${d.caller ? tr("sys_continued_caller", { caller: d.caller }) : tr("sys_continued")}${assuranceText(d.assurance)}`
            : `${tr("sys_call_now_code")}${assuranceText(d.assurance)}`;
        case "call_recording":
          if (recordingOf(e)) {
            return d.duration_s != null
              ? tr("recording_heading_duration", { duration: T.formatDuration(d.duration_s) })
              : tr("recording_heading");
          }
          return d.recording_url
            ? (d.duration_s != null
              ? tr("sys_recording_duration", { duration: T.formatDuration(d.duration_s), url: d.recording_url })
              : tr("sys_recording", { url: d.recording_url }))
            : e.body || tr("recording_failed");
        case "reaction":
        case "edit":
          return `${who ? `${who} · ` : ""}${relationText(e)}`;
        case "call_held":
          return tr("sys_call_held");
        case "call_status":
          if (d.conference_sid && !d.status) return tr("sys_call_conference");
          return e.body || e.kind.replace(/_/g, " ");
        case "call_resumed":
          return tr("sys_call_resumed", { duration: T.formatDuration(d.held_s || 0) });
        case "delivery_failed":
        case "delivery_unknown":
        case "status":
          return e.body || e.kind.replace(/_/g, " ");
        default:
          return (window.TLInbox && window.TLInbox.eventText(e))
            || `${e.kind.replace(/_/g, " ")}${who ? ` · ${who}` : ""}`;
      }
    },

    isRead(e) {
      return e.kind === "message" && e.author_type === "agent" && e.thread_id === this.selectedId
        && e.seq <= this.customerReadSeq;
    },

    time(iso) { return T.formatTime(iso); },
    /** A thread status, delivery state, author type or presence in the page's language;
     * a value the catalogue does not know is shown as it comes. */
    statusText(status) { return known(`status_${status}`, String(status || "").replace(/_/g, " ")); },
    deliveryText(state) { return known(`delivery_${state}`, state); },
    authorText(type) { return known(`author_${type}`, type); },
    presenceText(presence) { return known(`presence_${presence}`, presence); },
    channelText(channel) { return known(`channel_${channel}`, channel); },
    /** "pt" -> "Portuguese" in the page's language ("português" in pt). */
    languageName(code) { return languageName(code); },
    /** The customer's attributes as rows of text (a template may not call globals). */
    attributeRows() {
      const attributes = (this.customer && this.customer.attributes) || {};
      return Object.entries(attributes).map(([key, v]) => ({
        key, value: typeof v === "object" ? JSON.stringify(v) : String(v),
      }));
    },
    day(iso) { return T.formatDay(iso); },
    fullTime(iso) { return T.formatFull(iso); },
    initials(name) { return T.initials(name); },

    // ------------------------------------------------------------ composer
    onDraftKey(event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submitDraft();
      }
    },

    onDraftInput() {
      if (this.mode !== "reply" || !this.selectedId) return;
      if (!this._typingOn && this.draft.trim()) {
        this._typingOn = this._stream.send({ type: "typing", thread_id: this.selectedId, on: true });
      }
      clearTimeout(this._typingTimer);
      this._typingTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
    },

    stopTyping() {
      clearTimeout(this._typingTimer);
      if (this._typingOn && this.selectedId) {
        this._stream.send({ type: "typing", thread_id: this.selectedId, on: false });
      }
      this._typingOn = false;
    },

    async submitDraft() {
      const body = this.draft.trim();
      if (!body || !this.thread || this.sending || (this.mode === "reply" && !this.canReply)) return;
      if (this.mode === "note") {
        await this.addNote(body);
      } else {
        this.stopTyping();
        this.draft = "";
        await this.sendReply({ client_msg_id: T.uuid(), body, state: "sending" });
      }
    },

    /** Send (or retry) a reply; the same client_msg_id makes a retry idempotent. */
    async sendReply(item) {
      item.state = "sending";
      if (!this.pending.includes(item)) this.pending.push(item);
      this.scrollToEnd();
      try {
        const event = await T.api("POST", `/api/v1/threads/${encodeURIComponent(this.selectedId)}/messages`,
          { body: item.body, client_msg_id: item.client_msg_id });
        this.addEvent(event, true);
        this.pending = this.pending.filter((p) => p.client_msg_id !== item.client_msg_id);
      } catch (err) {
        item.state = "failed";
        item.error = err.message;
      }
    },

    async addNote(body) {
      this.sending = true;
      try {
        const event = await T.api("POST", `/api/v1/threads/${encodeURIComponent(this.selectedId)}/notes`, { body });
        this.addEvent(event, true);
        this.draft = "";
        this.mode = "reply";
      } catch (err) {
        this.flash(tr("note_failed", { error: err.message }), "error");
      } finally {
        this.sending = false;
      }
    },

    // ------------------------------------------------------------ transfer, resolve
    openTransfer() {
      this.transferForm = { target: "", note: "", error: "", busy: false };
      this.loadReference();
      this.$refs.transferDialog.showModal();
    },

    get transferAgents() {
      return this.agents.filter((a) => a.id !== this.me.id);
    },

    async submitTransfer() {
      const f = this.transferForm;
      if (!f.target) { f.error = tr("choose_target"); return; }
      const [kind, id] = f.target.split(":");
      const body = kind === "queue" ? { queue_id: id } : { agent_id: id };
      if (f.note.trim()) body.note = f.note.trim();
      f.busy = true;
      f.error = "";
      try {
        await T.api("POST", `/api/v1/threads/${encodeURIComponent(this.selectedId)}/transfer`, body);
        this.$refs.transferDialog.close();
        this.thread.status = "queued";
        this.thread.assigned_agent_id = null;
        this.flash(tr("transferred"), "info");
        await this.loadThreads();
      } catch (err) {
        f.error = err.message;
      } finally {
        f.busy = false;
      }
    },

    openResolve() {
      this.resolveForm = { reason: "", note: "", error: "", busy: false };
      this.$refs.resolveDialog.showModal();
    },

    async submitResolve() {
      const f = this.resolveForm;
      const reason = f.reason.trim();
      if (!reason) { f.error = "A wrap-up reason is required."; return; }
      f.busy = true;
      f.error = "";
      const body = { reason };
      if (f.note.trim()) body.note = f.note.trim();
      try {
        const contact = await T.api("POST", `/api/v1/threads/${encodeURIComponent(this.selectedId)}/resolve`, body);
        if (contact && contact.wrapup_started_at && !contact.wrapup_ended_at) {
          this.wrapupStarted({ contact_id: contact.id, thread_id: contact.thread_id, started_at: contact.wrapup_started_at, limit_s: null });
        }
        this.$refs.resolveDialog.close();
        this.thread.status = "resolved";
        this.stopTyping();
        this.flash(tr("resolved_flash", { reason }), "info");
        await this.loadThreads();
      } catch (err) {
        f.error = err.message;
      } finally {
        f.busy = false;
      }
    },

    // ------------------------------------------------------------ wrap-up
    /** My open wrap-ups as the server has them (GET /api/v1/wrapups), with their limits. */
    async loadWrapups() {
      try {
        const rows = await T.api("GET", "/api/v1/wrapups");
        this.wrapups = rows.map((w) => ({ contact_id: w.contact_id, thread_id: w.thread_id, started_at: w.started_at, limit_s: w.limit_s }));
      } catch (err) {
        this.flash(err.message, "error");
      }
    },

    wrapupStarted(w) {
      const known = this.wrapups.find((x) => x.contact_id === w.contact_id);
      if (known) { if (w.limit_s != null) known.limit_s = w.limit_s; return; }
      this.wrapups.push({ contact_id: w.contact_id, thread_id: w.thread_id, started_at: w.started_at, limit_s: w.limit_s });
    },

    wrapupEnded(contactId) {
      this.wrapups = this.wrapups.filter((x) => x.contact_id !== contactId);
    },

    wrapupLeft() {
      const w = this.wrapups[0];
      if (!w || w.limit_s == null) return "";
      const left = Math.max(0, w.limit_s - (this.now - new Date(w.started_at).getTime()) / 1000);
      return tr("wrapup_left", { time: T.formatDuration(left) });
    },

    async wrapupDone() {
      const w = this.wrapups[0];
      if (!w || this.wrapupBusy) return;
      this.wrapupBusy = true;
      try {
        await T.api("POST", `/api/v1/threads/${encodeURIComponent(w.thread_id)}/wrapup/done`);
        this.wrapupEnded(w.contact_id);
      } catch (err) {
        if (err.status === 409) this.wrapupEnded(w.contact_id);  // it had already ended
        else this.flash(tr("wrapup_failed", { reason: err.message }), "error");
      } finally {
        this.wrapupBusy = false;
      }
    },

    // ------------------------------------------------------------ file previews
    /** Open an image larger in the preview dialog (Esc or the close button closes it, and
     * focus goes back to the thumbnail). */
    openPreview(file) {
      this.preview = file;
      this.$nextTick(() => this.$refs.previewDialog.showModal());
    },

    closePreview() {
      this.$refs.previewDialog.close();
    },

    // ------------------------------------------------------------ frames from the stream
    onFrame(frame) {
      // the inbox (inbox.js) follows the same stream
      window.dispatchEvent(new CustomEvent("tl-frame", { detail: frame }));
      switch (frame.type) {
        case "offer.created":
          this.addOffer(frame.offer);
          break;
        case "offer.closed":
        case "offer.expired":
          this.removeOffer(frame.offer_id);
          if (frame.status === "timed_out") this.flash(tr("offer_timed_out"), "warn");
          break;
        case "timeline":
          this.onTimeline(frame);
          break;
        case "typing":
          if (frame.who === "customer" && frame.thread_id === this.selectedId) this.showCustomerTyping(frame.on);
          break;
        case "receipt":
          if (frame.by === "customer" && frame.thread_id === this.selectedId) {
            this.customerReadSeq = Math.max(this.customerReadSeq, frame.read_seq);
          }
          break;
        case "contact.accepted":
          if (frame.agent_id === this.me.id) this.scheduleThreadRefresh();
          break;
        case "agent.presence":
          this.onPresence(frame);
          break;
        case "agent.wrapup_started":
          if (frame.agent_id === this.me.id) this.wrapupStarted(frame);
          break;
        case "agent.wrapup_ended":
          if (frame.agent_id === this.me.id) this.wrapupEnded(frame.contact_id);
          break;
        case "delivery":
        case "delivery.failed": {
          const sent = this.events.find((e) => e.id === frame.event_id);
          if (sent) sent.delivery = frame.status;
          if (frame.type === "delivery.failed" && frame.thread_id !== this.selectedId) {
            this.flash(`A ${frame.channel} message could not be delivered.`, "error");
          }
          break;
        }
        default:
          break;
      }
    },

    onTimeline(frame) {
      const e = frame.event;
      const listed = this.threads.find((t) => t.id === frame.thread_id);
      if (listed) {
        listed.last_seq = Math.max(listed.last_seq, e.seq);
        listed.updated_at = e.created_at;
        if (e.kind === "message" && e.author_type === "agent" && e.author_id === this.me.id) {
          listed.agent_read_seq = Math.max(listed.agent_read_seq, e.seq);
        }
      }
      if (!listed || ["assigned", "transferred", "resolved", "queued"].includes(e.kind)) {
        this.scheduleThreadRefresh();
      }
      if (this.thread && frame.customer_id === this.thread.customer_id) {
        if (frame.thread_id === this.selectedId) {
          this.thread.last_seq = Math.max(this.thread.last_seq, e.seq);
          if (e.kind === "resolved") this.thread.status = "resolved";
          if (e.kind === "transferred") { this.thread.status = "queued"; this.thread.assigned_agent_id = null; }
          if (e.kind === "assigned") { this.thread.status = "assigned"; this.thread.assigned_agent_id = e.author_id; }
          if (e.kind === "message" && e.author_type === "customer") {
            this.customerTyping = false;
            this.scheduleSuggestions();
          }
        }
        if (this.addEvent(e, true)) this.markRead();
      }
    },

    showCustomerTyping(on) {
      clearTimeout(this._customerTypingTimer);
      this.customerTyping = !!on;
      if (on) {
        this._customerTypingTimer = setTimeout(() => { this.customerTyping = false; }, CUSTOMER_TYPING_TTL_MS);
      }
    },

    onPresence(frame) {
      const agent = this.agents.find((a) => a.id === frame.agent_id);
      if (agent) agent.presence = frame.presence;
      if (frame.agent_id !== this.me.id) return;
      this.presence = frame.presence;
      if (frame.reason === "missed_offer") {
        this.flash(tr("missed_offer"), "warn");
      }
    },

    // ------------------------------------------------------------ misc
    flash(message, kind) {
      this.notice = message;
      this.noticeKind = kind || "info";
      clearTimeout(this._noticeTimer);
      this._noticeTimer = setTimeout(() => { this.notice = ""; }, 8000);
    },

    logout() { T.logout(true); },
  }));
});
