/*!
 * Threadline web chat widget. Embed with one tag:
 *   <script src="https://YOUR-THREADLINE/widget.js" data-widget="KEY" async></script>
 * Optional attributes: data-locale="pt-PT" (default navigator.language),
 * data-color="#0b5cad" (default: the colour set on the widget's settings), data-position="left".
 *
 * JavaScript API (docs/widget.md): Threadline.open() / close() / toggle(),
 * Threadline.send(text) -> Promise resolved on the server's ack,
 * Threadline.identify({name, email, phone, hash}) -> Promise,
 * Threadline.on(event, cb) / off(event, cb) for ready, message, agent_joined, open, close, error.
 * While the visitor waits, their place and the wait as a range are shown live (server `wait`
 * frames), with the queue's callback offer: "call me back, keep my place" or "book a time".
 * Calls made before this script loads are queued by a stub (window.Threadline = {q: [...]})
 * and replayed here; window also receives a `threadline:ready` DOM event.
 *
 * Plain JS, no dependencies, everything inside a Shadow DOM. Message text is only ever
 * written with textContent.
 */
(function () {
  "use strict";

  var previous = window.Threadline;
  if (previous && previous.__loaded) return; // the tag was included twice

  // --- where we come from ----------------------------------------------------------
  function findScript() {
    var current = document.currentScript;
    if (current && current.getAttribute("data-widget")) return current;
    // async scripts have no currentScript: find our tag by its data-widget attribute
    var tags = document.querySelectorAll("script[data-widget]");
    for (var i = 0; i < tags.length; i++) {
      if (/widget\.js(\?|#|$)/.test(tags[i].src)) return tags[i];
    }
    return tags[0] || null;
  }

  var script = findScript();
  if (!script) {
    if (window.console) console.error("Threadline: no <script data-widget=KEY> tag found");
    return;
  }
  var KEY = script.getAttribute("data-widget");
  var ORIGIN = new URL(script.src, location.href).origin;
  var API = ORIGIN + "/api/v1/widget/" + encodeURIComponent(KEY);
  var WS_URL = ORIGIN.replace(/^http/, "ws") + "/api/v1/widget/" + encodeURIComponent(KEY) + "/ws";
  var LOCALE = script.getAttribute("data-locale") || navigator.language || "";
  var COLOR = script.getAttribute("data-color") || "#0b5cad";
  var LEFT = script.getAttribute("data-position") === "left";
  var PREFIX = "threadline:" + KEY + ":";

  // --- storage that survives a broken localStorage (private mode, blocked cookies) --
  var memory = {};
  var store = {
    get: function (name, fallback) {
      var raw;
      try { raw = window.localStorage.getItem(PREFIX + name); } catch (e) { raw = memory[name]; }
      if (raw == null) return fallback;
      try { return JSON.parse(raw); } catch (e) { return fallback; }
    },
    set: function (name, value) {
      var raw = JSON.stringify(value);
      memory[name] = raw;
      try { window.localStorage.setItem(PREFIX + name, raw); } catch (e) { /* memory only */ }
    },
  };

  function uuid() {
    if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    if (window.crypto && crypto.getRandomValues) crypto.getRandomValues(bytes);
    else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  // --- state -----------------------------------------------------------------------
  var S = {
    ready: false,
    token: store.get("token", null),
    customerId: null,
    threadId: null,
    language: "en",
    strings: {},
    agent: null,
    hoursOpen: true,        // the widget's queue is within business hours
    opensAt: null,          // ISO time of the next opening when closed
    agentReadSeq: 0,        // the agent has read the visitor's messages up to this seq
    lastSeq: 0,             // highest seq seen (for resume)
    sentDelivered: 0,       // highest seq we told the server was delivered / read
    sentRead: 0,
    seenIds: {},            // event id -> true (dedupe)
    outbox: store.get("outbox", []),  // [{client_id, text, ts}] until acked
    inflight: {},           // client_id -> true, sent on the current socket
    waiters: {},            // client_id -> [{resolve, reject}]
    identifyQueue: [],      // [{data, resolve, reject}] sent once connected
    identifyWaiting: [],
    open: !!store.get("open", false),
    unread: 0,
    ws: null,
    connected: false,
    everConnected: false,
    attempts: 0,
    reconnectTimer: null,
    held: false,            // _debugDisconnect({hold: true}) keeps the socket down
    typingOn: false,
    typingTimer: null,
    agentTypingTimer: null,
    wait: null,             // the server's view: place, wait range, callback offer or callback
    waitForm: null,         // "keep" | "book" while the visitor fills one in
    windows: [],            // bookable windows, when the visitor asked for them
    waitBusy: false,
    waitError: "",
  };

  var listeners = {};
  function emit(name, detail) {
    (listeners[name] || []).slice().forEach(function (cb) {
      try { cb(detail); } catch (e) { if (window.console) console.error(e); }
    });
  }

  function t(key, values) {
    var text = S.strings[key];
    if (text == null) text = "";
    if (values) {
      text = text.replace(/\{(\w+)\}/g, function (m, name) {
        return values[name] != null ? String(values[name]) : m;
      });
    }
    return text;
  }

  // --- DOM -------------------------------------------------------------------------
  var ui = {};

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        if (name === "text") node.textContent = attrs[name];
        else if (name === "class") node.className = attrs[name];
        else node.setAttribute(name, attrs[name]);
      });
    }
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  function icon(paths) {
    var NS = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    paths.forEach(function (d) {
      var path = document.createElementNS(NS, "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    });
    return svg;
  }

  var ICON_CHAT = ["M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"];
  var ICON_CLOSE = ["M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z"];
  var ICON_SEND = ["M3 20.5 21.5 12 3 3.5v6.6L16 12 3 13.9z"];

  var STYLE = [
    ":host{all:initial}",
    "*{box-sizing:border-box}",
    ".tl{--tl-color:" + COLOR + ";position:fixed;bottom:20px;" + (LEFT ? "left" : "right") + ":20px;z-index:2147483000;",
    " font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;color:#1d2330}",
    ".launcher{width:58px;height:58px;border-radius:50%;border:0;background:var(--tl-color);color:#fff;cursor:pointer;",
    " display:flex;align-items:center;justify-content:center;box-shadow:0 6px 20px rgba(15,30,60,.28);position:relative;",
    " transition:transform .15s ease}",
    ".launcher:hover{transform:scale(1.05)}",
    ".launcher svg{width:28px;height:28px;fill:currentColor}",
    ".launcher:focus-visible,button:focus-visible,textarea:focus-visible{outline:3px solid #ffbf47;outline-offset:2px}",
    ".badge{position:absolute;top:-3px;" + (LEFT ? "left" : "right") + ":-3px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;",
    " background:#d93025;color:#fff;font-size:12px;font-weight:600;line-height:20px;text-align:center}",
    ".badge[hidden]{display:none}",
    ".panel{position:absolute;bottom:74px;" + (LEFT ? "left" : "right") + ":0;width:370px;height:560px;max-height:calc(100vh - 110px);",
    " background:#fff;border-radius:14px;box-shadow:0 12px 40px rgba(15,30,60,.30);display:flex;flex-direction:column;overflow:hidden}",
    ".panel[hidden]{display:none}",
    "header{background:var(--tl-color);color:#fff;padding:14px 12px 14px 18px;display:flex;align-items:center;gap:10px}",
    "header .who{flex:1;min-width:0}",
    "header h2{margin:0;font-size:16px;font-weight:600;line-height:1.3}",
    "header .sub{font-size:12.5px;opacity:.9;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}",
    ".avatar{width:36px;height:36px;border-radius:50%;background:rgba(255,255,255,.22);display:flex;align-items:center;",
    " justify-content:center;font-weight:600;flex:none}",
    ".avatar svg{width:20px;height:20px;fill:#fff}",
    ".x{background:transparent;border:0;color:#fff;width:34px;height:34px;border-radius:8px;cursor:pointer;display:flex;",
    " align-items:center;justify-content:center}",
    ".x:hover{background:rgba(255,255,255,.16)}",
    ".x svg{width:20px;height:20px;fill:currentColor}",
    ".banner{background:#fff4d6;color:#5c4400;font-size:12.5px;padding:6px 14px;border-bottom:1px solid #f0e0b0}",
    ".banner[hidden]{display:none}",
    ".incidents{margin:0;padding:0;list-style:none;background:#fdecea;border-bottom:1px solid #f3c7c1;max-height:40%;overflow-y:auto}",
    ".incidents[hidden]{display:none}",
    ".incidents li{padding:8px 14px;font-size:13px;color:#6b1a12;border-top:1px solid #f3c7c1}",
    ".incidents li:first-child{border-top:0}",
    ".incidents strong{display:block}",
    ".incidents .eta{font-size:12px;opacity:.9}",
    ".incidents button{font:inherit;font-size:12.5px;margin-top:4px;border-radius:8px;padding:4px 10px;cursor:pointer;",
    " border:1px solid #b3261e;background:#fff;color:#b3261e}",
    ".incidents button:disabled{opacity:.6;cursor:default}",
    ".log{flex:1;overflow-y:auto;padding:14px 14px 4px;margin:0;list-style:none;background:#f5f7fb}",
    ".log li{display:flex;flex-direction:column;margin:0 0 10px}",
    ".log li.me{align-items:flex-end}",
    ".log li.them{align-items:flex-start}",
    ".log li.system{align-items:center}",
    ".bubble{max-width:82%;padding:8px 12px;border-radius:14px;white-space:pre-wrap;overflow-wrap:anywhere}",
    ".me .bubble{background:var(--tl-color);color:#fff;border-bottom-right-radius:4px}",
    ".them .bubble{background:#fff;border:1px solid #e1e6ef;border-bottom-left-radius:4px}",
    ".system .bubble{background:transparent;color:#5b6474;font-size:12.5px;text-align:center;padding:2px 8px}",
    ".author{font-size:12px;color:#5b6474;margin:0 4px 2px}",
    ".meta{font-size:11.5px;color:#6b7382;margin:2px 4px 0}",
    ".meta .status.read{color:var(--tl-color);font-weight:600}",
    ".failed .bubble{background:#fbe9e7;color:#8a1c12}",
    ".choices{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px;max-width:82%}",
    ".choices button{font:inherit;font-size:13.5px;padding:6px 10px;border-radius:14px;border:1px solid var(--tl-color);background:#fff;color:var(--tl-color);cursor:pointer}",
    ".choices button:focus-visible{outline:2px solid var(--tl-color);outline-offset:2px}",
    ".survey{background:#fff;border:1px solid #e1e6ef;border-radius:14px;padding:10px 12px;margin-top:6px;width:92%;max-width:340px}",
    ".survey .q{margin:0 0 6px;font-weight:600}",
    ".survey .scale{display:flex;gap:4px}",
    ".survey .scale button{flex:1;min-width:0;min-height:44px;font:inherit;font-weight:600;border-radius:8px;",
    " border:1px solid var(--tl-color);background:#fff;color:var(--tl-color);cursor:pointer}",
    ".survey .scale button.chosen{background:var(--tl-color);color:#fff}",
    ".survey .ends{display:flex;justify-content:space-between;gap:8px;font-size:11.5px;color:#5b6474;margin-top:3px}",
    ".survey textarea{font:inherit;width:100%;min-height:64px;border:1px solid #cfd6e2;border-radius:8px;padding:6px 8px;margin:4px 0}",
    ".survey label{display:block;font-size:12.5px;color:#5b6474}",
    ".survey .row{display:flex;gap:6px}",
    ".survey .row button{flex:1;min-height:44px;font:inherit;border-radius:8px;padding:6px 10px;cursor:pointer;",
    " border:1px solid var(--tl-color);background:#fff;color:var(--tl-color)}",
    ".survey .row button.primary{background:var(--tl-color);color:#fff}",
    ".survey button:disabled{opacity:.6;cursor:default}",
    ".survey .done{margin:0;color:#0d5b2a;font-weight:600}",
    ".survey .err{margin:6px 0 0;color:#8a1c12;font-size:12.5px}",
    ".typing{min-height:22px;padding:0 16px 4px;font-size:12.5px;color:#5b6474;font-style:italic;background:#f5f7fb}",
    ".waiting{font-size:12.5px;color:#5b6474;text-align:center;padding:4px 14px 8px;background:#f5f7fb}",
    ".waiting[hidden]{display:none}",
    ".wait{background:#fff;border-top:1px solid #e1e6ef;padding:10px 14px;font-size:13px;max-height:46%;overflow-y:auto}",
    ".wait[hidden],.wait [hidden]{display:none}",
    ".wait p{margin:0 0 6px}",
    ".wait .wait-line{font-weight:600}",
    ".wait .cb-done{color:#0d5b2a}",
    ".wait .cb-error{color:#8a1c12}",
    ".wait .row{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0}",
    ".wait button{font:inherit;border-radius:8px;padding:6px 10px;cursor:pointer;border:1px solid var(--tl-color);",
    " background:#fff;color:var(--tl-color)}",
    ".wait button.primary{background:var(--tl-color);color:#fff}",
    ".wait button:disabled{opacity:.6;cursor:default}",
    ".wait label{display:block;font-size:12.5px;color:#5b6474;margin:2px 0}",
    ".wait input{font:inherit;border:1px solid #cfd6e2;border-radius:8px;padding:6px 8px;width:100%;margin:2px 0 6px}",
    ".wait .windows{display:flex;flex-direction:column;gap:4px;margin:4px 0}",
    ".wait .windows button{text-align:left}",
    // the composer only: the callback form inside .wait is a plain block (label, times, buttons)
    ".composer{display:flex;gap:8px;align-items:flex-end;padding:10px;border-top:1px solid #e1e6ef;background:#fff;margin:0}",
    ".cb-form{display:block;margin:0}",
    "textarea{flex:1;resize:none;border:1px solid #cfd6e2;border-radius:10px;padding:9px 11px;font:inherit;color:inherit;",
    " max-height:120px;min-height:40px;background:#fff}",
    ".send{border:0;background:var(--tl-color);color:#fff;border-radius:10px;height:40px;min-width:40px;padding:0 10px;",
    " cursor:pointer;display:flex;align-items:center;justify-content:center}",
    ".send svg{width:20px;height:20px;fill:currentColor}",
    // help articles suggested while the visitor types, and the one they open
    ".help{border-top:1px solid #e1e6ef;padding:6px 10px;background:#f7f9fc}",
    ".help p{margin:0 0 4px;font-size:12.5px;color:#5b6474}",
    ".help ul{list-style:none;margin:0;padding:0}",
    ".help li button{background:none;border:0;padding:6px 0;color:var(--tl-color);font:inherit;text-align:left;",
    " cursor:pointer;text-decoration:underline;min-height:32px}",
    ".article{position:absolute;inset:0;background:#fff;overflow:auto;padding:14px 16px;z-index:2}",
    ".article h3{margin:6px 0 8px;font-size:17px}",
    ".article .body{font-size:14.5px;line-height:1.5}",
    ".article .body img{max-width:100%}",
    ".article .helped{display:flex;gap:8px;align-items:center;margin:12px 0}",
    ".article button{font:inherit;border:1px solid var(--tl-color);background:#fff;color:var(--tl-color);",
    " border-radius:8px;padding:6px 12px;cursor:pointer;min-height:36px}",
    ".sr{position:absolute;width:1px;height:1px;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}",
    // A phone: the open chat is the whole screen (its header's close button closes it), the
    // launcher hides so it cannot sit over Send, controls are finger-sized, text fields are
    // 16px (iOS zooms into smaller ones), and the notch and home bar keep their insets.
    "@media (max-width:480px){",
    " .tl{bottom:calc(16px + env(safe-area-inset-bottom));" + (LEFT ? "left" : "right") + ":calc(16px + env(safe-area-inset-" + (LEFT ? "left" : "right") + "))}",
    " .panel{position:fixed;inset:0;width:auto;height:auto;max-height:none;border-radius:0;box-shadow:none}",
    " .tl.open .launcher{display:none}",
    " header{padding:calc(10px + env(safe-area-inset-top)) calc(8px + env(safe-area-inset-right)) 10px calc(14px + env(safe-area-inset-left))}",
    " .x{width:44px;height:44px}",
    " .log{padding-left:calc(12px + env(safe-area-inset-left));padding-right:calc(12px + env(safe-area-inset-right))}",
    " .composer{padding:8px calc(8px + env(safe-area-inset-right)) calc(8px + env(safe-area-inset-bottom)) calc(8px + env(safe-area-inset-left))}",
    " .send{height:44px;min-width:44px}",
    " textarea{min-height:44px}",
    " .wait{max-height:55%;padding-left:calc(14px + env(safe-area-inset-left));padding-right:calc(14px + env(safe-area-inset-right))}",
    " .wait .row{flex-direction:column;align-items:stretch}",
    " .wait button{min-height:44px;padding:10px 12px;width:100%}",
    " .incidents button{min-height:44px;width:100%}",
    " .wait .windows{gap:6px}",
    "}",
    "@media (max-width:480px),(pointer:coarse){textarea,.wait input{font-size:16px}}",
    "@media (prefers-reduced-motion:reduce){.launcher{transition:none}}",
  ].join("\n");

  function build() {
    var host = document.createElement("div");
    host.id = "threadline-widget";
    host.setAttribute("data-widget", KEY);
    var root = host.attachShadow({ mode: "open" });
    var style = document.createElement("style");
    style.textContent = STYLE;
    root.appendChild(style);

    ui.host = host;
    ui.root = root;
    ui.title = el("h2", { id: "tl-title", text: t("title") });
    ui.sub = el("div", { class: "sub" });
    ui.avatar = el("div", { class: "avatar", "aria-hidden": "true" }, [icon(ICON_CHAT)]);
    ui.closeBtn = el("button", { type: "button", class: "x", "aria-label": t("close"), title: t("close") },
      [icon(ICON_CLOSE)]);
    ui.banner = el("div", { class: "banner", role: "status", hidden: "" });
    ui.incidents = el("ul", { class: "incidents", role: "status", "aria-live": "polite", hidden: "" });
    ui.log = el("ol", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
      "aria-labelledby": "tl-title", tabindex: "0" });
    ui.waiting = el("div", { class: "waiting", role: "status", hidden: "" });
    ui.typing = el("div", { class: "typing", role: "status", "aria-live": "polite" });
    buildWait();
    buildHelp();
    ui.input = el("textarea", { rows: "1", placeholder: t("placeholder"), "aria-label": t("placeholder"),
      maxlength: "10000", enterkeyhint: "send" });
    ui.sendBtn = el("button", { type: "submit", class: "send", "aria-label": t("send"), title: t("send") },
      [icon(ICON_SEND)]);
    ui.form = el("form", { class: "composer" }, [ui.input, ui.sendBtn]);
    ui.panel = el("section", { class: "panel", id: "tl-panel", role: "dialog", "aria-modal": "false",
      "aria-labelledby": "tl-title", hidden: "" }, [
      el("header", {}, [ui.avatar, el("div", { class: "who" }, [ui.title, ui.sub]), ui.closeBtn]),
      ui.banner, ui.incidents, ui.log, ui.waiting, ui.wait, ui.typing, ui.help, ui.form, ui.article,
    ]);
    ui.badge = el("span", { class: "badge", "aria-hidden": "true", hidden: "" });
    ui.launcher = el("button", { type: "button", class: "launcher", "aria-controls": "tl-panel",
      "aria-expanded": "false", "aria-label": t("open"), title: t("open") }, [icon(ICON_CHAT), ui.badge]);
    ui.launcherIcons = [ui.launcher.firstChild, icon(ICON_CLOSE)];
    ui.wrap = el("div", { class: "tl", lang: S.language }, [ui.panel, ui.launcher]);
    root.appendChild(ui.wrap);

    ui.launcher.addEventListener("click", function () { api.toggle(); });
    ui.closeBtn.addEventListener("click", function () { api.close(); });
    ui.form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      submitInput();
    });
    ui.input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        submitInput();
      }
    });
    ui.input.addEventListener("input", function () {
      autosize();
      typingChanged(ui.input.value.trim() !== "");
      suggestArticles(ui.input.value);
    });
    ui.wrap.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && S.open) {
        ev.stopPropagation();
        api.close();
      }
    });
    (document.body || document.documentElement).appendChild(host);

    ui.log.appendChild(systemOrAgentGreeting());
  }

  /** The wait panel: place and range, the callback offer, its two forms, the confirmation. */
  function buildWait() {
    ui.waitLine = el("p", { class: "wait-line" });
    ui.cbKeep = el("button", { type: "button", class: "cb-keep", text: t("cb_keep") });
    ui.cbBook = el("button", { type: "button", class: "cb-book", text: t("cb_book") });
    ui.cbOffer = el("div", { class: "cb-offer" }, [
      el("p", { text: t("cb_offer") }), el("div", { class: "row" }, [ui.cbKeep, ui.cbBook])]);
    ui.cbPhone = el("input", { type: "tel", name: "phone", autocomplete: "tel", maxlength: "32", required: "" });
    ui.cbPick = el("p", { text: t("cb_pick") });
    ui.cbWindows = el("div", { class: "windows", role: "list" });
    ui.cbSubmit = el("button", { type: "submit", class: "primary cb-submit", text: t("cb_confirm") });
    ui.cbBack = el("button", { type: "button", class: "cb-back", text: t("cb_back") });
    ui.cbForm = el("form", { class: "cb-form" }, [
      el("label", { text: t("cb_phone") }, [ui.cbPhone]), ui.cbPick, ui.cbWindows,
      el("div", { class: "row" }, [ui.cbSubmit, ui.cbBack])]);
    ui.cbDone = el("p", { class: "cb-done", role: "status" });
    ui.cbError = el("p", { class: "cb-error", role: "alert" });
    ui.wait = el("section", { class: "wait", "aria-live": "polite", hidden: "" },
      [ui.waitLine, ui.cbOffer, ui.cbForm, ui.cbDone, ui.cbError]);
    ui.cbKeep.addEventListener("click", function () { openWaitForm("keep"); });
    ui.cbBook.addEventListener("click", function () { openWaitForm("book"); });
    ui.cbBack.addEventListener("click", function () { S.waitForm = null; S.waitError = ""; renderWait(); });
    ui.cbForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (S.waitForm === "keep") keepMyPlace();
    });
  }

  function systemOrAgentGreeting() {
    return el("li", { class: "them greeting" }, [el("div", { class: "bubble", text: t("greeting") })]);
  }

  function autosize() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 120) + "px";
  }

  function submitInput() {
    var text = ui.input.value.trim();
    if (!text) return;
    ui.input.value = "";
    autosize();
    typingChanged(false);
    suggestArticles("");
    api.send(text).catch(function () { /* shown on the message itself */ });
  }

  // --- rendering -------------------------------------------------------------------
  function timeLabel(iso) {
    var date = iso ? new Date(iso) : new Date();
    try {
      return date.toLocaleTimeString([S.language, LOCALE].filter(Boolean), { hour: "2-digit", minute: "2-digit" });
    } catch (e) {
      return date.toLocaleTimeString();
    }
  }

  function scrollDown() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  /** Keep the log ordered by seq; unsent messages (no seq yet) stay at the end. */
  function place(node, seq) {
    node.setAttribute("data-seq", seq == null ? "" : String(seq));
    if (seq != null) {
      var items = ui.log.children;
      for (var i = 0; i < items.length; i++) {
        var other = items[i].getAttribute("data-seq");
        if (other === "" || (other != null && Number(other) > seq)) {
          ui.log.insertBefore(node, items[i]);
          return;
        }
      }
    }
    ui.log.appendChild(node);
  }

  function ownNode(clientId) {
    return ui.log.querySelector('li.me[data-client-id="' + CSS_escape(clientId) + '"]');
  }

  function CSS_escape(value) {
    return window.CSS && window.CSS.escape ? window.CSS.escape(value) : String(value).replace(/["\\]/g, "\\$&");
  }

  function messageNode(cls, body, author, iso) {
    var node = el("li", { class: cls });
    if (author) node.appendChild(el("div", { class: "author", text: author }));
    node.appendChild(el("div", { class: "bubble", dir: "auto", text: body }));
    var meta = el("div", { class: "meta" });
    meta.appendChild(el("time", { datetime: iso || new Date().toISOString(), text: timeLabel(iso) }));
    node.appendChild(meta);
    return node;
  }

  /** A bot's question's choices as buttons; a tap sends the choice's label as the
   * visitor's answer (the bot reads labels, numbers and words alike). */
  function choicesNode(choices) {
    var box = el("div", { class: "choices", role: "group" });
    choices.forEach(function (c) {
      if (!c || typeof c.label !== "string") return;
      var button = el("button", { type: "button", text: c.label });
      button.addEventListener("click", function () {
        clearChoices();
        api.send(c.label).catch(function () { /* shown on the message itself */ });
      });
      box.appendChild(button);
    });
    return box;
  }

  /** A resolved contact's survey (data.survey): the scale of each question in turn (CSAT
   * 1-5, then CES 1-7), then an optional comment sent with the last answer. Each answer goes
   * to the widget API when it is given (sending one again changes nothing there); how far
   * the visitor got is remembered, so a reload does not ask again. */
  function surveyNode(sv) {
    var box = el("div", { class: "survey", role: "group", "data-survey": sv.id });
    var key = "survey:" + sv.id;
    var state = store.get(key, null) || { step: 0, done: false, chosen: null };
    var texts = sv.texts || {};
    var scales = sv.scales || { csat: 5, ces: 7 };

    function save() { store.set(key, state); }

    function send(body) {
      var buttons = box.querySelectorAll("button");
      for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
      return visitorCall("POST", "/surveys/" + encodeURIComponent(sv.id) + "/answers", body)
        .catch(function (e) { draw(t("survey_failed")); throw e; });
    }

    function answer(kind, score) {
      var last = state.step >= sv.questions.length - 1;
      if (last && sv.comment) {
        state.chosen = { kind: kind, score: score };
        save();
        draw();
        return;
      }
      var body = {};
      body[kind] = score;
      send(body).then(function () {
        if (last) state.done = true; else state.step += 1;
        save();
        draw();
      }, function () { /* shown in the box */ });
    }

    function finish(comment) {
      var body = {};
      body[state.chosen.kind] = state.chosen.score;
      if (comment) body.comment = comment;
      send(body).then(function () {
        state.done = true;
        save();
        draw();
      }, function () { /* shown in the box */ });
    }

    function scaleNode(kind) {
      var scale = el("div", { class: "scale" });
      for (var n = 1; n <= (scales[kind] || 5); n++) {
        (function (score) {
          var button = el("button", { type: "button", text: String(score), "data-score": String(score) });
          if (state.chosen && state.chosen.kind === kind && state.chosen.score === score) button.className = "chosen";
          button.addEventListener("click", function () { answer(kind, score); });
          scale.appendChild(button);
        })(n);
      }
      return scale;
    }

    function draw(error) {
      box.textContent = "";
      if (state.done) {
        box.appendChild(el("p", { class: "done", role: "status", text: t("survey_thanks") }));
        return;
      }
      var kind = sv.questions[state.step];
      if (state.step > 0) box.appendChild(el("p", { class: "q", text: texts[kind] || "" }));
      box.appendChild(scaleNode(kind));
      box.appendChild(el("div", { class: "ends" }, [
        el("span", { text: "1 · " + (texts[kind + "_low"] || "") }),
        el("span", { text: (scales[kind] || 5) + " · " + (texts[kind + "_high"] || "") }),
      ]));
      if (state.chosen) {
        var id = "tl-survey-" + sv.id;
        var note = el("textarea", { id: id, maxlength: "2000", rows: "3" });
        var sendButton = el("button", { type: "button", class: "primary", text: t("survey_send") });
        var skipButton = el("button", { type: "button", text: t("survey_skip") });
        sendButton.addEventListener("click", function () { finish(note.value.trim()); });
        skipButton.addEventListener("click", function () { finish(""); });
        box.appendChild(el("label", { for: id, text: t("survey_comment") }));
        box.appendChild(note);
        box.appendChild(el("div", { class: "row" }, [skipButton, sendButton]));
      }
      if (error) box.appendChild(el("p", { class: "err", role: "alert", text: error }));
    }

    draw();
    return box;
  }

  function clearChoices() {
    if (!ui.log) return;
    var boxes = ui.log.querySelectorAll(".choices");
    for (var i = 0; i < boxes.length; i++) boxes[i].parentNode.removeChild(boxes[i]);
  }

  function setStatus(node, state) {
    var meta = node.querySelector(".meta");
    var status = meta.querySelector(".status");
    if (!status) {
      status = el("span", { class: "status" });
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(status);
    }
    var labels = { pending: ["◷", t("sending")], sent: ["✓", t("sent")], read: ["✓✓", t("read")],
      failed: ["!", t("failed")] };
    var label = labels[state];
    status.className = "status " + state;
    status.textContent = label[0] + " " + label[1];
    node.setAttribute("data-state", state);
    if (state === "failed") node.classList.add("failed");
  }

  function renderPending(item) {
    var node = ownNode(item.client_id);
    if (node) return node;
    node = messageNode("me", item.text, "", new Date(item.ts).toISOString());
    node.setAttribute("data-client-id", item.client_id);
    place(node, null);
    setStatus(node, "pending");
    scrollDown();
    return node;
  }

  function markOwnAcked(clientId, seq) {
    var node = ownNode(clientId);
    if (!node) return;
    place(node, seq);
    setStatus(node, seq <= S.agentReadSeq ? "read" : "sent");
  }

  function refreshReadMarks() {
    var nodes = ui.log.querySelectorAll("li.me[data-seq]");
    for (var i = 0; i < nodes.length; i++) {
      var seq = nodes[i].getAttribute("data-seq");
      if (seq !== "" && Number(seq) <= S.agentReadSeq && nodes[i].getAttribute("data-state") === "sent") {
        setStatus(nodes[i], "read");
      }
    }
  }

  function systemLine(text, seq, iso) {
    var node = el("li", { class: "system" }, [el("div", { class: "bubble", text: text })]);
    if (iso) node.setAttribute("data-time", iso);
    place(node, seq);
    return node;
  }

  /** One timeline entry from the server; returns true when it was new. */
  function applyEvent(ev, live) {
    if (!ev || S.seenIds[ev.id]) return false;
    S.seenIds[ev.id] = true;
    if (ev.thread_id && ev.thread_id !== S.threadId) S.threadId = ev.thread_id;
    if (ev.seq > S.lastSeq) S.lastSeq = ev.seq;

    if (ev.kind === "message" && ev.author_type === "customer") {
      var existing = ev.client_msg_id ? ownNode(ev.client_msg_id) : null;
      if (existing) {
        markOwnAcked(ev.client_msg_id, ev.seq);
      } else {
        var mine = messageNode("me", ev.body || "", "", ev.created_at);
        if (ev.client_msg_id) mine.setAttribute("data-client-id", ev.client_msg_id);
        place(mine, ev.seq);
        setStatus(mine, ev.seq <= S.agentReadSeq ? "read" : "sent");
      }
      if (ev.client_msg_id) settle(ev.client_msg_id, ev.seq);
    } else if (ev.kind === "message") {
      var name = ev.author_name || (S.agent && S.agent.name) || t("agent");
      var theirs = messageNode("them", ev.body || "", name, ev.created_at);
      // while a bot talks nobody is waiting in line (until it hands over)
      S.botTalking = ev.author_type === "bot" && !(ev.data && ev.data.handoff);
      clearChoices();  // a newer message: earlier buttons no longer apply
      if (ev.data && Array.isArray(ev.data.choices) && ev.data.choices.length) {
        theirs.insertBefore(choicesNode(ev.data.choices), theirs.querySelector(".meta"));
      }
      if (ev.data && ev.data.survey && Array.isArray(ev.data.survey.questions)) {
        theirs.insertBefore(surveyNode(ev.data.survey), theirs.querySelector(".meta"));
      }
      place(theirs, ev.seq);
      // an agent who replies has read everything before (the server moves its pointer too)
      if (ev.seq - 1 > S.agentReadSeq) {
        S.agentReadSeq = ev.seq - 1;
        refreshReadMarks();
      }
      if (live) {
        hideAgentTyping();
        if (!S.open || document.visibilityState !== "visible") bumpUnread();
        emit("message", { id: ev.id, seq: ev.seq, body: ev.body, author: name, created_at: ev.created_at });
      }
    } else if (ev.kind === "assigned") {
      if (ev.author_id) S.agent = { id: ev.author_id, name: ev.author_name || t("agent") };
      systemLine(t("agent_joined", { name: ev.author_name || t("agent") }), ev.seq, ev.created_at);
    } else if (ev.kind === "transferred") {
      var to = (ev.data && ev.data.to_name) || t("agent");
      systemLine(t("transferred", { name: to }), ev.seq, ev.created_at);
    } else if (ev.kind === "resolved") {
      S.agent = null;
      systemLine(t("resolved"), ev.seq, ev.created_at);
    }
    updateHeader();
    scrollDown();
    return true;
  }

  function updateHeader() {
    if (!ui.sub) return;
    ui.sub.textContent = S.agent ? S.agent.name : "";
    ui.avatar.textContent = "";
    if (S.agent && S.agent.name) ui.avatar.textContent = S.agent.name.charAt(0).toUpperCase();
    else ui.avatar.appendChild(icon(ICON_CHAT));
    var notice = "";
    if (!S.hoursOpen && !S.agent) notice = S.opensAt ? t("closed_until", { time: openingLabel(S.opensAt) }) : t("closed");
    else if (!S.agent && !S.botTalking && hasOwnMessages() && !lastWasResolved()) notice = queueNotice();
    ui.waiting.textContent = notice;
    ui.waiting.hidden = !notice;
  }

  // --- the wait and the callback offer --------------------------------------------
  var OPEN_CALLBACK = { waiting: 1, scheduled: 1, dialing: 1, connected: 1, retry_wait: 1 };

  /** "You're in the queue", promising "shortly" only when the server's wait estimate says
   *  so (`promise`, i18n/waits.py); a long wait is told by its range below, and no estimate
   *  promises nothing. */
  function queueNotice() {
    var w = S.wait;
    if (w && w.status !== "queued" && w.status !== "offered") return ""; // booked, or not queued
    return t(w && w.promise === "soon" ? "waiting_soon" : "waiting");
  }

  function ordinal(n) {
    var category = "other";
    try { category = new Intl.PluralRules(S.language, { type: "ordinal" }).select(n); } catch (e) { /* old browser */ }
    var pattern = S.strings["ord_" + category] || S.strings.ord_other || "{n}";
    return pattern.replace("{n}", String(n));
  }

  function minutes(seconds) { return Math.round(seconds / 60); }

  /** "You are 3rd in line · about 5–7 min" (or "more than 30 min" when there is no top). */
  function waitText(w) {
    var parts = [];
    if (w.position) parts.push(t("wait_position", { nth: ordinal(w.position) }));
    if (w.low_s != null) {
      if (w.high_s == null) parts.push(t("wait_more", { low: minutes(w.low_s) }));
      else if (!w.low_s) parts.push(t("wait_less", { high: minutes(w.high_s) }));
      else parts.push(t("wait_about", { low: minutes(w.low_s), high: minutes(w.high_s) }));
    }
    return parts.join(" · ");
  }

  /** A window in the visitor's own time zone (the browser's): "Tue 25 Nov, 09:00–09:30". */
  function windowLabel(startIso, endIso) {
    // the visitor's own locale (en-GB: 24-hour clock) when it is the language we speak
    var locales = LOCALE.toLowerCase().indexOf(S.language) === 0 ? [LOCALE, S.language] : [S.language];
    try {
      var day = new Date(startIso).toLocaleString(locales, { weekday: "short", day: "numeric", month: "short",
        hour: "2-digit", minute: "2-digit" });
      return day + "–" + new Date(endIso).toLocaleTimeString(locales, { hour: "2-digit", minute: "2-digit" });
    } catch (e) {
      return new Date(startIso).toLocaleString() + "–" + new Date(endIso).toLocaleTimeString();
    }
  }

  function callbackText(cb) {
    var values = { phone: cb.phone, when: cb.window_start ? windowLabel(cb.window_start, cb.window_end) : "" };
    var key = { waiting: "cb_kept", scheduled: "cb_booked", dialing: "cb_dialing", connected: "cb_connected",
      retry_wait: "cb_retry", failed: "cb_failed", cancelled: "cb_cancelled", completed: "cb_completed" }[cb.status];
    return key ? t(key, values) : "";
  }

  function renderWait() {
    if (!ui.wait) return;
    var w = S.wait;
    var waiting = !!w && (w.status === "queued" || w.status === "offered");
    var callback = w && w.callback && OPEN_CALLBACK[w.callback.status] ? w.callback : null;
    if (!w || (!waiting && !callback)) {
      ui.wait.hidden = true;
      S.waitForm = null;
      updateHeader();
      return;
    }
    ui.wait.hidden = false;
    var line = w.status === "offered" ? t("wait_offered") : (waiting ? waitText(w) : "");
    ui.waitLine.textContent = line;
    ui.waitLine.hidden = !line;
    ui.cbDone.textContent = callback ? callbackText(callback) : "";
    ui.cbDone.hidden = !callback;
    if (callback || !w.callback_offer) S.waitForm = null;
    var offer = !callback && w.callback_offer && w.status === "queued";
    ui.cbOffer.hidden = !offer || !!S.waitForm;
    if (offer) {
      ui.cbKeep.hidden = !w.callback_offer.keep_place;
      ui.cbBook.hidden = !w.callback_offer.booking;
    }
    ui.cbForm.hidden = !S.waitForm;
    ui.cbSubmit.hidden = S.waitForm !== "keep";
    ui.cbPick.hidden = ui.cbWindows.hidden = S.waitForm !== "book";
    [ui.cbKeep, ui.cbBook, ui.cbSubmit, ui.cbBack].forEach(function (b) { b.disabled = S.waitBusy; });
    ui.cbError.textContent = S.waitError;
    ui.cbError.hidden = !S.waitError;
    updateHeader(); // the queue notice follows the same estimate
  }

  function renderWindows() {
    ui.cbWindows.textContent = "";
    if (!S.windows.length) {
      ui.cbWindows.appendChild(el("p", { text: t("cb_no_windows") }));
      return;
    }
    S.windows.slice(0, 12).forEach(function (w) {
      var button = el("button", { type: "button", role: "listitem", "data-start": w.start,
        text: windowLabel(w.start, w.end) });
      button.addEventListener("click", function () { book(w.start); });
      ui.cbWindows.appendChild(button);
    });
  }

  // --- help articles while typing (/api/v1/widget/KEY/help, public by the widget's key) --
  var HELP_MIN_CHARS = 3;
  var HELP_DELAY_MS = 250;
  var helpTimer = null;
  var helpAsked = "";

  function buildHelp() {
    ui.helpList = el("ul", {});
    ui.help = el("div", { class: "help", hidden: "", "aria-live": "polite" },
      [el("p", { text: t("help_suggested") }), ui.helpList]);
    ui.article = el("section", { class: "article", hidden: "", role: "document" });
  }

  function helpCall(method, path, body) {
    return fetch(API + "/help" + path, {
      method: method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
      credentials: "omit",
      mode: "cors",
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    });
  }

  /** Suggest up to three published articles for what is typed (a pause first, never for
   *  fewer than three characters; a failed look-up only hides the suggestions). */
  function suggestArticles(text) {
    clearTimeout(helpTimer);
    var query = text.replace(/\s+/g, " ").replace(/^ /, "").slice(0, 200);
    if (query.trim().length < HELP_MIN_CHARS) {
      helpAsked = "";
      ui.help.hidden = true;
      return;
    }
    helpTimer = setTimeout(function () {
      helpAsked = query;
      var path = "/search?q=" + encodeURIComponent(query) + "&language=" + encodeURIComponent(S.language);
      helpCall("GET", path).then(function (hits) {
        if (helpAsked === query) renderSuggestions(hits.slice(0, 3));
      }).catch(function () { ui.help.hidden = true; });
    }, HELP_DELAY_MS);
  }

  function renderSuggestions(hits) {
    ui.helpList.textContent = "";
    hits.forEach(function (hit) {
      var open = el("button", { type: "button", text: hit.title });
      open.addEventListener("click", function () { openArticle(hit.slug); });
      ui.helpList.appendChild(el("li", {}, [open]));
    });
    ui.help.hidden = hits.length === 0;
  }

  /** The article inside the panel; its body is the server's HTML of the article's Markdown
   *  (raw HTML in the source is escaped there), then "did this help?". */
  function openArticle(slug) {
    helpCall("GET", "/articles/" + encodeURIComponent(slug) + "?language=" + encodeURIComponent(S.language))
      .then(function (article) {
        var body = el("div", { class: "body" });
        var parsed = new DOMParser().parseFromString(article.html, "text/html");
        Array.prototype.forEach.call(parsed.body.childNodes, function (node) {
          body.appendChild(document.importNode(node, true));
        });
        var back = el("button", { type: "button", class: "back", text: t("help_back") });
        back.addEventListener("click", closeArticle);
        var helped = el("div", { class: "helped" }, [el("span", { text: t("help_question") })]);
        [["help_yes", true], ["help_no", false]].forEach(function (pair) {
          var answer = el("button", { type: "button", text: t(pair[0]) });
          answer.addEventListener("click", function () {
            helped.textContent = t("help_thanks");
            helpCall("POST", "/articles/" + encodeURIComponent(slug) + "/feedback",
              { helpful: pair[1], language: article.language }).catch(function () {});
          });
          helped.appendChild(answer);
        });
        ui.article.textContent = "";
        [back, el("h3", { text: article.title }), body, helped].forEach(function (node) {
          ui.article.appendChild(node);
        });
        ui.article.hidden = false;
        back.focus();
      })
      .catch(function () { ui.help.hidden = true; });
  }

  function closeArticle() {
    ui.article.hidden = true;
    ui.input.focus();
  }

  /** A call to the widget's API as this visitor; resolves with the JSON, rejects with the
   *  server's reason. */
  function visitorCall(method, path, body) {
    return fetch(API + path, {
      method: method,
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + S.token },
      body: body ? JSON.stringify(body) : undefined,
      credentials: "omit",
      mode: "cors",
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error(data.message || ("HTTP " + response.status));
        return data;
      });
    });
  }

  function waitCall(promise) {
    S.waitBusy = true;
    S.waitError = "";
    renderWait();
    return promise.then(function (wait) {
      S.waitBusy = false;
      S.waitForm = null;
      S.wait = wait;
      renderWait();
    }, function (error) {
      S.waitBusy = false;
      S.waitError = t("cb_error", { reason: error.message });
      renderWait();
    });
  }

  function openWaitForm(kind) {
    S.waitForm = kind;
    S.waitError = "";
    if (!ui.cbPhone.value && S.wait && S.wait.phone) ui.cbPhone.value = S.wait.phone;
    renderWait();
    ui.cbPhone.focus();
    if (kind === "book") {
      visitorCall("GET", "/callback-windows").then(function (found) {
        S.windows = found || [];
        renderWindows();
      }, function (error) {
        S.waitError = t("cb_error", { reason: error.message });
        renderWait();
      });
    }
  }

  function keepMyPlace() {
    var phone = ui.cbPhone.value.trim();
    return waitCall(visitorCall("POST", "/callback", { phone: phone || null }));
  }

  function book(start) {
    var phone = ui.cbPhone.value.trim();
    return waitCall(visitorCall("POST", "/callbacks", { window_start: start, phone: phone || null }));
  }

  function openingLabel(iso) {
    var date = new Date(iso);
    var options = { weekday: "long", hour: "2-digit", minute: "2-digit" };
    if (date - Date.now() < 20 * 3600 * 1000) delete options.weekday;  // today or tonight
    try {
      return date.toLocaleString([S.language, LOCALE].filter(Boolean), options);
    } catch (e) {
      return date.toLocaleString();
    }
  }

  function hasOwnMessages() {
    return !!ui.log.querySelector("li.me");
  }

  function lastWasResolved() {
    var last = ui.log.lastElementChild;
    return !!(last && last.classList.contains("system") && last.textContent === t("resolved"));
  }

  function bumpUnread() {
    S.unread += 1;
    ui.badge.textContent = S.unread > 9 ? "9+" : String(S.unread);
    ui.badge.hidden = false;
    var label = t("open") + (t("unread") ? " — " + t("unread", { count: S.unread }) : "");
    ui.launcher.setAttribute("aria-label", label);
  }

  function clearUnread() {
    S.unread = 0;
    ui.badge.hidden = true;
    ui.launcher.setAttribute("aria-label", S.open ? t("close") : t("open"));
  }

  function showBanner(key) {
    if (!ui.banner) return;
    ui.banner.textContent = key ? t(key) : "";
    ui.banner.hidden = !key;
  }

  // --- outage mode: incidents in force, shown before anyone asks ---------------------
  var INCIDENTS_EVERY_MS = 120000;
  S.following = store.get("following", {});

  function loadIncidents() {
    return fetch(API + "/incidents?lang=" + encodeURIComponent(S.language || LOCALE || ""), {
      credentials: "omit",
      mode: "cors",
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (list) {
      if (list) renderIncidents(list);
    }, function () { /* keep what is shown */ });
  }

  function etaLabel(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) return "";
    var opts = { hour: "2-digit", minute: "2-digit" };
    if (date.toDateString() !== new Date().toDateString()) { opts.weekday = "short"; opts.day = "numeric"; }
    try {
      return date.toLocaleString([S.language, LOCALE].filter(Boolean), opts);
    } catch (e) { return date.toISOString().slice(0, 16).replace("T", " "); }
  }

  function renderIncidents(list) {
    if (!ui.incidents) return;
    ui.incidents.textContent = "";
    list.forEach(function (incident) {
      var item = el("li", { "data-incident": incident.id }, [
        el("strong", { text: incident.title }),
        el("span", { text: incident.message }),
      ]);
      if (incident.expected_end_at) {
        item.appendChild(el("div", { class: "eta", text: t("incident_expected", { time: etaLabel(incident.expected_end_at) }) }));
      }
      var done = S.following[incident.id];
      var button = el("button", { type: "button", text: done ? t("incident_following") : t("incident_follow") });
      if (done) button.disabled = true;
      button.addEventListener("click", function () { followIncident(incident.id, button); });
      item.appendChild(button);
      ui.incidents.appendChild(item);
    });
    ui.incidents.hidden = !list.length;
  }

  function followIncident(id, button) {
    button.disabled = true;
    visitorCall("POST", "/incidents/follow?lang=" + encodeURIComponent(S.language || ""), { incident_id: id })
      .then(function (answer) {
        button.textContent = answer.message;
        if (answer.following) {
          S.following[id] = true;
          store.set("following", S.following);
        }
      }, function () { button.disabled = false; });
  }

  function showAgentTyping(name) {
    ui.typing.textContent = t("agent_typing", { name: name || (S.agent && S.agent.name) || t("agent") });
    clearTimeout(S.agentTypingTimer);
    S.agentTypingTimer = setTimeout(hideAgentTyping, 8000); // in case "off" never arrives
  }

  function hideAgentTyping() {
    clearTimeout(S.agentTypingTimer);
    if (ui.typing) ui.typing.textContent = "";
  }

  // --- outbox and acks -------------------------------------------------------------
  function saveOutbox() {
    store.set("outbox", S.outbox);
  }

  function settle(clientId, seq) {
    var before = S.outbox.length;
    S.outbox = S.outbox.filter(function (item) { return item.client_id !== clientId; });
    if (S.outbox.length !== before) saveOutbox();
    delete S.inflight[clientId];
    (S.waiters[clientId] || []).forEach(function (w) { w.resolve({ client_id: clientId, seq: seq }); });
    delete S.waiters[clientId];
  }

  function fail(clientId, error) {
    S.outbox = S.outbox.filter(function (item) { return item.client_id !== clientId; });
    saveOutbox();
    delete S.inflight[clientId];
    var node = ownNode(clientId);
    if (node) setStatus(node, "failed");
    (S.waiters[clientId] || []).forEach(function (w) { w.reject(error); });
    delete S.waiters[clientId];
  }

  function flushOutbox() {
    if (!S.connected) return;
    S.outbox.forEach(function (item) {
      if (S.inflight[item.client_id]) return;
      if (frame({ type: "message", client_id: item.client_id, text: item.text })) {
        S.inflight[item.client_id] = true;
      }
    });
  }

  function flushIdentify() {
    if (!S.connected) return;
    while (S.identifyQueue.length) {
      var job = S.identifyQueue.shift();
      var data = job.data || {};
      frame({ type: "identify", name: data.name || null, email: data.email || null,
        phone: data.phone || null, hash: data.hash || null });
      S.identifyWaiting.push(job);
    }
  }

  // --- typing and receipts ---------------------------------------------------------
  function typingChanged(active) {
    clearTimeout(S.typingTimer);
    if (active) {
      if (!S.typingOn) {
        S.typingOn = true;
        frame({ type: "typing", on: true });
      }
      S.typingTimer = setTimeout(function () { typingChanged(false); }, 3000);
    } else if (S.typingOn) {
      S.typingOn = false;
      frame({ type: "typing", on: false });
    }
  }

  function lastAgentSeq() {
    var nodes = ui.log ? ui.log.querySelectorAll("li.them[data-seq]") : [];
    var max = 0;
    for (var i = 0; i < nodes.length; i++) {
      var seq = Number(nodes[i].getAttribute("data-seq") || 0);
      if (seq > max) max = seq;
    }
    return max;
  }

  function sendReceipts() {
    if (!S.connected) return;
    var seq = lastAgentSeq();
    if (seq > S.sentDelivered) {
      S.sentDelivered = seq;
      frame({ type: "delivered", seq: seq });
    }
    if (S.open && document.visibilityState === "visible" && seq > S.sentRead) {
      S.sentRead = seq;
      frame({ type: "read", seq: seq });
    }
  }

  // --- the socket ------------------------------------------------------------------
  function frame(obj) {
    if (!S.ws || S.ws.readyState !== 1) return false;
    try {
      S.ws.send(JSON.stringify(obj));
      return true;
    } catch (e) {
      return false;
    }
  }

  function connect() {
    clearTimeout(S.reconnectTimer);
    S.reconnectTimer = null;
    if (S.held || !S.token) return;
    if (S.ws && (S.ws.readyState === 0 || S.ws.readyState === 1)) return;
    var ws;
    try {
      ws = new WebSocket(WS_URL); // the token goes in the first frame: URLs are logged
    } catch (e) {
      scheduleReconnect();
      return;
    }
    S.ws = ws;
    ws.onopen = function () {
      if (S.ws !== ws) return;
      S.connected = true;
      S.everConnected = true;
      S.attempts = 0;
      S.inflight = {};
      showBanner(null);
      ws.send(JSON.stringify({ type: "auth", token: S.token }));
      // catch up on what happened while we were away; sets the server's current thread too
      frame({ type: "resume", after_seq: S.lastSeq });
      S.sentDelivered = 0;
      S.sentRead = 0;
      flushOutbox();
      flushIdentify();
      sendReceipts();
      // a wait shown before the break may have ended meanwhile (the socket only says changes)
      if (S.wait) visitorCall("GET", "/wait").then(function (w) { S.wait = w; renderWait(); }, function () {});
    };
    ws.onmessage = function (msg) {
      if (S.ws !== ws) return;
      var data;
      try { data = JSON.parse(msg.data); } catch (e) { return; }
      onFrame(data);
    };
    ws.onclose = function (ev) {
      if (S.ws !== ws) return;
      socketLost(ev.code);
    };
    ws.onerror = function () { /* onclose follows */ };
  }

  /** The socket is gone (closed, or given up on): forget it at once and plan the next one.
   *  A close handshake can take long on a dead network; its late onclose is then ignored. */
  function socketLost(code) {
    S.ws = null;
    S.connected = false;
    S.inflight = {};
    S.typingOn = false;
    hideAgentTyping();
    // identify is idempotent: whatever was not answered goes again on the next socket
    S.identifyQueue = S.identifyWaiting.concat(S.identifyQueue);
    S.identifyWaiting = [];
    if (S.held) return;
    if (S.everConnected) showBanner(navigator.onLine === false ? "offline" : "reconnecting");
    if (code === 4401) {
      // token refused (expired, widget re-keyed): get a fresh session, then reconnect
      startSession().then(function () { scheduleReconnect(); }, scheduleReconnect);
      return;
    }
    scheduleReconnect();
  }

  /** Exponential backoff with jitter: 0.5s, 1s, 2s, ... capped at 30s, each ±50%. */
  function scheduleReconnect() {
    if (S.reconnectTimer || S.held) return;
    var base = Math.min(30000, 500 * Math.pow(2, S.attempts));
    var delay = base / 2 + Math.random() * base / 2;
    S.attempts += 1;
    S.reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (S.connected || S.held) return;
    S.attempts = 0;
    connect();
  }

  function onFrame(data) {
    switch (data.type) {
      case "event":
        if (applyEvent(data.event, true)) sendReceipts();
        break;
      case "ack":
        if (data.thread_id) S.threadId = data.thread_id;
        markOwnAcked(data.client_id, data.seq);
        settle(data.client_id, data.seq);
        updateHeader();
        break;
      case "typing":
        if (data.on) showAgentTyping(data.name);
        else hideAgentTyping();
        break;
      case "read":
        if (data.seq > S.agentReadSeq) {
          S.agentReadSeq = data.seq;
          refreshReadMarks();
        }
        break;
      case "wait":
        S.wait = data.wait || null;
        renderWait();
        break;
      case "agent_joined":
        S.agent = data.agent || S.agent;
        updateHeader();
        emit("agent_joined", data.agent);
        break;
      case "identified":
        identified(data.customer_id);
        break;
      case "error":
        if (data.client_id) fail(data.client_id, new Error(data.message || data.code));
        else if (S.identifyWaiting.length) {
          S.identifyWaiting.shift().reject(new Error(data.message || data.code));
        }
        emit("error", { code: data.code, message: data.message, client_id: data.client_id || null });
        break;
      default:
        break;
    }
  }

  function identified(customerId) {
    var job = S.identifyWaiting.shift();
    var changed = customerId && customerId !== S.customerId;
    S.customerId = customerId || S.customerId;
    var done = changed ? reloadHistory() : Promise.resolve();
    done.then(function () {
      if (job) job.resolve({ customer_id: S.customerId });
    });
  }

  /** After a merge the visitor's history may have grown: fetch the session again. */
  function reloadHistory() {
    return fetchSession().then(function (data) {
      applySession(data, true);
      frame({ type: "resume", after_seq: S.lastSeq });
    }, function () { /* keep what we have */ });
  }

  // --- session ---------------------------------------------------------------------
  function localZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || null; } catch (e) { return null; }
  }

  function fetchSession() {
    return fetch(API + "/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ visitor_token: S.token, locale: LOCALE, page_url: location.href.slice(0, 2000),
        timezone: localZone() }),
      credentials: "omit",
      mode: "cors",
    }).then(function (response) {
      if (!response.ok) {
        var error = new Error("session: HTTP " + response.status);
        // a 429 says when to come back (Retry-After, in seconds)
        error.retryAfterS = Number(response.headers.get("Retry-After")) || 0;
        throw error;
      }
      return response.json();
    });
  }

  function applySession(data, rerender) {
    S.token = data.visitor_token;
    store.set("token", S.token);
    S.customerId = data.customer_id;
    S.threadId = data.thread_id;
    S.language = data.language;
    S.strings = data.strings || {};
    S.agent = data.agent || null;
    S.agentReadSeq = Math.max(S.agentReadSeq, data.read_seq || 0);
    S.hoursOpen = data.open !== false;
    S.opensAt = data.opens_at || null;
    S.wait = data.wait || null;
    if (rerender && ui.log) {
      ui.log.textContent = "";
      ui.log.appendChild(systemOrAgentGreeting());
      S.seenIds = {};
      S.lastSeq = 0;
    }
    (data.events || []).forEach(function (ev) { applyEvent(ev, false); });
    if (S.agent === null && data.agent) S.agent = data.agent;
    if (data.agent) S.agent = data.agent;  // the assigned agent wins over history
    if (ui.log) {
      S.outbox.forEach(renderPending);
      updateHeader();
      renderWait();
    }
  }

  var sessionAttempts = 0;
  function startSession() {
    return fetchSession().then(function (data) {
      sessionAttempts = 0;
      return data;
    }, function (error) {
      emit("error", { code: "session", message: String(error && error.message || error) });
      var delay = Math.min(60000, 1000 * Math.pow(2, sessionAttempts++));
      delay = Math.max(delay, 1000 * ((error && error.retryAfterS) || 0));
      return new Promise(function (resolve) { setTimeout(resolve, delay); }).then(startSession);
    });
  }

  function boot() {
    startSession().then(function (data) {
      S.strings = data.strings || {};
      S.language = data.language;
      build();
      // the colour the widget's admin chose, unless the page's script tag names its own
      if (data.color && !script.getAttribute("data-color")) ui.wrap.style.setProperty("--tl-color", data.color);
      applySession(data, false);
      S.ready = true;
      setOpen(S.open, false);
      connect();
      loadIncidents();
      setInterval(function () {
        if (document.visibilityState === "visible") loadIncidents();
      }, INCIDENTS_EVERY_MS);
      var detail = { customer_id: S.customerId, language: S.language };
      emit("ready", detail);
      try {
        window.dispatchEvent(new CustomEvent("threadline:ready", { detail: detail }));
      } catch (e) { /* very old browsers */ }
    });
  }

  // --- open / close ----------------------------------------------------------------
  function setOpen(open, focus) {
    S.open = open;
    store.set("open", open);
    if (!ui.panel) return;
    ui.panel.hidden = !open;
    ui.wrap.classList.toggle("open", open); // a phone hides the launcher under the open chat
    ui.launcher.setAttribute("aria-expanded", open ? "true" : "false");
    ui.launcher.setAttribute("aria-label", open ? t("close") : t("open"));
    ui.launcher.setAttribute("title", open ? t("close") : t("open"));
    ui.launcher.replaceChild(ui.launcherIcons[open ? 1 : 0], ui.launcher.firstChild);
    if (open) {
      clearUnread();
      scrollDown();
      if (focus) ui.input.focus();
      sendReceipts();
    } else if (focus) {
      ui.launcher.focus();
    }
  }

  // --- the public API --------------------------------------------------------------
  var api = {
    __loaded: true,
    version: "1.0.0",
    get ready() { return S.ready; },
    get isOpen() { return S.open; },
    open: function () {
      var was = S.open;
      setOpen(true, true);
      if (!was) emit("open");
    },
    close: function () {
      var was = S.open;
      setOpen(false, true);
      if (was) emit("close");
    },
    toggle: function () {
      if (S.open) api.close();
      else api.open();
    },
    /** Queue a message (kept in localStorage until acked); resolves with {client_id, seq}. */
    send: function (text) {
      text = String(text == null ? "" : text).trim();
      if (!text) return Promise.reject(new Error("empty message"));
      var item = { client_id: uuid(), text: text, ts: Date.now() };
      var promise = new Promise(function (resolve, reject) {
        S.waiters[item.client_id] = [{ resolve: resolve, reject: reject }];
      });
      S.outbox.push(item);
      saveOutbox();
      if (ui.log) {
        renderPending(item);
        updateHeader();
      }
      flushOutbox();
      return promise;
    },
    /** Tell us who the visitor is; `hash` = HMAC-SHA256(widget secret, email || phone), hex. */
    identify: function (data) {
      return new Promise(function (resolve, reject) {
        S.identifyQueue.push({ data: data || {}, resolve: resolve, reject: reject });
        flushIdentify();
      });
    },
    on: function (name, cb) {
      if (typeof cb !== "function") return api;
      (listeners[name] = listeners[name] || []).push(cb);
      if (name === "ready" && S.ready) {
        Promise.resolve().then(function () { cb({ customer_id: S.customerId, language: S.language }); });
      }
      return api;
    },
    off: function (name, cb) {
      if (!listeners[name]) return api;
      listeners[name] = cb ? listeners[name].filter(function (f) { return f !== cb; }) : [];
      return api;
    },
    /** Testing hook: drop the socket as a network failure would; {hold: true} keeps it down. */
    _debugDisconnect: function (options) {
      S.held = !!(options && options.hold);
      if (S.held) {
        clearTimeout(S.reconnectTimer);
        S.reconnectTimer = null;
      }
      var old = S.ws;
      if (old) {
        socketLost(4000);
        old.close(4000, "debug disconnect");
      }
    },
    /** Testing hook: end a held disconnect and reconnect now. */
    _debugReconnect: function () {
      S.held = false;
      reconnectNow();
    },
    _debugState: function () {
      return { connected: S.connected, customer_id: S.customerId, thread_id: S.threadId,
        last_seq: S.lastSeq, outbox: S.outbox.slice(), token: S.token, wait: S.wait };
    },
  };

  window.Threadline = api;

  // replay calls made to the stub before we loaded: [name, args, resolve?, reject?] or [name, ...args]
  var queued = (previous && Array.isArray(previous.q)) ? previous.q : [];
  queued.forEach(function (entry) {
    if (!entry || typeof api[entry[0]] !== "function" || entry[0].charAt(0) === "_") return;
    var args = Array.isArray(entry[1]) ? entry[1] : Array.prototype.slice.call(entry, 1);
    var resolve = typeof entry[2] === "function" ? entry[2] : null;
    var reject = typeof entry[3] === "function" ? entry[3] : null;
    if (!Array.isArray(entry[1])) resolve = reject = null;
    try {
      var result = api[entry[0]].apply(api, args);
      if (result && typeof result.then === "function") {
        result.then(resolve || function () {}, reject || function () {});
      } else if (resolve) {
        resolve(result);
      }
    } catch (e) {
      if (reject) reject(e);
    }
  });

  window.addEventListener("online", function () { showBanner(null); reconnectNow(); });
  window.addEventListener("offline", function () { if (!S.connected) showBanner("offline"); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      reconnectNow();
      sendReceipts();
    }
  });

  if (document.body) boot();
  else document.addEventListener("DOMContentLoaded", boot);
})();
