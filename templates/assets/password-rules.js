// Ticks each password rule as the person types (like Smartschool's list). The server
// stays the authority; without this script the form works the same.
(function () {
  "use strict";
  var password = document.getElementById("password");
  var confirmation = document.getElementById("confirmation");
  if (!password) { return; }
  var classes = {
    lower: function (p) { return /\p{Ll}/u.test(p); },
    upper: function (p) { return /\p{Lu}/u.test(p); },
    digit: function (p) { return /\p{N}/u.test(p); },
    special: function (p) { return /[^\p{L}\p{N}\s]/u.test(p); }
  };
  function holds(rule, value, p) {
    if (rule === "min-length") { return Array.from(p).length >= Number(value); }
    if (rule.indexOf("class-") === 0) { return classes[rule.slice(6)](p); }
    if (rule === "classes-of") {
      var parts = value.split(" ");
      var need = Number(parts.shift());
      return parts.filter(function (c) { return classes[c] && classes[c](p); }).length >= need;
    }
    if (rule === "personal-info") {
      var lowered = p.toLowerCase();
      return p.length > 0 && value.split(" ").every(function (w) {
        return !w || lowered.indexOf(w) < 0;
      });
    }
    if (rule === "match") { return p.length > 0 && confirmation && p === confirmation.value; }
    return null;
  }
  function update() {
    var items = document.querySelectorAll("[data-check]");
    for (var i = 0; i < items.length; i++) {
      var item = items[i];
      var rule = item.getAttribute("data-check");
      if (!rule) { continue; }
      var ok = holds(rule, item.getAttribute("data-value") || "", password.value);
      if (ok === null) { continue; }
      item.classList.toggle("ok", ok);
      var mark = item.querySelector(".mark");
      if (mark) { mark.textContent = ok ? "\u2713" : "\u2022"; }
    }
  }
  password.addEventListener("input", update);
  if (confirmation) { confirmation.addEventListener("input", update); }
  update();
})();
