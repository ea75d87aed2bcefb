"""Solve a project's environment and install it on the host for the image.

py-rattler solves (or reads the lock) and installs into a staging folder
while writing `/opt/env` into every prefix-bearing file, so the Dockerfile
only copies the folder. Staged environments are cached by what decides their
content, so an unchanged environment is neither solved nor installed again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import rattler
from rattler import BuildString, GenericVirtualPackage, MatchSpec, Subdir
from rattler import exceptions as rattler_errors
from rattler.networking import Client, MirrorMiddleware
from rattler.package import PackageName
from rattler.version import Version

from . import lock
from .errors import SolveFailed
from .lock import canonical_channel
from .project import Condarc, Environment
from .settings import ENV_PREFIX, Settings

log = logging.getLogger("racer.conda")

# Bump when the staged layout changes, so old cache entries are not reused.
STAGE_FORMAT = 1
DEFAULTS = ("https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r")


@dataclass
class StagedEnvironment:
    key: str
    prefix: Path
    lock_path: Path
    packages: list[dict]
    reused: bool

    def to_json(self) -> dict:
        return {
            "key": self.key,
            "prefix": str(self.prefix),
            "lock": str(self.lock_path),
            "packages": len(self.packages),
            "reused": self.reused,
        }


def channel_url(name: str, condarc: Condarc) -> list[str]:
    """Where a channel named in a project lives, as conda would resolve it."""
    if "://" in name:
        return [name.rstrip("/")]
    name = canonical_channel(name)
    if name == "defaults":
        return [c.rstrip("/") for c in condarc.default_channels] or list(DEFAULTS)
    if name in condarc.custom_channels:
        return [f"{condarc.custom_channels[name]}/{name}"]
    return [f"{condarc.channel_alias}/{name}"]


def resolve_channels(env: Environment, condarc: Condarc) -> list[str]:
    """The channel URLs to solve from: the environment's, then qualified specs'."""
    names = list(env.channels)
    for spec in env.dependencies:
        channel = MatchSpec(spec, strict=False).channel
        if channel is not None and channel.name not in names:
            names.append(channel.name)
    urls: list[str] = []
    for name in names:
        urls.extend(u for u in channel_url(name, condarc) if u not in urls)
    return urls


def mirror_map(settings: Settings, condarc: Condarc) -> dict[str, list[str]]:
    mirrors = {}
    for channel, mirror in settings.channel_mirrors.items():
        for url in channel_url(channel, condarc):
            mirrors[url] = [mirror]
    return mirrors


def _client(settings: Settings, condarc: Condarc) -> Client:
    return Client([MirrorMiddleware(mirror_map(settings, condarc))])


def virtual_packages(settings: Settings, platform: str) -> list[GenericVirtualPackage]:
    """What the image offers the solver: the base image's glibc, a Linux kernel."""

    def virtual(name, version, build="0"):
        return GenericVirtualPackage(
            PackageName(name), Version(version), BuildString(build)
        )

    arch = "x86_64" if platform == "linux-64" else platform.split("-", 1)[1]
    return [
        virtual("__unix", "0"),
        virtual("__linux", "5.10"),
        virtual("__glibc", settings.glibc),
        virtual("__archspec", "1", arch),
    ]


def environment_key(
    env: Environment,
    channels: list[str],
    settings: Settings,
    condarc: Condarc,
    platform: str,
    lock_text: str | None,
) -> str:
    """Everything that decides the staged environment's content, hashed."""
    inputs = {
        "format": STAGE_FORMAT,
        "platform": platform,
        "glibc": settings.glibc,
        "channels": channels,
        "mirrors": mirror_map(settings, condarc),
        "dependencies": sorted(conda_specs(env)),
        "lock": hashlib.sha256(lock_text.encode()).hexdigest() if lock_text else None,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:20]


def conda_specs(env: Environment) -> list[str]:
    """The specs to solve; a `pip:` section needs pip itself, as conda adds it."""
    specs = list(env.dependencies)
    names = {str(MatchSpec(s, strict=False).name.normalized) for s in specs}
    if env.pip and "pip" not in names:
        specs.append("pip")
    return specs


