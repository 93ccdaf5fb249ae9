// Hook0 dashboard: progressive enhancement only. Every page works without this script.
(function () {
  "use strict";
  var root = document.documentElement;
  var stored = null;
  try { stored = localStorage.getItem("hook0-theme"); } catch (e) { /* private mode */ }
  // In the consumer portal the sender's theme decides, and the host page is told our height.
  var portal = root.hasAttribute("data-portal");
  if (!portal && (stored === "dark" || stored === "light")) { root.setAttribute("data-theme", stored); }

  function isDark() {
    var chosen = root.getAttribute("data-theme");
    if (chosen) { return chosen === "dark"; }
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.querySelector("[data-theme-toggle]");
    if (toggle) {
      var sync = function () { toggle.setAttribute("aria-pressed", isDark() ? "true" : "false"); };
      toggle.hidden = false;
      sync();
      toggle.addEventListener("click", function () {
        var next = isDark() ? "light" : "dark";
        root.setAttribute("data-theme", next);
        try { localStorage.setItem("hook0-theme", next); } catch (e) { /* not kept */ }
        sync();
      });
    }
    // Copy buttons: shown only where the script can copy.
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          button.textContent = "Copied";
        });
      });
    });
    // Attempts still under way update in place: the page's own HTML is fetched again every
    // two seconds while one is pending, and its live region replaced.
    var live = document.querySelector("[data-live]");
    if (live && window.fetch && window.DOMParser) {
      var underWay = /status-(pending|waiting|in_progress)/;
      var tick = function () {
        if (!underWay.test(live.innerHTML)) { return; }
        fetch(window.location.href, { credentials: "same-origin" })
          .then(function (answer) { return answer.ok ? answer.text() : ""; })
          .then(function (html) {
            var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-live]");
            if (fresh) { live.innerHTML = fresh.innerHTML; }
            window.setTimeout(tick, 2000);
          })
          .catch(function () { window.setTimeout(tick, 5000); });
      };
      window.setTimeout(tick, 2000);
    }
    // Framed portal: the host page sizes its iframe from {type: "hook0-portal:height"}
    // messages (a height only: nothing else leaves the frame).
    if (portal && window.parent !== window && window.ResizeObserver) {
      var last = 0;
      new ResizeObserver(function () {
        var height = Math.ceil(document.documentElement.scrollHeight);
        if (height !== last) {
          last = height;
          window.parent.postMessage({ type: "hook0-portal:height", height: height }, "*");
        }
      }).observe(document.body);
    }
    // Forms that change something for good ask first.
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  });
})();
