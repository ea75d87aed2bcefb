"""racer-up: run the built image as the project's container."""

from __future__ import annotations

from ..cli import Command, read_input
from ..steps import run_image
from ..up import parse_env, parse_ports
from .options import RunOptions


class Up(RunOptions, Command):
    """Run the image built by racer-build, replacing the app's older container.

    Example: racer-validate --path P | racer-render | racer-build | racer-up --ports 8080:8000
    """

    PROGNAME = "racer-up"

    def execute(self):
        parse_ports(self.port_specs)
        parse_env(self.env)
        return run_image(read_input(), self.port_specs, self.env, self.name, self.wait)


def main():
    Up.run()
