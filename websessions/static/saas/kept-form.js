// Puts back what someone typed before their session ended (saas/kept_forms.py): the fields are in
// <script type="application/json" id="kept-form"> as [[name, value], ...]; they go into the page's
// POST form that has most of those names. Passwords and files are never filled.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var data = document.getElementById("kept-form");
    if (!data) return;
    var kept = {};
    JSON.parse(data.textContent).forEach(function (pair) { (kept[pair[0]] = kept[pair[0]] || []).push(pair[1]); });
    var best = null, bestScore = 0;
    document.querySelectorAll("main form[method=post], main form[method=POST]").forEach(function (form) {
      var score = Object.keys(kept).filter(function (name) { return form.elements.namedItem(name); }).length;
      if (score > bestScore) { best = form; bestScore = score; }
    });
    if (!best) return;
    Array.prototype.forEach.call(best.elements, function (el) {
      if (!el.name || el.type === "password" || el.type === "file" || el.name === "csrfmiddlewaretoken") return;
      var values = kept[el.name];
      if (el.type === "checkbox" || el.type === "radio") {
        el.checked = !!values && values.indexOf(el.value) !== -1;
      } else if (el.tagName === "SELECT" && el.multiple) {
        Array.prototype.forEach.call(el.options, function (o) { o.selected = !!values && values.indexOf(o.value) !== -1; });
      } else if (values && el.type !== "submit" && el.type !== "button") {
        el.value = values[0];
      }
    });
    best.setAttribute("data-kept", "restored");
  });
})();
