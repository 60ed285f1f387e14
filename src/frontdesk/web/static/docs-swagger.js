// /docs: start the vendored Swagger UI on our OpenAPI document (a file, not inline: the CSP).
(function () {
  "use strict";
  function start() {
    var box = document.getElementById("swagger-ui");
    window.ui = window.SwaggerUIBundle({
      url: box.getAttribute("data-openapi-url"),
      dom_id: "#swagger-ui",
      deepLinking: false,  // its links inside the operation buttons nest controls (axe)
      validatorUrl: null,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout"
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
