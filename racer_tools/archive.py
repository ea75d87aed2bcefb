"""Pack a project folder into a tar.gz, and unpack an uploaded one safely.

`racer` sends a project to a remote server as such an archive. The server
unpacks what a stranger sent, so unpacking trusts nothing in it: no absolute
paths, no `..`, no writing through a link, no link that resolves outside the
folder, no device files or fifos, and limits on the size and the number of
members, checked while reading so a small gzip cannot expand without bound.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from .context import project_files
from .errors import BAD_INPUT, BadInput, InvalidProject, RacerError
from .project import ENVIRONMENT_FILES, PROJECT_FILES

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_MEMBERS = 20_000
GZIP_MAGIC = b"\x1f\x8b"
# What a tar adds around its files: a header and padding per member, at most.
TAR_OVERHEAD_PER_MEMBER = 2048
COPY_CHUNK = 1024 * 1024
# Long names and pax records live in headers of their own; real ones are small.
METADATA_TYPES = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)
MAX_METADATA = 1024 * 1024


class UnsafeArchive(BadInput):
    """An uploaded archive is malformed or tries to reach outside its folder."""

    code = "unsafe_archive"


class TooLarge(RacerError):
    """A request or an archive is over one of the server's limits."""

    code = "too_large"
    exit_code = BAD_INPUT
    http_status = 413


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_members: int = DEFAULT_MAX_MEMBERS


def _without_owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # The uploader's user names and ids mean nothing on the server.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack(project_dir: str | Path) -> bytes:
    """The project's files as a tar.gz, leaving out what .dockerignore/.gitignore do."""
    root = Path(project_dir).expanduser()
    if not root.is_dir():
        problem = "no such folder" if not root.exists() else "not a folder"
        raise InvalidProject(f"{problem}: {project_dir}", file=str(project_dir))
    out = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for rel in project_files(root):
            tar.add(root / rel, arcname=rel, recursive=False, filter=_without_owner)
    return out.getvalue()


class _BoundedReader(io.RawIOBase):
    """Reads a stream and fails once more than `limit` bytes came out of it."""

    def __init__(self, stream: BinaryIO, limit: int):
        super().__init__()
        self._stream = stream
        self._left = limit

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self._left + 1:
            size = self._left + 1
        data = self._stream.read(size)
        self._left -= len(data)
        if self._left < 0:
            raise TooLarge("the archive unpacks to more than the server accepts")
        return data


class _CheckedTarInfo(tarfile.TarInfo):
    """Refuses an outsized metadata header before tarfile reads it into memory."""

    def _proc_member(self, tar):
        if self.type in METADATA_TYPES and self.size > MAX_METADATA:
            raise TooLarge(
                f"an archive header holds {self.size} bytes of metadata",
                limit=MAX_METADATA,
            )
        return super()._proc_member(tar)


def _decompressed(data: bytes, limits: Limits) -> BinaryIO:
    raw: BinaryIO = io.BytesIO(data)
    if data[:2] == GZIP_MAGIC:
        raw = gzip.GzipFile(fileobj=raw, mode="rb")
    limit = limits.max_bytes + limits.max_members * TAR_OVERHEAD_PER_MEMBER + COPY_CHUNK
    return _BoundedReader(raw, limit)


def _relative_name(name: str) -> PurePosixPath | None:
    """The member's path inside the folder; None for the folder itself."""
    if "\x00" in name:
        raise UnsafeArchive("an archive member's name holds a NUL byte", member=name)
    path = PurePosixPath(name)
    if path.is_absolute():
        raise UnsafeArchive(
            f"the archive member '{name}' has an absolute path", member=name
        )
    if ".." in path.parts:
        raise UnsafeArchive(
            f"the archive member '{name}' climbs out with '..'", member=name
        )
    parts = [p for p in path.parts if p != "."]
    return PurePosixPath(*parts) if parts else None


def _make_parents(root: Path, rel: PurePosixPath) -> Path:
    """Create the member's folders, refusing to go through a link."""
    current = root
    for part in rel.parts[:-1]:
        current = current / part
        if current.is_symlink():
            raise UnsafeArchive(
                f"the archive member '{rel}' would be written through a link",
                member=str(rel),
            )
        try:
            current.mkdir(mode=0o755, exist_ok=True)
        except FileExistsError:
            raise UnsafeArchive(
                f"'{current.relative_to(root)}' is both a file and a folder "
                "in the archive",
                member=str(rel),
            ) from None
    return current / rel.parts[-1]


