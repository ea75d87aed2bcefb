#!/usr/bin/env python3
"""Build and serve racer's offline conda channel.

No conda channel is reachable from racer's CI and demo machines, so this
script makes a real one from real sources and serves it on loopback:

* linux-64: CPython compiled from its upstream tarball (fetched from Debian's
  source packages) by py-rattler-build, from recipes/python/;
* noarch: pure-Python wheels from PyPI (pinned in packages.txt) converted by
  whl2conda;
* repodata.json in each subdir, written by rattler's indexer.

Commands:
    channel.py build [--out DIR]
    channel.py serve --dir DIR [--port PORT] [--host HOST]
    channel.py start --dir DIR [--port PORT] [--host HOST] --pidfile F --logfile F
    channel.py stop --pidfile F

Progress goes to stderr; `build` prints the channel folder and `start` the
channel URL as the last line on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from email.parser import HeaderParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECIPES = HERE / "recipes"
PYTHON_RECIPE_DIR = RECIPES / "python"
PACKAGES_TXT = HERE / "packages.txt"

KEY_FILE = ".racer-channel-key"
SUBDIRS = ("linux-64", "noarch")
DEFAULT_PORT = 8765

# Tools whose version changes what ends up in the channel.
CHANNEL_TOOLS = ("py-rattler", "py-rattler-build", "whl2conda")

CPYTHON_SOURCE_PACKAGE = "python3.11"
DEB_SRC_FILE = Path("/etc/apt/sources.list.d/racer-deb-src.sources")
APT_SOURCES_DIR = Path("/etc/apt/sources.list.d")

# The system toolchain and the -dev packages of every library the CPython
# build links against (see recipes/python/build.sh).
BUILD_DEBS = (
    "build-essential",
    "pkg-config",
    "libssl-dev",
    "libffi-dev",
    "zlib1g-dev",
    "libbz2-dev",
    "liblzma-dev",
    "libsqlite3-dev",
    "libreadline-dev",
    "libncurses-dev",
    "uuid-dev",
)

PIN_RE = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)")


class ChannelError(Exception):
    """A failure with a message meant for the user, without a traceback."""


def log(message: str) -> None:
    print(f"[channel] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, what: str, cwd: Path | None = None, capture: bool = False,
        check: bool = True) -> subprocess.CompletedProcess:
    """Run a command; its output goes to stderr unless captured."""
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else sys.stderr,
        stderr=subprocess.PIPE if capture else None,
    )
    if check and proc.returncode != 0:
        detail = last_line(proc.stderr) if capture else "see the output above"
        raise ChannelError(f"{what} failed (exit {proc.returncode}): {detail}")
    return proc


def last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_tree(digest, root: Path) -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")


# ---------------------------------------------------------------- cache keys


def cache_root() -> Path:
    base = os.environ.get("RACER_CACHE_DIR") or Path.home() / ".cache" / "racer"
    return Path(base) / "offline"


def channel_key() -> str:
    """Content key of everything that decides the channel's contents.

    The CPython tarball is pinned by sha256 in the recipe, so the recipe
    files stand for the source too.
    """
    digest = hashlib.sha256()
    hash_tree(digest, RECIPES)
    digest.update(PACKAGES_TXT.read_bytes() + b"\0")
    digest.update(Path(__file__).read_bytes() + b"\0")
    for tool in CHANNEL_TOOLS:
        digest.update(f"{tool}=={metadata.version(tool)}\n".encode())
    return digest.hexdigest()


def python_package_key() -> str:
    """Key of the CPython package alone, so that editing packages.txt
    does not recompile CPython."""
    digest = hashlib.sha256()
    hash_tree(digest, PYTHON_RECIPE_DIR)
    digest.update(f"py-rattler-build=={metadata.version('py-rattler-build')}".encode())
    return digest.hexdigest()[:16]


def read_key(channel: Path) -> str | None:
    try:
        return (channel / KEY_FILE).read_text().strip()
    except OSError:
        return None


# ------------------------------------------------------------- channel build


def build_channel(out: Path) -> Path:
    key = channel_key()
    if read_key(out) == key:
        log(f"up to date: {out}")
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(out.parent / f".{out.name}.lock"):
        if read_key(out) == key:
            log(f"built meanwhile by another process: {out}")
            return out
        remove_stale_staging(out)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        try:
            staging.chmod(0o755)  # mkdtemp's 0700 would hide the channel from other users
            populate_channel(staging)
            (staging / KEY_FILE).write_text(key + "\n")
            replace_dir(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    log(f"channel ready: {out}")
    return out


@contextlib.contextmanager
def exclusive_lock(path: Path):
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another build that holds {path}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def remove_stale_staging(out: Path) -> None:
    """Drop what killed builds left behind (we hold the lock, so none is live)."""
    for leftover in out.parent.glob(f".{out.name}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in out.parent.glob(f".{out.name}.old-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def replace_dir(new: Path, target: Path) -> None:
    """Swap `new` in for `target` with renames only, so `target` is never half-written."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.rename(target, old)
        os.rename(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(new, target)


def populate_channel(root: Path) -> None:
    cache = cache_root()
    for subdir in SUBDIRS:
        (root / subdir).mkdir()
    for package in python_packages(cache):
        copy_package(package, root / "linux-64")
    requirements = read_requirements(PACKAGES_TXT)
    wheels = download_wheels(requirements, cache / "wheels")
    for wheel in wheels:
        convert_wheel(wheel, root / "noarch")
    index_channel(root)
    check_dependencies(root)


def copy_package(package: Path, subdir: Path) -> None:
    target = subdir / package.name
    shutil.copyfile(package, target)
    target.chmod(0o644)


def index_channel(root: Path) -> None:
    import asyncio

    from rattler.index import index_fs

    log("indexing the channel")
    # No sharded repodata: py-rattler cannot take a 304 answer for a shard
    # index it has cached, and plain repodata.json is what most channels serve.
    asyncio.run(index_fs(root, write_shards=False))
    # The indexer leaves an empty scratch folder behind.
    with contextlib.suppress(OSError):
        (root / ".tmp").rmdir()


def check_dependencies(root: Path) -> None:
    """Every dependency must be satisfiable by name inside this channel."""
    records = {}
    for subdir in SUBDIRS:
        repodata = json.loads((root / subdir / "repodata.json").read_text())
        records.update(repodata.get("packages.conda", {}))
        records.update(repodata.get("packages", {}))
    names = {record["name"] for record in records.values()}
    for filename, record in sorted(records.items()):
        for spec in record.get("depends", []):
            if spec.split()[0] not in names:
                raise ChannelError(f"{filename} depends on {spec!r}, which is not in the channel; "
                                   f"add it to {PACKAGES_TXT.name}")


# ------------------------------------------------------------------- CPython


def python_packages(cache: Path) -> list[Path]:
    """The built CPython package(s), from the cache or from a fresh build."""
    store = cache / "packages" / "python"
    keyed = store / python_package_key()
    store.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(store / ".lock"):
        if keyed.is_dir():
            log(f"CPython package cached in {keyed}")
        else:
            ensure_build_debs()
            tarball = fetch_cpython_source(cache / "sources")
            build_python(tarball, store, keyed, cache / "logs" / "python-build.log")
    packages = sorted(keyed.glob("*.conda"))
    if not packages:
        raise ChannelError(f"no CPython package in {keyed}; delete that folder and rebuild")
    return packages


def build_python(tarball: Path, store: Path, keyed: Path, log_path: Path) -> None:
    from rattler_build import RenderConfig, Stage0Recipe, ToolConfiguration

    log(f"compiling CPython from {tarball.name} (several minutes; full log in {log_path})")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="build-", dir=store) as work, log_path.open("w") as log_file:
        recipe = Stage0Recipe.from_file(PYTHON_RECIPE_DIR / "recipe.yaml")
        progress = BuildProgress(log_file)
        try:
            results = recipe.run_build(
                output_dir=Path(work) / "output",
                channels=[],
                # "native" runs the recipe's tests against the packaged, relocated python.
                tool_config=ToolConfiguration(test_strategy="native"),
                render_config=RenderConfig(extra_context={"source_tarball": str(tarball)}),
                progress_callback=progress,
            )
        except Exception as exc:
            raise ChannelError(f"CPython build failed: {last_line(str(exc))} (log: {log_path})") from exc
        built = Path(work) / "packages"
        built.mkdir()
        for result in results:
            for package in result.packages:
                shutil.move(str(package), built / Path(package).name)
        prune_store(store, keep=Path(work))
        os.rename(built, keyed)
    # Overlinking against system libraries is expected here (see the recipe).
    log(f"CPython package built in {time.monotonic() - started:.0f} s "
        f"({progress.warnings} rattler-build warnings in the log)")


