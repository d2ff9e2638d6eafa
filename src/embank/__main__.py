"""``python -m embank`` is the ``embank`` command."""

from embank.cli import main

main()
