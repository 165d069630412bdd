// The diagram page with JavaScript: any change of a choice redraws the picture in place (the page's own
// HTML is fetched and its figure, status and download links swapped in); a new language reloads the page.
// Without JavaScript the form's Draw button does the same by a normal request.
(function () {
  "use strict";
  var form = document.getElementById("diagram-form");
  if (!form || !window.fetch || !window.DOMParser || !window.URLSearchParams) return;
  var PARTS = ["diagram-figure", "diagram-status", "diagram-unlinked", "diagram-downloads"];
  var pending = null;
  form.querySelector("button[type=submit]").hidden = true;

  function address() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (value !== "") params.append(name, value);
    });
    return form.action + "?" + params.toString();
  }

  function showError(message) {
    var status = document.getElementById("diagram-status");
    status.textContent = message;
    status.classList.add("error");
  }

  function redraw() {
    var url = address();
    if (pending) pending.abort();
    pending = new AbortController();
    var figure = document.getElementById("diagram-figure");
    figure.setAttribute("aria-busy", "true");
    fetch(url, { signal: pending.signal, headers: { Accept: "text/html" } })
      .then(function (response) {
        return response.text().then(function (text) {
          var page = new DOMParser().parseFromString(text, "text/html");
          if (!response.ok) {
            var why = page.querySelector(".error");
            throw new Error(why ? why.textContent : response.status + " " + response.statusText);
          }
          PARTS.forEach(function (id) {
            var fresh = page.getElementById(id);
            var old = document.getElementById(id);
            if (fresh && old) old.replaceWith(document.importNode(fresh, true));
          });
          document.title = page.title;
          history.replaceState(null, "", url);
        });
      })
      .catch(function (err) {
        if (err.name !== "AbortError") showError(err.message);
      })
      .then(function () {
        var current = document.getElementById("diagram-figure");
        if (current) current.removeAttribute("aria-busy");
      });
  }

  form.addEventListener("change", function (event) {
    if (event.target.name === "lang") {
      window.location.assign(address());
      return;
    }
    if (event.target.name === "root") form.elements.direction.value = "";
    redraw();
  });
})();
