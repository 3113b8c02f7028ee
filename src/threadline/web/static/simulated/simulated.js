/* The simulated providers' pages (threadline/simulated/pages.py): the customer's phone,
 * mailbox and voice keypad. Each action is one call to /simulated/api/..., where the server
 * plays the provider: signed webhooks into Threadline, TwiML fetched as Twilio does, mail
 * through the built-in SMTP server. A file, not inline script: the pages' CSP allows none. */
"use strict";

(function () {
  var config = JSON.parse(document.getElementById("sim-config").textContent);
  var t = config.t;

  function fmt(text, values) {
    return String(text).replace(/\{(\w+)\}/g, function (m, name) {
      return values && name in values ? values[name] : m;
    });
  }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  function $(id) { return document.getElementById(id); }
  function showError(message) {
    var box = $("sim-error");
    if (!box) return;
    box.textContent = message ? fmt(t.error, { message: message }) : "";
    box.hidden = !message;
  }
  function api(method, path, body) {
    var init = { method: method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var detail = data.message || (data.detail && JSON.stringify(data.detail)) || response.status;
          var err = new Error(String(detail));
          err.status = response.status;
          throw err;
        }
        return data;
      });
    });
  }
  function timeOf(seconds) {
    return new Date(seconds * 1000).toLocaleTimeString(config.lang, { hour: "2-digit", minute: "2-digit" });
  }

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // ---- phone -------------------------------------------------------------------------------
  function phonePage() {
    var channel = "sms";
    var lastRendered = "";
    var who = function () {
      return { channel: channel, phone: $("sim-phone").value.trim(), name: $("sim-name").value.trim() };
    };
    document.querySelectorAll(".sim-tab").forEach(function (tab) {
      tab.addEventListener("click", function () {
        channel = tab.getAttribute("data-channel");
        document.querySelectorAll(".sim-tab").forEach(function (other) {
          other.setAttribute("aria-selected", other === tab ? "true" : "false");
        });
        document.body.setAttribute("data-channel", channel);
        lastRendered = "";
        refresh();
      });
    });
    document.body.setAttribute("data-channel", channel);

    function render(lines) {
      var key = JSON.stringify(lines);
      if (key === lastRendered) return;
      lastRendered = key;
      var list = $("sim-thread");
      list.textContent = "";
      if (!lines.length) list.appendChild(el("li", "sim-empty", t.no_messages));
      lines.forEach(function (line) {
        var item = el("li", "sim-bubble sim-" + line.from);
        item.setAttribute("data-from", line.from);
        item.appendChild(el("span", "sim-text", line.text));
        if (line.file) {
          var link = el("a", "sim-file", line.file);
          link.href = line.file;
          link.rel = "noopener";
          item.appendChild(link);
        }
        if (line.buttons && line.buttons.length) {
          var row = el("div", "sim-buttons");
          row.setAttribute("aria-label", t.tap_hint);
          line.buttons.forEach(function (label) {
            var button = el("button", "sim-choice", label);
            button.type = "button";
            button.addEventListener("click", function () {
              var body = who();
              body.message_id = line.id;
              body.label = label;
              api("POST", "/simulated/api/phone/taps", body).then(refresh, function (e) { showError(e.message); });
            });
            row.appendChild(button);
          });
          item.appendChild(row);
        }
        item.appendChild(el("time", "sim-time", timeOf(line.at)));
        list.appendChild(item);
      });
      list.scrollTop = list.scrollHeight;
    }
    function refresh() {
      var w = who();
      if (!w.phone || !w.name) return Promise.resolve();
      var query = "channel=" + encodeURIComponent(w.channel) + "&phone=" + encodeURIComponent(w.phone) +
        "&name=" + encodeURIComponent(w.name);
      return api("GET", "/simulated/api/phone/conversation?" + query).then(
        function (data) { render(data.lines); },
        function (e) { if (e.status === 422) showError(t.check_fields); });
    }
    $("sim-compose").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var input = $("sim-text");
      var body = who();
      body.text = input.value.trim();
      if (!body.text) return;
      showError("");
      api("POST", "/simulated/api/phone/messages", body).then(function () {
        input.value = "";
        refresh();
      }, function (e) { showError(e.status === 422 ? t.check_fields : fmt(t.send_failed, { status: e.message })); });
    });
    ["sim-name", "sim-phone"].forEach(function (id) {
      $(id).addEventListener("change", function () {
        document.querySelector("[data-testid=who]").textContent = $("sim-name").value + " · " + $("sim-phone").value;
        lastRendered = "";
        refresh();
      });
    });
    refresh();
    setInterval(refresh, 1000);
  }

  // ---- mail --------------------------------------------------------------------------------
  function mailPage() {
    var replyTo = null;
    var lastRendered = "";
    function setReply(line) {
      replyTo = line ? line.message_id : null;
      var box = $("sim-replying");
      box.hidden = !line;
      if (line) {
        box.querySelector("span").textContent = fmt(t.replying_to, { subject: line.subject });
        var subject = line.subject.indexOf("Re:") === 0 ? line.subject : "Re: " + line.subject;
        $("sim-mail-subject").value = subject;
        $("sim-mail-text").focus();
      }
    }
    $("sim-cancel-reply").addEventListener("click", function () { setReply(null); });
    function render(lines) {
      var key = JSON.stringify(lines);
      if (key === lastRendered) return;
      lastRendered = key;
      var list = $("sim-mailbox");
      list.textContent = "";
      if (!lines.length) list.appendChild(el("li", "sim-empty", t.no_mail));
      lines.slice().reverse().forEach(function (line) {
        var item = el("li", "sim-mail-item sim-" + line.from);
        item.setAttribute("data-from", line.from);
        var head = el("div", "sim-mail-head");
        head.appendChild(el("strong", null, line.subject));
        head.appendChild(el("span", "sim-muted", (line.from === "bank" ? t.from_bank + " · " + line.sender : t.from_me) + " · " + timeOf(line.at)));
        item.appendChild(head);
        item.appendChild(el("pre", "sim-mail-body", line.text));
        if (line.from === "bank") {
          var reply = el("button", "sim-link", t.reply);
          reply.type = "button";
          reply.addEventListener("click", function () { setReply(line); });
          item.appendChild(reply);
        }
        list.appendChild(item);
      });
    }
    function refresh() {
      var email = $("sim-mail-email").value.trim();
      if (!email) return;
      api("GET", "/simulated/api/mail/mailbox?email=" + encodeURIComponent(email)).then(
        function (data) { render(data.lines); }, function () {});
    }
    $("sim-mail-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      showError("");
      $("sim-ok").hidden = true;
      var body = {
        email: $("sim-mail-email").value.trim(),
        name: $("sim-mail-name").value.trim(),
        subject: $("sim-mail-subject").value.trim(),
        text: $("sim-mail-text").value,
        in_reply_to: replyTo,
      };
      api("POST", "/simulated/api/mail/messages", body).then(function () {
        $("sim-mail-text").value = "";
        $("sim-ok").textContent = fmt(t.mail_sent, { mailbox: config.mailbox });
        $("sim-ok").hidden = false;
        setReply(null);
        refresh();
      }, function (e) { showError(e.message); });
    });
    $("sim-mail-email").addEventListener("change", function () { lastRendered = ""; refresh(); });
    refresh();
    setInterval(refresh, 1500);
  }

  // ---- voice -------------------------------------------------------------------------------
  function voicePage() {
    var call = null;        // the call on the line: {sid, document, verbs, status, direction}
    var ringing = null;     // a callback ringing this phone
    var shownDocument = "";
    var timer = null;
    var digits = "";
    var digitTimer = null;
    var LIVE = ["queued", "initiated", "ringing", "in-progress"];

    function phone() { return $("sim-phone").value.trim(); }
    function setKeys(enabled) {
      document.querySelectorAll(".sim-key").forEach(function (k) { k.disabled = !enabled; });
      $("sim-speech-text").disabled = !enabled;
      $("sim-speech-send").disabled = !enabled;
    }
    function gatherOf(state) {
      return (state.verbs || []).filter(function (v) { return v.name === "Gather"; })[0] || null;
    }
    function state(text) { $("sim-state").textContent = text; }

    var shownState = "";
    function show(next) {
      call = next;
      var live = LIVE.indexOf(call.status) >= 0;
      $("sim-hangup").disabled = !live;
      $("sim-call").disabled = live;
      var key = call.sid + ":" + call.document;
      if (!live) {
        state(t.call_ended);
        setKeys(false);
        clearTimeout(timer);
        return;
      }
      if (key === shownDocument) {
        state(call.on_hold ? t.on_hold : shownState);  // the agent holds (or resumes) the call
        return;
      }
      shownDocument = key;
      clearTimeout(timer);
      var heard = $("sim-heard");
      var pauses = 0;
      var connected = false;
      call.verbs.forEach(function (verb) {
        var line = null;
        if (verb.name === "Say" && verb.text) line = el("li", "sim-say", verb.text);
        if (verb.name === "Gather" && verb.text) line = el("li", "sim-say sim-gather", verb.text);
        if (verb.name === "Play") line = el("li", "sim-music", t.hold_music);
        if (verb.name === "Pause") { pauses += verb.seconds; line = el("li", "sim-pause", fmt(t.pause, { seconds: verb.seconds })); }
        if (verb.name === "Dial") { connected = true; line = el("li", "sim-connected", fmt(t.connected_agent, { target: verb.target })); }
        if (verb.name === "Hangup") line = el("li", "sim-ended", t.hung_up);
        if (line) { line.setAttribute("data-verb", verb.name); heard.appendChild(line); }
      });
      heard.scrollTop = heard.scrollHeight;
      var gather = gatherOf(call);
      setKeys(!!gather);
      shownState = connected ? fmt(t.connected_agent, { target: "" }).replace(/:\s*$/, "") : t.in_call;
      state(call.on_hold ? t.on_hold : shownState);
      var redirect = call.verbs.filter(function (v) { return v.name === "Redirect"; })[0];
      if (redirect) {
        // a document plays, then Twilio follows its Redirect; a question waits longer
        var wait = gather ? Math.max(gather.seconds, 12) : Math.min(Math.max(pauses, 1), 4);
        var at = call.document;
        timer = setTimeout(function () {
          if (!call || call.document !== at) return;
          api("POST", "/simulated/api/voice/calls/" + call.sid + "/next", { document: at }).then(show, function () {});
        }, wait * 1000);
      }
    }
    function send(body) {
      if (!call) return;
      body.document = call.document;
      showError("");
      api("POST", "/simulated/api/voice/calls/" + call.sid + "/keys", body).then(show, function (e) { showError(e.message); });
    }
    document.querySelectorAll(".sim-key").forEach(function (key) {
      key.addEventListener("click", function () {
        var gather = call && gatherOf(call);
        if (!gather) return;
        var k = key.getAttribute("data-key");
        clearTimeout(digitTimer);
        if (k === "#") { var d = digits; digits = ""; if (d) send({ digits: d }); return; }
        digits += k;
        if (gather.num_digits && digits.length >= gather.num_digits) {
          var all = digits; digits = ""; send({ digits: all }); return;
        }
        digitTimer = setTimeout(function () { var d2 = digits; digits = ""; if (d2) send({ digits: d2 }); }, 1500);
      });
    });
    $("sim-speech").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var words = $("sim-speech-text").value.trim();
      if (!words) return;
      $("sim-speech-text").value = "";
      send({ speech: words });
    });
    $("sim-call").addEventListener("click", function () {
      showError("");
      $("sim-heard").textContent = "";
      shownDocument = "";
      state(t.calling);
      api("POST", "/simulated/api/voice/calls", { phone: phone() }).then(show, function (e) { showError(e.message); state(t.no_calls); });
    });
    $("sim-hangup").addEventListener("click", function () {
      if (!call) return;
      api("POST", "/simulated/api/voice/calls/" + call.sid + "/hangup").then(show, function (e) { showError(e.message); });
    });
    $("sim-answer").addEventListener("click", function () {
      if (!ringing) return;
      var sid = ringing.sid;
      ringing = null;
      $("sim-ringing").hidden = true;
      $("sim-heard").textContent = "";
      shownDocument = "";
      api("POST", "/simulated/api/voice/calls/" + sid + "/answer").then(show, function (e) { showError(e.message); });
    });
    $("sim-decline").addEventListener("click", function () {
      if (!ringing) return;
      var sid = ringing.sid;
      ringing = null;
      $("sim-ringing").hidden = true;
      api("POST", "/simulated/api/voice/calls/" + sid + "/hangup").then(function () {}, function () {});
    });
    function poll() {
      if (!phone()) return;
      api("GET", "/simulated/api/voice/calls?phone=" + encodeURIComponent(phone())).then(function (data) {
        var calls = data.calls || [];
        if (call) {
          var mine = calls.filter(function (c) { return c.sid === call.sid; })[0];
          if (mine) show(mine);
        }
        var waiting = calls.filter(function (c) {
          return c.direction === "outbound-api" && c.status !== "in-progress" && LIVE.indexOf(c.status) >= 0;
        })[0];
        var busy = call && LIVE.indexOf(call.status) >= 0;
        ringing = waiting && !busy ? waiting : null;
        $("sim-ringing").hidden = !ringing;
      }, function () {});
    }
    setKeys(false);
    poll();
    setInterval(poll, 1000);
  }

  var page = document.body.getAttribute("data-page");
  if (page === "phone") phonePage();
  if (page === "mail") mailPage();
  if (page === "voice") voicePage();
})();
