"""The command line: ``embank run | benchmark | compare | ls | show | search | neighbors |
export | gc | quickstart``."""

from embank.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
