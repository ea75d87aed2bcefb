"""The server's settings: the environment, then a `.env` file in the working folder.

A variable set in the environment wins over the same one in `.env`.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from racer_tools.archive import DEFAULT_MAX_BYTES, DEFAULT_MAX_MEMBERS, Limits
from racer_tools.errors import UsageError
from racer_tools.settings import read_config_file

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# An upload is base64 in JSON: a third larger than the tar.gz it carries.
DEFAULT_MAX_BODY = 128 * 1024 * 1024
# Each deploy holds a thread while it builds; health checks need some left.
DEFAULT_THREADS = 16
TRUE_WORDS = {"1", "true", "yes", "on"}


def read_dotenv(folder: Path) -> dict[str, str]:
    """KEY=VALUE lines of `.env`; quotes around a value are dropped."""
    values = read_config_file(folder / ".env")
    return {k.removeprefix("export ").strip(): _unquoted(v) for k, v in values.items()}


def _unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _int(values: dict, name: str, default: int, low: int = 0, high: int = 2**63) -> int:
    text = values.get(name)
    if not text:
        return default
    try:
        number = int(text)
    except ValueError:
        raise UsageError(
            f"{name} '{text}' is not a whole number", setting=name
        ) from None
    if not low <= number <= high:
        raise UsageError(f"{name} must be between {low} and {high}", setting=name)
    return number


@dataclass(frozen=True)
class ServerConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    debug: bool = False
    token: str | None = None
    allowed_roots: tuple[Path, ...] = ()
    max_body: int = DEFAULT_MAX_BODY
    limits: Limits = field(default_factory=Limits)
    threads: int = DEFAULT_THREADS

    @classmethod
    def load(cls, folder: Path | None = None) -> ServerConfig:
        values = merged_values(folder)
        roots = values.get("RACER_ALLOWED_ROOTS", "")
        return cls(
            host=values.get("API_HOST") or DEFAULT_HOST,
            port=_int(values, "API_PORT", DEFAULT_PORT, 1, 65535),
            debug=values.get("DEBUG", "").lower() in TRUE_WORDS,
            token=values.get("RACER_API_TOKEN") or None,
            allowed_roots=tuple(
                Path(r).expanduser().resolve() for r in roots.split(":") if r.strip()
            ),
            max_body=_int(values, "RACER_API_MAX_BODY", DEFAULT_MAX_BODY, 1),
            limits=Limits(
                max_bytes=_int(values, "RACER_API_MAX_UNPACKED", DEFAULT_MAX_BYTES, 1),
                max_members=_int(values, "RACER_API_MAX_FILES", DEFAULT_MAX_MEMBERS, 1),
            ),
            threads=_int(values, "RACER_API_THREADS", DEFAULT_THREADS, 1, 1024),
        )

    @property
    def url(self) -> str:
        host = DEFAULT_HOST if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"

    def check_exposure(self) -> None:
        """Refuse to listen beyond this machine without a token."""
        if not self.token and not is_loopback(self.host):
            raise UsageError(
                f"refusing to listen on {self.host} without RACER_API_TOKEN: anyone who "
                "reaches it could run containers here; set a token or use 127.0.0.1",
                setting="API_HOST",
            )


def merged_values(folder: Path | None = None) -> dict[str, str]:
    values = read_dotenv(folder or Path.cwd())
    values.update(os.environ)
    return values


def export_dotenv(folder: Path | None = None) -> None:
    """Put `.env`'s values into the environment, so racer's own settings
    (RACER_BASE_IMAGE, DOCKER_HOST, ...) read them too; the environment wins."""
    for key, value in read_dotenv(folder or Path.cwd()).items():
        os.environ.setdefault(key, value)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(found) and all(ipaddress.ip_address(f[4][0]).is_loopback for f in found)
