"""The files of a project that go into its image, and the build context."""

from __future__ import annotations

import fnmatch
import io
import os
import tarfile
import tempfile
from pathlib import Path

# Never shipped: version control, local environments, caches.
ALWAYS_IGNORED = (
    ".git",
    ".hg",
    ".svn",
    "envs",
    ".racer",
    "__pycache__",
    "*.pyc",
    ".venv",
    ".mypy_cache",
    ".pytest_cache",
)


def _read_patterns(path: Path) -> list[str]:
    if not path.is_file():
        return []
    patterns = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append(line)
    return patterns


def ignore_patterns(project_dir: Path) -> list[str]:
    """`.dockerignore` decides; without one, `.gitignore` does."""
    patterns = _read_patterns(project_dir / ".dockerignore")
    if not patterns:
        patterns = _read_patterns(project_dir / ".gitignore")
    return list(ALWAYS_IGNORED) + patterns


def _matches(rel: str, pattern: str) -> bool:
    anchored = pattern.startswith("/")
    pattern = pattern.strip("/")
    if anchored or "/" in pattern:
        return fnmatch.fnmatchcase(rel, pattern) or rel.startswith(pattern + "/")
    return any(fnmatch.fnmatchcase(part, pattern) for part in rel.split("/"))


def is_ignored(rel: str, patterns: list[str]) -> bool:
    # Later patterns win, and `!pattern` takes a path back in, as in Docker.
    ignored = False
    for pattern in patterns:
        if pattern.startswith("!"):
            if _matches(rel, pattern[1:]):
                ignored = False
        elif _matches(rel, pattern):
            ignored = True
    return ignored


def project_files(project_dir: Path) -> list[str]:
    """Relative paths of the files to ship, sorted, symlinks out of the tree dropped."""
    patterns = ignore_patterns(project_dir)
    root = project_dir.resolve()
    files = []
    for dirpath, dirnames, filenames in os.walk(project_dir):
        base = Path(dirpath).relative_to(project_dir).as_posix()
        prefix = "" if base == "." else base + "/"
        dirnames[:] = sorted(
            d for d in dirnames if not is_ignored(prefix + d, patterns)
        )
        for name in sorted(filenames):
            rel = prefix + name
            path = project_dir / rel
            if is_ignored(rel, patterns):
                continue
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                continue
            files.append(rel)
    return files


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write_context(
    dockerfile: str, env_prefix: Path, project_dir: Path, requirements: list[str]
) -> tempfile.SpooledTemporaryFile:
    """A tar of the Dockerfile, the staged environment and the project's files."""
    out = tempfile.TemporaryFile(prefix="racer-context-")  # noqa: SIM115 - the caller closes it
    with tarfile.open(fileobj=out, mode="w") as tar:
        _add_bytes(tar, "Dockerfile", dockerfile.encode())
        if requirements:
            _add_bytes(
                tar, "requirements.txt", ("\n".join(requirements) + "\n").encode()
            )
        tar.add(env_prefix, arcname="env")
        info = tarfile.TarInfo("app")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        for rel in project_files(project_dir):
            tar.add(project_dir / rel, arcname=f"app/{rel}", recursive=False)
    out.seek(0)
    return out
