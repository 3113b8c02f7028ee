/* What the people admin pages share (agents, API tokens, settings, the invitation page):
 * text formatting, server problems shown beside the field they name, and copying to the
 * clipboard. Loaded before each page's own script. */
"use strict";

(function () {
  function fmt(text, values) {
    return String(text).replace(/\{(\w+)\}/g, (m, name) => (name in values ? values[name] : m));
  }

  /** A problem answer as {field: message}, for the fields the form has (`fields`), and
   * what names no field of the form (`form`). The server names a field in
   * details.field ("team_id: no such team"), or a schema error's location. */
  function fieldErrors(err, fields) {
    const errors = {};
    const details = err.details || {};
    const strip = (message) => String(message).replace(/^[a-z_]+:\s+/, "");
    if (details.field && fields.includes(String(details.field).split(".")[0])) {
      errors[String(details.field).split(".")[0]] = strip(err.message);
    }
    for (const e of details.errors || []) {
      const loc = (e.loc || []).filter((p) => p !== "body");
      const name = loc.length ? String(loc[0]) : "";
      if (fields.includes(name) && !errors[name]) errors[name] = e.msg;
    }
    if (!Object.keys(errors).length) {
      const m = /^([a-z_]+):\s/.exec(err.message || "");
      if (m && fields.includes(m[1])) errors[m[1]] = strip(err.message);
      else errors.form = err.message;
    }
    return errors;
  }

  /** Copy `text`; without the clipboard API (an insecure origin) select `input` and copy. */
  async function copy(text, input) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (err) {
      if (input) {
        input.select();
        document.execCommand("copy");
      }
    }
  }

  window.TLPeople = { fmt, fieldErrors, copy };
})();
