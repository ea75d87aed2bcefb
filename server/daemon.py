"""Run the server in the background: start, stop and ask after it by its pid file.

The pid file holds the pid on its first line and the server's URL on the
second, so `status` and `stop` find the server that `start` began even when
it was started on another port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from racer_tools.errors import Conflict, NotFound, RacerError
from racer_tools.remote import Client

from .config import ServerConfig

DEFAULT_DIR = Path("~/.cache/racer/server").expanduser()
START_WAIT = 20.0
STOP_WAIT = 10.0
POLL = 0.1


@dataclass(frozen=True)
class Files:
    pid_file: Path = DEFAULT_DIR / "server.pid"
    log_file: Path = DEFAULT_DIR / "server.log"

    def to_json(self) -> dict:
        return {"pid_file": str(self.pid_file), "log_file": str(self.log_file)}


def _read_pid_file(files: Files) -> tuple[int | None, str | None]:
    try:
        lines = files.pid_file.read_text().split()
    except OSError:
        return None, None
    try:
        return int(lines[0]), (lines[1] if len(lines) > 1 else None)
    except (ValueError, IndexError):
        return None, None


def _is_our_server(pid: int) -> bool:
    # A pid is reused once its process ends; only a racer server counts.
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and b"-m" in argv and b"server" in argv


def running(files: Files) -> tuple[int, str | None] | None:
    """The pid and URL of the server the pid file names, if it still runs."""
    pid, url = _read_pid_file(files)
    if pid is None or not _is_our_server(pid):
        return None
    return pid, url


def _log_tail(files: Files, lines: int = 5) -> list[str]:
    try:
        text = files.log_file.read_text(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def _wait_until_live(
    process: subprocess.Popen, config: ServerConfig, files: Files, wait: float
) -> None:
    client = Client(config.url, config.token, timeout=2.0)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            files.pid_file.unlink(missing_ok=True)
            tail = _log_tail(files)
            raise RacerError(
                f"the server stopped at start (exit code {process.returncode})"
                + (f": {tail[-1]}" if tail else ""),
                log=tail,
            )
        try:
            client.call("GET", "/liveness")
        except RacerError:
            time.sleep(POLL)
            continue
        # Whoever answered, it must be this process, not another on the port.
        time.sleep(POLL)
        if process.poll() is None:
            return
    raise RacerError(
        f"the server did not answer on {config.url} within {wait:g} s; see "
        f"{files.log_file}",
        log=_log_tail(files),
    )


def _port_is_free(config: ServerConfig) -> str | None:
    """None when the port can be listened on, else why not."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((config.host, config.port))
        except OSError as exc:
            return exc.strerror
    return None


def _require_free_port(config: ServerConfig, wait: float = 5.0) -> None:
    # A server stopped a moment ago may hold its port a little longer.
    deadline = time.monotonic() + wait
    while (reason := _port_is_free(config)) and time.monotonic() < deadline:
        time.sleep(POLL)
    if reason:
        raise Conflict(
            f"cannot listen on {config.host}:{config.port}: {reason}",
            port=config.port,
        )


def start(
    config: ServerConfig, files: Files = Files(), wait: float = START_WAIT
) -> dict:
    """Start the server in the background and wait until it answers."""
    config.check_exposure()
    found = running(files)
    if found:
        raise Conflict(
            f"the racer server already runs (pid {found[0]}, {found[1]})",
            pid=found[0],
            url=found[1],
        )
    _require_free_port(config)
    files.pid_file.parent.mkdir(parents=True, exist_ok=True)
    files.log_file.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "server",
        "--host",
        config.host,
        "--port",
        str(config.port),
    ]
    with open(files.log_file, "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    files.pid_file.write_text(f"{process.pid}\n{config.url}\n")
    _wait_until_live(process, config, files, wait)
    return {"running": True, "pid": process.pid, "url": config.url, **files.to_json()}


def _gone(pid: int) -> bool:
    try:
        # Reap it if this process started it; otherwise its parent is init.
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return not _is_our_server(pid)


def _wait_gone(pid: int, wait: float) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(POLL)
    return _gone(pid)


def stop(files: Files = Files(), wait: float = STOP_WAIT) -> dict:
    """Stop the background server; stopping one that does not run is no error."""
    found = running(files)
    if found is None:
        files.pid_file.unlink(missing_ok=True)
        return {"running": False, "stopped": False, **files.to_json()}
    pid = found[0]
    os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, wait):
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, wait)
    files.pid_file.unlink(missing_ok=True)
    return {"running": False, "stopped": True, "pid": pid, **files.to_json()}


def status(config: ServerConfig, files: Files = Files()) -> dict:
    """The background server's pid, URL and health; NotFound when it does not run."""
    found = running(files)
    if found is None:
        raise NotFound("the racer server is not running", **files.to_json())
    pid, url = found
    url = url or config.url
    try:
        health = Client(url, config.token, timeout=5.0).call("GET", "/health")
    except RacerError:
        health = None
    return {
        "running": True,
        "pid": pid,
        "url": url,
        "answering": health is not None,
        "health": health,
        **files.to_json(),
    }