def prune_store(store: Path, keep: Path) -> None:
    """Drop packages of older recipe versions and leftovers of killed builds."""
    for entry in store.iterdir():
        if entry.is_dir() and entry != keep:
            shutil.rmtree(entry, ignore_errors=True)


class BuildProgress:
    """rattler-build progress callback (it needs only the methods it uses):
    the whole log to a file; to stderr only the build script's milestones,
    passed tests and errors."""

    def __init__(self, log_file):
        self._log_file = log_file
        self.warnings = 0

    def on_log(self, event) -> None:
        self._log_file.write(f"{event.level}: {event.message}\n")
        message = event.message.strip()
        if event.level == "warn" and message:
            self.warnings += 1
        elif event.level == "error" or message.startswith(("==>", "\u2714")):
            log(f"rattler-build: {message.splitlines()[0]}")


def ensure_build_debs() -> None:
    missing = missing_debs(BUILD_DEBS)
    if not missing:
        return
    if os.geteuid() != 0:
        raise ChannelError(f"missing build packages; as root run: apt-get install {' '.join(missing)}")
    log(f"installing build packages: {' '.join(missing)}")
    run(["apt-get", "update"], what="apt-get update")
    run(["apt-get", "install", "-y", "--no-install-recommends", *missing], what="apt-get install")


