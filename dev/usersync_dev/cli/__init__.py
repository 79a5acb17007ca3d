"""`usersync`: the command line. One module per command group; each registers itself on `app`.

The CLI is a local tool (installed by `pip install -e .` / `make install`), not part of the Lambda
layer's runtime path: handlers never import it.
"""

import typer

app = typer.Typer(
    no_args_is_help=True, add_completion=False,
    help="usersync: run the pipeline locally, validate files before upload, read tokens and jobs, "
         "replay failed records, start the vendor simulators.",
)


def main() -> None:
    # Importing the command modules registers their commands on `app`.
    from usersync_dev.cli import commands  # noqa: F401

    app()
