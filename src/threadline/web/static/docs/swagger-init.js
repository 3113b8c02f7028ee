/* Starts Swagger UI on /docs from the vendored bundle (a file: the page's CSP allows no
 * inline script). The OpenAPI document's URL comes from the page, as data-openapi-url. */
"use strict";

(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null, // the public validator is another host: nothing leaves this server
    presets: [window.SwaggerUIBundle.presets.apis],
  });
})();
