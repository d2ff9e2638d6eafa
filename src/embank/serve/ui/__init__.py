"""The web UI of ``embank serve``: server-rendered pages over the same bank as the API.

``/`` the catalog, ``/t/{ns}/{name}`` a table (map, benchmarks, versions, lineage,
usage), ``/t/{ns}/{name}/explore`` its neighbour explorer, ``/compare`` two versions or
tables. Modules: ``pages`` (routes), ``views`` (what each page shows), ``templates``
(Jinja2) and ``assets`` (stylesheet and script), both as Python strings.
"""

from embank.serve.ui.pages import router, warm_up

__all__ = ["router", "warm_up"]
