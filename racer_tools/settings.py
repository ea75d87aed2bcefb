"""Settings, read from the environment and from racer's config file.

The config file (`~/.config/racer/config.env`, or `$RACER_CONFIG`) holds
KEY=VALUE lines; a variable set in the environment wins over it. This is how
a machine without registries points racer at its own base image and channel
once, for every later command.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UsageError

ENV_PREFIX = "/opt/env"
APP_DIR = "/app"
DEFAULT_BASE_IMAGE = "debian:bookworm-slim"
# glibc of the default base image; the solver needs the image's, not the host's.
DEFAULT_GLIBC = "2.36"


def config_path() -> Path:
    return Path(
        os.environ.get("RACER_CONFIG", "~/.config/racer/config.env")
    ).expanduser()


def read_config_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def parse_mirrors(text: str) -> dict[str, str]:
    """`conda-forge=http://host/cf,defaults=http://host/d` as a mapping."""
    mirrors = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        channel, sep, url = item.partition("=")
        if not sep or not channel.strip() or "://" not in url:
            raise UsageError(
                f"channel mirror '{item}' is not CHANNEL=URL",
                setting="RACER_CHANNEL_MIRRORS",
            )
        mirrors[channel.strip().rstrip("/")] = url.strip().rstrip("/")
    return mirrors


@dataclass(frozen=True)
class Settings:
    base_image: str = DEFAULT_BASE_IMAGE
    channel_mirrors: dict[str, str] = field(default_factory=dict)
    cache_dir: Path = field(default_factory=lambda: Path("~/.cache/racer").expanduser())
    platform: str | None = None
    glibc: str = DEFAULT_GLIBC
    build_timeout: int = 1800

    @classmethod
    def load(cls) -> Settings:
        values = read_config_file(config_path())
        values.update({k: v for k, v in os.environ.items() if k.startswith("RACER_")})
        return cls(
            base_image=values.get("RACER_BASE_IMAGE", DEFAULT_BASE_IMAGE),
            channel_mirrors=parse_mirrors(values.get("RACER_CHANNEL_MIRRORS", "")),
            cache_dir=Path(
                values.get("RACER_CACHE_DIR", "~/.cache/racer")
            ).expanduser(),
            platform=values.get("RACER_PLATFORM") or None,
            glibc=values.get("RACER_GLIBC", DEFAULT_GLIBC),
        )
