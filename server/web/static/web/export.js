/* Evidence bundle progress: every element with data-export-progress-url polls that URL once a
   second until the export is done or failed, and shows its status, progress, size, SHA-256 and
   download link. No inline scripts: the page passes the URL in the data attribute. */
(function () {
  "use strict";
  var INTERVAL = 1000;
  var RETRY = 3000;

  function fields(box, name) {
    return box.querySelectorAll('[data-field="' + name + '"]');
  }

  function setText(box, name, value) {
    fields(box, name).forEach(function (element) {
      element.textContent = value === null || value === undefined || value === "" ? "—" : value;
    });
  }

  function show(box, data) {
    setText(box, "status_text", data.status_text);
    setText(box, "percent", data.percent + "%");
    setText(box, "size_text", data.size_text);
    setText(box, "total_text", data.total_text);
    setText(box, "sha256", data.sha256);
    fields(box, "sha256").forEach(function (element) {
      element.title = data.sha256 || "";  // the table shows the start of it
    });
    setText(box, "finished_at", data.finished_at);
    fields(box, "status_text").forEach(function (badge) {
      badge.className = badge.className.replace(/legal-status-\w+/, "legal-status-" + data.status);
    });
    box.querySelectorAll(".legal-bar").forEach(function (bar) {
      bar.setAttribute("aria-valuenow", String(data.percent));
      bar.firstElementChild.style.width = data.percent + "%";
    });
    fields(box, "error").forEach(function (element) {
      element.textContent = data.error || "";
      element.hidden = !data.error;
    });
    fields(box, "download").forEach(function (link) {
      if (data.download_url) {
        link.href = data.download_url;
      }
      link.hidden = !data.download_url;
    });
    box.querySelectorAll("[data-show-when=done]").forEach(function (element) {
      element.hidden = !data.download_url;
    });
    box.querySelectorAll("[data-show-while=running]").forEach(function (element) {
      element.hidden = data.final;
    });
    box.dataset.status = data.status;
  }

  function poll(box) {
    fetch(box.dataset.exportProgressUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok || response.headers.get("Content-Type").indexOf("application/json") !== 0) {
          throw new Error("progress: HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        show(box, data);
        if (!data.final) {
          window.setTimeout(poll, INTERVAL, box);
        }
      })
      .catch(function () {
        window.setTimeout(poll, RETRY, box);  // the server or the network is away for a moment
      });
  }

  document.querySelectorAll("[data-export-progress-url]").forEach(function (box) {
    if (box.dataset.status !== "done" && box.dataset.status !== "failed") {
      window.setTimeout(poll, INTERVAL, box);
    }
  });
}());
