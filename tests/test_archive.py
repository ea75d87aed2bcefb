"""Packing a project and unpacking uploads: what ships, and what is refused."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import tempfile
from pathlib import Path

import pytest

from racer_tools import archive
from racer_tools.archive import Limits, TooLarge, UnsafeArchive
from racer_tools.errors import BAD_INPUT, InvalidProject


def make_tar(
    *members: tuple[tarfile.TarInfo, bytes | None], compress: bool = True
) -> bytes:
    """A tar.gz built member by member, so a test can put anything in it."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(raw.getvalue()) if compress else raw.getvalue()


def file_member(name: str, data: bytes = b"x", mode: int = 0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def special_member(name: str, kind: bytes, linkname: str = ""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, None


def symlink(name: str, target: str):
    return special_member(name, tarfile.SYMTYPE, target)


def hardlink(name: str, target: str):
    return special_member(name, tarfile.LNKTYPE, target)


def folder(name: str):
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info, None


def unpack_into(tmp_path: Path, data: bytes, limits: Limits | None = None) -> Path:
    return archive.unpack(data, tmp_path / "out", limits or Limits())


def write_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "environment.yml").write_text("name: t\ndependencies: []\n")
    (root / "app.py").write_text("print('hi')\n")
    (root / "run.sh").write_text("#!/bin/sh\necho run\n")
    (root / "run.sh").chmod(0o755)
    (root / "pkg").mkdir()
    (root / "pkg" / "mod.py").write_text("X = 1\n")
    return root


def test_pack_and_unpack_round_trip(tmp_path):
    project = write_project(tmp_path / "proj")
    out = unpack_into(tmp_path, archive.pack(project))
    assert sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
    ) == ["app.py", "environment.yml", "pkg/mod.py", "run.sh"]
    assert (out / "pkg" / "mod.py").read_text() == "X = 1\n"
    assert os.access(out / "run.sh", os.X_OK)
    assert not os.access(out / "app.py", os.X_OK)


def test_pack_honours_dockerignore_and_drops_vcs(tmp_path):
    project = write_project(tmp_path / "proj")
    (project / ".dockerignore").write_text("secrets/\n*.log\n")
    (project / "secrets").mkdir()
    (project / "secrets" / "key").write_text("k")
    (project / "debug.log").write_text("l")
    (project / ".git").mkdir()
    (project / ".git" / "HEAD").write_text("ref")
    with tarfile.open(fileobj=io.BytesIO(archive.pack(project))) as tar:
        names = tar.getnames()
    assert "app.py" in names and ".dockerignore" in names
    assert not [
        n for n in names if n.startswith(("secrets", ".git/")) or n.endswith(".log")
    ]


def test_pack_falls_back_to_gitignore(tmp_path):
    project = write_project(tmp_path / "proj")
    (project / ".gitignore").write_text("build/\n")
    (project / "build").mkdir()
    (project / "build" / "out.bin").write_text("b")
    with tarfile.open(fileobj=io.BytesIO(archive.pack(project))) as tar:
        assert not [n for n in tar.getnames() if n.startswith("build")]


def test_pack_keeps_links_inside_and_drops_links_out(tmp_path):
    project = write_project(tmp_path / "proj")
    (project / "inside").symlink_to("app.py")
    (project / "outside").symlink_to("/etc/passwd")
    out = unpack_into(tmp_path, archive.pack(project))
    assert os.readlink(out / "inside") == "app.py"
    assert not (out / "outside").exists() and not (out / "outside").is_symlink()


def test_pack_of_a_missing_folder_is_an_invalid_project(tmp_path):
    with pytest.raises(InvalidProject, match="no such folder"):
        archive.pack(tmp_path / "missing")


def test_pack_is_deterministic(tmp_path):
    project = write_project(tmp_path / "proj")
    assert archive.pack(project) == archive.pack(project)


def test_plain_tar_is_accepted_too(tmp_path):
    out = unpack_into(
        tmp_path, make_tar(file_member("a.txt", b"hello"), compress=False)
    )
    assert (out / "a.txt").read_bytes() == b"hello"


