// What a little JavaScript adds to every page; each page works the same without it.
// Texts come from data-* attributes of <body>, in the page's language.
(function () {
  "use strict";
  var texts = document.body.dataset;

  // Show or hide what is typed in a password field.
  function addToggle(input) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "reveal";
    button.textContent = texts.show;
    button.setAttribute("aria-controls", input.id);
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("click", function () {
      var shown = input.type === "text";
      input.type = shown ? "password" : "text";
      button.textContent = shown ? texts.show : texts.hide;
      button.setAttribute("aria-pressed", shown ? "false" : "true");
      input.focus();
    });
    input.insertAdjacentElement("afterend", button);
  }

  // Warn while Caps Lock is on in a password field.
  function addCapsLockWarning(input) {
    var warning = document.createElement("p");
    warning.className = "caps-lock";
    warning.id = input.id + "-caps-lock";
    warning.setAttribute("role", "status");
    warning.hidden = true;
    warning.textContent = texts.capsLock;
    input.insertAdjacentElement("afterend", warning);
    function check(event) {
      if (event.getModifierState) {
        warning.hidden = !event.getModifierState("CapsLock");
      }
    }
    input.addEventListener("keydown", check);
    input.addEventListener("keyup", check);
    input.addEventListener("blur", function () { warning.hidden = true; });
  }

  Array.prototype.forEach.call(
    document.querySelectorAll("input[type=password][id]"),
    function (input) {
      addCapsLockWarning(input);
      addToggle(input);
    }
  );

  // After a refused form, the error summary gets the focus, so it is read out first.
  var summary = document.querySelector("[data-error-summary]");
  if (summary) {
    summary.setAttribute("tabindex", "-1");
    summary.focus();
  }

  // The seconds left before the page moves on to where its Continue button leads, and a
  // button to stay (WCAG 2.2.1: a time limit can be turned off). Without the script the
  // page stays, with its button.
  var countdown = document.querySelector("[data-countdown]");
  var next = document.getElementById("continue");
  if (countdown && next) {
    var left = Number(countdown.dataset.countdown);
    var stay = document.createElement("button");
    stay.type = "button";
    stay.className = "secondary";
    stay.id = "stay";
    stay.textContent = countdown.dataset.stay;
    countdown.hidden = false;
    countdown.after(stay);
    var timer = setInterval(function () {
      var then = left - 1;
      countdown.textContent = countdown.textContent.replace(String(left), String(then));
      left = then;
      if (left <= 0) { clearInterval(timer); window.location.assign(next.href); }
    }, 1000);
    stay.addEventListener("click", function () {
      clearInterval(timer);
      countdown.hidden = true;
      stay.remove();
      next.focus();
    });
  }
  // After a logout, the applications' front-channel pages load; then back to the
  // application that asked (at most a few seconds' wait). Without the script: its link.
  var after = document.querySelector("[data-after-frames]");
  if (after) {
    var frames = document.querySelectorAll("iframe[data-frontchannel]");
    var waiting = frames.length;
    var go = function () { window.location.assign(after.href); };
    var timeout = setTimeout(go, 5000);
    var loaded = function () {
      waiting -= 1;
      if (waiting <= 0) { clearTimeout(timeout); go(); }
    };
    Array.prototype.forEach.call(frames, function (frame) {
      frame.addEventListener("load", loaded);
    });
    if (waiting === 0) { clearTimeout(timeout); go(); }
  }
})();
