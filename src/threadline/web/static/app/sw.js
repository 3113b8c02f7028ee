/*!
 * Threadline customer page service worker, served at /app/KEY/sw.js with scope /app/KEY.
 * Caches the page's shell (the page, its script, style, icons, manifest and an offline page)
 * so the installed app opens without a network; pages are fetched fresh when online
 * (network first), the API never comes from the cache.
 */
"use strict";

var VERSION = "threadline-app-1";
var BASE = new URL(self.registration.scope).pathname.replace(/\/$/, "");  // "/app/KEY"
var SHELL = [
  BASE,
  BASE + "/offline",
  BASE + "/manifest.webmanifest",
  "/static/app/dom.js",
  "/static/app/app.js",
  "/static/app/app.css",
  "/static/app/icon.svg",
  "/static/app/icon-192.png",
  "/static/app/icon-512.png",
];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(VERSION).then(function (cache) { return cache.addAll(SHELL); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("threadline-app-") === 0 && name !== VERSION;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

function fresh(request, fallback) {
  return fetch(request).then(function (response) {
    if (response.ok && request.method === "GET") {
      var copy = response.clone();
      caches.open(VERSION).then(function (cache) { cache.put(request, copy); });
    }
    return response;
  }, function () {
    return caches.match(request).then(function (hit) { return hit || fallback(); });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== location.origin || url.pathname.indexOf("/api/") === 0) {
    return;  // the API and writes always go to the network
  }
  if (request.mode === "navigate") {
    event.respondWith(fresh(request, function () {
      return caches.match(BASE).then(function (shell) { return shell || caches.match(BASE + "/offline"); });
    }));
  } else if (SHELL.indexOf(url.pathname) !== -1) {
    event.respondWith(fresh(request, function () { return Response.error(); }));
  }
});
