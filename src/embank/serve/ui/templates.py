"""Jinja2 templates of the web UI, kept as Python strings so they ship with the code (as
the compare report's do). Autoescaped; data for scripts goes in ``application/json``
blocks, never inline script."""

from __future__ import annotations

__all__ = ["TEMPLATES"]

BASE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="embank {{ embank_version }}">
<title>{% block title %}embank{% endblock %} · embank</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{{ asset('app.css') }}">
<script src="{{ asset('app.js') }}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <div class="inner">
    <a class="brand" href="/"><span class="dot" aria-hidden="true"></span>embank</a>
    <nav aria-label="Main">
      <a href="/"{% if nav == "catalog" %} aria-current="page"{% endif %}>Catalog</a>
      <a href="/compare"{% if nav == "compare" %} aria-current="page"{% endif %}>Compare</a>
      <a href="/docs">API</a>
    </nav>
    <form role="search" action="/" method="get">
      <label for="top-q" class="visually-hidden">Search tables</label>
      <input id="top-q" name="q" type="search" placeholder="Search tables" autocomplete="off">
    </form>
  </div>
</header>
<main id="main" tabindex="-1">
{% block main %}{% endblock %}
</main>
<footer class="bottom">embank {{ embank_version }} &middot; bank {{ bank_label }} &middot;
  read-only view &middot; <a href="/docs">HTTP API</a></footer>
</body>
</html>
"""

MACROS = """\
{% macro age(when) -%}
<time datetime="{{ when.isoformat() }}" title="{{ when.strftime('%Y-%m-%d %H:%M') }} UTC">
  {{- when | age }}</time>
{%- endmacro %}
{% macro delta_cell(cell) -%}
{%- if cell.value is none %}<span class="muted">&ndash;</span>
{%- else %}{{ cell.value }}{% endif %}
{%- if cell.delta %}<span class="delta {{ cell.direction }}">{{ cell.delta }}</span>{% endif %}
{%- endmacro %}
"""

CATALOG = """\
{% extends "base.html" %}
{% from "macros.html" import age %}
{% block title %}Catalog{% endblock %}
{% block main %}
<h1>Embeddings</h1>
<p class="lede">Every table in this bank: what it is, who owns it, how good it is.
  Open one to see its versions, lineage, benchmarks, a map of its vectors and its
  neighbours.</p>
<form class="card filters" method="get" action="/" data-autosubmit role="search"
  aria-label="Find tables">
  <div class="field grow">
    <label for="q">Search</label>
    <input id="q" name="q" type="search" value="{{ q }}"
      placeholder="Name, description, tag or owner" autocomplete="off">
  </div>
  {% for f in filters %}
  <div class="field">
    <label for="f-{{ f.name }}">{{ f.label }}</label>
    <select id="f-{{ f.name }}" name="{{ f.name }}">
      <option value="">Any</option>
      {% for option in f.options %}
      <option value="{{ option }}"{% if option == f.value %} selected{% endif %}>
        {{- option }}</option>
      {% endfor %}
    </select>
  </div>
  {% endfor %}
  <button type="submit">Search</button>
  {% if filtered %}<a class="button secondary" href="/">Clear</a>{% endif %}
</form>
<p class="count" role="status">{{ cards | length }} of {{ n_total }}
  table{{ "" if n_total == 1 else "s" }}{% if filtered %} match{% endif %}</p>
{% if cards %}
<ul class="cards">
  {% for c in cards %}
  <li class="card table-card" data-table="{{ c.info.name }}">
    <h2><a href="{{ c.url }}">{{ c.info.name }}</a></h2>
    <p class="desc">{{ c.info.description or "No description." }}</p>
    <dl class="facts">
      <dt>Owner</dt><dd>{{ c.info.owner or "–" }}</dd>
      <dt>Entities</dt><dd>{{ c.info.entities | join(", ") }}</dd>
      <dt>Vectors</dt><dd>{{ c.info.dim }} dim &middot; {{ c.info.metric }}</dd>
      <dt>Latest</dt>
      <dd>{% if c.info.latest_version %}v{{ c.info.latest_version }} of
        {{ c.info.n_versions }} &middot; {{ age(c.info.updated_at) }}{% else %}–{% endif %}</dd>
    </dl>
    {% if c.info.tags %}
    <ul class="chips" aria-label="Tags">
      {% for t in c.info.tags %}<li class="chip neutral">{{ t }}</li>{% endfor %}
    </ul>
    {% endif %}
    <div class="headline">
      {% if c.headline %}
      <span class="value" data-figure="{{ c.headline.figure }}">{{ c.headline_value }}</span>
      <span class="name">{{ c.headline.figure }}</span>
      {% if c.headline.baseline is not none %}
      <span class="base">vs {{ c.headline_baseline }}
        {{ c.headline.baseline_name or "baseline" }}</span>
      {% endif %}
      {% else %}<span class="muted small">No benchmark figures yet.</span>{% endif %}
    </div>
  </li>
  {% endfor %}
