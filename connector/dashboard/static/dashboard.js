/* The dashboard's few behaviours, bound by data attributes: the Content-Security-Policy allows no inline
   script or on*= handlers, so templates mark elements and this file (served from our origin) acts on them. */
(function () {
  "use strict";

  // <select data-submit-action="choose">: changing it submits its form with that action.
  document.addEventListener("change", function (event) {
    var select = event.target.closest ? event.target.closest("select[data-submit-action]") : null;
    if (!select || !select.form) return;
    var action = select.form.querySelector("[name=action]");
    if (action) action.value = select.dataset.submitAction;
    select.form.submit();
  });

  // <input data-select-on-click>: a click selects the whole value, ready to copy.
  document.addEventListener("click", function (event) {
    var input = event.target.closest ? event.target.closest("[data-select-on-click]") : null;
    if (input) input.select();
  });

  // <form data-confirm="question">: submitting asks first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  // <time class="local" datetime="ISO">: the server wrote it in UTC; show it in the viewer's time zone, in the
  // page's language, with the day (and keep UTC in the tooltip).
  function localTimes(root) {
    var lang = document.documentElement.lang || undefined;
    var times = (root || document).querySelectorAll("time.local[datetime]");
    for (var i = 0; i < times.length; i++) {
      var el = times[i], at = new Date(el.getAttribute("datetime"));
      if (isNaN(at.getTime()) || el.dataset.localised) continue;
      el.title = el.textContent;
      el.textContent = at.toLocaleString(lang, {weekday: "short", day: "numeric", month: "short", year: "numeric",
                                                 hour: "2-digit", minute: "2-digit"});
      el.dataset.localised = "1";
    }
  }
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
  // <div data-stick-bottom>: a chat log shows its newest message after every update, unless the reader scrolled
  // up to read older ones.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var el = event.detail.target;
    if (el && el.hasAttribute && el.hasAttribute("data-stick-bottom")) {
      el.dataset.atBottom = (el.scrollHeight - el.scrollTop - el.clientHeight < 40 || !el.dataset.seen) ? "1" : "";
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    localTimes(event.target);
    var el = event.target;
    if (el && el.hasAttribute && el.hasAttribute("data-stick-bottom") && el.dataset.atBottom) {
      el.scrollTop = el.scrollHeight;
      el.dataset.seen = "1";
    }
  });
})();
