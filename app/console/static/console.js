// Config Service console: tell someone editing that a newer version was saved meanwhile.
// Everything works without this script; it only asks the console's watch route.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var notice = document.getElementById("notice");
  var url = main && main.getAttribute("data-watch");
  if (!url || !notice || !window.fetch) {
    return;
  }
  function announce(version) {
    notice.textContent = "Someone saved version " + version +
      " while you were editing. Review shows the difference.";
  }
  function poll(delay) {
    window.setTimeout(function () {
      fetch(url, {credentials: "same-origin", redirect: "manual",
                  headers: {Accept: "application/json"}})
        .then(function (response) {
          var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
          if (response.type === "opaqueredirect") { // the session ended: say so, and stop
            notice.textContent = "Your session has ended. Sign in again.";
            return;
          }
          if (response.status === 200 && json) {
            return response.json().then(function (body) { announce(body.version); });
          }
          if (response.status === 204) {
            poll(500); // the wait ended without a change: ask again
          } // anything else (a session that ended, an error page): stop asking
        })
        .catch(function () { poll(5000); });
    }, delay);
  }
  poll(0);
}());