</ul>
{% else %}
<p class="card empty">No table matches. <a href="/">Show every table</a>.</p>
{% endif %}
{% endblock %}
"""

TABLE = """\
{% extends "base.html" %}
{% from "macros.html" import age, delta_cell %}
{% block title %}{{ table.name }}{% endblock %}
{% block main %}
<div class="title-row">
  <div>
    <h1>{{ table.name }}</h1>
    <p class="lede">{{ table.description or "No description." }}</p>
  </div>
  <div class="actions">
    <a class="button" href="{{ explore_url }}">Explore neighbours</a>
    {% if versions | length > 1 %}
    <a class="button secondary" href="{{ compare_url }}">Compare versions</a>
    {% endif %}
  </div>
</div>
<div class="overview">
  <section class="card" aria-labelledby="about-h">
    <h2 id="about-h" class="visually-hidden">About</h2>
    <dl class="facts">
      <dt>Owner</dt><dd>{{ table.owner or "–" }}</dd>
      <dt>Tags</dt>
      <dd>{% if table.tags %}<ul class="chips">{% for t in table.tags %}
        <li class="chip neutral">{{ t }}</li>{% endfor %}</ul>{% else %}–{% endif %}</dd>
      <dt>Entity types</dt><dd>{{ table.entities | join(", ") }}</dd>
      <dt>Vectors</dt><dd>{{ table.dim }} dimensions, compared by {{ table.metric }}</dd>
      <dt>Versions</dt><dd>{{ table.n_versions }}, the latest v{{ table.latest_version }}
        {{ age(table.updated_at) }}</dd>
      <dt>Aliases</dt>
      <dd>{% for alias, n in table.aliases | dictsort %}<code>{{ alias }}</code> &rarr; v{{ n }}
        {%- if not loop.last %}, {% endif %}{% endfor %}</dd>
    </dl>
  </section>
  <section class="card" aria-labelledby="headline-h">
    <h2 id="headline-h" class="visually-hidden">Headline figure</h2>
    {% if headline %}
    <p class="muted small" style="margin:0">v{{ selected.number }}'s headline figure</p>
    <p class="big" style="margin:4px 0" data-figure="{{ headline.figure }}">
      {{- "%.4f" | format(headline.value) }}</p>
    <p style="margin:0"><code>{{ headline.figure }}</code></p>
    {% if headline.baseline is not none %}
    <p class="muted small" style="margin:4px 0 0">
      baseline ({{ headline.baseline_name or "trivial" }}):
      {{ "%.4f" | format(headline.baseline) }}</p>
    {% endif %}
    {% else %}
    <p class="muted">No benchmark figures for v{{ selected.number }}.</p>
    {% endif %}
  </section>
</div>

