/* Connect at Meta: open Meta's window as a popup, relay its WA_EMBEDDED_SIGNUP message events, and (in the popup,
   once connected) send the setup page on. The Content-Security-Policy allows no inline script, so the templates
   mark elements with data attributes and this file acts on them. Without JavaScript the links work in the tab. */
(function () {
  "use strict";

  var box = document.getElementById("meta-connect");
  if (box) {
    var origin = box.dataset.metaOrigin;
    var status = document.getElementById("meta-status");
    var trusted = function (from) {
      return from === origin || /^https:\/\/([a-z0-9-]+\.)*facebook\.com$/.test(from);
    };
    window.addEventListener("message", function (event) {
      if (!trusted(event.origin)) return;
      var data;
      try { data = JSON.parse(event.data); } catch (err) { return; }  // Meta also posts non-JSON messages
      if (!data || data.type !== "WA_EMBEDDED_SIGNUP") return;
      window.fetch(box.dataset.eventUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": box.dataset.csrf},
        body: JSON.stringify({event: data})
      });
      if (status && (data.event === "CANCEL" || data.event === "ERROR")) {
        var detail = data.data || {};
        status.textContent = detail.error_message ? "Meta: " + detail.error_message
          : "You closed Meta's window" + (detail.current_step ? " at " + detail.current_step : "") + ".";
      }
    });
    document.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a[data-meta-popup]") : null;
      if (!link) return;
      var popup = window.open(link.href, "meta-connect", "popup,width=720,height=820");
      if (popup) event.preventDefault();  // blocked: follow the link in this tab instead
    });
  }

  var done = document.getElementById("meta-done");
  if (done && done.dataset.next) {
    var opener = window.opener;
    if (opener && !opener.closed) {
      try {
        opener.location.assign(done.dataset.next);
        window.close();
        return;
      } catch (err) { /* another site opened us: stay here */ }
    }
    window.location.assign(done.dataset.next);
  }
})();
