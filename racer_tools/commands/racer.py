"""racer: deploy a conda-project, and look at what it made."""

from __future__ import annotations

import sys
from pathlib import Path

from plumbum import cli

from .. import __version__, containers, engine, remote
from ..build import relock_environment
from ..cli import Command, Group, emit_text
from ..errors import UsageError
from ..project import load_project
from ..settings import Settings
from ..steps import build_image, render, require_variables, run_image
from ..up import parse_env, parse_ports
from .options import ApiOptions, ProjectOptions, RunOptions


def show_warnings(warnings: list[dict]) -> None:
    for warning in warnings:
        print(
            f"racer: warning: {warning['file']}: {warning['message']}", file=sys.stderr
        )


class Racer(Group):
    """Deploy conda-projects to Docker containers.

    Example: racer run --path test-project --ports 8080:8000
    """

    PROGNAME = "racer"
    VERSION = __version__


@Racer.subcommand("run")
class Run(ApiOptions, ProjectOptions, RunOptions, Command):
    """Validate, render, build and run a project: the whole pipeline.

    Example: racer run --path test-project --ports 8080:8000
    """

    relock = cli.Flag(
        ["--relock"], help="Solve anew and rewrite the project's lock file"
    )

    def execute(self):
        # Bad ports or variables should fail before minutes of building.
        parse_ports(self.port_specs)
        client = self.client
        if client:
            if self.relock:
                raise UsageError("--relock works on the local engine only")
            doc = remote.run(
                client,
                ports=self.port_specs,
                env=self.env,
                name=self.name,
                wait=self.wait,
                **self.remote_args(),
            )
        else:
            doc = self.deploy()
        show_warnings(doc["warnings"] + doc["image"].get("warnings", []))
        container = doc["container"]
        where = ", ".join(container["urls"]) or "no published ports"
        print(
            f"racer: {doc['project']['name']} runs in {container['name']} ({where})",
            file=sys.stderr,
        )
        return doc

    def deploy(self) -> dict:
        settings = Settings.load()
        doc = self.validated(settings)
        require_variables(doc, parse_env(self.env))
        doc = build_image(render(doc, settings), settings, self.relock)
        return run_image(doc, self.port_specs, self.env, self.name, self.wait)


@Racer.subcommand("validate")
class ValidateCmd(ApiOptions, ProjectOptions, Command):
    """Check a project and list its environments and commands.

    Example: racer validate --path test-project
    """

    def execute(self):
        client = self.client
        if client:
            doc = remote.validate(client, **self.remote_args())
        else:
            doc = self.validated(Settings.load(), require_command=False)
        project = doc["project"]
        print(
            f"racer: {project['name']} is valid: environments "
            f"{', '.join(project['environments'])}; commands "
            f"{', '.join(project['commands']) or '(none)'}",
            file=sys.stderr,
        )
        show_warnings(doc["warnings"])
        return {"valid": True, **doc}


@Racer.subcommand("dockerfile")
class Dockerfile(ApiOptions, ProjectOptions, Command):
    """Print the Dockerfile racer would build, or write it with --output.

    Example: racer dockerfile --path test-project --output Dockerfile
    """

    output = cli.SwitchAttr(
        ["-o", "--output"], str, default=None, help="Write to this file"
    )

    def execute(self):
        client = self.client
        if client:
            doc = remote.dockerfile(client, **self.remote_args())
        else:
            settings = Settings.load()
            doc = render(self.validated(settings), settings)
        if self.output is None:
            emit_text(doc["dockerfile"])
            return 0
        target = Path(self.output)
        try:
            target.write_text(doc["dockerfile"])
        except OSError as exc:
            raise UsageError(
                f"cannot write {self.output or repr(self.output)}: {exc.strerror}",
                output=self.output,
            ) from None
        return {"output": str(target.resolve())}


@Racer.subcommand("lock")
class Lock(ProjectOptions, Command):
    """Solve an environment and write its conda-lock file next to the project.

    Example: racer lock --path test-project
    """

    def execute(self):
        settings = Settings.load()
        doc = self.validated(settings)
        project = load_project(doc["project"]["path"])
        environment = doc["selection"]["environment"]
        platform = engine.target_platform(settings)
        written = relock_environment(project, environment, settings, platform)
        return {"lock": str(written), "environment": environment, "platform": platform}


@Racer.subcommand("status")
class Status(ApiOptions, Command):
    """Show the engine and racer's containers, or one container.

    Example: racer status --container-id racer-test-project-1a2b3c
    """

    list_all = cli.Flag(["-l", "--list"], help="List racer's containers")
    container_id = cli.SwitchAttr(
        ["--container-id"], str, default=None, help="Show one container"
    )

    def execute(self):
        if self.container_id is not None and self.list_all:
            raise UsageError("use either --list or --container-id")
        client = self.client
        if client:
            return remote.status(client, self.container_id, self.list_all)
        if self.container_id is not None:
            return containers.status(self.container_id)
        if self.list_all:
            return {"containers": containers.list_containers()}
        listed = containers.list_containers()
        version = engine.client().version()
        return {
            "engine": {
                "version": version.get("Version"),
                "api": version.get("ApiVersion"),
                "platform": engine.platform(),
            },
            "containers": {
                "total": len(listed),
                "running": sum(1 for c in listed if c["status"] == "running"),
            },
        }


def main():
    Racer.run()
