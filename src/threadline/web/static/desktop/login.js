/* The sign-in form: posts JSON to /api/v1/auth/login (which sets the session cookie). */
"use strict";

document.addEventListener("alpine:init", () => {
  window.Alpine.data("login", () => ({
    email: "",
    password: "",
    error: "",
    busy: false,

    async submit() {
      this.error = "";
      if (!this.email.trim() || !this.password) {
        this.error = "Enter your email and password.";
        return;
      }
      this.busy = true;
      try {
        await window.TLDesk.api("POST", "/api/v1/auth/login", {
          email: this.email.trim(), password: this.password,
        });
        window.location.assign("/desktop");
      } catch (err) {
        const wait = err.details && err.details.retry_after_s;
        this.error = err.status === 401 || err.code === "not_authenticated"
          ? "Wrong email or password. Please try again."
          : err.status === 429 && wait
            ? `Too many attempts. Try again in ${wait < 120 ? `${wait} s` : `${Math.ceil(wait / 60)} min`}.`
            : err.message;
        this.password = "";
        this.busy = false;
        this.$nextTick(() => document.getElementById("password").focus());
      }
    },
  }));
});
