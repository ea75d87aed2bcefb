"""conda-lock files: real ones from real-inputs, and ones written from a real solve.

The solved locks come from a channel built here: conda packages packed with
tarfile, indexed by rattler, served over http on loopback, solved and
installed by rattler. The content hashes below were computed by conda-lock
4.0.3 itself (the version conda-project 0.5.4 runs) from the same files.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import json
import shutil
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import rattler
import yaml
from conftest import REAL_INPUTS
from rattler import index

from racer_tools.errors import BadInput, InvalidProject
from racer_tools.lock import (
    conda_spec_fields,
    content_hash,
    find_lock,
    inspect_lock,
    lock_path,
    locked_records,
    write_lock,
)
from racer_tools.project import Environment, load_project

REAL = REAL_INPUTS


# A real channel ---------------------------------------------------------------


def pack(channel: Path, name: str, version: str, depends: list[str] = ()) -> None:
    """A noarch conda package holding one file, share/<name>.txt."""
    payload = f"{name} {version}\n".encode()
    files = {f"share/{name}.txt": payload}
    index_json = {
        "name": name,
        "version": version,
        "build": "0",
        "build_number": 0,
        "depends": list(depends),
        "subdir": "noarch",
        "noarch": "generic",
        "license": "MIT",
        "timestamp": 1700000000000,
    }
    paths = {
        "paths_version": 1,
        "paths": [
            {
                "_path": p,
                "path_type": "hardlink",
                "size_in_bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
            for p, data in files.items()
        ],
    }
    files["info/index.json"] = json.dumps(index_json).encode()
    files["info/paths.json"] = json.dumps(paths).encode()
    files["info/files"] = f"share/{name}.txt\n".encode()
    (channel / "noarch").mkdir(parents=True, exist_ok=True)
    with tarfile.open(
        channel / "noarch" / f"{name}-{version}-0.tar.bz2", "w:bz2"
    ) as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def channel(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("channel")
    pack(root, "greeting", "1.0")
    pack(root, "greeting", "2.0")
    pack(root, "hello", "0.1.0", ["greeting >=2"])
    (root / "linux-64").mkdir()
    asyncio.run(index.index_fs(root))
    return root


@pytest.fixture(scope="module")
def channel_url(channel):
    # rattler checks a download against the lock's checksum when it fetches
    # over http; a file:// channel is read without that check.
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(channel))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def solved(channel_url, tmp_path_factory) -> list:
    gateway = rattler.Gateway(cache_dir=tmp_path_factory.mktemp("repodata"))
    return asyncio.run(
        rattler.solve(
            sources=[channel_url],
            specs=["hello"],
            gateway=gateway,
            platforms=["linux-64", "noarch"],
        )
    )


@pytest.fixture
def hello_env(channel_url) -> Environment:
    return Environment(
        "default", ["environment.yml"], channels=[channel_url], dependencies=["hello"]
    )


def install(records: list, prefix: Path) -> None:
    asyncio.run(
        rattler.install(
            records,
            target_prefix=prefix,
            cache_dir=prefix.parent / "pkgs",
            show_progress=False,
        )
    )


# Finding locks ------------------------------------------------------------------


def test_a_lock_is_found_under_its_conda_project_name(tmp_path):
    (tmp_path / "conda-lock.dev.yml").write_text("package: []\n")
    assert find_lock(tmp_path, "dev") == (tmp_path / "conda-lock.dev.yml", [])
    assert find_lock(tmp_path, "prod") == (None, [])


def test_the_legacy_name_is_not_used_but_warned_about(tmp_path):
    (tmp_path / "dev.conda-lock.yml").write_text("package: []\n")
    path, [warning] = find_lock(tmp_path, "dev")
    assert path is None
    assert (warning.severity, warning.file) == ("warning", "dev.conda-lock.yml")
    assert "git mv dev.conda-lock.yml conda-lock.dev.yml" in warning.message


@pytest.mark.parametrize("name", ["../up", "a/b", ".hidden", ""])
def test_an_environment_name_cannot_lead_a_lock_elsewhere(tmp_path, name):
    with pytest.raises(BadInput):
        lock_path(tmp_path, name)


# The content hash ---------------------------------------------------------------

HASHED_BY_CONDA_LOCK = [
    (
        {
            "channels": ["http://localhost:8000/local/"],
            "dependencies": ["python 3.10", "zlib"],
        },
        "417f39ba8075f6fd8cacca1bee6ccf763be1637b03771d97f2d3f8cbaf3b8a51",
        "01926631480a805aab61179d9f41040649794d2c4e8124786d354019b76c497e",
    ),
    (
        {
            "channels": ["http://localhost:8000/local/"],
            "dependencies": ["pkg=1.0=py_0", "zlib"],
        },
        "5f090229d07a5b4528cf3fec74af0bc334571dd2d105c4cadcf4c680f45101d9",
        "ca45ddd0b77e1207d9a20ae8f0f19edbb51fc18e61c88e3034db0fc32a7a81a8",
    ),
    (
        {
            "channels": ["defaults", "conda-forge"],
            "dependencies": ["https://example.com/chan::numpy=1.0", "zlib"],
        },
        "b0a7c3a58bf2e4acdc159829ffb609a8838305689e54a539e21cfed3aaa35c8f",
        "22da7bca005b7fb308b5fa1dd47bb3ddd384c6622eec9c86c4f4751044e19abc",
    ),
    (
        {
            "channels": ["https://repo.anaconda.cloud/repo/main", "conda-forge"],
            "dependencies": ["pkg=1.0|1.1", "zlib"],
        },
        "17ca3748bf5c3ea26b1a49fcd4ff937de2ae2c6d846903887555447212411d6c",
        "421d51d332f5ac394377a085cbfe3dc430da3aa86075818bfeac9e49795f6c9b",
    ),
    (
        {
            "channels": ["http://localhost:8000/local/"],
            "dependencies": ["pkg >=1.0[build=py*]", "zlib"],
        },
        "5302fa02484adffc28b4f4508284b3607bb4e0804cc66d725878d139c4af5056",
        "ebe80ec2eb5b707b59552738ca862462b518fb0c11f45fd0ab3c705331104c14",
    ),
    (
        {
            "channels": ["http://localhost:8000/local/"],
            "dependencies": ["pkg >=1.0 , < 2.0 =py34_0", "zlib"],
        },
        "138fdd4270abf638eaa5cd8ba45385423f5b21ef152f42068ab91c0af2a903c8",
        "203de6afc4eaec87a9e823ceaf82a9ba80feac02293a3cd205baa3bade954cc4",
    ),
    (
        {
            "channels": ["conda-forge"],
            "dependencies": [
                "python=3.11",
                {"pip": ["Flask[async,dotenv]==3.0.0", "rich"]},
            ],
        },
        "f6caeec3dac05a9a579a0d210293b90b03f37a1cf1b64b1705f92e12ebdd4264",
        "6facac4dc73e5ef149571a8065e2a0f568839d1de2d7293696f71463db8e1021",
    ),
    (
        {
            "channels": ["conda-forge"],
            "dependencies": [
                "python=3.11",
                "pip=23",
                {"pip": ["Django >= 4.2, < 5", "rich"]},
            ],
        },
        "11e3f46f729ed987c36142388a1648821129c9e95bf29c17e3541522aae04e58",
        "e9fe89d2ca3cecba17ad2d1db8c359e33cdb3eca23326d797b2d129918a5b8b0",
    ),
    (
        {"dependencies": ["python"]},
        "736d5b1e8a2305dc9351a419680b7dffa6f5dcedc361cbad4e33810164da711b",
        "e7212ffafc261f2acf2a996ba3f03336aa6d8cb32e3c9d19ee74972bf3a6221e",
    ),
]


@pytest.mark.parametrize(("environment", "linux_64", "osx_64"), HASHED_BY_CONDA_LOCK)
def test_the_content_hash_is_conda_locks(tmp_path, environment, linux_64, osx_64):
    (tmp_path / "environment.yml").write_text(json.dumps(environment))
    env = load_project(tmp_path).environments["default"]
    assert content_hash(env, "linux-64") == linux_64
    assert content_hash(env, "osx-64") == osx_64


def test_a_current_real_lock_has_the_hash_we_compute():
    project = load_project(REAL / "jhub-apps-from-git-repo-example")
    recorded = yaml.safe_load((project.path / "conda-lock.default.yml").read_text())
    env = project.environments["default"]
    for platform, value in recorded["metadata"]["content_hash"].items():
        assert content_hash(env, platform) == value


@pytest.mark.parametrize(
    ("spec", "version", "build", "channel"),
    [
        ("python=3.10", "3.10.*", None, None),
        ("python==3.10", "3.10", None, None),
        ("python 3.10", "3.10", None, None),
        ("pkg==1.0=py_0", "==1.0", "py_0", None),
        ("pkg 1.2.3 0", "1.2.3", "0", None),
        ("pkg=1.*", "1.*", None, None),
        ("pkg[version='1.2*']", "1.2.*", None, None),
        ("pkgs/main::numpy", "", None, "defaults"),
        ("conda-forge/linux-64::numpy>=1.2", ">=1.2", None, "conda-forge"),
        ("https://conda.anaconda.org/conda-forge::numpy", "", None, "conda-forge"),
    ],
)
def test_specs_read_as_conda_reads_them(spec, version, build, channel):
    fields = conda_spec_fields(spec)
    assert (fields["version"], fields["build"], fields["conda_channel"]) == (
        version,
        build,
        channel,
    )


# Reading locks ------------------------------------------------------------------


def real_locks() -> list[Path]:
    return sorted(REAL.glob("**/conda-lock.*.yml"))


@pytest.mark.parametrize("path", real_locks(), ids=lambda p: str(p.relative_to(REAL)))
def test_every_real_lock_reads_for_every_platform_it_lists(path):
    platforms = yaml.safe_load(path.read_text())["metadata"]["platforms"]
    env = Environment("any", ["environment.yml"], channels=["conda-forge"])
    for platform in platforms:
        locked = locked_records(env, path, platform)
        assert locked.records
        for record in locked.records:
            assert record.sha256 or record.md5
            assert str(record.url).endswith((".conda", ".tar.bz2"))


def test_a_lock_without_the_platform_fails_before_any_build(
    tmp_path, solved, hello_env
):
    path = write_lock(
        solved, hello_env, "linux-64", tmp_path / "conda-lock.default.yml"
    )
    with pytest.raises(InvalidProject, match="no packages for linux-aarch64") as raised:
        locked_records(hello_env, path, "linux-aarch64")
    assert raised.value.details["file"] == "conda-lock.default.yml"


def test_a_lock_lacking_a_requested_package_fails(tmp_path, solved, hello_env):
    path = write_lock(
        solved, hello_env, "linux-64", tmp_path / "conda-lock.default.yml"
    )
    wants_more = Environment(
        "default",
        ["environment.yml"],
        channels=hello_env.channels,
        dependencies=["hello", "greeting <2", "missing"],
    )
    messages = [p.message for p in inspect_lock(wants_more, path, "linux-64").errors]
    assert messages == [
        "the lock has greeting 2.0=0, which does not satisfy 'greeting <2'",
        "the lock lacks 'missing', which environment.yml asks for ('missing')",
    ]


def test_a_lock_from_other_files_installs_with_a_warning(tmp_path, solved, hello_env):
    path = write_lock(
        solved, hello_env, "linux-64", tmp_path / "conda-lock.default.yml"
    )
    changed = Environment(
        "default",
        ["environment.yml"],
        channels=hello_env.channels,
        dependencies=["hello >=0.1"],
    )
    locked = locked_records(changed, path, "linux-64")
    assert len(locked.records) == 2
    [warning] = locked.warnings
    assert warning.key == "metadata.content_hash"


def test_an_unreadable_lock_is_an_invalid_project(tmp_path, hello_env):
    path = tmp_path / "conda-lock.default.yml"
    path.write_text("package: [unclosed\n")
    with pytest.raises(InvalidProject, match="cannot read the lock"):
        locked_records(hello_env, path, "linux-64")


# Writing locks ------------------------------------------------------------------


def test_a_written_lock_reads_back_the_same_packages(tmp_path, solved, hello_env):
    path = write_lock(
        solved, hello_env, "linux-64", tmp_path / "conda-lock.default.yml"
    )
    locked = locked_records(hello_env, path, "linux-64")
    assert locked.problems == []

    def key(r):
        return (
            r.name.normalized,
            str(r.version),
            r.build,
            r.sha256,
            r.md5,
            str(r.url),
            sorted(r.depends),
        )

    assert sorted(map(key, locked.records)) == sorted(map(key, solved))
    document = yaml.safe_load(path.read_text())
    assert document["version"] == 1
    assert document["metadata"]["content_hash"] == {
        "linux-64": content_hash(hello_env, "linux-64")
    }
    hello = next(p for p in document["package"] if p["name"] == "hello")
    assert hello["dependencies"] == {"greeting": ">=2"}
    assert hello["hash"]["md5"] and hello["hash"]["sha256"]


def test_relocking_one_platform_keeps_the_others(tmp_path):
    source = REAL / "lembas-server"
    shutil.copy(source / "conda-lock.prod.yml", tmp_path / "conda-lock.prod.yml")
    env = load_project(source).environments["prod"]
    path = tmp_path / "conda-lock.prod.yml"
    mac_hash = yaml.safe_load(path.read_text())["metadata"]["content_hash"]["osx-arm64"]
    before_mac = len(locked_records(env, path, "osx-arm64").records)
    linux = locked_records(env, path, "linux-64").records

    write_lock(linux, env, "linux-64", path)

    assert len(locked_records(env, path, "osx-arm64").records) == before_mac
    relocked = locked_records(env, path, "linux-64")
    assert len(relocked.records) == len(linux) and relocked.warnings == []
    metadata = yaml.safe_load(path.read_text())["metadata"]
    assert metadata["platforms"] == ["linux-64", "osx-arm64"]
    assert metadata["content_hash"] == {
        "linux-64": content_hash(env, "linux-64"),
        "osx-arm64": mac_hash,
    }


def test_a_package_without_md5_cannot_be_written(tmp_path, solved, hello_env):
    path = write_lock(
        solved, hello_env, "linux-64", tmp_path / "conda-lock.default.yml"
    )
    text = "\n".join(ln for ln in path.read_text().splitlines() if "md5:" not in ln)
    path.write_text(text + "\n")
    records = locked_records(hello_env, path, "linux-64").records
    with pytest.raises(BadInput, match="md5"):
        write_lock(records, hello_env, "linux-64", tmp_path / "again.yml")


# Installing what a lock lists ------------------------------------------------------


def test_the_locked_packages_install(tmp_path, solved, hello_env):
    path = write_lock(
        solved, hello_env, "linux-64", tmp_path / "conda-lock.default.yml"
    )
    install(locked_records(hello_env, path, "linux-64").records, tmp_path / "env")
    assert (tmp_path / "env" / "share" / "greeting.txt").read_text() == "greeting 2.0\n"


def test_a_package_that_does_not_match_its_checksum_is_refused(
    tmp_path, solved, hello_env
):
    path = write_lock(
        solved, hello_env, "linux-64", tmp_path / "conda-lock.default.yml"
    )
    greeting = next(r for r in solved if r.name.normalized == "greeting")
    good = greeting.sha256.hex()
    forged = ("0" if good[0] != "0" else "1") + good[1:]
    path.write_text(path.read_text().replace(good, forged))
    records = locked_records(hello_env, path, "linux-64").records
    with pytest.raises(Exception, match="hash mismatch"):
        install(records, tmp_path / "env")
    assert not (tmp_path / "env" / "share" / "greeting.txt").exists()
