"""Run a ``fromnoise`` command in-process, as the tests do (click's CliRunner)."""

from click.testing import CliRunner

from fromnoise.cli.main import cli


def run(*args, ok=True):
    """Invoke ``fromnoise ARGS``; with ``ok``, assert it exited 0 (the output is in the message)."""
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result