<h2 class="section" id="map-h">Map of v{{ selected.number }}</h2>
<section class="card" aria-labelledby="map-h">
  <figure class="map-figure">
    <div class="map-layout">
      <div class="map-stage">
        <canvas class="map" role="img"
          aria-label="2-D map of a sample of the vectors of {{ table.name }}@
            {{- selected.number }}; the neighbour explorer lists the same keys as text"
          data-src="{{ map_url }}" data-explore="{{ explore_url }}"
          {% if map_json %}data-inline="map-data"{% endif %}></canvas>
        <div class="map-tip" role="presentation"></div>
      </div>
      <div class="map-side">
        <div class="field">
          <label for="map-version">Version</label>
          <form method="get" action="#map-h" data-autosubmit>
            <select id="map-version" name="v">
              {% for v in versions | reverse %}
              <option value="{{ v.info.number }}"
                {%- if v.info.number == selected.number %} selected{% endif %}>
                v{{ v.info.number }}
                {%- if v.info.aliases %} ({{ v.info.aliases | join(", ") }}){% endif %}</option>
              {% endfor %}
            </select>
            <noscript><button type="submit" class="small">Show</button></noscript>
          </form>
        </div>
        <div class="field">
          <label for="map-color">Colour by</label>
          <select id="map-color" class="map-color"><option>…</option></select>
        </div>
        <ul class="legend" aria-label="Legend: choose a group to highlight it"></ul>
      </div>
    </div>
    <figcaption class="map-status" aria-live="polite">{% if not map_json %}The map of this
      version is drawn on first view (a few seconds, once).{% endif %}</figcaption>
  </figure>
  {% if map_json %}
  <script type="application/json" id="map-data">{{ map_json | safe }}</script>
  {% endif %}
</section>

<h2 class="section" id="bench-h">Benchmarks</h2>
<section aria-labelledby="bench-h">
  {% if tasks %}
  {% for task in tasks %}
  <div class="card task">
    <h3>{{ task.name }}</h3>
    <p class="sub">{{ task.rows | length }} figure(s) across {{ bench_labels | length }}
      version(s){% if task.baseline_name %}; the dark ticks are the {{ task.baseline_name }}
      baseline{% endif %}.</p>
    <div class="task-body">
    {{ task.svg | safe }}
    <div class="scroll">
    <table class="figures" data-task="{{ task.name }}">
      <caption>{{ task.name }} figures per version; deltas against the previous version</caption>
      <thead><tr><th scope="col">figure</th>
        {% for label in bench_labels %}<th scope="col">{{ label }}</th>{% endfor %}
        <th scope="col">baseline</th></tr></thead>
      <tbody>
      {% for row in task.rows %}
      <tr data-figure="{{ row.figure }}">
        <th scope="row" class="figure left"><span class="prefix">{{ row.task }}.</span>
          {{- row.metric }}</th>
        {% for cell in row.cells %}
        <td data-version="{{ cell.version }}">{{ delta_cell(cell) }}</td>
        {% endfor %}
        <td>{{ row.baseline }}</td>
      </tr>
      {% endfor %}
      </tbody>
    </table>
    </div>
    </div>
  </div>
  {% endfor %}
  {% if n_hidden_versions %}
  <p class="note">The chart and table show the latest {{ bench_labels | length }} versions;
    {{ n_hidden_versions }} older ones are left out.</p>
  {% endif %}
  {% else %}
  <p class="card muted">No benchmark figures: this table was published without benchmarks.</p>
  {% endif %}
</section>

<h2 class="section" id="versions-h">Versions</h2>
<section class="card scroll" aria-labelledby="versions-h">
  <table class="versions">
    <caption>Every version, newest first</caption>
    <thead><tr>
      <th scope="col">version</th><th scope="col" class="left">published</th>
      <th scope="col" class="left">status</th><th scope="col" class="left">aliases</th>
      <th scope="col">rows</th><th scope="col" class="left">algorithm</th>
      <th scope="col" class="left">by</th><th scope="col" class="left">space</th>
    </tr></thead>
    <tbody>
    {% for v in versions | reverse %}
    <tr data-version="{{ v.info.number }}">
      <td><a href="?v={{ v.info.number }}#map-h">v{{ v.info.number }}</a></td>
      <td class="left">{{ v.info.created_at.strftime("%Y-%m-%d %H:%M") }} UTC
        <span class="muted">({{ age(v.info.created_at) }})</span></td>
      <td class="left">{% if v.info.status == "active" %}<span class="chip neutral">active</span>
        {% else %}<span class="chip warn" title="{{ v.info.status_reason or '' }}">
          {{- v.info.status }}</span>{% endif %}</td>
      <td class="left">{% for a in v.info.aliases %}<span class="chip">{{ a }}</span>
        {% endfor %}</td>
      <td class="rows">{{ "{:,}".format(v.info.n_rows) }}</td>
      <td class="left">{{ v.algorithm or "–" }}</td>
      <td class="left">{{ v.info.created_by }}</td>
      <td class="left"><code title="{{ v.info.space_id }}">{{ v.info.space_id[:8] }}</code>
        {%- if v.info.number in space_changed %} <span class="chip warn new-space"
          title="a new space: vectors of earlier versions are not comparable with these">
          new space</span>{% endif %}</td>
    </tr>
    {% endfor %}
    </tbody>
  </table>
