"""The command line: ``embank run | benchmark | compare | ls | show | search | neighbors |
export | gc | quickstart``, and the table administration of :mod:`embank.cli.admin`
(``edit | alias | deprecate | undeprecate | check | online rebuild``)."""

from embank.cli import admin as _admin  # noqa: F401  (registers its commands on the app)
from embank.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
