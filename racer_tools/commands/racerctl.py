"""racerctl: administer the containers racer runs, and the racer server.

`racerctl containers ...` acts on the local engine, or on a racer server when
`--api-url` or `RACER_API_URL` names one; the output and exit codes are the
same either way.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from plumbum import cli

from .. import __version__, containers, remote
from ..cli import Command, Group, Output


class RacerCtl(Group):
    """Administer racer's containers and the racer server.

    Example: racerctl containers list
    """

    PROGNAME = "racerctl"
    VERSION = __version__


class ApiOption:
    api_url = cli.SwitchAttr(
        ["--api-url"],
        str,
        default=None,
        help="A racer server to act on (default: RACER_API_URL); "
        "without one, act on the local engine",
    )

    @property
    def client(self) -> remote.Client | None:
        return remote.from_env(self.api_url)

    def server_client(self) -> remote.Client:
        """The server to ask: the one named, else the local server's address."""
        from server.main import load_config

        config = load_config()
        return remote.from_env(self.api_url, config.url, config.token)


def _write(text: str) -> None:
    Output.stream.write(text)
    Output.stream.flush()


def _write_bytes(data: bytes) -> None:
    out = getattr(Output.stream, "buffer", None)
    if out is None:
        _write(data.decode(errors="replace"))
        return
    out.write(data)
    out.flush()


# Asking the server.


@RacerCtl.subcommand("health")
class Health(ApiOption, Command):
    """Ask whether the racer server answers. Example: racerctl health"""

    def execute(self):
        return self.server_client().call("GET", "/health")


@RacerCtl.subcommand("liveness")
class Liveness(ApiOption, Command):
    """The server's liveness probe. Example: racerctl liveness"""

    def execute(self):
        return self.server_client().call("GET", "/liveness")


@RacerCtl.subcommand("readiness")
class Readiness(ApiOption, Command):
    """Ask whether the server can reach its Docker engine. Example: racerctl readiness"""

    def execute(self):
        return self.server_client().call("GET", "/ready")


@RacerCtl.subcommand("info")
class Info(ApiOption, Command):
    """The server's name, version and endpoints. Example: racerctl info"""

    def execute(self):
        return self.server_client().call("GET", "/")


# Running the server.


@RacerCtl.subcommand("server")
class Server(Group):
    """Run the racer server in the background, or in the foreground.

    Example: racerctl server start
    """


class ServerOptions:
    host = cli.SwitchAttr(
        ["--host"],
        str,
        default=None,
        help="Address to listen on (default: API_HOST, else 127.0.0.1)",
    )
    port = cli.SwitchAttr(
        ["--port"],
        cli.Range(1, 65535),
        default=None,
        help="Port to listen on (default: API_PORT, else 8000)",
    )
    pid_file = cli.SwitchAttr(
        ["--pid-file"],
        str,
        default=None,
        help="Where the server's pid is kept "
        "(default: ~/.cache/racer/server/server.pid)",
    )
    log_file = cli.SwitchAttr(
        ["--log-file"],
        str,
        default=None,
        help="Where the server's output goes "
        "(default: ~/.cache/racer/server/server.log)",
    )

    @property
    def files(self):
        from server.daemon import Files

        defaults = Files()
        return Files(
            Path(self.pid_file).expanduser() if self.pid_file else defaults.pid_file,
            Path(self.log_file).expanduser() if self.log_file else defaults.log_file,
        )

    @property
    def config(self):
        from server.main import load_config

        return load_config(self.host, self.port)


@Server.subcommand("start")
class ServerStart(ServerOptions, Command):
    """Start the server in the background, or here with --foreground.

    Example: racerctl server start --port 8000
    """

    foreground = cli.Flag(
        ["--foreground"], help="Run in this process until interrupted"
    )

    def execute(self):
        from server import daemon, main

        if self.foreground:
            # Ctrl-C is how a foreground server is meant to stop, not an error.
            with contextlib.suppress(KeyboardInterrupt):
                main.run(self.config)
            return {"running": False, "stopped": True}
        return daemon.start(self.config, self.files)