</section>

{% if drift_rows %}
<h2 class="section" id="drift-h">Drift from the previous version</h2>
<section class="card scroll" aria-labelledby="drift-h">
  <table class="drift">
    <caption>How far each refreshed version moved from the one before, newest first:
      key coverage, neighbour overlap@10, cosine distance of each key's vector to its
      previous one (after alignment), the alignment's relative residual, and whether the
      space was kept</caption>
    <thead><tr>
      <th scope="col">version</th><th scope="col">from</th>
      {% for heading, figure, tip in drift_columns %}
      <th scope="col" title="{{ tip or figure }}" data-figure="{{ figure }}">{{ heading }}</th>
      {%- endfor %}
      <th scope="col" title="relative Procrustes residual">residual</th>
      <th scope="col" class="left">space</th>
    </tr></thead>
    <tbody>
    {% for d in drift_rows %}
    <tr data-version="{{ d.version }}">
      <td>v{{ d.version }}</td>
      <td>{% if d.previous %}v{{ d.previous }}{% else %}–{% endif %}</td>
      {% for value in d["values"] %}<td>{{ value }}</td>{% endfor %}
      <td>{{ d.residual }}</td>
      <td class="left">{% if d.space_changed %}<span class="chip warn">{{ d.space }}</span>
        {%- else %}<span class="chip neutral">{{ d.space }}</span>{% endif %}</td>
    </tr>
    {% endfor %}
    </tbody>
  </table>
</section>
{% endif %}

<h2 class="section" id="lineage-h">Lineage</h2>
<section class="card" aria-labelledby="lineage-h">
  {% for v in versions | reverse %}
  <details class="lineage" data-version="{{ v.info.number }}"
    {%- if v.info.number == selected.number %} open{% endif %}>
    <summary>v{{ v.info.number }}
      {%- if v.info.aliases %} ({{ v.info.aliases | join(", ") }}){% endif %}
      &middot; {{ v.algorithm or "published directly" }}</summary>
    <dl class="facts">
      <dt>Sources</dt>
      <dd>
      {% for s in v.sources %}
        <div><strong>{{ s.name }}</strong>: <code>{{ s.where }}</code>
          {% if s.sha256 %}<span class="muted">sha256 {{ s.sha256[:12] }}</span>{% endif %}
          {% if s.rows %}<span class="muted">&middot; {{ s.rows }}</span>{% endif %}</div>
      {% else %}
        <span class="muted">not recorded (published through the Python API or HTTP)</span>
      {% endfor %}
      </dd>
      {% if v.selection %}
      <dt>Selection</dt>
      <dd class="params">{% for p in v.selection %}<code>{{ p }}</code>{% endfor %}</dd>
      {% endif %}
      <dt>Algorithm</dt><dd>{{ v.algorithm or "–" }}</dd>
      {% if v.params %}
      <dt>Params</dt>
      <dd class="params">{% for p in v.params %}<code
        {%- if p.differs %} class="differs" title="differs from the parent"{% endif %}>
        {{- p.text }}</code>{% endfor %}</dd>
      {% endif %}
      <dt>Parent</dt>
      <dd>{% if v.info.parent %}v{{ v.info.parent }}{% else %}–{% endif %}</dd>
      <dt>Code</dt><dd>{{ v.info.code_version }}</dd>
      <dt>Content</dt>
      <dd><code title="{{ v.info.content_hash }}">sha256 {{ v.info.content_hash[:16] }}</code></dd>
      {% if v.gates %}
      <dt>Gates</dt>
      <dd>{% for g in v.gates %}<div><code>{{ g.gate }}</code>
        {% if g.passed %}<span class="delta better">passed</span>
        {% else %}<span class="delta worse">failed</span>{% endif %}</div>{% endfor %}</dd>
      {% endif %}
      {% if v.spec %}
      <dt>Spec</dt>
      <dd><details><summary>resolved spec</summary>
        <pre class="spec">{{ v.spec }}</pre></details></dd>
      {% endif %}
    </dl>
  </details>
  {% endfor %}
