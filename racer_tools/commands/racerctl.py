"""racerctl: administer the containers racer runs."""

from __future__ import annotations

from plumbum import cli

from .. import __version__, containers
from ..cli import Command, Group, Output


class RacerCtl(Group):
    """Administer racer's containers.

    Example: racerctl containers list
    """

    PROGNAME = "racerctl"
    VERSION = __version__


@RacerCtl.subcommand("containers")
class Containers(Group):
    """List, inspect, tail, stop and remove racer's containers."""


@Containers.subcommand("list")
class ListContainers(Command):
    """List racer's containers.

    Example: racerctl containers list
    """

    running = cli.Flag(["--running"], help="Only running containers")

    def execute(self):
        return {"containers": containers.list_containers(all=not self.running)}


@Containers.subcommand("status")
class ContainerStatus(Command):
    """Show one container. Example: racerctl containers status ID"""

    def execute(self, container_id):
        return containers.status(container_id)


@Containers.subcommand("logs")
class ContainerLogs(Command):
    """Print a container's output. Example: racerctl containers logs ID --tail 50"""

    tail = cli.SwitchAttr(["-n", "--tail"], cli.Range(0, 1_000_000), default=None,
                          help="Only the last N lines")
    since = cli.SwitchAttr(["--since"], int, default=None,
                           help="Only lines since this Unix time")
    follow = cli.Flag(["-f", "--follow"], help="Keep printing new output")

    def execute(self, container_id):
        out = Output.stream.buffer if hasattr(Output.stream, "buffer") else None
        result = containers.logs(container_id, self.tail, self.since, self.follow)
        chunks = result if self.follow else [result]
        for chunk in chunks:
            if out is not None:
                out.write(chunk)
                out.flush()
            else:
                Output.stream.write(chunk.decode(errors="replace"))
        return 0


@Containers.subcommand("stop")
class ContainerStop(Command):
    """Stop a container. Example: racerctl containers stop ID"""

    timeout = cli.SwitchAttr(["-t", "--timeout"], cli.Range(0, 1_000_000), default=10,
                             help="Seconds to wait before killing it")

    def execute(self, container_id):
        return containers.stop(container_id, self.timeout)


@Containers.subcommand("remove")
class ContainerRemove(Command):
    """Remove a container. Example: racerctl containers remove ID --force"""

    force = cli.Flag(["-f", "--force"], help="Remove it even while it runs")

    def execute(self, container_id):
        return containers.remove(container_id, self.force)


@Containers.subcommand("cleanup")
class ContainerCleanup(Command):
    """Remove stopped racer containers and their unused images; nothing else.

    Example: racerctl containers cleanup
    """

    def execute(self):
        return containers.cleanup()


def main():
    RacerCtl.run()
