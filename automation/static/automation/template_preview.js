// Renders the template form as it is typed (debounced) over the channel's latest order.
(function () {
  "use strict";
  var panel = document.getElementById("template-preview");
  var form = panel && panel.closest("form");
  if (!form) { return; }
  var timer = null;
  function show(id, value) { document.getElementById(id).textContent = value || ""; }
  function refresh() {
    var data = new FormData(form);
    fetch(panel.dataset.url, { method: "POST", body: data, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        var errors = document.getElementById("preview-errors");
        if (answer.errors) {
          errors.textContent = Object.keys(answer.errors).map(function (field) {
            return field + ": " + answer.errors[field].join(" ");
          }).join(" · ");
          errors.style.display = "block";
          return;
        }
        errors.style.display = "none";
        show("preview-order", "(" + answer.order + ")");
        show("preview-subject", answer.subject);
        show("preview-text", answer.text);
        document.getElementById("preview-html").srcdoc = answer.html;
      });
  }
  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  });
  refresh();
})();
