"""Jinja2 templates of the HTML reports, kept as Python strings so they ship with the code
(no package-data files to forget) and render offline: no external CSS, fonts or scripts."""

from __future__ import annotations

__all__ = ["COMPARE_HTML"]

COMPARE_HTML = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="embank {{ embank_version }}">
<title>{{ title }}</title>
<style>
  :root {
    --ink: #111827; --muted: #6b7280; --faint: #9ca3af; --line: #e5e7eb;
    --bg: #f6f7f9; --card: #ffffff; --better: #047857; --better-bg: #ecfdf5;
    --worse: #b91c1c; --worse-bg: #fef2f2;
    --font: -apple-system, BlinkMacSystemFont, "Segoe UI", Inter, Roboto, "Helvetica Neue",
      Arial, sans-serif;
    --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--ink); font: 15px/1.5 var(--font);
    -webkit-font-smoothing: antialiased; }
  main { max-width: 1180px; margin: 0 auto; padding: 40px 24px 64px; }
  header h1 { font-size: 28px; line-height: 1.2; margin: 0 0 6px; letter-spacing: -0.01em; }
  header p { margin: 0; color: var(--muted); }
  h2 { font-size: 13px; text-transform: uppercase; letter-spacing: 0.08em; color: var(--muted);
    margin: 40px 0 14px; font-weight: 600; }
  .card { background: var(--card); border: 1px solid var(--line); border-radius: 12px;
    padding: 20px 22px; box-shadow: 0 1px 2px rgba(17, 24, 39, 0.04); }
  .refs { display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(250px, 1fr)); }
  .ref h3 { margin: 0 0 4px; font-size: 16px; display: flex; align-items: center; gap: 10px;
    word-break: break-all; }
  .swatch { width: 12px; height: 12px; border-radius: 3px; flex: none; }
  .chips { margin: 4px 0 10px; display: flex; flex-wrap: wrap; gap: 6px; }
  .chip { font-size: 12px; padding: 1px 8px; border-radius: 999px; background: #eef2ff;
    color: #3730a3; }
  .chip.base { background: #f3f4f6; color: var(--muted); }
  dl { display: grid; grid-template-columns: auto 1fr; gap: 3px 14px; margin: 0;
    font-size: 13px; }
  dt { color: var(--muted); }
  dd { margin: 0; font-variant-numeric: tabular-nums; word-break: break-word; }
  code { font-family: var(--mono); font-size: 12px; }
  .params { display: flex; flex-wrap: wrap; gap: 4px; }
  .params code { color: var(--muted); background: #f3f4f6; padding: 0 5px; border-radius: 4px; }
  .params code.differs { color: #92400e; background: #fef3c7; font-weight: 600; }
  .prefix { color: var(--faint); }
  .task { margin-bottom: 20px; }
  .task h3 { margin: 0 0 2px; font-size: 18px; }
  .task .sub { margin: 0 0 10px; color: var(--muted); font-size: 13px; }
  svg.chart { display: block; width: 100%; height: auto; margin: 0 auto; }
  svg.chart text { font-family: var(--font) !important; }
  .scroll { overflow-x: auto; margin-top: 12px; }
  table { border-collapse: collapse; width: 100%; font-size: 13.5px;
    font-variant-numeric: tabular-nums; }
  th, td { padding: 8px 10px; text-align: right; border-bottom: 1px solid var(--line);
    white-space: nowrap; }
  th:first-child, td:first-child { text-align: left; }
  thead th { font-size: 12px; color: var(--muted); font-weight: 600; border-bottom-width: 2px; }
  tbody tr:hover { background: #fafafa; }
  td.figure { font-family: var(--mono); font-size: 12.5px; }
  .delta { display: inline-block; margin-left: 8px; padding: 0 6px; border-radius: 6px;
    font-size: 12px; }
  .delta.better { color: var(--better); background: var(--better-bg); }
  .delta.worse { color: var(--worse); background: var(--worse-bg); }
  .delta.same { color: var(--faint); }
  .missing { color: var(--faint); }
  .note { color: var(--muted); font-size: 13px; margin-top: 28px; }
  footer { margin-top: 40px; color: var(--faint); font-size: 12px; }
  @media (max-width: 640px) {
    main { padding: 24px 14px 40px; }
    header h1 { font-size: 22px; }
    .card { padding: 16px; }
  }
</style>
</head>
<body>
<main>
  <header>
    <h1>{{ title }}</h1>
    <p>{{ subtitle }}</p>
  </header>

  <h2>Versions</h2>
  <section class="refs">
  {% for ref in refs %}
    <article class="card ref">
      <h3><span class="swatch" style="background: {{ ref.color }}"></span>
        {{ ref.info.table }}@{{ ref.info.version }}</h3>
      <div class="chips">
        {% if loop.first %}<span class="chip base">base of the deltas</span>{% endif %}
        {% for alias in ref.info.aliases %}<span class="chip">{{ alias }}</span>{% endfor %}
      </div>
      <dl>
        <dt>algorithm</dt><dd><strong>{{ ref.info.algorithm or "unknown" }}</strong></dd>
        {% if ref.params %}
        <dt>params</dt>
        <dd class="params">
          {% for p in ref.params %}
          <code{% if p.differs %} class="differs" title="differs from the base"{% endif %}>
            {{- p.text }}</code>
          {% endfor %}
        </dd>
        {% endif %}
        <dt>created</dt><dd>{{ ref.created }}</dd>
        <dt>rows</dt><dd>{{ "{:,}".format(ref.info.n_rows) }}</dd>
        <dt>dim</dt><dd>{{ ref.info.dim }} &middot; {{ ref.info.metric }}</dd>
        <dt>space</dt><dd><code>{{ ref.info.space_id[:8] }}</code></dd>
      </dl>
    </article>
  {% endfor %}
  </section>

  <h2>Benchmarks</h2>
  {% if not tasks %}
  <p class="card">These versions share no benchmark figure{% if n_not_shared %}
    ({{ n_not_shared }} figure(s) are not in every version: run with --all){% endif %}.</p>
  {% endif %}
  {% for task in tasks %}
  <section class="card task">
    <h3>{{ task.name }}</h3>
    <p class="sub">{{ task.figures | length }} figure(s){% if task.baseline_name %};
      baseline: {{ task.baseline_name }}{% endif %}</p>
    {{ task.svg | safe }}
    <div class="scroll">
    <table>
      <thead><tr>
        <th>figure</th>
        {% for ref in refs %}<th>{{ ref.label }}</th>{% endfor %}
        <th>baseline</th>
      </tr></thead>
      <tbody>
      {% for row in task.rows %}
        <tr>
          <td class="figure"><span class="prefix">{{ row.task }}.</span>{{ row.metric }}</td>
          {% for cell in row.cells %}
          <td>
            {%- if cell.value is none %}<span class="missing">&ndash;</span>
            {%- else %}{{ cell.value }}{% endif %}
            {%- if cell.delta %}<span class="delta {{ cell.direction }}">{{ cell.delta }}</span>
            {%- endif %}</td>
          {% endfor %}
          <td>{{ row.baseline }}</td>
        </tr>
      {% endfor %}
      </tbody>
    </table>
    </div>
  </section>
  {% endfor %}

  {% if n_not_shared and not all_figures %}
  <p class="note">{{ n_not_shared }} figure(s) not computed for every version are left out;
    <code>embank compare --all</code> shows them.</p>
  {% endif %}
  <footer>Made by embank {{ embank_version }} on {{ generated }}. Deltas are against the first
    version; green is better, red is worse.</footer>
</main>
</body>
</html>
"""
