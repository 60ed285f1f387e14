// /redoc: start the vendored ReDoc on our OpenAPI document (a file, not inline: the CSP).
(function () {
  "use strict";
  function start() {
    var box = document.getElementById("redoc");
    window.Redoc.init(box.getAttribute("data-openapi-url"), { hideDownloadButton: false }, box);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
