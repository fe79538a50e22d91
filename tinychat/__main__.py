"""`python -m tinychat` runs the command line."""

from tinychat.cli import run

run()
