// Small enhancements for the Hive dashboard. Every page works without them.
(function () {
  "use strict";

  var OPS = {
    string: ["is", "is not", "contains", "not contains", "exists", "not exists"],
    number: ["is", "is not", "greater than", "less than", "exists", "not exists"],
    boolean: ["is", "is not", "exists", "not exists"],
    datetime: ["after", "before", "exists", "not exists"],
  };

  function fieldTypes() {
    var types = {};
    var list = document.getElementById("field-list");
    if (!list) return types;
    list.querySelectorAll("option").forEach(function (o) {
      var t = o.getAttribute("data-type");
      if (!types[o.value]) types[o.value] = [];
      types[o.value].push(t);
    });
    return types;
  }

  // Offer the operators of the field's type, and hide the value box for
  // exists / not exists.
  function syncRow(row, types) {
    var ff = row.querySelector(".ff"), fo = row.querySelector(".fo"), fv = row.querySelector(".fv");
    if (!ff || !fo || !fv) return;
    var ts = types[ff.value] || [];
    var allowed = {};
    var known = false;
    ts.forEach(function (t) {
      if (OPS[t]) { known = true; OPS[t].forEach(function (o) { allowed[o] = true; }); }
    });
    if (ts.indexOf("string") >= 0 || ts.indexOf("number") >= 0) {
      OPS.datetime.forEach(function (o) { allowed[o] = true; });
    }
    Array.prototype.forEach.call(fo.options, function (o) {
      o.hidden = known && !allowed[o.value];
    });
    if (fo.selectedOptions[0] && fo.selectedOptions[0].hidden) {
      var first = Array.prototype.find.call(fo.options, function (o) { return !o.hidden; });
      if (first) fo.value = first.value;
    }
    var noValue = fo.value === "exists" || fo.value === "not exists";
    fv.hidden = noValue;
  }

  // While the next page is computed (a chart's first load of a field can
  // take seconds), say so: the page dims and a "Loading…" badge shows.
  function busy() {
    document.body.classList.add("busy");
    var main = document.querySelector("main");
    if (main) main.setAttribute("aria-busy", "true");
  }
  function idle() {
    document.body.classList.remove("busy");
    var main = document.querySelector("main");
    if (main) main.removeAttribute("aria-busy");
  }
  // Forms' own handlers (data-confirm) run first and may cancel.
  document.addEventListener("submit", function (e) { if (!e.defaultPrevented) busy(); });
  // So do links to other pages of the dashboard (a plain left click that
  // nothing else handled; not new tabs, downloads or in-page anchors).
  document.addEventListener("click", function (e) {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    var a = e.target.closest ? e.target.closest("a[href]") : null;
    if (!a || a.target || a.hasAttribute("download")) return;
    var url = new URL(a.href, location.href);
    if (url.origin !== location.origin) return;
    if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
    busy();
  });
  // Coming back through the history shows the page as it was left.
  window.addEventListener("pageshow", idle);

  document.addEventListener("DOMContentLoaded", function () {
    var types = fieldTypes();
    document.querySelectorAll("[data-filter-row]").forEach(function (row) {
      syncRow(row, types);
      row.addEventListener("input", function () { syncRow(row, types); });
      row.addEventListener("change", function () { syncRow(row, types); });
    });

    document.querySelectorAll("[data-remove-row]").forEach(function (b) {
      b.addEventListener("click", function () {
        var row = b.closest("[data-filter-row]");
        var form = b.closest("form");
        if (row) row.remove();
        if (form) { busy(); form.submit(); }
      });
    });

    document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
      s.addEventListener("change", function () { busy(); s.form.submit(); });
    });

    document.querySelectorAll("[data-tree]").forEach(function (b) {
      b.addEventListener("click", function () {
        var open = b.getAttribute("data-tree") === "open";
        document.querySelectorAll("#tree details").forEach(function (d) { d.open = open; });
      });
    });

    document.querySelectorAll("[data-copy]").forEach(function (b) {
      b.addEventListener("click", function () {
        var el = document.getElementById(b.getAttribute("data-copy"));
        if (el && navigator.clipboard) {
          navigator.clipboard.writeText(el.textContent).then(function () { b.textContent = "Copied"; });
        }
      });
    });

    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
      });
    });

    // A page fetched for a part of this one, parsed; a failure carries the
    // server's reason (its error page's message), so that the part can
    // say why it is missing (a read past the statement timeout, ClickHouse
    // unreachable, reads busy).
    var page = function (url) {
      return fetch(url, { credentials: "same-origin" }).then(function (r) {
        return r.text().then(function (text) {
          var doc = new DOMParser().parseFromString(text, "text/html");
          if (!r.ok) {
            var why = doc.querySelector(".card p");
            throw new Error(why ? why.textContent.trim() : "");
          }
          return doc;
        });
      });
    };
    // "…: reason." from a failure, or "." without one.
    var because = function (e) {
      var why = e && e.message ? e.message.replace(/[.\s]*$/, "") : "";
      return why ? ": " + why + "." : ".";
    };

    // `el` says `what` ("Drawing…") and, once that is long enough to
    // wonder, for how long (a wide read over millions of events takes
    // seconds); the function returned stops it.
    var saying = function (el, what) {
      var began = Date.now();
      el.textContent = what;
      var ticking = setInterval(function () {
        var s = Math.floor((Date.now() - began) / 1000);
        if (s >= 2) el.textContent = what + " " + s + " s";
      }, 1000);
      return function () {
        clearInterval(ticking);
      };
    };

    // A list whose page was found without counting every match: count
    // apart (the same page with count=1) and show the total when it comes.
    var counter = document.querySelector("#list-count a[data-count]");
    if (counter && window.fetch && window.DOMParser) {
      var counted = saying(counter, "counting…");
      page(counter.href)
        .then(function (doc) {
          var got = doc.getElementById("list-count");
          var here = document.getElementById("list-count");
          if (!got || !here || got.querySelector("a[data-count]")) throw new Error("");
          counted();
          here.replaceWith(document.adoptNode(got));
        })
        .catch(function (e) {
          counted();
          counter.textContent = "many (count again)";
          counter.title = "The count could not be made" + because(e);
        });
    }

    // Charts drawn apart (saved charts, an alert's recent values), one
    // request after another in page order, so the page answers at once and
    // each chart shows when it is ready. Saved charts over the same dates
    // come together in one request (`data-draw-group`), which reads their
    // events once. Without scripts, each placeholder links to what it
    // would draw. A chart waiting for those before it says so.
    var charts = document.querySelectorAll("[data-draw]");
    if (charts.length && window.fetch && window.DOMParser) {
      var next = Promise.resolve();
      var groups = {};
      charts.forEach(function (box) {
        var note = box.firstElementChild;
        box.setAttribute("aria-busy", "true");
        note.textContent = "Waiting for the charts above…";
        next = next.then(function () {
          var stop = saying(note, "Drawing…");
          var group = box.getAttribute("data-draw-group");
          var chart = box.getAttribute("data-chart");
          var drawn;
          if (group && chart) {
            groups[group] = groups[group] || page(group);
            drawn = groups[group].then(function (doc) {
              var all = doc.querySelectorAll("[data-drawn]");
              for (var i = 0; i < all.length; i++) {
                if (all[i].getAttribute("data-drawn") === chart) return all[i];
              }
              return null;
            });
          } else {
            drawn = page(box.getAttribute("data-draw")).then(function (doc) {
              return doc.getElementById("drawn");
            });
          }
          return drawn
            .then(function (got) {
              if (!got) throw new Error("");
              stop();
              got.removeAttribute("id");
              got.removeAttribute("data-drawn");
              box.replaceWith(document.adoptNode(got));
            })
            .catch(function (e) {
              stop();
              box.removeAttribute("aria-busy");
              note.textContent =
                "This chart could not be drawn now" + because(e) + " Reload the page to try again.";
            });
        });
      });
    }

    // Keep the selected event in view in long trees.
    var sel = document.querySelector("#tree .sel");
    if (sel && sel.scrollIntoView) sel.scrollIntoView({ block: "nearest" });
  });
})();
