/* Threadline desktop pages: what the login, desktop and supervisor pages share.
 * The JSON API client, the reconnecting event stream and a few formatters.
 * Everything a customer or agent typed is rendered with x-text (textContent), never as HTML. */
"use strict";

(function () {
  // The few messages built here, in the page's language when the page gives them
  // (a <script type="application/json" id="common-strings"> from its catalogue).
  const commonTag = document.getElementById("common-strings");
  const COMMON = commonTag ? JSON.parse(commonTag.textContent || "{}") : {};
  const say = (key, english, values) => String(COMMON[key] || english)
    .replace(/\{(\w+)\}/g, (m, k) => (values && k in values ? values[k] : m));

  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details || null; // a problem's details, e.g. {errors: [{loc, msg}]}
    }
  }

  /** Call the REST API; resolves to the parsed JSON (or null), rejects with ApiError. */
  async function api(method, path, body) {
    const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, "network", say("net_error", "Cannot reach Threadline. Check your connection and try again."));
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (err) { data = null; }
    }
    if (!response.ok) {
      if (response.status === 401 && !path.startsWith("/api/v1/auth/login")) {
        window.location.assign("/login");
      }
      const message = (data && (data.message || (typeof data.detail === "string" && data.detail)))
        || say("request_failed", "Request failed ({status})", { status: response.status });
      throw new ApiError(response.status, (data && data.code) || "error", message, data && data.details);
    }
    return data;
  }

  /** The desktop event stream (/api/v1/stream) with reconnect and exponential backoff.
   * handlers: onFrame(frame), onReady() after each (re)connect's hello, onState("live"|"connecting"|"down"). */
  // Set while this page signs out: the server then closes our stream (4401, the session
  // ended), and that close must not start a second navigation to /login beside ours.
  let signingOut = false;
  // Other parts of a page (supervision.js) share the page's one stream instead of opening
  // their own: they hear every frame (hello included) and send through it.
  const streamListeners = new Set();
  let pageStream = null;
  function onStreamFrame(listener) { streamListeners.add(listener); }
  function sendOnStream(frame) { return Boolean(pageStream && pageStream.send(frame)); }

  function connectStream(handlers) {
    let socket = null;
    let attempt = 0;
    let timer = null;
    let stopped = false;
    const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/api/v1/stream`;

    function open() {
      handlers.onState && handlers.onState("connecting");
      socket = new WebSocket(url);
      socket.addEventListener("message", (msg) => {
        let frame;
        try { frame = JSON.parse(msg.data); } catch (err) { return; }
        if (frame.type === "hello") {
          attempt = 0;
          handlers.onState && handlers.onState("live");
          handlers.onReady && handlers.onReady(frame);
        } else {
          handlers.onFrame && handlers.onFrame(frame);
        }
        streamListeners.forEach((listener) => listener(frame));
      });
      socket.addEventListener("close", (event) => {
        socket = null;
        if (stopped || signingOut) return;
        if (event.code === 4401) {
          window.location.assign("/login");
          return;
        }
        handlers.onState && handlers.onState("down");
        const base = Math.min(30000, 1000 * 2 ** attempt);
        attempt += 1;
        timer = setTimeout(open, base * (0.5 + Math.random() / 2));
      });
    }

    open();
    pageStream = {
      send(frame) {
        if (socket && socket.readyState === WebSocket.OPEN) {
          socket.send(JSON.stringify(frame));
          return true;
        }
        return false;
      },
      stop() {
        stopped = true;
        clearTimeout(timer);
        if (socket) socket.close();
      },
    };
    return pageStream;
  }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // Outside a secure context randomUUID is missing; build a v4 UUID from random bytes.
    const b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /** A time zone name Intl knows, or null. */
  function knownZone(zone) {
    if (!zone) return null;
    try {
      new Intl.DateTimeFormat("en", { timeZone: zone });
      return zone;
    } catch (err) {
      return null;
    }
  }

  // Times in the page's language (<html lang>, with the browser's regional variant when it
  // is the same language: en-GB writes 17:00) and in the agent's time zone: their profile's
  // (<html data-tz>, set by the server when they chose one), else the browser's.
  const PAGE_LANG = (document.documentElement.lang || "en").toLowerCase();
  const BROWSER_LANG = navigator.language || "";
  const LOCALE = BROWSER_LANG.toLowerCase().startsWith(PAGE_LANG) ? BROWSER_LANG : PAGE_LANG;
  const ZONE = knownZone(document.documentElement.dataset.tz)
    || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

  const inZone = (options) => new Intl.DateTimeFormat(LOCALE, { ...options, timeZone: ZONE });
  const timeFmt = inZone({ hour: "2-digit", minute: "2-digit" });
  const dayTimeFmt = inZone({ day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  const fullFmt = inZone({ dateStyle: "full", timeStyle: "long" });
  const dayFmt = inZone({ dateStyle: "medium" });
  const dayKeyFmt = new Intl.DateTimeFormat("en-CA", { timeZone: ZONE });  // 2026-12-06

  /** An API timestamp (UTC, ISO 8601) in the agent's own time zone: the time alone when it
   * is today there, else with the day. */
  function formatTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return dayKeyFmt.format(d) === dayKeyFmt.format(new Date()) ? timeFmt.format(d) : dayTimeFmt.format(d);
  }

  function formatFull(iso) {
    return iso ? fullFmt.format(new Date(iso)) : "";
  }

  function formatDay(iso) {
    return iso ? dayFmt.format(new Date(iso)) : "";
  }

  /** 75 -> "1:15", 3725 -> "1:02:05". */
  function formatDuration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
  }

  function initials(name) {
    const parts = String(name || "?").trim().split(/\s+/).filter(Boolean);
    return ((parts[0] || "?")[0] + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase();
  }

  async function logout(setOffline) {
    signingOut = true;
    if (setOffline) {
      try { await api("PUT", "/api/v1/agents/me/presence", { presence: "offline" }); } catch (err) { /* signing out anyway */ }
    }
    try { await api("POST", "/api/v1/auth/logout"); } finally { window.location.assign("/login"); }
  }

  window.TLDesk = {
    ApiError, api, connectStream, onStreamFrame, sendOnStream, uuid, formatTime, formatFull, formatDay, formatDuration, initials, logout,
    PRESENCES: ["available", "busy", "away", "offline"],
    LOCALE, ZONE,
  };
})();
