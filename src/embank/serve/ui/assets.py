"""The web UI's stylesheet and script, kept as Python strings so they ship with the code
(as the compare report's templates do) and are served by the app itself: no CDN, no
build step, works offline. The colours are the compare report's."""

from __future__ import annotations

import hashlib

__all__ = ["ASSETS", "asset_version"]

CSS = """\
:root {
  --ink: #111827; --muted: #4b5563; --line: #e5e7eb; --bg: #f6f7f9; --card: #ffffff;
  --accent: #1d4ed8; --accent-bg: #eef2ff; --accent-ink: #3730a3; --focus: #2563eb;
  --better: #047857; --better-bg: #ecfdf5; --worse: #b91c1c; --worse-bg: #fef2f2;
  --control: #6b7280;
  --font: -apple-system, BlinkMacSystemFont, "Segoe UI", Inter, Roboto, "Helvetica Neue",
    Arial, sans-serif;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
}
* { box-sizing: border-box; }
html { scroll-behavior: smooth; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 15px/1.5 var(--font);
  -webkit-font-smoothing: antialiased; }
a { color: var(--accent); text-underline-offset: 2px; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; border-radius: 4px; }
.visually-hidden { position: absolute !important; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; }
.skip { position: absolute; left: -9999px; top: 8px; z-index: 20; background: #fff;
  color: var(--accent); padding: 6px 12px; border-radius: 6px; }
.skip:focus { left: 12px; }

.top { background: #111827; color: #f9fafb; }
.top .inner { max-width: 1180px; margin: 0 auto; padding: 10px 24px; display: flex;
  align-items: center; gap: 20px; flex-wrap: wrap; }
.brand { color: #fff; font-weight: 700; font-size: 18px; text-decoration: none;
  letter-spacing: -0.01em; display: flex; align-items: center; gap: 8px; }
.brand .dot { width: 10px; height: 10px; border-radius: 3px; background: #60a5fa; }
.top nav { display: flex; gap: 4px; }
.top nav a { color: #e5e7eb; text-decoration: none; padding: 5px 10px; border-radius: 6px; }
.top nav a:hover { background: #1f2937; }
.top nav a[aria-current="page"] { background: #374151; color: #fff; }
.top form { margin-left: auto; }
.top input[type="search"] { width: 260px; background: #1f2937; color: #fff;
  border: 1px solid #6b7280; }
.top input[type="search"]::placeholder { color: #d1d5db; }

main { max-width: 1180px; margin: 0 auto; padding: 28px 24px 56px; }
main:focus { outline: none; }
h1 { font-size: 26px; line-height: 1.25; margin: 0 0 6px; letter-spacing: -0.01em;
  word-break: break-word; }
h2.section { font-size: 13px; text-transform: uppercase; letter-spacing: 0.08em;
  color: var(--muted); margin: 36px 0 12px; font-weight: 600; }
h3 { font-size: 16px; margin: 0 0 6px; }
.lede { margin: 0 0 18px; color: var(--muted); max-width: 75ch; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px;
  padding: 18px 20px; box-shadow: 0 1px 2px rgba(17, 24, 39, 0.04); }
.chips { display: flex; flex-wrap: wrap; gap: 6px; margin: 0; padding: 0; list-style: none; }
.chip { font-size: 12px; padding: 1px 9px; border-radius: 999px; background: var(--accent-bg);
  color: var(--accent-ink); white-space: nowrap; }
.chip.neutral { background: #f3f4f6; color: #374151; }
.chip.warn { background: #fef3c7; color: #92400e; }
code, pre { font-family: var(--mono); }
code { font-size: 12.5px; }
.muted { color: var(--muted); }
.small { font-size: 13px; }
.num { font-variant-numeric: tabular-nums; }

label { font-size: 13px; font-weight: 600; color: #374151; display: block; margin-bottom: 4px; }
input[type="search"], input[type="text"], select {
  font: inherit; font-size: 14px; color: var(--ink); background: #fff; padding: 7px 10px;
  border: 1px solid var(--control); border-radius: 8px; min-height: 38px; }
button, .button { font: inherit; font-size: 14px; font-weight: 600; cursor: pointer;
  background: var(--accent); color: #fff; border: 1px solid var(--accent); border-radius: 8px;
  padding: 7px 14px; min-height: 38px; text-decoration: none; display: inline-flex;
  align-items: center; gap: 6px; }
button:hover, .button:hover { background: #1e40af; }
button.secondary, .button.secondary { background: #fff; color: var(--accent); }
button.secondary:hover, .button.secondary:hover { background: var(--accent-bg); }
button.small { font-size: 12px; padding: 2px 10px; min-height: 28px; }

.filters { display: flex; flex-wrap: wrap; gap: 12px 16px; align-items: flex-end; }
.filters .grow { flex: 1 1 280px; }
.filters .grow input { width: 100%; }
.count { color: var(--muted); margin: 18px 0 10px; }
.cards { list-style: none; margin: 0; padding: 0; display: grid; gap: 16px;
  grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); }
.table-card { display: flex; flex-direction: column; gap: 10px; }
.table-card h2 { font-size: 17px; margin: 0; word-break: break-all; }
.table-card h2 a { text-decoration: none; }
.table-card h2 a:hover { text-decoration: underline; }
.table-card .desc { margin: 0; color: #374151; flex: 1; }
.facts { display: grid; grid-template-columns: auto 1fr; gap: 2px 14px; margin: 0;
  font-size: 13px; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; word-break: break-word; font-variant-numeric: tabular-nums; }
.headline { display: flex; align-items: baseline; gap: 10px; flex-wrap: wrap;
  border-top: 1px solid var(--line); padding-top: 10px; }
.headline .value { font-size: 22px; font-weight: 700; font-variant-numeric: tabular-nums; }
.headline .name { font-family: var(--mono); font-size: 12.5px; color: #374151; }
.headline .base { font-size: 12.5px; color: var(--muted); }
.empty { padding: 28px; text-align: center; color: var(--muted); }

.title-row { display: flex; gap: 16px; align-items: flex-start; justify-content: space-between;
  flex-wrap: wrap; }
.actions { display: flex; gap: 8px; flex-wrap: wrap; }
.overview { display: grid; gap: 16px; grid-template-columns: minmax(0, 2fr) minmax(0, 1fr);
  margin-top: 14px; }
.overview .facts { font-size: 14px; gap: 4px 16px; }
.grid2 { display: grid; gap: 16px; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); }

.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px;
  font-variant-numeric: tabular-nums; }
caption { text-align: left; color: var(--muted); font-size: 13px; padding-bottom: 6px; }
th, td { padding: 7px 10px; text-align: right; border-bottom: 1px solid var(--line);
  white-space: nowrap; vertical-align: top; }
th:first-child, td:first-child, th.left, td.left { text-align: left; }
thead th { font-size: 12px; color: var(--muted); font-weight: 600; border-bottom-width: 2px; }
tbody tr:hover { background: #fafafa; }
td.figure { font-family: var(--mono); font-size: 12.5px; }
.prefix { color: var(--muted); }
.delta { display: inline-block; margin-left: 8px; padding: 0 6px; border-radius: 6px;
  font-size: 12px; }
.delta.better { color: var(--better); background: var(--better-bg); }
.delta.worse { color: var(--worse); background: var(--worse-bg); }
.delta.same { color: var(--muted); }
svg.chart { display: block; width: 100%; height: auto; margin: 0 auto; }
svg.chart text { font-family: var(--font) !important; }
.task + .task { margin-top: 16px; }
.task-body .scroll { margin-top: 12px; }
.task .sub { margin: 0 0 8px; color: var(--muted); font-size: 13px; }

.map-figure { margin: 0; }
.map-layout { display: grid; grid-template-columns: minmax(0, 1fr) 230px; gap: 18px; }
.map-stage { position: relative; }
canvas.map { display: block; width: 100%; aspect-ratio: 16 / 9; background: #fff;
  border: 1px solid var(--line); border-radius: 10px; cursor: crosshair; }
.map-tip { position: absolute; pointer-events: none; background: #111827; color: #fff;
  padding: 3px 9px; border-radius: 6px; font-size: 12.5px; white-space: nowrap;
  transform: translate(-50%, calc(-100% - 10px)); display: none; z-index: 3; }
.map-side .field + .field { margin-top: 12px; }
.legend { list-style: none; margin: 10px 0 0; padding: 0; display: grid; gap: 2px;
  max-height: 330px; overflow-y: auto; }
.legend button { width: 100%; background: none; border: 1px solid transparent; color: var(--ink);
  font-weight: 400; font-size: 13px; justify-content: flex-start; padding: 2px 6px;
  min-height: 28px; }
.legend button:hover { background: #f3f4f6; }
.legend button[aria-pressed="true"] { border-color: var(--control); background: #f3f4f6; }
.legend .swatch { width: 12px; height: 12px; border-radius: 50%; flex: none; }
.legend .n { margin-left: auto; color: var(--muted); font-variant-numeric: tabular-nums; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 8px; }

details.lineage { border-top: 1px solid var(--line); padding: 8px 0; }
details.lineage:first-of-type { border-top: 0; }
details.lineage summary { cursor: pointer; font-weight: 600; padding: 4px 0; }
details.lineage .facts { margin: 8px 0 4px 18px; font-size: 13.5px; }
.params { display: flex; flex-wrap: wrap; gap: 4px; }
.params code { color: #374151; background: #f3f4f6; padding: 0 5px; border-radius: 4px; }
.params code.differs { color: #92400e; background: #fef3c7; font-weight: 600; }
pre.code { background: #0f172a; color: #e2e8f0; padding: 12px 14px; border-radius: 8px;
  overflow-x: auto; font-size: 12.5px; line-height: 1.55; margin: 0; }
pre.spec { max-height: 320px; overflow: auto; background: #f9fafb; color: var(--ink);
  border: 1px solid var(--line); padding: 10px 12px; border-radius: 8px; font-size: 12px; }
.snippet + .snippet { margin-top: 14px; }
.snippet-head { display: flex; align-items: center; justify-content: space-between;
  margin-bottom: 6px; }
.snippet-head h3 { margin: 0; font-size: 14px; }

.explorer { display: flex; flex-wrap: wrap; gap: 12px 16px; align-items: flex-end; }
.combo { position: relative; flex: 1 1 260px; }
.combo input { width: 100%; }
.listbox { position: absolute; left: 0; right: 0; top: 100%; margin: 4px 0 0; padding: 4px 0;
  list-style: none; background: #fff; border: 1px solid var(--control); border-radius: 8px;
  box-shadow: 0 8px 24px rgba(17, 24, 39, 0.12); max-height: 280px; overflow-y: auto;
  z-index: 10; }
.listbox[hidden] { display: none; }
.listbox li { padding: 5px 12px; cursor: pointer; display: flex; justify-content: space-between;
  gap: 12px; font-size: 14px; }
.listbox li[aria-selected="true"], .listbox li:hover { background: var(--accent-bg); }
.listbox .entity { color: var(--muted); font-size: 12px; }
.status { min-height: 1.5em; margin: 14px 0 8px; color: var(--muted); }
.status.error { color: var(--worse); }
.results td.key a { font-family: var(--mono); font-size: 13px; }
.bar { display: inline-block; height: 8px; border-radius: 4px; background: #93c5fd;
  vertical-align: middle; margin-left: 8px; }

.overlap { display: grid; grid-template-columns: 220px minmax(0, 1fr); gap: 20px;
  align-items: center; }
.big { font-size: 34px; font-weight: 700; font-variant-numeric: tabular-nums; line-height: 1.1; }
svg.hist { width: 100%; max-width: 560px; height: auto; display: block; }
svg.hist text { font: 11px var(--font); fill: var(--muted); }
.refs { display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); }
.ref h3 { display: flex; align-items: center; gap: 10px; word-break: break-all; }
.swatch { width: 12px; height: 12px; border-radius: 3px; flex: none; display: inline-block; }
.note { color: var(--muted); font-size: 13px; }

footer.bottom { max-width: 1180px; margin: 0 auto; padding: 0 24px 32px; color: var(--muted);
  font-size: 12.5px; }
@media (max-width: 900px) {
  .overview, .grid2, .map-layout, .overlap { grid-template-columns: 1fr; }
  .top form { margin-left: 0; width: 100%; }
  .top input[type="search"] { width: 100%; }
}
"""

