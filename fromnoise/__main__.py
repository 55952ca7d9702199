"""``python -m fromnoise`` runs the ``fromnoise`` command (also ``accelerate launch -m fromnoise``)."""

from fromnoise.cli.main import cli

if __name__ == "__main__":
    cli(prog_name="fromnoise")
