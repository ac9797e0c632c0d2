// radgate web UI: its one small script. Every page works without it; it
// adds results as you type on the Codes page and the Copy buttons.
(function () {
  "use strict";

  // Copy buttons (hidden without this script): copy data-copy's text.
  function bindCopy(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (b) {
      b.hidden = false;
      if (b.dataset.bound) return;
      b.dataset.bound = "1";
      b.addEventListener("click", function () {
        var text = b.getAttribute("data-copy") || "";
        var label = b.textContent;
        function done() {
          b.textContent = "Copied";
          setTimeout(function () { b.textContent = label; }, 1500);
        }
        function fallback() {
          var t = document.createElement("textarea");
          t.value = text;
          t.setAttribute("readonly", "");
          document.body.appendChild(t);
          t.select();
          try { if (document.execCommand("copy")) done(); } catch (e) { /* nothing to do */ }
          t.remove();
        }
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, fallback);
        } else {
          fallback();
        }
      });
    });
  }
  bindCopy(document);

  // Results as you type: the #results part of /tokens?q=… replaces this
  // page's, a quarter second after the last key; older answers are dropped.
  var q = document.getElementById("q");
  if (!q || !document.getElementById("results") || !window.fetch) return;
  var timer = null;
  var asked = 0;
  q.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var mine = ++asked;
      var url = "/tokens?q=" + encodeURIComponent(q.value.trim());
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          if (mine !== asked) return;
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("results");
          var old = document.getElementById("results");
          if (!fresh || !old) return;
          old.replaceWith(document.importNode(fresh, true));
          bindCopy(document);
          history.replaceState(null, "", url);
        })
        .catch(function () { /* the Search button still works */ });
    }, 250);
  });
})();
