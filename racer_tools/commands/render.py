"""racer-render: add the rendered Dockerfile to the pipeline's document."""

from __future__ import annotations

from ..cli import Command, read_input
from ..settings import Settings
from ..steps import render


class Render(Command):
    """Render the project's Dockerfile from the document on stdin.

    Example: racer-validate --path test-project | racer-render
    """

    PROGNAME = "racer-render"

    def execute(self):
        return render(read_input(), Settings.load())


def main():
    Render.run()
