// Starts ReDoc on /redoc from a file rather than an inline script.
"use strict";
(() => {
  const root = document.getElementById("redoc");
  Redoc.init(root.dataset.openapi, {}, root);
})();
