"""racer-validate: check a conda-project and start the pipeline's document."""

from __future__ import annotations

from ..cli import Command
from ..settings import Settings
from .options import ProjectOptions


class Validate(ProjectOptions, Command):
    """Check a conda-project and write the pipeline's JSON document.

    Example: racer-validate --path test-project | racer-render
    """

    PROGNAME = "racer-validate"

    def execute(self):
        return self.validated(Settings.load())


def main():
    Validate.run()
