"""Switches shared by the commands that take a project or run a container."""

from __future__ import annotations

from plumbum import cli

from ..settings import Settings


class ProjectOptions:
    path = cli.SwitchAttr(["-p", "--path"], str, default=".", help="The project folder")
    command = cli.SwitchAttr(["-c", "--command"], str, default=None,
                             help="Command to run: a name from the project, or a shell "
                                  "command for a project that names none")
    environment = cli.SwitchAttr(["--environment"], str, default=None,
                                 help="Environment to use instead of the command's")

    @property
    def settings(self) -> Settings:
        return Settings.load()


class RunOptions:
    ports = cli.SwitchAttr(["--ports"], str, list=True,
                           help="Publish a port, HOST:CONTAINER (repeatable, or comma-separated)")
    env = cli.SwitchAttr(["-e", "--env"], str, list=True, help="Set a variable, KEY=VALUE")
    name = cli.SwitchAttr(["--name"], str, default=None, help="Container name")
    wait = cli.SwitchAttr(["--wait"], float, default=30.0,
                          help="Seconds to wait for the published ports to answer (0: don't)")

    @property
    def port_specs(self) -> list[str]:
        return [p for spec in self.ports for p in spec.split(",") if p.strip()]
