/*!
 * Shared by the customer page (app.js) and the callback manage page (callback.js): a
 * string from the page's catalogue with {placeholders} filled, and elements built with
 * text only ever as text (never HTML). Loaded before either page's script.
 */
(function () {
  "use strict";

  function format(strings, key, values) {
    var text = strings[key] == null ? key : String(strings[key]);
    return text.replace(/\{(\w+)\}/g, function (m, name) {
      return values && values[name] != null ? String(values[name]) : m;
    });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value == null || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "on") Object.keys(value).forEach(function (ev) { node.addEventListener(ev, value[ev]); });
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  window.TLPage = { format: format, el: el };
})();