@Server.subcommand("stop")
class ServerStop(ServerOptions, Command):
    """Stop the background server. Example: racerctl server stop"""

    def execute(self):
        from server import daemon

        return daemon.stop(self.files)


@Server.subcommand("status")
class ServerStatus(ServerOptions, Command):
    """Show whether the background server runs and answers. Example: racerctl server status"""

    def execute(self):
        from server import daemon

        return daemon.status(self.config, self.files)


@Server.subcommand("restart")
class ServerRestart(ServerOptions, Command):
    """Stop the background server, then start it again. Example: racerctl server restart"""

    def execute(self):
        from server import daemon

        daemon.stop(self.files)
        return daemon.start(self.config, self.files)


# The containers, here or on a server.


@RacerCtl.subcommand("containers")
class Containers(Group):
    """List, inspect, tail, stop and remove racer's containers."""


@Containers.subcommand("list")
class ListContainers(ApiOption, Command):
    """List racer's containers.

    Example: racerctl containers list
    """

    running = cli.Flag(["--running"], help="Only running containers")

    def execute(self):
        client = self.client
        if client is not None:
            return remote.list_containers(client, self.running)
        return {"containers": containers.list_containers(all=not self.running)}


@Containers.subcommand("status")
class ContainerStatus(ApiOption, Command):
    """Show one container. Example: racerctl containers status ID"""

    def execute(self, container_id):
        client = self.client
        if client is not None:
            return remote.container_status(client, container_id)
        return containers.status(container_id)


@Containers.subcommand("logs")
class ContainerLogs(ApiOption, Command):
    """Print a container's output. Example: racerctl containers logs ID --tail 50"""

    tail = cli.SwitchAttr(
        ["-n", "--tail"],
        cli.Range(0, 1_000_000),
        default=None,
        help="Only the last N lines",
    )
    since = cli.SwitchAttr(
        ["--since"], int, default=None, help="Only lines since this Unix time"
    )
    follow = cli.Flag(["-f", "--follow"], help="Keep printing new output")

    def execute(self, container_id):
        client = self.client
        if client is not None:
            self._print_remote(client, container_id)
            return 0
        result = containers.logs(container_id, self.tail, self.since, self.follow)
        for chunk in result if self.follow else [result]:
            _write_bytes(chunk)
        return 0

    def _print_remote(self, client, container_id):
        if not self.follow:
            _write(remote.container_logs(client, container_id, self.tail, self.since))
            return
        for line in remote.follow_logs(client, container_id, self.tail, self.since):
            _write(line)


@Containers.subcommand("stop")
class ContainerStop(ApiOption, Command):
    """Stop a container. Example: racerctl containers stop ID"""

    timeout = cli.SwitchAttr(
        ["-t", "--timeout"],
        cli.Range(0, 1_000_000),
        default=10,
        help="Seconds to wait before killing it",
    )

    def execute(self, container_id):
        client = self.client
        if client is not None:
            return remote.stop_container(client, container_id, self.timeout)
        return containers.stop(container_id, self.timeout)


@Containers.subcommand("remove")
class ContainerRemove(ApiOption, Command):
    """Remove a container. Example: racerctl containers remove ID --force"""

    force = cli.Flag(["-f", "--force"], help="Remove it even while it runs")

    def execute(self, container_id):
        client = self.client
        if client is not None:
            return remote.remove_container(client, container_id, self.force)
        return containers.remove(container_id, self.force)


@Containers.subcommand("cleanup")
class ContainerCleanup(ApiOption, Command):
    """Remove stopped racer containers and their unused images; nothing else.

    Example: racerctl containers cleanup
    """

    def execute(self):
        client = self.client
        if client is not None:
            return remote.cleanup(client)
        return containers.cleanup()


def main():
    RacerCtl.run()