def missing_debs(names) -> list[str]:
    proc = run(["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *names],
               what="dpkg-query", capture=True, check=False)
    installed = {line.split()[0] for line in proc.stdout.splitlines() if line.endswith(" installed")}
    return [name for name in names if name not in installed]


def pinned_source_sha256() -> str:
    recipe = (PYTHON_RECIPE_DIR / "recipe.yaml").read_text()
    match = re.search(r"^\s*sha256:\s*([0-9a-f]{64})\s*$", recipe, re.MULTILINE)
    if not match:
        raise ChannelError("recipes/python/recipe.yaml pins no source sha256")
    return match.group(1)


def find_orig_tarball(folder: Path) -> Path | None:
    found = sorted(folder.glob(f"{CPYTHON_SOURCE_PACKAGE}_*.orig.tar.*"))
    return found[-1] if found else None


def fetch_cpython_source(sources: Path) -> Path:
    """Debian's copy of the upstream tarball, checked against the recipe's pin."""
    want = pinned_source_sha256()
    sources.mkdir(parents=True, exist_ok=True)
    cached = find_orig_tarball(sources)
    if cached and sha256_file(cached) == want:
        return cached
    ensure_apt_knows_source()
    log(f"downloading the source of {CPYTHON_SOURCE_PACKAGE} with apt-get source")
    with tempfile.TemporaryDirectory(prefix="apt-source-", dir=sources) as tmp:
        proc = run(["apt-get", "source", "--download-only", CPYTHON_SOURCE_PACKAGE],
                   what="apt-get source", cwd=Path(tmp), capture=True, check=False)
        tarball = find_orig_tarball(Path(tmp))
        if tarball is None:
            raise ChannelError(f"apt-get source {CPYTHON_SOURCE_PACKAGE} brought no upstream "
                               f"tarball: {last_line(proc.stderr)}")
        if proc.returncode != 0:
            # Only the upstream tarball is used, and its checksum is verified
            # below, so a missing Debian-specific file is not fatal.
            log(f"apt-get source reported: {last_line(proc.stderr)} (ignored)")
        got = sha256_file(tarball)
        if got != want:
            raise ChannelError(f"{tarball.name} has sha256 {got}, the recipe pins {want}")
        if cached:
            cached.unlink()
        return Path(shutil.move(str(tarball), sources / tarball.name))


def ensure_apt_knows_source() -> None:
    if apt_knows_source():
        return
    if os.geteuid() != 0:
        raise ChannelError("apt has no deb-src entries; run this build as root once")
    if not DEB_SRC_FILE.exists():
        write_deb_src_entries()
    log("apt-get update (for the deb-src entries)")
    run(["apt-get", "update"], what="apt-get update")
    if not apt_knows_source():
        raise ChannelError(f"apt knows no source package {CPYTHON_SOURCE_PACKAGE} even after adding {DEB_SRC_FILE}")


def apt_knows_source() -> bool:
    proc = run(["apt-cache", "showsrc", CPYTHON_SOURCE_PACKAGE], what="apt-cache showsrc",
               capture=True, check=False)
    return proc.returncode == 0 and bool(proc.stdout.strip())


def write_deb_src_entries() -> None:
    """Add deb-src twins of the system's Debian deb822 entries."""
    stanzas = []
    for sources in sorted(APT_SOURCES_DIR.glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", sources.read_text()):
            if is_debian_binary_stanza(stanza):
                stanzas.append(re.sub(r"(?m)^Types:.*$", "Types: deb-src", stanza.strip()))
    if not stanzas:
        raise ChannelError(f"found no Debian deb822 entries in {APT_SOURCES_DIR} to mirror as deb-src")
    log(f"adding deb-src entries in {DEB_SRC_FILE}")
    DEB_SRC_FILE.write_text("\n\n".join(stanzas) + "\n")


def is_debian_binary_stanza(stanza: str) -> bool:
    types = re.search(r"(?m)^Types:(.*)$", stanza)
    uris = re.search(r"(?m)^URIs:(.*)$", stanza)
    enabled = re.search(r"(?m)^Enabled:\s*no\s*$", stanza) is None
    return bool(enabled and types and uris and "deb" in types.group(1).split()
                and "/debian" in uris.group(1))


# -------------------------------------------------------------------- wheels


def read_requirements(path: Path) -> list[tuple[str, str]]:
    pins = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN_RE.fullmatch(line)
        if not match:
            raise ChannelError(f"{path.name}:{number}: expected an exact pin name==version, got {line!r}")
        pins.append((match.group(1), match.group(2)))
    return pins


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def cached_wheel(folder: Path, name: str, version: str) -> Path | None:
    for wheel in folder.glob("*.whl"):
        dist, wheel_version = wheel.name.split("-")[:2]
        if normalized(dist) == normalized(name) and wheel_version == version:
            return wheel
    return None


def download_wheels(pins: list[tuple[str, str]], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    missing = [f"{name}=={version}" for name, version in pins if not cached_wheel(folder, name, version)]
    if missing:
        log(f"downloading wheels: {' '.join(missing)}")
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
             "--python-version", "3.11", "--disable-pip-version-check", "--progress-bar", "off",
             "--dest", folder, *missing], what="pip download")
    wheels = []
    for name, version in pins:
        wheel = cached_wheel(folder, name, version)
        if wheel is None:
            raise ChannelError(f"pip download brought no wheel named like {name}-{version}")
        wheels.append(wheel)
    return wheels


def declares_requires_python(wheel: Path) -> bool:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        headers = HeaderParser().parsestr(archive.read(name).decode("utf-8", "replace"))
    return headers.get("Requires-Python") is not None


def convert_wheel(wheel: Path, noarch: Path) -> None:
    log(f"converting {wheel.name}")
    cmd = [sys.executable, "-m", "whl2conda", "convert", wheel, "--out-dir", noarch,
           "--out-format", "conda", "--batch", "--yes", "--quiet", "--overwrite"]
    if not declares_requires_python(wheel):
        # whl2conda derives the python dependency from Requires-Python only;
        # a noarch: python package must still depend on python.
        cmd += ["--add-dependency", "python"]
    run(cmd, what=f"whl2conda convert {wheel.name}", capture=True)


# ------------------------------------------------------------------- serving


def channel_url(host: str, port: int) -> str:
    return f"http://{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{port}"


def require_channel(folder: Path) -> None:
    if not (folder / "noarch" / "repodata.json").is_file():
        raise ChannelError(f"{folder} is not a built channel (no noarch/repodata.json); run `build` first")


def serve(folder: Path, host: str, port: int) -> None:
    require_channel(folder)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise ChannelError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    with server:
        log(f"serving {folder} at {channel_url(host, port)}")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


def answers(url: str) -> bool:
    # Loopback must never go through a proxy from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/noarch/repodata.json", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def is_our_server(pid: int) -> bool:
    """Alive and running this script's `serve` (guards against reused pids)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():
        return True
    args = cmdline.read_bytes().split(b"\0")
    return b"serve" in args and any(arg.endswith(b"channel.py") for arg in args)


def start(folder: Path, host: str, port: int, pidfile: Path, logfile: Path) -> str:
    url = channel_url(host, port)
    pid = read_pid(pidfile)
    if pid and is_our_server(pid):
        if answers(url):
            log(f"already serving at {url} (pid {pid})")
            return url
        stop(pidfile)
    require_channel(folder)
    if answers(url):
        raise ChannelError(f"another process already serves {url}")
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with logfile.open("ab") as output:
        server = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "serve",
             "--dir", str(folder), "--host", host, "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=output, stderr=output, start_new_session=True,
        )
    try:
        wait_until_answering(server, url, logfile)
    except BaseException:
        if server.poll() is None:
            server.terminate()
        raise
    pidfile.write_text(f"{server.pid}\n")
    log(f"serving {folder} at {url} (pid {server.pid}, log {logfile})")
    return url


def wait_until_answering(server: subprocess.Popen, url: str, logfile: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ChannelError(f"the server exited (code {server.returncode}): {last_line(logfile.read_text())}")
        if answers(url):
            return
        time.sleep(0.1)
    raise ChannelError(f"the server did not answer at {url} within {timeout:.0f} s")


def stop(pidfile: Path) -> None:
    pid = read_pid(pidfile)
    if pid is None:
        log(f"no server recorded in {pidfile}")
        return
    if is_our_server(pid):
        os.kill(pid, signal.SIGTERM)
        if not wait_for_exit(pid, 5):
            os.kill(pid, signal.SIGKILL)
            wait_for_exit(pid, 5)
        log(f"stopped the server (pid {pid})")
    else:
        log(f"server pid {pid} was no longer running")
    pidfile.unlink(missing_ok=True)


def wait_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not is_our_server(pid):
            return True
        time.sleep(0.05)
    return False


# ----------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="channel.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build the channel (cached by content)")
    build.add_argument("--out", type=Path, default=cache_root() / "channel",
                       help="channel folder (default: %(default)s)")

    for name, text in (("serve", "serve a channel in the foreground"),
                       ("start", "serve a channel in the background")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--dir", type=Path, required=True, help="channel folder")
        sub.add_argument("--port", type=int, default=DEFAULT_PORT)
        sub.add_argument("--host", default="127.0.0.1")
        if name == "start":
            sub.add_argument("--pidfile", type=Path, required=True)
            sub.add_argument("--logfile", type=Path, required=True)

    stop_cmd = commands.add_parser("stop", help="stop a server started with `start`")
    stop_cmd.add_argument("--pidfile", type=Path, required=True)
    return parser.parse_args(argv)


def dispatch(args: argparse.Namespace) -> str | None:
    if args.command == "build":
        return str(build_channel(args.out.resolve()))
    if args.command == "serve":
        serve(args.dir.resolve(), args.host, args.port)
        return None
    if args.command == "start":
        return start(args.dir.resolve(), args.host, args.port, args.pidfile.resolve(), args.logfile.resolve())
    stop(args.pidfile.resolve())
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = dispatch(args)
    except KeyboardInterrupt:
        print("channel.py: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure ends as one line, never a traceback
        message = str(exc).strip() or type(exc).__name__
        print(f"channel.py: error: {message.splitlines()[0]}", file=sys.stderr)
        return 1
    if result is not None:
        print(result, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
