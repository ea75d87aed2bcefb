"""racer-build: stage the environment and build the image."""

from __future__ import annotations

from ..cli import Command, read_input
from ..settings import Settings
from ..steps import build_image


class Build(Command):
    """Build the image for the rendered document on stdin.

    Example: racer-validate --path P | racer-render | racer-build
    """

    PROGNAME = "racer-build"

    def execute(self):
        return build_image(read_input(), Settings.load())


def main():
    Build.run()