def _create_exclusive(path: Path, rel: PurePosixPath) -> int:
    try:
        return os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600
        )
    except FileExistsError:
        raise UnsafeArchive(
            f"the archive holds '{rel}' twice", member=str(rel)
        ) from None


def _write_file(
    tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path, rel: PurePosixPath
) -> None:
    source = tar.extractfile(member)
    fd = _create_exclusive(path, rel)
    with os.fdopen(fd, "wb") as target:
        shutil.copyfileobj(source, target, COPY_CHUNK)
    # Keep the executable bits; drop setuid, setgid, sticky and group/world write.
    os.chmod(path, (member.mode & 0o755) | 0o600)


def _check_link_target(rel: PurePosixPath, target: str) -> None:
    if not target or target.startswith("/") or "\x00" in target:
        raise UnsafeArchive(
            f"the link '{rel}' points outside the project: {target!r}", member=str(rel)
        )
    resolved = posixpath.normpath(posixpath.join(str(rel.parent), target))
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafeArchive(
            f"the link '{rel}' points outside the project: {target!r}", member=str(rel)
        )


def _extract_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, root: Path, files: set[PurePosixPath]
) -> None:
    rel = _relative_name(member.name)
    if rel is None:
        return
    path = _make_parents(root, rel)
    if member.isdir():
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise UnsafeArchive(f"the archive holds '{rel}' twice", member=str(rel))
        path.mkdir(mode=0o755, exist_ok=True)
    elif member.isfile():
        _write_file(tar, member, path, rel)
        files.add(rel)
    elif member.issym():
        _check_link_target(rel, member.linkname)
        try:
            os.symlink(member.linkname, path)
        except FileExistsError:
            raise UnsafeArchive(
                f"the archive holds '{rel}' twice", member=str(rel)
            ) from None
    elif member.islnk():
        target = _relative_name(member.linkname)
        if target not in files:
            raise UnsafeArchive(
                f"the hard link '{rel}' does not point to a file before it "
                "in the archive",
                member=str(rel),
            )
        os.close(_create_exclusive(path, rel))
        shutil.copyfile(root / target, path, follow_symlinks=False)
        shutil.copymode(root / target, path)
        files.add(rel)
    else:
        raise UnsafeArchive(
            f"the archive member '{rel}' is a device file or fifo; only "
            "files, folders and links are accepted",
            member=str(rel),
        )


def _check_links_stay_inside(root: Path) -> None:
    # Each link was checked on its own; a link through another link can still
    # resolve elsewhere (`a -> .` then `b -> a/..`), so check where all land.
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                continue
            real = os.path.realpath(path)
            if real != real_root and not real.startswith(real_root + os.sep):
                rel = os.path.relpath(path, root)
                raise UnsafeArchive(
                    f"the link '{rel}' resolves outside the project", member=rel
                )


def _check_limits(count: int, total: int, limits: Limits) -> None:
    if count > limits.max_members:
        raise TooLarge(
            f"the archive holds more than {limits.max_members} members",
            limit=limits.max_members,
        )
    if total > limits.max_bytes:
        raise TooLarge(
            f"the archive unpacks to more than {limits.max_bytes} bytes",
            limit=limits.max_bytes,
        )


def unpack(data: bytes, dest: str | Path, limits: Limits = Limits()) -> Path:
    """Unpack a tar.gz (or plain tar) into the new folder `dest`, safely."""
    root = Path(dest)
    root.mkdir(mode=0o755)
    files: set[PurePosixPath] = set()
    total = 0
    try:
        with tarfile.open(
            fileobj=_decompressed(data, limits), mode="r|", tarinfo=_CheckedTarInfo
        ) as tar:
            for count, member in enumerate(tar, start=1):
                total += member.size if member.isfile() else 0
                _check_limits(count, total, limits)
                _extract_member(tar, member, root, files)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise UnsafeArchive(
            f"the upload is not a readable tar.gz archive: {exc}"
        ) from None
    _check_links_stay_inside(root)
    return root


def project_root(folder: Path) -> Path:
    """The project inside an unpacked archive: the folder, or its one subfolder.

    `tar czf app.tgz app/` wraps the project in a folder; accept that too.
    """
    if any((folder / name).is_file() for name in PROJECT_FILES + ENVIRONMENT_FILES):
        return folder
    entries = list(folder.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return folder


@contextlib.contextmanager
def unpacked(data: bytes, limits: Limits = Limits()) -> Iterator[Path]:
    """The archive unpacked in a temporary folder, removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix="racer-upload-"))
    try:
        yield project_root(unpack(data, work / "project", limits))
    finally:
        shutil.rmtree(work, ignore_errors=True)
