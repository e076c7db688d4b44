// The API docs page: Swagger UI on keyturn's own OpenAPI document, from
// assets served by keyturn itself (no CDN, no inline script). The packaged
// Swagger UI (4.x) reads OpenAPI 3.0 only: the document keyturn serves is
// 3.1, so the page labels its copy 3.0.3 for display (the schemas it uses
// read the same in both).
window.addEventListener("load", function () {
  fetch("/openapi.json", { credentials: "omit" })
    .then(function (r) { return r.json(); })
    .then(function (spec) {
      spec.openapi = "3.0.3";
      window.ui = SwaggerUIBundle({
        spec: spec,
        dom_id: "#swagger-ui",
        deepLinking: true,
        presets: [SwaggerUIBundle.presets.apis],
      });
    });
});