JS = r"""
(function () {
  "use strict";
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(sel));
  };
  // the compare report's palette, two more, then the colours of 'other' and 'no label'
  var COLORS = ["#2563eb", "#f59e0b", "#10b981", "#db2777", "#7c3aed", "#0891b2",
    "#65a30d", "#dc2626", "#a16207"];
  var OTHER = "#6b7280", NONE = "#cbd5e1";

  function errorMessage(response) {
    return response.json().then(function (body) {
      throw new Error(body && body.error ? body.error.message : response.statusText);
    }, function () { throw new Error(response.status + " " + response.statusText); });
  }
  function getJSON(url, options) {
    return fetch(url, options).then(function (r) { return r.ok ? r.json() : errorMessage(r); });
  }

  // -- copy buttons -----------------------------------------------------------------
  $$("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      var done = function (text) {
        button.textContent = text;
        setTimeout(function () { button.textContent = "Copy"; }, 1800);
      };
      var select = function () {
        var range = document.createRange();
        range.selectNodeContents(source);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        done("Selected: Ctrl+C");
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(source.textContent).then(function () {
          done("Copied");
        }, select);
      } else { select(); }
    });
  });

  // -- forms that apply a choice at once --------------------------------------------
  $$("form[data-autosubmit] select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // -- the 2-D map ------------------------------------------------------------------
  function initMap(figure) {
    var canvas = $("canvas.map", figure), tip = $(".map-tip", figure);
    var status = $(".map-status", figure), legend = $(".legend", figure);
    var colorBy = $("select.map-color", figure);
    var data = null, px = null, py = null, hover = -1, focus = null;

    var inline = document.getElementById(canvas.getAttribute("data-inline") || "");
    if (inline) { start(JSON.parse(inline.textContent)); }
    else {
      status.textContent = "Drawing the map of this version: once, a few seconds\u2026";
      getJSON(canvas.getAttribute("data-src")).then(start, function (err) {
        status.textContent = "The map could not be drawn: " + err.message;
      });
    }

    function groups() {
      var by = colorBy.value;
      if (by === "label") {
        var names = data.label_names.slice();
        return { names: names, of: function (i) { return data.label[i]; },
          color: function (g) {
            return names[g] === "other" ? OTHER : COLORS[g % COLORS.length];
          } };
      }
      if (by === "entity") {
        return { names: data.entity_names, of: function (i) { return data.entity[i]; },
          color: function (g) { return COLORS[g % COLORS.length]; } };
      }
      return { names: ["every point"], of: function () { return 0; },
        color: function () { return COLORS[0]; } };
    }

    function start(loaded) {
      data = loaded;
      var options = [];
      if (data.n_labelled > 0) {
        var of = data.label_entity ? " (" + data.label_entity + ")" : "";
        options.push(["label", "Label" + of]);
      }
      if (data.entity_names.length > 1) { options.push(["entity", "Entity type"]); }
      options.push(["none", "Nothing"]);
      colorBy.innerHTML = "";
      options.forEach(function (o) {
        var option = document.createElement("option");
        option.value = o[0];
        option.textContent = o[1];
        colorBy.appendChild(option);
      });
      colorBy.value = data.color_by || "none";
      colorBy.disabled = options.length < 2;
      colorBy.addEventListener("change", function () { focus = null; draw(); });
      var method = data.method === "umap" ? "UMAP" : "PCA";
      status.textContent = data.n_points.toLocaleString() + " of " +
        data.n_rows.toLocaleString() + " rows (a seeded sample), laid out by " + method +
        ". Hover a point to see its key; click it to explore its neighbours.";
      draw();
      window.addEventListener("resize", function () { draw(); });
    }

    function draw() {
      var rect = canvas.getBoundingClientRect();
      var ratio = window.devicePixelRatio || 1;
      canvas.width = Math.round(rect.width * ratio);
      canvas.height = Math.round(rect.height * ratio);
      var ctx = canvas.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, rect.width, rect.height);
      // fill the canvas: the axes of a UMAP layout carry no units, only neighbourhoods
      var pad = 14, w = rect.width - 2 * pad, h = rect.height - 2 * pad;
      var n = data.n_points, g = groups();
      px = new Float32Array(n);
      py = new Float32Array(n);
      var radius = n > 3000 ? 2 : n > 800 ? 2.6 : 3.4;
      var order = [];
      for (var i = 0; i < n; i++) {
        px[i] = pad + data.x[i] * w;
        py[i] = pad + (1 - data.y[i]) * h;
        order.push(i);
      }
      // unlabelled points first, so coloured ones stay visible on top
      order.sort(function (a, b) { return (g.of(a) < 0) - (g.of(b) < 0) || 0; }).reverse();
      var counts = {};
      order.forEach(function (i) {
        var group = g.of(i);
        counts[group] = (counts[group] || 0) + 1;
        var faded = focus !== null && group !== focus;
        ctx.globalAlpha = faded ? 0.12 : 0.8;
        ctx.fillStyle = group < 0 ? NONE : g.color(group);
        ctx.beginPath();
        ctx.arc(px[i], py[i], radius, 0, 6.2832);
        ctx.fill();
      });
      ctx.globalAlpha = 1;
      if (hover >= 0) {
        ctx.strokeStyle = "#111827";
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.arc(px[hover], py[hover], radius + 3, 0, 6.2832);
        ctx.stroke();
      }
      renderLegend(g, counts);
      canvas.setAttribute("data-points", String(n));
    }

    function renderLegend(g, counts) {
      legend.innerHTML = "";
      var entries = g.names.map(function (name, i) { return [i, name]; });
      if (counts[-1]) { entries.push([-1, "no label"]); }
      entries.forEach(function (entry) {
        var li = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.setAttribute("aria-pressed", focus === entry[0] ? "true" : "false");
        var swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.background = entry[0] < 0 ? NONE : g.color(entry[0]);
        var name = document.createElement("span");
        name.textContent = entry[1];
        var count = document.createElement("span");
        count.className = "n";
        count.textContent = (counts[entry[0]] || 0).toLocaleString();
        button.append(swatch, name, count);
        button.title = "Show only " + entry[1];
        button.addEventListener("click", function () {
          focus = focus === entry[0] ? null : entry[0];
          draw();
          var again = legend.querySelectorAll("button")[entries.indexOf(entry)];
          if (again) { again.focus(); }
        });
        li.appendChild(button);
        legend.appendChild(li);
      });
    }

    function nearest(event) {
      if (!px) { return -1; }
      var rect = canvas.getBoundingClientRect();
      var x = event.clientX - rect.left, y = event.clientY - rect.top;
      var best = -1, bestD = 100;  // within 10 px
      for (var i = 0; i < px.length; i++) {
        var dx = px[i] - x, dy = py[i] - y, d = dx * dx + dy * dy;
        if (d < bestD) { bestD = d; best = i; }
      }
      return best;
    }
    function describe(i) {
      var text = data.keys[i];
      if (data.entity_names.length > 1) { text += " (" + data.entity_names[data.entity[i]] + ")"; }
      if (data.label[i] >= 0) { text += " \u00b7 " + data.label_names[data.label[i]]; }
      return text;
    }
    canvas.addEventListener("mousemove", function (event) {
      var found = nearest(event);
      if (found === hover) { return; }
      hover = found;
      draw();
      if (hover < 0) { tip.style.display = "none"; return; }
      tip.textContent = describe(hover);
      tip.style.left = px[hover] + "px";
      tip.style.top = py[hover] + "px";
      tip.style.display = "block";
    });
    canvas.addEventListener("mouseleave", function () {
      hover = -1;
      tip.style.display = "none";
      if (data) { draw(); }
    });
    canvas.addEventListener("click", function (event) {
      var found = nearest(event);
      if (found < 0) { return; }
      var url = new URL(canvas.getAttribute("data-explore"), window.location.href);
      url.searchParams.set("key", data.keys[found]);
      url.searchParams.set("entity", data.entity_names[data.entity[found]]);
      window.location.href = url.toString();
    });
  }
  $$(".map-figure").forEach(initMap);

  // -- the neighbour explorer -------------------------------------------------------
  function initExplorer(form) {
    var api = form.getAttribute("data-api");
    var input = $("#explore-key"), list = $("#explore-suggestions");
    var entity = $("#explore-entity"), target = $("#explore-target");
    var k = $("#explore-k"), version = $("#explore-version");
    var results = $("#explore-results"), status = $("#explore-status");
    var active = -1, options = [], timer = null, asked = 0;

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }
    function highlight(i) {
      var items = $$("li", list);
      items.forEach(function (li, j) {
        li.setAttribute("aria-selected", j === i ? "true" : "false");
      });
      active = i;
      if (i >= 0 && items[i]) {
        input.setAttribute("aria-activedescendant", items[i].id);
        items[i].scrollIntoView({ block: "nearest" });
      } else { input.removeAttribute("aria-activedescendant"); }
    }
    function choose(i) {
      var chosen = options[i];
      input.value = chosen.key;
      if (entity && chosen.entity) { entity.value = chosen.entity; }
      close();
      explore(true);
    }
    function suggest() {
      var params = new URLSearchParams({ prefix: input.value, limit: "10" });
      if (entity && entity.value) { params.set("entity", entity.value); }
      if (version && version.value) { params.set("version", version.value); }
      var ticket = ++asked;
      getJSON(api + "/keys?" + params.toString()).then(function (body) {
        if (ticket !== asked) { return; }
        options = body.keys;
        list.innerHTML = "";
        options.forEach(function (option, i) {
          var li = document.createElement("li");
          li.id = "suggestion-" + i;
          li.setAttribute("role", "option");
          li.setAttribute("aria-selected", "false");
          var key = document.createElement("span");
          key.textContent = option.key;
          li.appendChild(key);
          if (entity) {
            var kind = document.createElement("span");
            kind.className = "entity";
            kind.textContent = option.entity;
            li.appendChild(kind);
          }
          li.addEventListener("mousedown", function (event) { event.preventDefault(); choose(i); });
          list.appendChild(li);
        });
        var open = options.length > 0 && document.activeElement === input;
        list.hidden = !open;
        input.setAttribute("aria-expanded", open ? "true" : "false");
        active = -1;
      }, function () { close(); });
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(suggest, 120);
    });
    input.addEventListener("focus", function () { if (!input.value) { suggest(); } });
    input.addEventListener("blur", function () { setTimeout(close, 100); });
    input.addEventListener("keydown", function (event) {
      var n = options.length, open = !list.hidden;
      if (event.key === "ArrowDown") {
        event.preventDefault();
        if (!open) { suggest(); return; }
        highlight(n ? (active + 1) % n : -1);
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        if (open && n) { highlight(active <= 0 ? n - 1 : active - 1); }
      } else if (event.key === "Enter" && open && active >= 0) {
        event.preventDefault();
        choose(active);
      } else if (event.key === "Escape" && open) {
        event.preventDefault();
        close();
      }
    });

    function row(neighbor, rank, best) {
      var tr = document.createElement("tr");
      var cells = [String(rank)];
      var tdRank = document.createElement("td");
      tdRank.textContent = cells[0];
      tr.appendChild(tdRank);
      var tdKey = document.createElement("td");
      tdKey.className = "key left";
      var link = document.createElement("a");
      var url = new URL(window.location.href);
      url.searchParams.set("key", neighbor.key);
      if (entity) { url.searchParams.set("entity", neighbor.entity); }
      link.href = url.pathname + url.search;
      link.textContent = neighbor.key;
      link.setAttribute("data-key", neighbor.key);
      link.setAttribute("data-entity", neighbor.entity);
      tdKey.appendChild(link);
      tr.appendChild(tdKey);
      var tdEntity = document.createElement("td");
      tdEntity.className = "left";
      tdEntity.textContent = neighbor.entity;
      tr.appendChild(tdEntity);
      var tdScore = document.createElement("td");
      tdScore.className = "score";
      tdScore.textContent = neighbor.score.toFixed(4);
      var bar = document.createElement("span");
      bar.className = "bar";
      bar.setAttribute("aria-hidden", "true");
      var share = Math.max(0, neighbor.score) / (best || 1);
      bar.style.width = Math.max(2, Math.round(80 * share)) + "px";
      tdScore.appendChild(bar);
      tr.appendChild(tdScore);
      return tr;
    }
    function render(body) {
      var tbody = $("tbody", results);
      tbody.innerHTML = "";
      var best = body.neighbors.reduce(function (m, n) {
        return Math.max(m, Math.abs(n.score));
      }, 0);
      body.neighbors.forEach(function (n, i) { tbody.appendChild(row(n, i + 1, best)); });
      results.hidden = body.neighbors.length === 0;
      status.classList.remove("error");
      status.textContent = body.neighbors.length + " nearest to " + body.key + " in " +
        body.table + "@" + body.version + ". Choose a key to explore from it.";
      results.setAttribute("data-key", body.key);
    }
    function explore(push) {
      var key = input.value.trim();
      if (!key) { status.textContent = "Type a key first."; return; }
      var body = { key: key, k: parseInt(k.value, 10) };
      if (entity && entity.value) { body.entity = entity.value; }
      if (target && target.value) { body.target = target.value; }
      if (version && version.value) { body.version = version.value; }
      status.classList.remove("error");
      status.textContent = "Searching\u2026";
      if (push) {
        var url = new URL(window.location.href);
        ["key", "entity", "target", "k", "v"].forEach(function (p) { url.searchParams.delete(p); });
        url.searchParams.set("key", key);
        if (body.entity) { url.searchParams.set("entity", body.entity); }
        if (body.target) { url.searchParams.set("target", body.target); }
        if (body.k !== 10) { url.searchParams.set("k", String(body.k)); }
        if (body.version) { url.searchParams.set("v", body.version); }
        window.history.pushState(null, "", url.pathname + url.search);
      }
      getJSON(api + "/neighbors", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body)
      }).then(render, function (err) {
        results.hidden = true;
        status.classList.add("error");
        status.textContent = err.message;
      });
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      close();
      explore(true);
    });
    results.addEventListener("click", function (event) {
      var link = event.target.closest("a[data-key]");
      if (!link) { return; }
      event.preventDefault();
      input.value = link.getAttribute("data-key");
      if (entity) { entity.value = link.getAttribute("data-entity"); }
      explore(true);
      input.focus();
    });
    window.addEventListener("popstate", function () {
      var params = new URLSearchParams(window.location.search);
      input.value = params.get("key") || "";
      if (entity) { entity.value = params.get("entity") || entity.options[0].value; }
      if (target) { target.value = params.get("target") || ""; }
      k.value = params.get("k") || "10";
      if (version) { version.value = params.get("v") || ""; }
      if (input.value) { explore(false); }
    });
  }
  $$("form.explorer").forEach(initExplorer);
})();
"""


def _etag(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


#: name -> (media type, content, version tag)
ASSETS: dict[str, tuple[str, str, str]] = {
    "app.css": ("text/css; charset=utf-8", CSS, _etag(CSS)),
    "app.js": ("text/javascript; charset=utf-8", JS, _etag(JS)),
}


def asset_version(name: str) -> str:
    """The content tag of asset ``name``, for cache-busting URLs."""
    return ASSETS[name][2]