async def _solve(env: Environment, channels, settings, condarc, platform):
    gateway = rattler.Gateway(
        cache_dir=settings.cache_dir / "repodata",
        client=_client(settings, condarc),
    )
    return await rattler.solve(
        sources=channels,
        specs=conda_specs(env),
        gateway=gateway,
        platforms=[platform, "noarch"],
        virtual_packages=virtual_packages(settings, platform),
    )


def solve(
    env: Environment,
    channels: list[str],
    settings: Settings,
    condarc: Condarc,
    platform: str,
) -> list:
    log.info("solving environment '%s' from %s", env.name, ", ".join(channels))
    try:
        return asyncio.run(_solve(env, channels, settings, condarc, platform))
    except rattler_errors.SolverError as exc:
        reason = " ".join(str(exc).split())
        raise SolveFailed(
            f"environment '{env.name}' does not solve: {reason}",
            environment=env.name,
            files=env.files,
            step="solve",
        ) from None
    except (
        rattler_errors.GatewayError,
        rattler_errors.FetchRepoDataError,
        rattler_errors.InvalidChannelError,
        rattler_errors.IoError,
    ) as exc:
        reason = " ".join(str(exc).split())
        raise SolveFailed(
            f"cannot read channels for environment '{env.name}': {reason}",
            environment=env.name,
            channels=channels,
            step="solve",
        ) from None


def install(
    records: list, prefix: Path, settings: Settings, condarc: Condarc, platform: str
) -> None:
    log.info("installing %d packages", len(records))
    try:
        asyncio.run(
            rattler.install(
                records,
                target_prefix=prefix,
                cache_dir=settings.cache_dir / "pkgs",
                platform=Subdir(platform),
                alternative_target_prefix=ENV_PREFIX,
                client=_client(settings, condarc),
                show_progress=False,
                execute_link_scripts=False,
            )
        )
    except (
        rattler_errors.InstallerError,
        rattler_errors.TransactionError,
        rattler_errors.LinkError,
        rattler_errors.IoError,
        rattler_errors.ExtractError,
    ) as exc:
        reason = " ".join(str(exc).split())
        raise SolveFailed(
            f"cannot install the environment: {reason}", step="install"
        ) from None


def package_list(records: list) -> list[dict]:
    return sorted(
        (
            {
                "name": str(r.name.normalized),
                "version": str(r.version),
                "build": str(r.build),
                "url": str(r.url),
                "sha256": r.sha256.hex() if r.sha256 else None,
            }
            for r in records
        ),
        key=lambda p: p["name"],
    )


def stage(
    env: Environment,
    condarc: Condarc,
    settings: Settings,
    platform: str,
    locked_records: list | None = None,
    lock_text: str | None = None,
) -> StagedEnvironment:
    """The environment installed under the cache, reused when nothing changed."""
    channels = resolve_channels(env, condarc)
    key = environment_key(env, channels, settings, condarc, platform, lock_text)
    root = settings.cache_dir / "envs" / key
    if (root / "packages.json").is_file():
        log.info("reusing the staged environment %s", key)
        packages = json.loads((root / "packages.json").read_text())
        return StagedEnvironment(
            key, root / "env", root / "conda-lock.yml", packages, True
        )

    records = (
        locked_records
        if locked_records is not None
        else solve(env, channels, settings, condarc, platform)
    )
    root.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root.parent))
    try:
        install(records, work / "env", settings, condarc, platform)
        lock.write_lock(records, env, platform, work / "conda-lock.yml")
        packages = package_list(records)
        (work / "packages.json").write_text(json.dumps(packages, indent=1))
        _publish(work, root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return StagedEnvironment(
        key, root / "env", root / "conda-lock.yml", packages, False
    )


def _publish(work: Path, root: Path) -> None:
    # A rename is atomic: a build killed halfway never leaves a half
    # environment that looks finished. A concurrent build may win the race.
    try:
        os.rename(work, root)
    except OSError:
        if not (root / "packages.json").is_file():
            raise