</section>

<h2 class="section" id="use-h">Use it</h2>
<section class="card" aria-labelledby="use-h">
  {% for s in snippets %}
  <div class="snippet">
    <div class="snippet-head"><h3>{{ s.title }}</h3>
      <button type="button" class="secondary small" data-copy="snippet-{{ s.id }}"
        aria-label="Copy the {{ s.title }} snippet">Copy</button></div>
    <pre class="code" id="snippet-{{ s.id }}">{{ s.code }}</pre>
  </div>
  {% endfor %}
</section>
{% endblock %}
"""

EXPLORE = """\
{% extends "base.html" %}
{% block title %}Neighbours in {{ table.name }}{% endblock %}
{% block main %}
<p class="small"><a href="{{ table_url }}">&larr; {{ table.name }}</a></p>
<h1>Neighbours in {{ table.name }}</h1>
<p class="lede">Type a key to see its nearest rows by {{ table.metric }} similarity, through
  the same search as <code>POST /tables/{{ table.name }}/neighbors</code>. Choose a neighbour
  to explore from it.</p>
<form class="card explorer" method="get" data-api="{{ api }}" role="search"
  aria-label="Find neighbours">
  <div class="combo">
    <label for="explore-key">Key</label>
    <input id="explore-key" name="key" type="text" value="{{ key or '' }}" autocomplete="off"
      role="combobox" aria-autocomplete="list" aria-expanded="false"
      aria-controls="explore-suggestions" aria-describedby="explore-hint"
      placeholder="e.g. {{ example_key }}" spellcheck="false">
    <ul id="explore-suggestions" class="listbox" role="listbox" aria-label="Keys" hidden></ul>
    <span id="explore-hint" class="visually-hidden">Suggestions appear as you type; use the
      arrow keys to choose one and Enter to search.</span>
  </div>
  {% if table.entities | length > 1 %}
  <div class="field">
    <label for="explore-entity">Key's entity type</label>
    <select id="explore-entity" name="entity">
      {% for e in table.entities %}
      <option{% if e == entity %} selected{% endif %}>{{ e }}</option>
      {% endfor %}
    </select>
  </div>
  <div class="field">
    <label for="explore-target">Neighbours of type</label>
    <select id="explore-target" name="target">
      <option value="">any type</option>
      {% for e in table.entities %}
      <option{% if e == target %} selected{% endif %}>{{ e }}</option>
      {% endfor %}
    </select>
  </div>
  {% endif %}
  <div class="field">
    <label for="explore-k">How many</label>
    <select id="explore-k" name="k">
      {% for n in [5, 10, 20, 50, 100] %}
      <option{% if n == k %} selected{% endif %}>{{ n }}</option>
      {% endfor %}
    </select>
  </div>
  <div class="field">
    <label for="explore-version">Version</label>
    <select id="explore-version" name="v">
      <option value="">latest (v{{ table.latest_version }})</option>
      {% for v in versions | reverse %}
      <option value="{{ v.number }}"{% if v.number | string == version_ref %} selected{% endif %}>
        v{{ v.number }}{% if v.aliases %} ({{ v.aliases | join(", ") }}){% endif %}</option>
      {% endfor %}
    </select>
  </div>
  <button type="submit">Find neighbours</button>
</form>
<p id="explore-status" class="status{% if error %} error{% endif %}" role="status"
  aria-live="polite">
  {%- if error %}{{ error }}
  {%- elif result %}{{ result.neighbors | length }} nearest to {{ result.key }} in
  {{ result.table }}@{{ result.version }}. Choose a key to explore from it.{% endif %}</p>
