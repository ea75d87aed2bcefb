"""racer-ps: the containers racer runs, as a JSON list."""

from __future__ import annotations

from ..cli import Command
from ..containers import list_containers


class Ps(Command):
    """List racer's containers (running and stopped) as a JSON list.

    Example: racer-ps | jq '.[].name'
    """

    PROGNAME = "racer-ps"

    def execute(self):
        return list_containers()


def main():
    Ps.run()
