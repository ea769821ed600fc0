"""Entry point of the ``vinnp`` command.

Bad input anywhere below surfaces as a ValueError or a click usage error; both
are printed as one line on stderr with exit status 2, never as a traceback.
"""

import importlib
import sys

import click

# Subcommands live in their own modules and are imported only when invoked, so
# `vinnp --help` and `vinnp forecast` stay fast and compile nothing.
_COMMANDS = {
    "data": ("vinnp.cli.data", "data"),
    "train": ("vinnp.cli.train", "train"),
    "evaluate": ("vinnp.cli.train", "evaluate"),
    "forecast": ("vinnp.cli.forecast", "forecast"),
    "control": ("vinnp.cli.control", "control"),
    "experiment": ("vinnp.cli.experiment", "experiment"),
    "gradcheck": ("vinnp.cli.gradcheck", "gradcheck"),
    "bench": ("vinnp.cli.bench", "bench"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(name for name in _COMMANDS if self._available(name))

    @staticmethod
    def _available(name):
        module, _ = _COMMANDS[name]
        return importlib.util.find_spec(module) is not None

    def get_command(self, ctx, name):
        if name not in _COMMANDS or not self._available(name):
            return None
        module, attr = _COMMANDS[name]
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vinnp")
def cli():
    """Variational Integrator Networks: learn physical dynamics from data."""


def main(argv=None):
    """Console-script entry point; returns through sys.exit with 0, 1 or 2."""
    try:
        rv = cli.main(args=argv, prog_name="vinnp", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("vinnp: aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        click.echo(f"vinnp: error: {exc.format_message()}", err=True)
        sys.exit(2)
    except ValueError as exc:
        click.echo(f"vinnp: error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:  # the last guard: the checks above the work should have caught it
        click.echo(f"vinnp: error: {exc.filename or ''}: {exc.strerror or exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("vinnp: interrupted", err=True)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
