"""The command line: ``embank run | benchmark | compare | ls | show | search | neighbors |
export | gc | quickstart``, and the table administration of :mod:`embank.cli.admin`
(``edit | alias | deprecate | undeprecate | check | online rebuild``), and the
nearest-neighbour commands of :mod:`embank.cli.ann` (``index | candidates``)."""

from embank.cli import admin as _admin  # noqa: F401  (registers its commands on the app)
from embank.cli import ann as _ann  # noqa: F401  (registers index and candidates)
from embank.cli import foldin as _foldin  # noqa: F401  (foldin)
from embank.cli import refresh as _refresh  # noqa: F401  (refresh, diff)
from embank.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
