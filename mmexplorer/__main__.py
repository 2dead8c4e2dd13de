"""`mmexplorer` and `python -m mmexplorer`: a subcommand runs the command line, anything else opens the window.

The dispatch lives here rather than in cli.py so that the subcommands never import the GUI
(app, worker, ui, Qt): an import-linter contract in pyproject.toml checks that, and it follows
indirect imports.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from mmexplorer import cli


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: `mmexplorer [FOLDER...]` opens the window, `mmexplorer SUBCOMMAND ...` runs it."""
    args = list(sys.argv[1:] if argv is None else argv)
    if cli.is_subcommand(args):
        return cli.main(args)
    options = cli.parse_gui_args(args)
    from mmexplorer.app import run_gui  # here, not above: a subcommand never pays for the GUI's imports

    return run_gui(options.folders, data_dir=options.data_dir, model=options.model)


if __name__ == "__main__":
    raise SystemExit(main())