<div class="card scroll" id="explore-results"
  {%- if not result or not result.neighbors %} hidden{% endif %}
  {%- if result %} data-key="{{ result.key }}"{% endif %}>
  <table class="results">
    <caption class="visually-hidden">Nearest neighbours, best first</caption>
    <thead><tr><th scope="col">#</th><th scope="col" class="left">key</th>
      <th scope="col" class="left">entity</th><th scope="col">score</th></tr></thead>
    <tbody>
    {% if result %}{% for n in result.neighbors %}
    <tr><td>{{ loop.index }}</td>
      <td class="key left"><a href="?{{ n.query }}" data-key="{{ n.key }}"
        data-entity="{{ n.entity }}">{{ n.key }}</a></td>
      <td class="left">{{ n.entity }}</td>
      <td class="score">{{ "%.4f" | format(n.score) }}<span class="bar" aria-hidden="true"
        style="width: {{ n.bar }}px"></span></td></tr>
    {% endfor %}{% endif %}
    </tbody>
  </table>
</div>
{% endblock %}
"""

COMPARE = """\
{% extends "base.html" %}
{% from "macros.html" import delta_cell %}
{% block title %}Compare{% endblock %}
{% block main %}
<h1>Compare</h1>
<p class="lede">Two versions of one table, or two tables: their benchmark figures side by
  side with deltas, and for versions of one table how many of each key's nearest
  neighbours stayed the same and how far its vector drifted.</p>
<form class="card filters" method="get" action="/compare" aria-label="Choose what to compare">
  {% for side in pickers %}
  <div class="field grow">
    <label for="pick-{{ side.name }}">{{ side.label }}</label>
    <select id="pick-{{ side.name }}" name="{{ side.name }}">
      {% for group in choices %}
      <optgroup label="{{ group.table }}">
        {% for c in group.versions %}
        <option value="{{ c.ref }}"{% if c.ref == side.value %} selected{% endif %}>
          {{- c.text }}</option>
        {% endfor %}
      </optgroup>
      {% endfor %}
    </select>
  </div>
  {% endfor %}
  <button type="submit">Compare</button>
</form>

{% if error %}
<p class="card status error" role="alert">{{ error }}</p>
{% elif result %}
<h2 class="section">Versions</h2>
<section class="refs">
  {% for ref in refs %}
  <article class="card ref" data-ref="{{ ref.info.table }}@{{ ref.info.version }}">
    <h3><span class="swatch" style="background: {{ ref.color }}" aria-hidden="true"></span>
      <a href="{{ ref.url }}">{{ ref.info.table }}@{{ ref.info.version }}</a></h3>
    <ul class="chips">
      {% if loop.first %}<li class="chip neutral">base of the deltas</li>{% endif %}
      {% for alias in ref.info.aliases %}<li class="chip">{{ alias }}</li>{% endfor %}
    </ul>
    <dl class="facts" style="margin-top:8px">
      <dt>algorithm</dt><dd><strong>{{ ref.info.algorithm or "unknown" }}</strong></dd>
      {% if ref.params %}
      <dt>params</dt>
      <dd class="params">{% for p in ref.params %}<code
        {%- if p.differs %} class="differs" title="differs from the base"{% endif %}>
        {{- p.text }}</code>{% endfor %}</dd>
      {% endif %}
      <dt>created</dt><dd>{{ ref.created }}</dd>
      <dt>rows</dt><dd>{{ "{:,}".format(ref.info.n_rows) }}</dd>
      <dt>dim</dt><dd>{{ ref.info.dim }} &middot; {{ ref.info.metric }}</dd>
      <dt>space</dt><dd><code>{{ ref.info.space_id[:8] }}</code></dd>
    </dl>
  </article>
  {% endfor %}
</section>

