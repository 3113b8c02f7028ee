/*!
 * Threadline customer page (/app/KEY): pick a reason, answer, talk to someone; then the place
 * in line and the wait live, "call me back, keep my place", "book a time", "call now" (a
 * number and a one-time code). Speaks the app API (docs/app.md) with an anonymous session
 * kept in localStorage, or one vouched for by the company: open the page with
 * #identity=<base64url of the signed identity JSON>. Plain JS; text only ever as text.
 */
(function () {
  "use strict";

  var KEY = document.body.getAttribute("data-key");
  var LANG = document.body.getAttribute("data-lang") || "en";
  var STRINGS = JSON.parse(document.getElementById("tl-strings").textContent);
  var API = "/api/v1/app/" + encodeURIComponent(KEY);
  var WS_BASE = location.origin.replace(/^http/, "ws") + API;
  var PREFIX = "threadline-app:" + KEY + ":";
  var OPEN_CALLBACK = { waiting: 1, scheduled: 1, dialing: 1, connected: 1, retry_wait: 1 };
  var main = document.getElementById("main");

  var S = {
    token: load("token"),
    session: null,
    reasons: [],
    reason: null,          // the picked reason, while answering its questions
    wait: null,            // the server's view of the open contact or callback
    form: null,            // "keep" | "book" | "reschedule"
    windows: null,
    call: load("call"),    // {number, code, expires_at} from "call now"
    typedPhone: null,      // the phone number as typed, until the form closes
    busy: false,
    error: "",
    socket: null,
    socketFor: null,
    attempts: 0,
  };

  // ------------------------------------------------------------ small helpers
  function load(name) {
    try { return JSON.parse(localStorage.getItem(PREFIX + name)); } catch (e) { return null; }
  }
  function save(name, value) {
    try {
      if (value == null) localStorage.removeItem(PREFIX + name);
      else localStorage.setItem(PREFIX + name, JSON.stringify(value));
    } catch (e) { /* private mode: this page only */ }
  }

  function t(key, values) {
    return window.TLPage.format(STRINGS, key, values);
  }

  var el = window.TLPage.el;

  function zone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || null; } catch (e) { return null; }
  }

  function locales() {
    var browser = navigator.language || "";
    return browser.toLowerCase().indexOf(LANG) === 0 ? [browser, LANG] : [LANG];
  }

  function ordinal(n) {
    var category = "other";
    try { category = new Intl.PluralRules(LANG, { type: "ordinal" }).select(n); } catch (e) { /* old */ }
    return (STRINGS["ord_" + category] || STRINGS.ord_other || "{n}").replace("{n}", String(n));
  }

  function waitText(w) {
    var parts = [];
    if (w.position) parts.push(t("wait_position", { nth: ordinal(w.position) }));
    if (w.low_s != null) {
      var low = Math.round(w.low_s / 60);
      var high = w.high_s == null ? null : Math.round(w.high_s / 60);
      if (high == null) parts.push(t("wait_more", { low: low }));
      else if (!low) parts.push(t("wait_less", { high: high }));
      else parts.push(t("wait_about", { low: low, high: high }));
    }
    return parts.join(" · ");
  }

  /** A window in the customer's own time zone (the device's). */
  function windowLabel(start, end) {
    var day = new Date(start).toLocaleString(locales(), { weekday: "short", day: "numeric", month: "short",
      hour: "2-digit", minute: "2-digit" });
    return day + "–" + new Date(end).toLocaleTimeString(locales(), { hour: "2-digit", minute: "2-digit" });
  }

  function callbackText(cb) {
    var key = { waiting: "cb_kept", scheduled: "cb_booked", dialing: "cb_dialing", connected: "cb_connected",
      retry_wait: "cb_retry", failed: "cb_failed", cancelled: "cb_cancelled", completed: "cb_completed" }[cb.status];
    return key ? t(key, { phone: cb.phone, when: cb.window_start ? windowLabel(cb.window_start, cb.window_end) : "" }) : "";
  }

  // ------------------------------------------------------------ the API
  function request(method, path, body) {
    return fetch(API + path, {
      method: method,
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + S.token },
      body: body ? JSON.stringify(body) : undefined,
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.message || ("HTTP " + response.status));
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  /** Run one call with the page busy; on success `then` gets the answer, errors show. */
  function act(promise, then) {
    S.busy = true;
    S.error = "";
    render();
    return promise.then(function (data) {
      S.busy = false;
      then(data);
      render();
      follow();
    }, function (error) {
      S.busy = false;
      S.error = t("cb_error", { reason: error.message });
      render();
    });
  }

  function identityFromFragment() {
    var match = /[#&]identity=([^&]+)/.exec(location.hash);
    if (!match) return null;
    history.replaceState(null, "", location.pathname + location.search);  // not kept in history
    try {
      var text = atob(match[1].replace(/-/g, "+").replace(/_/g, "/"));
      return JSON.parse(decodeURIComponent(escape(text)));
    } catch (e) {
      return null;
    }
  }

  function openSession() {
    var body = { session_token: S.token, locale: navigator.language || LANG, timezone: zone() };
    var identity = identityFromFragment();
    if (identity) body.identity = identity;
    return fetch(API + "/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.message || ("HTTP " + response.status));
        return data;
      });
    }).then(function (data) {
      S.session = data;
      S.token = data.session_token;
      save("token", S.token);
      S.reasons = data.reasons || [];
      S.wait = data.wait;
      if (S.call && new Date(S.call.expires_at) <= new Date()) dropCall();
      render();
      follow();
    }, function (error) {
      S.error = t("cb_error", { reason: error.message });
      render();
      if (!navigator.onLine) window.addEventListener("online", openSession, { once: true });
    });
  }

  // ------------------------------------------------------------ live updates
  function waitingContact() {
    var w = S.wait;
    return w && w.contact_id && (w.status === "queued" || w.status === "offered") ? w.contact_id : null;
  }

  /** Keep a socket open on the waiting contact (and only then). */
  function follow() {
    var contactId = waitingContact();
    if (S.socket && S.socketFor === contactId) return;
    if (S.socket) {
      var old = S.socket;
      S.socket = null;
      old.close();
    }
    if (!contactId || !navigator.onLine) return;
    // the token goes in the first frame, never in the URL (URLs are logged)
    var ws = new WebSocket(WS_BASE + "/contacts/" + encodeURIComponent(contactId) + "/ws");
    S.socket = ws;
    S.socketFor = contactId;
    ws.onopen = function () {
      S.attempts = 0;
      ws.send(JSON.stringify({ type: "auth", token: S.token }));
    };
    ws.onmessage = function (message) {
      var frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      if (frame.type !== "wait" || S.socket !== ws) return;
      S.wait = frame.wait;
      render();
      follow();
    };
    ws.onclose = function (event) {
      if (S.socket !== ws) return;
      S.socket = null;
      if (event.code === 4401 || event.code === 4404) return;
      var delay = Math.min(30000, 500 * Math.pow(2, S.attempts++)) * (0.5 + Math.random() / 2);
      setTimeout(follow, delay);
    };
  }

  // ------------------------------------------------------------ actions
  function answers(form) {
    var out = {};
    Array.prototype.forEach.call(form.querySelectorAll("[name^='q:']"), function (input) {
      var value = input.value.trim();
      if (value) out[input.name.slice(2)] = value;
    });
    return out;
  }

  function talk(form) {
    var body = { reason: S.reason.code, answers: answers(form) };
    act(request("POST", "/contacts", body), function (wait) {
      S.wait = wait;
      S.reason = null;
    });
  }

  function callNow(form) {
    var body = waitingContact() ? { contact_id: waitingContact() } : { reason: S.reason.code, answers: answers(form) };
    act(request("POST", "/call-now", body), function (call) {
      S.call = call;
      save("call", call);
      if (!waitingContact()) S.reason = null;
      setTimeout(render, Math.max(0, new Date(call.expires_at) - new Date()) + 500);
    });
  }

  function dropCall() {
    S.call = null;
    save("call", null);
  }

  function keepPlace(phone) {
    act(request("POST", "/contacts/" + encodeURIComponent(S.wait.contact_id) + "/callback", { phone: phone || null }),
      function (wait) { S.wait = wait; S.form = null; });
  }

  function showWindows(kind) {
    S.form = kind;
    S.windows = null;
    S.error = "";
    render();
    // the windows of the queue the contact waits in, or the callback was booked in
    var query = kind === "reschedule" ? "?callback_id=" + encodeURIComponent(S.wait.callback.id)
      : (waitingContact() ? "?contact_id=" + encodeURIComponent(waitingContact()) : "");
    act(request("GET", "/windows" + query), function (found) { S.windows = found; });
  }

  function book(start, phone) {
    var body = { window_start: start, phone: phone || null, contact_id: waitingContact() };
    act(request("POST", "/callbacks", body), function (callback) {
      S.form = null;
      S.wait = { contact_id: null, status: null, callback: callback, phone: phone };
    });
  }

  function reschedule(start) {
    var id = S.wait.callback.id;
    act(request("POST", "/callbacks/" + encodeURIComponent(id) + "/reschedule", { window_start: start }),
      function (callback) { S.form = null; S.wait.callback = callback; });
  }

  function cancelCallback() {
    var id = S.wait.callback.id;
    act(request("POST", "/callbacks/" + encodeURIComponent(id) + "/cancel"), function (callback) {
      S.wait = { contact_id: null, status: null, callback: callback };
    });
  }

  function startAgain() {
    S.wait = null;
    S.reason = null;
    S.form = null;
    S.error = "";
    dropCall();
    render();
  }

  // ------------------------------------------------------------ views
  function render() {
    var view;
    if (!S.session) view = el("p", { class: "error", role: "alert", text: S.error || "…" });
    else if (S.wait || S.call) view = statusView();
    else if (S.reason) view = questionsView();
    else view = reasonsView();
    var focused = document.activeElement && main.contains(document.activeElement) ? document.activeElement.id : "";
    main.textContent = "";
    main.appendChild(view);
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();  // keep the keyboard up
    renderAssurance();
  }

  // ------------------------------------------------------------ outage mode
  var INCIDENTS_EVERY_MS = 120000;

  /** The incidents in force, above everything, in the page's language. */
  function loadIncidents() {
    return fetch(API + "/incidents?lang=" + encodeURIComponent(LANG)).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (list) {
      if (list) renderIncidents(list);
    }, function () { /* offline: keep what is shown */ });
  }

  function renderIncidents(list) {
    var box = document.querySelector(".incidents");
    box.textContent = "";
    list.forEach(function (incident) {
      var item = el("div", { class: "incident", "data-incident": incident.id }, [
        el("strong", { text: incident.title }),
        el("span", { text: incident.message }),
      ]);
      if (incident.expected_end_at) {
        var when = new Date(incident.expected_end_at).toLocaleString(locales(),
          { weekday: "short", hour: "2-digit", minute: "2-digit" });
        item.appendChild(el("p", { class: "eta", text: t("incident_expected", { time: when }) }));
      }
      box.appendChild(item);
    });
    box.hidden = !list.length;
  }

  function renderAssurance() {
    var badge = document.querySelector(".assurance");
    var a = S.session && S.session.assurance;
    badge.hidden = !a;
    if (!a) return;
    var verified = a.level === "verified" || a.level === "strong";
    badge.textContent = (verified ? t("app_verified") : t("app_signed_in")) + (a.method && verified ? " · " + a.method : "");
  }

  function reasonsView() {
    return el("section", { class: "card", "data-view": "reasons" }, [
      el("h2", { text: t("app_title") }),
      el("ul", { class: "reasons" }, S.reasons.map(function (reason) {
        return el("li", {}, [el("button", { type: "button", text: reason.label,
          on: { click: function () { S.reason = reason; S.error = ""; render(); } } })]);
      })),
      errorLine(),
    ]);
  }

  function questionsView() {
    var form = el("form", { class: "questions", on: { submit: function (ev) { ev.preventDefault(); talk(form); } } },
      S.reason.questions.map(function (q) {
        var id = "q-" + q.id;
        var input = q.options
          ? el("select", { id: id, name: "q:" + q.id }, [el("option", { value: "", text: t("app_choose") })].concat(
            q.options.map(function (o) { return el("option", { value: o.value, text: o.label }); })))
          : el("input", { id: id, name: "q:" + q.id, type: "text", maxlength: "500" });
        return el("div", {}, [el("label", { for: id, text: q.label }), input]);
      }).concat([
        el("div", { class: "actions" }, [
          el("button", { type: "submit", class: "primary", "data-action": "talk", text: t("app_talk"), disabled: S.busy }),
          el("button", { type: "button", "data-action": "call-now", text: t("app_call_now"), disabled: S.busy,
            on: { click: function () { callNow(form); } } }),
          el("button", { type: "button", text: t("app_back"),
            on: { click: function () { S.reason = null; render(); } } }),
        ]),
        errorLine(),
      ]));
    return el("section", { class: "card", "data-view": "questions" }, [
      el("h2", { text: S.reason.label }), el("p", { class: "muted", text: t("app_questions") }), form]);
  }

  function statusView() {
    var w = S.wait || {};
    var callback = w.callback && OPEN_CALLBACK[w.callback.status] ? w.callback : null;
    var waiting = w.status === "queued" || w.status === "offered";
    var title = waiting ? t("app_in_line") : (w.callback ? t("cbm_title") : t("app_call_now"));
    var parts = [el("h2", { text: title })];
    if (w.status === "queued") parts.push(el("p", { class: "wait-line", "data-testid": "wait", text: waitText(w) }));
    else if (w.status === "offered") parts.push(el("p", { class: "wait-line", "data-testid": "wait", text: t("wait_offered") }));
    else if (w.status === "assigned") parts.push(el("p", { class: "wait-line", text: t("app_served") }));
    if (w.callback) parts.push(el("p", { class: "cb-done", "data-testid": "callback", text: callbackText(w.callback) }));
    else if (!waiting && w.status) parts.push(el("p", { text: t("app_left") }));
    if (S.call) parts.push(callView());
    if (S.form) parts.push(formView(S.form));
    else {
      var buttons = [];
      if (waiting && !callback && w.callback_offer && w.status === "queued") {
        if (w.callback_offer.keep_place) buttons.push(button(t("cb_keep"), "keep", function () { S.form = "keep"; render(); }));
        if (w.callback_offer.booking) buttons.push(button(t("cb_book"), "book", function () { showWindows("book"); }));
      }
      if (waiting && !callback && !S.call) buttons.push(button(t("app_call_now"), "call-now", function () { callNow(); }));
      if (callback && callback.kind === "booked" && callback.status === "scheduled") {
        buttons.push(button(t("app_reschedule"), "reschedule", function () { showWindows("reschedule"); }));
      }
      if (callback && (callback.status === "scheduled" || callback.status === "waiting" || callback.status === "retry_wait")) {
        buttons.push(button(t("app_cancel"), "cancel", cancelCallback));
      }
      if (!waiting && !callback) buttons.push(button(t("app_new"), "new", startAgain, !S.call));
      if (buttons.length) parts.push(el("div", { class: "actions" }, buttons));
    }
    parts.push(errorLine());
    return el("section", { class: "card", "data-view": "status" }, parts);
  }

  function button(text, action, handler, primary) {
    return el("button", { type: "button", class: primary ? "primary" : null, "data-action": action, text: text,
      disabled: S.busy, on: { click: handler } });
  }

  function phoneInput() {
    var known = (S.wait && S.wait.phone) || (S.session && S.session.phone) || "";
    // what the customer typed survives a redraw (a live wait update redraws the page)
    var input = el("input", { id: "phone", name: "phone", type: "tel", autocomplete: "tel", maxlength: "32",
      value: S.typedPhone != null ? S.typedPhone : known,
      on: { input: function () { S.typedPhone = input.value; } } });
    return input;
  }

  function formView(kind) {
    var phone = kind === "reschedule" ? null : phoneInput();
    var children = [];
    if (phone) children.push(el("label", { for: "phone", text: t("cb_phone") }), phone);
    if (kind === "keep") {
      children.push(el("div", { class: "actions" }, [
        el("button", { type: "submit", class: "primary", "data-action": "confirm-keep", text: t("cb_confirm"), disabled: S.busy }),
        button(t("cb_back"), "back", function () { S.form = null; S.typedPhone = null; render(); }),
      ]));
      return el("form", { on: { submit: function (ev) { ev.preventDefault(); keepPlace(phone.value.trim()); } } }, children);
    }
    children.push(el("p", { text: t("cb_pick") }));
    if (S.windows && !S.windows.length) children.push(el("p", { class: "muted", text: t("cb_no_windows") }));
    children.push(el("div", { class: "windows", role: "list" }, (S.windows || []).slice(0, 16).map(function (w) {
      return el("button", { type: "button", role: "listitem", "data-start": w.start, text: windowLabel(w.start, w.end),
        disabled: S.busy, on: { click: function () {
          if (kind === "book") book(w.start, phone.value.trim());
          else reschedule(w.start);
        } } });
    })));
    children.push(el("div", { class: "actions" }, [button(t("cb_back"), "back", function () {
      S.form = null;
      S.typedPhone = null;
      render();
    })]));
    return el("div", { "data-form": kind }, children);
  }

  function callView() {
    var expired = new Date(S.call.expires_at) <= new Date();
    if (expired) {
      return el("div", { class: "call" }, [el("p", { class: "muted", text: t("app_code_expired") }),
        button(t("app_call_now"), "call-now", function () { dropCall(); callNow(); })]);
    }
    var code = S.call.code.slice(0, 3) + " " + S.call.code.slice(3);
    var minutes = Math.max(1, Math.round((new Date(S.call.expires_at) - new Date()) / 60000));
    return el("div", { class: "call", "data-testid": "call" }, [
      el("p", { text: t("app_call_intro", { number: S.call.number }) }),
      el("p", { class: "code", "data-testid": "code", "aria-label": S.call.code.split("").join(" "), text: code }),
      el("a", { class: "button primary", href: "tel:" + S.call.number, text: t("app_call_dial", { number: S.call.number }) }),
      el("p", { class: "muted", text: t("app_code_note", { minutes: minutes }) }),
    ]);
  }

  function errorLine() {
    return S.error ? el("p", { class: "error", role: "alert", text: S.error }) : null;
  }

  // ------------------------------------------------------------ offline and install
  function connectivity() {
    document.querySelector(".offline").hidden = navigator.onLine;
    if (navigator.onLine) follow();
  }
  window.addEventListener("online", function () { connectivity(); if (!S.session) openSession(); });
  window.addEventListener("offline", connectivity);
  connectivity();
  if ("serviceWorker" in navigator) {
    var base = "/app/" + encodeURIComponent(KEY);
    navigator.serviceWorker.register(base + "/sw.js", { scope: base }).catch(function () { /* no PWA */ });
  }

  window.ThreadlineApp = { state: function () { return S; }, redraw: render };  // for tests and debugging
  render();
  openSession();
  loadIncidents();
  setInterval(function () {
    if (document.visibilityState === "visible" && navigator.onLine) loadIncidents();
  }, INCIDENTS_EVERY_MS);
})();
