"""Switches shared by the commands that take a project or run a container."""

from __future__ import annotations

from plumbum import cli

from ..settings import Settings
from ..steps import fetch_source, validate


class ProjectOptions:
    path = cli.SwitchAttr(
        ["-p", "--path"],
        str,
        default=None,
        help="The project folder (default: the current one)",
    )
    git = cli.SwitchAttr(
        ["--git"],
        str,
        default=None,
        excludes=["--path"],
        help="Deploy from a git repository (https, ssh, git or scp-style URL)",
    )
    ref = cli.SwitchAttr(
        ["--ref"], str, default=None, help="With --git: a branch, tag or commit"
    )
    subdir = cli.SwitchAttr(
        ["--subdir"],
        str,
        default=None,
        help="With --git: the project's folder in the repository",
    )
    allow_local_git = cli.Flag(
        ["--allow-local-git"],
        help="With --git: accept file:// URLs and local repositories",
    )
    command = cli.SwitchAttr(
        ["-c", "--command"],
        str,
        default=None,
        help="Command to run: a name from the project, or a shell command",
    )
    environment = cli.SwitchAttr(
        ["--environment"],
        str,
        default=None,
        help="Environment to use instead of the command's",
    )

    def validated(self, settings: Settings, require_command: bool = True) -> dict:
        """The pipeline's first document, for a folder or a git checkout."""
        path, source = fetch_source(
            self.path, self.git, self.ref, self.subdir, self.allow_local_git, settings
        )
        return validate(
            path, self.command, self.environment, source, settings, require_command
        )


class ApiOptions:
    api_url = cli.SwitchAttr(
        ["--api-url"],
        str,
        default=None,
        help="Act through this racer server (default: RACER_API_URL)",
    )

    @property
    def client(self):
        """A client of the racer server, or None to act on the local engine."""
        from .. import remote

        return remote.from_env(self.api_url)

    def remote_args(self) -> dict:
        return {
            "path": self.git or self.path or ".",
            "command": self.command,
            "environment": self.environment,
            "ref": self.ref,
            "subdir": self.subdir,
        }


class RunOptions:
    ports = cli.SwitchAttr(
        ["--ports"],
        str,
        list=True,
        help="Publish a port, HOST:CONTAINER (repeatable, or comma-separated)",
    )
    env = cli.SwitchAttr(
        ["-e", "--env"], str, list=True, help="Set a variable, KEY=VALUE"
    )
    name = cli.SwitchAttr(["--name"], str, default=None, help="Container name")
    wait = cli.SwitchAttr(
        ["--wait"],
        cli.Range(0, 3600),
        default=30.0,
        help="Seconds to wait for the published ports to answer (0: don't)",
    )

    @property
    def port_specs(self) -> list[str]:
        return [p for spec in self.ports for p in spec.split(",")]