{% if overlap %}
<h2 class="section" id="overlap-h">Neighbours kept</h2>
<section class="card overlap" aria-labelledby="overlap-h" data-mean="{{ overlap.mean }}">
  <div>
    <p class="big">{{ "%.1f" | format(overlap.mean) }}
      <span class="muted small">of {{ overlap.k }}</span></p>
    <p class="small muted" style="margin:4px 0 0">of each key's top-{{ overlap.k }} neighbours
      in v{{ overlap.a }} are still among its top-{{ overlap.k }} in v{{ overlap.b }}
      ({{ "%.0f" | format(100 * overlap.mean_fraction) }}&thinsp;%), over {{ overlap.n_keys }}
      keys drawn with seed {{ overlap.seed }}; exact search.</p>
  </div>
  <figure style="margin:0">
    <svg class="hist" viewBox="0 0 {{ hist.width }} {{ hist.height }}" role="img"
      aria-label="How many keys kept 0 to {{ overlap.k }} of their neighbours">
      {% for bar in hist.bars %}
      <rect x="{{ bar.x }}" y="{{ bar.y }}" width="{{ bar.w }}" height="{{ bar.h }}" rx="2"
        fill="#2563eb"><title>{{ bar.n }} key(s) kept {{ bar.kept }} of {{ overlap.k }}</title>
      </rect>
      <text x="{{ bar.x + bar.w / 2 }}" y="{{ hist.height - 4 }}" text-anchor="middle">
        {{- bar.kept }}</text>
      {% if bar.n %}
      <text x="{{ bar.x + bar.w / 2 }}" y="{{ bar.y - 4 }}" text-anchor="middle">{{ bar.n }}</text>
      {% endif %}
      {% endfor %}
    </svg>
    <figcaption>Keys by neighbours kept (0&ndash;{{ overlap.k }}).</figcaption>
  </figure>
</section>
{% elif same_table is false %}
<p class="note">Neighbours are compared only between versions of one table.</p>
{% endif %}

{% if diff %}
<h2 class="section" id="diff-h">Drift between them</h2>
<section class="card scroll" aria-labelledby="diff-h">
  <table class="drift">
    <caption>B measured against A, as <code>embank diff A B</code> and
      <code>GET /tables/&hellip;/diff</code> measure it: key coverage, the median share of
      each key's 10 nearest neighbours kept
      {%- if diff.n_queries %} ({{ "{:,}".format(diff.n_queries | int) }} shared keys drawn
      with seed {{ diff.seed }}){% endif %}, and the cosine distance of each shared key's
      vector to its vector in A after rotating B onto A
      {%- if diff.same_space %} (same space){% else %} (different spaces){% endif %}</caption>
    <thead><tr>
      {% for heading, figure, tip in diff.columns %}
      <th scope="col" title="{{ tip or figure }}" data-figure="{{ figure }}">{{ heading }}</th>
      {%- endfor %}
    </tr></thead>
    <tbody><tr>
      {% for value in diff["values"] %}<td>{{ value }}</td>{% endfor %}
    </tr></tbody>
  </table>
</section>
{% endif %}

<h2 class="section">Benchmarks</h2>
{% if not tasks %}
<p class="card muted">Neither has benchmark figures.</p>
{% endif %}
{% for task in tasks %}
<section class="card task">
  <h3>{{ task.name }}</h3>
  <p class="sub">{{ task.rows | length }} figure(s){% if task.baseline_name %}; baseline:
    {{ task.baseline_name }}{% endif %}</p>
  <div class="task-body">
  {{ task.svg | safe }}
  <div class="scroll">
  <table class="deltas" data-task="{{ task.name }}">
    <caption class="visually-hidden">{{ task.name }}: figures and deltas against the first</caption>
    <thead><tr><th scope="col">figure</th>
      {% for ref in refs %}<th scope="col">{{ ref.label }}</th>{% endfor %}
      <th scope="col">baseline</th></tr></thead>
    <tbody>
    {% for row in task.rows %}
    <tr data-figure="{{ row.figure }}" data-delta="{{ row.delta }}">
      <th scope="row" class="figure left"><span class="prefix">{{ row.task }}.</span>
        {{- row.metric }}</th>
      {% for cell in row.cells %}<td>{{ delta_cell(cell) }}</td>{% endfor %}
      <td>{{ row.baseline }}</td>
    </tr>
    {% endfor %}
    </tbody>
  </table>
  </div>
  </div>
</section>
{% endfor %}
{% else %}
<p class="card muted">Choose two versions above.</p>
{% endif %}
{% endblock %}
"""

ERROR = """\
{% extends "base.html" %}
{% block title %}{{ status }}{% endblock %}
{% block main %}
<h1>{{ heading }}</h1>
<p class="card status error" role="alert">{{ message }}</p>
<p><a href="/">Back to the catalog</a></p>
{% endblock %}
"""

TEMPLATES = {
    "base.html": BASE,
    "macros.html": MACROS,
    "catalog.html": CATALOG,
    "table.html": TABLE,
    "explore.html": EXPLORE,
    "compare.html": COMPARE,
    "error.html": ERROR,
}
