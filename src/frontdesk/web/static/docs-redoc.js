// /redoc: start the vendored ReDoc (an ES module) on our OpenAPI document; a file, not an
// inline script, because of the CSP.
import { init } from "/static/vendor/redoc-3.0.1/redoc.standalone.js";

const box = document.getElementById("redoc");
init(box.getAttribute("data-openapi-url"), {}, box);