@pytest.mark.parametrize(
    "members, message",
    [
        ([file_member("/etc/evil")], "absolute path"),
        ([file_member("../evil")], "climbs out"),
        ([file_member("a/../../evil")], "climbs out"),
        ([symlink("link", "/etc/passwd")], "points outside"),
        ([symlink("link", "../../etc/passwd")], "points outside"),
        ([folder("a"), symlink("a/link", "../../x")], "points outside"),
        # Each link alone stays inside; together `b` resolves above the folder.
        ([symlink("a", "."), symlink("b", "a/..")], "resolves outside"),
        (
            [symlink("dir", "sub"), folder("sub"), file_member("dir/f")],
            "through a link",
        ),
        ([symlink("escape", "."), file_member("escape/f")], "through a link"),
        ([hardlink("h", "/etc/passwd")], "absolute path"),
        ([hardlink("h", "../outside")], "climbs out"),
        ([hardlink("h", "later"), file_member("later")], "does not point to a file"),
        ([special_member("dev", tarfile.CHRTYPE)], "device file or fifo"),
        ([special_member("blk", tarfile.BLKTYPE)], "device file or fifo"),
        ([special_member("pipe", tarfile.FIFOTYPE)], "device file or fifo"),
        ([file_member("twice"), file_member("twice")], "twice"),
        ([file_member("f"), folder("f")], "twice"),
        ([file_member("f"), file_member("f/g")], "both a file and a folder"),
    ],
)
def test_unsafe_archives_are_refused(tmp_path, members, message):
    with pytest.raises(UnsafeArchive, match=message) as caught:
        unpack_into(tmp_path, make_tar(*members))
    assert caught.value.http_status == 400
    assert caught.value.exit_code == BAD_INPUT
    assert not (tmp_path / "etc").exists() and not (tmp_path / "evil").exists()


def test_a_link_inside_is_kept(tmp_path):
    out = unpack_into(
        tmp_path,
        make_tar(
            folder("sub"),
            file_member("sub/f", b"data"),
            symlink("sub/g", "f"),
            symlink("top", "sub/f"),
            hardlink("copy", "sub/f"),
        ),
    )
    assert (out / "top").read_bytes() == b"data"
    assert (out / "copy").read_bytes() == b"data" and not (out / "copy").is_symlink()


def test_setuid_and_world_write_bits_are_dropped(tmp_path):
    out = unpack_into(
        tmp_path, make_tar(file_member("tool", b"#!/bin/sh\n", mode=0o6777))
    )
    assert (out / "tool").stat().st_mode & 0o7777 == 0o755


def test_garbage_is_not_an_archive(tmp_path):
    with pytest.raises(UnsafeArchive, match="not a readable tar.gz"):
        unpack_into(tmp_path, b"this is not a tar file at all" * 40)
    (tmp_path / "2").mkdir()
    with pytest.raises(UnsafeArchive, match="not a readable tar.gz"):
        unpack_into(tmp_path / "2", gzip.compress(b"not a tar either" * 100))


def test_too_many_members(tmp_path):
    data = make_tar(*(file_member(f"f{i}") for i in range(11)))
    with pytest.raises(TooLarge, match="more than 10 members") as caught:
        unpack_into(tmp_path, data, Limits(max_members=10))
    assert caught.value.http_status == 413


def test_too_many_bytes_declared(tmp_path):
    data = make_tar(file_member("a", b"x" * 600), file_member("b", b"y" * 600))
    with pytest.raises(TooLarge, match="more than 1000 bytes"):
        unpack_into(tmp_path, data, Limits(max_bytes=1000))


def test_small_files_adding_up_past_the_limit(tmp_path):
    data = make_tar(*(file_member(f"f{i}", b"z" * 4096) for i in range(200)))
    with pytest.raises(TooLarge):
        unpack_into(tmp_path, data, Limits(max_bytes=100_000, max_members=1000))


def test_a_huge_declared_file_is_refused_before_reading(tmp_path):
    info = tarfile.TarInfo("big")
    info.size = 64 * 1024 * 1024
    data = gzip.compress(info.tobuf(tarfile.GNU_FORMAT) + b"\0" * info.size)
    with pytest.raises(TooLarge):
        unpack_into(tmp_path, data, Limits(max_bytes=1024))
    assert not (tmp_path / "out" / "big").exists()


def test_a_huge_extended_header_stops_at_the_limit(tmp_path):
    # tarfile reads a pax header whole; 64 MiB of it is about 64 KiB gzipped.
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = tarfile.XHDTYPE, 64 * 1024 * 1024
    data = gzip.compress(info.tobuf(tarfile.GNU_FORMAT) + b"\0" * info.size)
    assert len(data) < 1024 * 1024
    with pytest.raises(TooLarge, match="metadata"):
        unpack_into(tmp_path, data)


def test_single_top_folder_is_the_project(tmp_path):
    data = make_tar(folder("myapp"), file_member("myapp/environment.yml", b"name: x\n"))
    out = unpack_into(tmp_path, data)
    assert archive.project_root(out) == out / "myapp"
    (tmp_path / "2").mkdir()
    flat = unpack_into(
        tmp_path / "2",
        make_tar(file_member("environment.yml", b"n: 1\n"), folder("myapp")),
    )
    assert archive.project_root(flat) == flat


def test_unpacked_removes_its_folder_after_use_and_after_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with archive.unpacked(
        make_tar(file_member("environment.yml", b"name: x\n"))
    ) as root:
        assert (root / "environment.yml").is_file()
    assert not root.exists()
    with (
        pytest.raises(UnsafeArchive),
        archive.unpacked(make_tar(file_member("../evil"))),
    ):
        pass
    assert list(tmp_path.iterdir()) == []
