/* The demo site's own script (a file, not inline: the page's CSP allows no inline script).
 * A customer's site would paste the pre-load stub and its own calls the same way. */
"use strict";

// The pre-load stub: calls made before widget.js arrives are queued, not lost.
window.Threadline = window.Threadline || (function () {
  var stub = { q: [] };
  ["open", "close", "toggle", "send", "identify", "on", "off"].forEach(function (name) {
    stub[name] = function () {
      var args = Array.prototype.slice.call(arguments);
      return new Promise(function (resolve, reject) { stub.q.push([name, args, resolve, reject]); });
    };
  });
  return stub;
})();

(function () {
  var out = document.getElementById("demo-log");
  function log(line) { out.textContent += line + "\n"; out.scrollTop = out.scrollHeight; }
  Threadline.on("ready", function (d) { log("ready: customer " + d.customer_id + " (" + d.language + ")"); });
  Threadline.on("message", function (m) { log("message from " + m.author + ": " + m.body); });
  Threadline.on("agent_joined", function (a) { log("agent joined: " + a.name); });
  Threadline.on("open", function () { log("open"); });
  Threadline.on("close", function () { log("close"); });
  Threadline.on("error", function (e) { log("error: " + e.code + " " + e.message); });
  // Signed in on the bank's site: in the demo with simulated providers, the site's server
  // vouches for Marta (/simulated/api/site/identity signs her with the widget's identity
  // secret), so her chat reaches her own customer record and the agent who helped her.
  function signIn() {
  var widgetTag = document.querySelector("script[data-widget]");  // parsed after this file
  if (widgetTag && widgetTag.getAttribute("data-widget") === "demo" && window.fetch) {
    fetch("/simulated/api/site/identity", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (who) {
        if (!who) return;
        document.getElementById("demo-name").value = who.name;
        document.getElementById("demo-email").value = who.email;
        document.getElementById("demo-hash").value = who.hash;
        var signedIn = document.getElementById("signed-in");
        if (signedIn) { signedIn.textContent = who.name; signedIn.hidden = false; }
        return Threadline.identify(who).then(function (r) {
          log("signed in as " + who.name + ": customer " + r.customer_id);
        });
      })
      .catch(function (err) { log("identify failed: " + (err && err.message)); });
  }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", signIn);
  else signIn();
  document.querySelector(".api").addEventListener("click", function (ev) {
    var call = ev.target.getAttribute && ev.target.getAttribute("data-call");
    if (call === "open") Threadline.open();
    if (call === "close") Threadline.close();
    if (call === "send") {
      Threadline.send(document.getElementById("demo-text").value).then(
        function (ack) { log("sent, seq " + ack.seq); },
        function (err) { log("send failed: " + err.message); });
    }
    if (call === "identify") {
      Threadline.identify({
        name: document.getElementById("demo-name").value,
        email: document.getElementById("demo-email").value,
        hash: document.getElementById("demo-hash").value || undefined,
      }).then(function (r) { log("identified as " + r.customer_id); });
    }
  });
})();
