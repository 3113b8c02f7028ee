/*!
 * Threadline callback manage page (/callback/TOKEN, the link in the callback SMS): the
 * callback's status, reschedule to a window with room, cancel. Speaks the public callback
 * API with the signed token of the link. Plain JS; text only ever as text.
 */
(function () {
  "use strict";

  var TOKEN = document.body.getAttribute("data-token");
  var LANG = document.body.getAttribute("data-lang") || "en";
  var STRINGS = JSON.parse(document.getElementById("tl-strings").textContent);
  var API = "/api/v1/public/callbacks/" + encodeURIComponent(TOKEN);
  var main = document.getElementById("main");
  var S = { callback: null, windows: null, form: null, busy: false, error: "", notice: "" };

  function t(key, values) {
    return window.TLPage.format(STRINGS, key, values);
  }

  var el = window.TLPage.el;

  function locales() {
    var browser = navigator.language || "";
    return browser.toLowerCase().indexOf(LANG) === 0 ? [browser, LANG] : [LANG];
  }

  function windowLabel(start, end) {
    var day = new Date(start).toLocaleString(locales(), { weekday: "short", day: "numeric", month: "short",
      hour: "2-digit", minute: "2-digit" });
    return day + "–" + new Date(end).toLocaleTimeString(locales(), { hour: "2-digit", minute: "2-digit" });
  }

  function ordinal(n) {
    var category = "other";
    try { category = new Intl.PluralRules(LANG, { type: "ordinal" }).select(n); } catch (e) { /* old */ }
    return (STRINGS["ord_" + category] || STRINGS.ord_other || "{n}").replace("{n}", String(n));
  }

  function statusText(cb) {
    var key = { waiting: "cb_kept", scheduled: "cb_booked", dialing: "cb_dialing", connected: "cb_connected",
      retry_wait: "cb_retry", failed: "cb_failed", cancelled: "cb_cancelled", completed: "cb_completed" }[cb.status];
    var when = cb.window_start ? windowLabel(cb.window_start, cb.window_end) : "";
    return key ? t(key, { phone: cb.phone, when: when }) : cb.status;
  }

  function call(method, path, body) {
    return fetch(API + path, {
      method: method,
      headers: { "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
      credentials: "omit",
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error(data.message || ("HTTP " + response.status));
        return data;
      });
    });
  }

  function act(promise, then) {
    S.busy = true;
    S.error = "";
    render();
    return promise.then(function (data) {
      S.busy = false;
      then(data);
      render();
    }, function (error) {
      S.busy = false;
      S.error = t("cb_error", { reason: error.message });
      render();
    });
  }

  function button(text, action, handler, primary) {
    return el("button", { type: "button", class: primary ? "primary" : null, "data-action": action, text: text,
      disabled: S.busy, on: { click: handler } });
  }

  function render() {
    main.textContent = "";
    var cb = S.callback;
    if (!cb) {
      main.appendChild(el("p", { class: S.error ? "error" : "loading", text: S.error || "…" }));
      return;
    }
    var parts = [el("p", { class: "cb-done", "data-testid": "status", text: statusText(cb) })];
    if (cb.status === "waiting" && cb.position) {
      parts.push(el("p", { class: "wait-line", text: t("wait_position", { nth: ordinal(cb.position) }) }));
    }
    if (S.notice) parts.push(el("p", { role: "status", "data-testid": "notice", text: S.notice }));
    var movable = cb.kind === "booked" && cb.status === "scheduled";
    var cancellable = ["scheduled", "waiting", "retry_wait"].indexOf(cb.status) !== -1;
    if (S.form === "reschedule") {
      parts.push(el("p", { text: t("cb_pick") }));
      if (S.windows && !S.windows.length) parts.push(el("p", { class: "muted", text: t("cb_no_windows") }));
      parts.push(el("div", { class: "windows", role: "list" }, (S.windows || []).slice(0, 16).map(function (w) {
        return el("button", { type: "button", role: "listitem", "data-start": w.start, disabled: S.busy,
          text: windowLabel(w.start, w.end), on: { click: function () { reschedule(w); } } });
      })));
      parts.push(el("div", { class: "actions" }, [button(t("cb_back"), "back", function () { S.form = null; render(); })]));
    } else if (S.form === "cancel") {
      parts.push(el("p", { text: t("cbm_cancel_confirm") }));
      parts.push(el("div", { class: "actions" }, [
        button(t("cbm_yes_cancel"), "confirm-cancel", cancel, true),
        button(t("cbm_keep"), "back", function () { S.form = null; render(); }),
      ]));
    } else {
      var actions = [];
      if (movable) actions.push(button(t("app_reschedule"), "reschedule", showWindows));
      if (cancellable) actions.push(button(t("app_cancel"), "cancel", function () { S.form = "cancel"; S.notice = ""; render(); }));
      if (actions.length) parts.push(el("div", { class: "actions" }, actions));
    }
    if (S.error) parts.push(el("p", { class: "error", role: "alert", text: S.error }));
    main.appendChild(el("section", { class: "card" }, parts));
  }

  function showWindows() {
    S.form = "reschedule";
    S.windows = null;
    S.notice = "";
    act(call("GET", "/windows"), function (found) { S.windows = found; });
  }

  function reschedule(w) {
    act(call("POST", "/reschedule", { window_start: w.start }), function (cb) {
      S.callback = cb;
      S.form = null;
      S.notice = t("cbm_moved", { when: windowLabel(cb.window_start, cb.window_end) });
    });
  }

  function cancel() {
    act(call("POST", "/cancel"), function (cb) {
      S.callback = cb;
      S.form = null;
    });
  }

  act(call("GET", ""), function (cb) { S.callback = cb; });
})();
