"""Where a request's project comes from: an upload, a git URL, or the server's disk.

A remote caller cannot name a folder on its own disk, so the project arrives
as a base64 tar.gz (`archive`), as a git URL (`git`), or as a folder on the
server under one of the roots `RACER_ALLOWED_ROOTS` allows (`path`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from racer_tools import archive, steps
from racer_tools.errors import BadInput

from .config import ServerConfig
from .inputs import optional_text

KINDS = ("archive", "git", "path")


@dataclass
class Source:
    """A project folder readable now, and what to record about where it came from."""

    path: Path
    kind: str
    # None lets the steps record the folder itself, as the local commands do.
    info: dict | None = field(default=None)

    def record(self, project_name: str, app: str | None) -> dict | None:
        """The `source` of the pipeline document; its origin names the app.

        An upload lands in a new folder each time, so its origin is the app's
        name (the project's unless `app` is given): two uploads of one project
        are one app, and the second replaces the first.
        """
        if self.kind != "archive":
            return self.info
        return {**(self.info or {}), "origin": f"archive:{app or project_name}"}


def _which_kind(body: dict) -> str:
    given = [kind for kind in KINDS if body.get(kind) is not None]
    if len(given) != 1:
        raise BadInput(
            "give the project as exactly one of 'archive' (base64 tar.gz), "
            "'git' ({\"url\": ...}) or 'path' (a folder on the server)",
            given=given,
        )
    return given[0]


def _decoded_archive(body: dict) -> bytes:
    text = body["archive"]
    if not isinstance(text, str):
        raise BadInput("'archive' must be a base64 string", field="archive")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput("'archive' is not valid base64", field="archive") from None
    if not data:
        raise BadInput("'archive' is empty", field="archive")
    return data


@contextlib.contextmanager
def _from_archive(body: dict, config: ServerConfig) -> Iterator[Source]:
    data = _decoded_archive(body)
    info = {"kind": "archive", "sha256": hashlib.sha256(data).hexdigest()}
    with archive.unpacked(data, config.limits) as folder:
        yield Source(folder, "archive", info)


@contextlib.contextmanager
def _from_git(body: dict) -> Iterator[Source]:
    git = body["git"]
    if not isinstance(git, dict):
        raise BadInput(
            "'git' must be an object with 'url' and optionally 'ref', 'subdir'",
            field="git",
        )
    url = optional_text(git, "url")
    if url is None:
        raise BadInput("'git.url' is required", field="git.url")
    ref, subdir = optional_text(git, "ref"), optional_text(git, "subdir")
    # The server never reads its own repositories: no file:// URLs, no paths.
    path, info = steps.fetch_source(None, url, ref, subdir, allow_local=False)
    info = {k: v for k, v in (info or {}).items() if v is not None}
    yield Source(Path(path), "git", {"kind": "git", **info})


def allowed_folder(text: str, roots: tuple[Path, ...]) -> Path:
    """The folder, resolved, if it lies under an allowed root."""
    if not roots:
        raise BadInput(
            "this server reads no folders of its own (RACER_ALLOWED_ROOTS is "
            "empty); upload an archive or give a git URL",
            field="path",
        )
    path = Path(text)
    if not path.is_absolute():
        raise BadInput("'path' must be an absolute path on the server", field="path")
    resolved = path.resolve()
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise BadInput(
            f"'{text}' is not under a folder this server allows", field="path"
        )
    return resolved


@contextlib.contextmanager
def _from_path(body: dict, config: ServerConfig) -> Iterator[Source]:
    text = optional_text(body, "path")
    yield Source(allowed_folder(text, config.allowed_roots), "path")


@contextlib.contextmanager
def project_source(body: dict, config: ServerConfig) -> Iterator[Source]:
    """The request's project as a folder, for the length of the request."""
    kind = _which_kind(body)
    if kind == "archive":
        opened = _from_archive(body, config)
    elif kind == "git":
        opened = _from_git(body)
    else:
        opened = _from_path(body, config)
    with opened as source:
        yield source
