"""conda-lock files: find them, check them against the environment, write them.

A project may commit `conda-lock.<env>.yml` (conda-lock's v1 format) next to
its environment files. racer installs exactly the packages such a lock lists
for the target platform, with no solve, after checking that the lock covers
what the environment files ask for. conda-lock stores a hash of the
environment files per platform; when it no longer matches, the lock was made
from older files: racer still installs it as committed, and says so.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import rattler
import yaml
from rattler import MatchSpec
from rattler.exceptions import IoError, ParseCondaLockError

from .errors import BadInput, InvalidProject
from .yamlfile import HasProblems, Problem

if TYPE_CHECKING:
    from .project import Environment, Project

LOCK_NAME = "conda-lock.{}.yml"
# conda-project before 2023 wrote locks under this name; it reads them no more.
LEGACY_LOCK_NAME = "{}.conda-lock.yml"
SAFE_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SAFE_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def lock_path(project_dir: Path, env_name: str) -> Path:
    """Where the lock of an environment lives."""
    if not env_name or "/" in env_name or "\\" in env_name or env_name.startswith("."):
        raise BadInput(f"'{env_name}' cannot name a lock file", environment=env_name)
    return Path(project_dir) / LOCK_NAME.format(env_name)


def find_lock(project_dir: Path, env_name: str) -> tuple[Path | None, list[Problem]]:
    """The lock of an environment if there is one, and a warning for an old name."""
    try:
        path = lock_path(project_dir, env_name)
    except BadInput:
        return None, []
    problems = []
    legacy = Path(project_dir) / LEGACY_LOCK_NAME.format(env_name)
    if legacy.is_file():
        problems.append(
            Problem(
                legacy.name,
                f"this lock is not used: conda-project names locks {path.name}; "
                f"rename it with `git mv {legacy.name} {path.name}`",
                severity="warning",
            )
        )
    return (path if path.is_file() else None), problems


# The content hash ---------------------------------------------------------------
#
# conda-lock hashes, per platform, a JSON document of the environment's
# channels, its package specs as conda parses them, and the virtual packages
# it assumes for that platform. The functions below rebuild that document.
# They match conda-lock 4.0.3 (the version conda-project 0.5.4 runs) for conda
# specs, plain pip requirements and channels named or given as plain URLs.
# Not reproduced: pip requirements given as URLs or paths or with markers that
# exclude the platform, channels whose URLs carry credentials, and conda-lock's
# own `category:` and `pip-repositories:` keys. For those the hash differs, and
# racer warns that the lock may be out of date when it is not.

# conda-lock's default virtual packages per platform: name, version, build.
VIRTUAL_PACKAGES = {
    "linux-64": [
        ("__unix", "0", ""),
        ("__linux", "5.10", ""),
        ("__archspec", "1", "x86_64"),
        ("__glibc", "2.28", ""),
        ("__cuda", "11.4", ""),
    ],
    "linux-aarch64": [
        ("__unix", "0", ""),
        ("__linux", "5.10", ""),
        ("__archspec", "1", "aarch64"),
        ("__glibc", "2.28", ""),
        ("__cuda", "11.4", ""),
    ],
    "linux-ppc64le": [
        ("__unix", "0", ""),
        ("__linux", "5.10", ""),
        ("__archspec", "1", "ppc64le"),
        ("__glibc", "2.28", ""),
        ("__cuda", "11.4", ""),
    ],
    # conda-lock still lists the __osx 10.15 it once added by mistake.
    "osx-64": [
        ("__unix", "0", ""),
        ("__archspec", "1", "x86_64"),
        ("__osx", "11.0", ""),
        ("__osx", "10.15", ""),
    ],
    "osx-arm64": [
        ("__unix", "0", ""),
        ("__archspec", "1", "arm64"),
        ("__osx", "11.0", ""),
    ],
    "win-64": [
        ("__win", "0", ""),
        ("__archspec", "1", "x86_64"),
        ("__cuda", "11.4", ""),
    ],
}
SUBDIRS = {
    "noarch",
    *VIRTUAL_PACKAGES,
    "linux-32",
    "linux-armv7l",
    "linux-s390x",
    "osx-arm64",
    "win-32",
    "win-arm64",
    "emscripten-wasm32",
    "wasi-wasm32",
}
DEFAULTS_PATHS = {"pkgs/main", "pkgs/r", "pkgs/msys2", "pkgs/free", "pkgs/pro"}
OPERATOR_CHARS = "<>=!~"


def _virtual_repodata(platform: str) -> dict:
    packages = {}
    for name, version, build_string in VIRTUAL_PACKAGES.get(platform, []):
        # conda-lock 2 wrote the build number into the build; later versions
        # keep doing so, or every existing hash would change.
        build = f"{build_string}_0" if build_string else "0"
        packages[f"{name}-{version}-{build}.tar.bz2"] = {
            "build": build,
            "build_number": 0,
            "build_string": build_string,
            "depends": [],
            "name": name,
            "noarch": "",
            "package_type": "virtual_system",
            "subdir": platform,
            "timestamp": 1577854800000,
            "version": version,
        }
    platform_data = (
        {"info": {"subdir": platform}, "packages": packages} if packages else {}
    )
    return {
        "noarch": {"info": {"subdir": "noarch"}, "packages": {}},
        platform: platform_data,
    }


def canonical_channel(channel: str) -> str:
    """A channel as conda names it: `https://conda.anaconda.org/x/linux-64` is `x`."""
    text = channel.rstrip("/")
    if "://" in text:
        scheme, rest = text.split("://", 1)
        path = rest.partition("/")[2].strip("/")
        if scheme == "file":
            path = path.rsplit("/", 1)[-1]
        text = path
    parts = text.split("/")
    if len(parts) > 1 and parts[-1] in SUBDIRS:
        parts = parts[:-1]
    text = "/".join(parts)
    return "defaults" if text in DEFAULTS_PATHS else text


def _split_version_build(text: str) -> tuple[str, str | None]:
    """`>=1.0 , <2 py_0` is version `>=1.0,<2` and build `py_0`.

    The build is the last word, after a space or `=` that follows no
    operator, and holding no operator, comma or bar itself.
    """
    match = re.fullmatch(r"(.+?)(?:(?<![=!|,<>~])[ =]([^-=,|<>~]+?))?", text)
    if not match:
        return text.replace(" ", ""), None
    version, build = match.groups()
    return version.replace(" ", ""), build.strip() if build else None


def _conda_version(version: str, build: str | None) -> str:
    """The version as conda prints it: `=3.10` means `3.10.*`, `==3.10` means `3.10`."""
    if version.startswith("=") and version not in ("=", "=="):
        rest = version[1:]
        if version.startswith("==") and build is None:
            version = version[2:]
        elif not any(c in rest for c in "=,|"):
            fuzzy = build is None and not rest.endswith("*")
            version = rest + "*" if fuzzy else rest
    return _fuzzy_stars(version)


def _fuzzy_stars(version: str) -> str:
    # conda writes `1.2*` as `1.2.*` wherever no operator precedes it.
    def fix(atom: str) -> str:
        if atom[:1] in OPERATOR_CHARS or not atom.endswith("*") or atom == "*":
            return atom
        return atom if atom.endswith(".*") else atom[:-1] + ".*"

    return "|".join(
        ",".join(fix(a) for a in alt.split(",")) for alt in version.split("|")
    )


def _brackets(text: str) -> tuple[str, dict]:
    match = re.match(r".*(\[.*\])", text)
    if not match:
        return text, {}
    inside = match.group(1)
    pairs = re.finditer(
        r"""([a-zA-Z0-9_-]+?)=(["']?)([^'"]*?)\2(?:[, ]|$)""", inside[1:-1]
    )
    return text.replace(inside, ""), {m.group(1): m.group(3) for m in pairs}


def conda_spec_fields(spec: str) -> dict:
    """A conda package spec as conda-lock records it for the content hash."""
    text = spec.split("#", 1)[0].split(" if ", 1)[0].strip()
    text, brackets = _brackets(text)
    channel = None
    parts = text.rsplit(":", 2)
    if len(parts) == 3:
        channel, text = parts[0] or None, parts[2]
    elif len(parts) == 2:
        text = parts[1]
    if brackets.get("channel"):
        channel = brackets["channel"]
    match = re.match(r"([^ =<>!~]+)?([><!=~ ].+)?", text.strip())
    name, rest = match.groups() if match else (text, None)
    version, build = (
        _split_version_build(rest.strip()) if rest and rest.strip() else ("", None)
    )
    if version:
        version = _conda_version(version, build)
    if "version" in brackets:
        version = _fuzzy_stars(brackets["version"].replace(" ", ""))
    build = brackets.get("build", build)
    return {
        "name": (name or "").lower(),
        "version": version,
        "build": build,
        "conda_channel": canonical_channel(channel) if channel else None,
        "manager": "conda",
        "category": "main",
        "extras": [],
        "hash": None,
    }


def pip_requirement_fields(requirement: str) -> dict | None:
    """A plain PyPI requirement as conda-lock records it; None for options."""
    text, _, req_hash = requirement.partition(" --hash=")
    markers = None
    if ";" in text:
        text, markers = (part.strip() for part in text.rsplit(";", 1))
    match = re.match(
        r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*(.*)", text
    )
    if requirement.startswith("-") or not match:
        return None
    name, extras, specifier = match.groups()
    specifier = specifier.strip().strip("()").replace(" ", "").replace("===", "==")
    fields = {
        "name": re.sub(r"[-_.]+", "-", name).lower(),
        "version": ",".join(sorted(filter(None, specifier.split(",")))) or "*",
        "extras": sorted(e.strip() for e in (extras or "").split(",") if e.strip()),
        "manager": "pip",
        "category": "main",
        "build": None,
        "conda_channel": None,
        "hash": req_hash or None,
    }
    if markers:
        fields["markers"] = markers
    return fields


def content_hash(env: Environment, platform: str) -> str:
    """conda-lock's content hash of an environment's files for one platform."""
    specs = [conda_spec_fields(s) for s in env.dependencies]
    specs += filter(None, (pip_requirement_fields(r) for r in env.pip))
    document = {
        "channels": [
            json.dumps({"url": c, "used_env_vars": []}, separators=(",", ":"))
            for c in env.channels
        ],
        "specs": sorted(specs, key=lambda s: (s["manager"], s["name"])),
        "virtual_package_hash": _virtual_repodata(platform),
    }
    text = json.dumps(document, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# Reading a lock ---------------------------------------------------------------


@dataclass
class LockedEnvironment(HasProblems):
    """What a lock holds for one platform, and what is wrong with it."""

    path: Path
    platform: str
    records: list = field(default_factory=list)
    pip: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _read_lock_yaml(path: Path) -> dict:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_YAML_LOADER)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0]
        raise InvalidProject(
            f"{path.name}: cannot read the lock: {reason}", file=path.name
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("package"), list):
        raise InvalidProject(
            f"{path.name}: not a conda-lock file (it has no package list)",
            file=path.name,
        )
    if data.get("version", 1) != 1:
        raise InvalidProject(
            f"{path.name}: conda-lock format version {data['version']} "
            "is not supported; racer reads version 1",
            file=path.name,
        )
    return data


def _entries(data: dict, platform: str, manager: str) -> list[dict]:
    return [
        p
        for p in data["package"]
        if isinstance(p, dict)
        and p.get("platform") == platform
        and p.get("manager", "conda") == manager
    ]


def _repaired(entry: dict) -> dict:
    # Old conda-lock versions wrote some dependencies with the version inside
    # the name (`openssl<1.1.2a: ''`), which rattler cannot parse.
    depends = {}
    for name, spec in (entry.get("dependencies") or {}).items():
        match = re.match(r"([^\s<>=!~]+)\s*(.*)", str(name))
        head, rest = match.groups() if match else (str(name), "")
        depends[head] = " ".join(filter(None, [rest, str(spec or "")]))
    return {**entry, "dependencies": depends}


def _conda_records(data: dict, platform: str, path: Path) -> list:
    # rattler refuses a whole lock when a pip entry depends on `*` (conda-lock
    # writes that), so it is handed only the conda entries it must read.
    subset = {
        **data,
        "package": [_repaired(e) for e in _entries(data, platform, "conda")],
    }
    with tempfile.TemporaryDirectory(prefix="racer-lock-") as tmp:
        copy = Path(tmp) / path.name
        copy.write_text(yaml.dump(subset, Dumper=SAFE_YAML_DUMPER), encoding="utf-8")
        try:
            lock = rattler.LockFile.from_path(copy)
        except (ParseCondaLockError, IoError) as exc:
            reason = str(exc).splitlines()[0]
            raise InvalidProject(
                f"{path.name}: cannot read the lock: {reason}", file=path.name
            ) from None
    environment = lock.default_environment()
    for lock_platform in environment.platforms() if environment else []:
        if lock_platform.name == platform:
            return environment.conda_repodata_records_for_platform(lock_platform)
    return []


def _without_channel(spec: str) -> MatchSpec:
    # The lock names packages by URL; whether `conda-forge::x` came from
    # conda-forge is the solver's business, not this check's.
    name_part = spec.split("::", 1)[1] if "::" in spec else spec
    return MatchSpec(name_part, strict=False)


def _check_packages(env: Environment, records: list, note) -> None:
    by_name: dict[str, list] = {}
    for record in records:
        by_name.setdefault(str(record.name.normalized), []).append(record)
        if not record.sha256 and not record.md5:
            note(
                "error",
                f"the entry for {record.name.source} has neither sha256 "
                "nor md5, so its download could not be checked",
                "package",
            )
    for spec in env.dependencies:
        match = _without_channel(spec)
        name = str(match.name.normalized)
        if name.startswith("__"):
            continue
        found = by_name.get(name)
        if not found:
            note(
                "error",
                f"the lock lacks '{name}', which "
                f"{', '.join(env.files)} asks for ('{spec}')",
                "package",
            )
        elif not any(match.matches(r) for r in found):
            have = ", ".join(f"{r.version}={r.build}" for r in found)
            note(
                "error",
                f"the lock has {name} {have}, which does not satisfy '{spec}'",
                "package",
            )


def _pip_pins(env: Environment, data: dict, platform: str, note) -> list[str]:
    """Exact pip requirements from the lock, each with its wheel's hash."""
    entries = {
        re.sub(r"[-_.]+", "-", str(p.get("name"))).lower(): p
        for p in _entries(data, platform, "pip")
    }
    wanted = [f["name"] for f in map(pip_requirement_fields, env.pip) if f]
    if not wanted:
        return []
    missing = [name for name in wanted if name not in entries]
    if missing:
        note(
            "warning",
            f"the lock pins no pip package {', '.join(missing)}; "
            "pip will choose versions when the image is built",
            "package",
        )
        return []
    pins = []
    for name, entry in sorted(entries.items()):
        sha256 = (entry.get("hash") or {}).get("sha256")
        pins.append(
            f"{name} @ {entry['url']}" + (f" --hash=sha256:{sha256}" if sha256 else "")
        )
    return pins


def inspect_lock(env: Environment, path: Path, platform: str) -> LockedEnvironment:
    """Read a lock for one platform and list every problem with it.

    Raises only when the file cannot be read as a conda-lock file at all.
    """
    path = Path(path)
    locked = LockedEnvironment(path, platform)

    def note(severity: str, message: str, key: str | None = None) -> None:
        locked.problems.append(Problem(path.name, message, key, severity=severity))

    data = _read_lock_yaml(path)
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    platforms = [str(p) for p in metadata.get("platforms") or []]
    if platform not in platforms or not _entries(data, platform, "conda"):
        note(
            "error",
            f"the lock has no packages for {platform} (it covers "
            f"{', '.join(platforms) or 'no platform'}); re-create it with "
            f"`racer lock` (or `racer run --relock`)",
            "metadata.platforms",
        )
        return locked
    locked.records = _conda_records(data, platform, path)
    _check_packages(env, locked.records, note)
    locked.pip = _pip_pins(env, data, platform, note)
    recorded = (metadata.get("content_hash") or {}).get(platform)
    if recorded != content_hash(env, platform):
        note(
            "warning",
            f"the lock was made from other environment files than "
            f"{', '.join(env.files)} (its content hash differs); racer installs it "
            "as committed. Refresh it with `racer lock` (or `racer run --relock`)",
            "metadata.content_hash",
        )
    return locked


def locked_records(env: Environment, path: Path, platform: str) -> LockedEnvironment:
    """The packages to install exactly as the lock lists them, or InvalidProject."""
    locked = inspect_lock(env, path, platform)
    if locked.errors:
        first = locked.errors[0]
        more = f" (and {len(locked.errors) - 1} more)" if len(locked.errors) > 1 else ""
        raise InvalidProject(
            f"{first}{more}",
            file=first.file,
            key=first.key,
            problems=[p.to_json() for p in locked.problems],
        )
    return locked


def check_locks(project: Project, platform: str) -> list[Problem]:
    """The problems of every lock in a project for one platform, for `validate`."""
    problems = []
    for env in project.environments.values():
        if env.lock is None:
            continue
        try:
            problems.extend(
                inspect_lock(env, project.path / env.lock, platform).problems
            )
        except InvalidProject as exc:
            problems.append(Problem(env.lock, exc.message.split(": ", 1)[-1]))
    return problems


# Writing a lock -----------------------------------------------------------------

HEADER = """\
# This lock file was written by racer in conda-lock's format (version 1);
# conda-lock, conda-project and rattler read it. It lists the exact packages
# of environment '{env}' for {platforms}, with their checksums.
# Re-create it after changing {files} with:
#     racer lock --path .
"""


def _depends_mapping(record) -> dict[str, str]:
    depends = {}
    for dependency in record.depends:
        fields = conda_spec_fields(dependency)
        depends[fields["name"]] = fields["version"]
    return depends


def _record_entry(record, platform: str) -> dict:
    return {
        "name": record.name.source,
        "version": str(record.version),
        "manager": "conda",
        "platform": platform,
        "dependencies": _depends_mapping(record),
        "url": str(record.url),
        "hash": {
            "md5": record.md5.hex() if record.md5 else None,
            "sha256": record.sha256.hex() if record.sha256 else None,
        },
        "category": "main",
        "optional": False,
    }


def _kept_from(path: Path, env: Environment, platform: str) -> tuple[list, dict]:
    """Entries of an existing lock to keep: other platforms', and its pip pins."""
    if not path.is_file():
        return [], {}
    data = _read_lock_yaml(path)
    pip_names = {f["name"] for f in map(pip_requirement_fields, env.pip) if f}
    kept = [
        p
        for p in data["package"]
        if p.get("platform") != platform
        or (
            p.get("manager") == "pip"
            and re.sub(r"[-_.]+", "-", p["name"]).lower() in pip_names
        )
    ]
    hashes = dict((data.get("metadata") or {}).get("content_hash") or {})
    return kept, hashes


def write_lock(records: list, env: Environment, platform: str, path: Path) -> Path:
    """Write the solved packages of one platform as a conda-lock v1 file.

    An existing lock keeps its other platforms and the pip pins the
    environment still asks for, so re-locking on Linux does not drop what a
    Mac user committed.
    """
    path = Path(path)
    missing = [r.name.source for r in records if not r.md5]
    if missing:
        raise BadInput(
            "conda-lock requires an md5 for every package; these have none: "
            + ", ".join(missing)
        )
    kept, hashes = _kept_from(path, env, platform)
    hashes[platform] = content_hash(env, platform)
    platforms = sorted(hashes)
    entries = sorted(
        (_record_entry(r, platform) for r in records), key=lambda e: e["name"]
    )
    document = {
        "version": 1,
        "metadata": {
            "content_hash": dict(sorted(hashes.items())),
            "channels": [{"url": c, "used_env_vars": []} for c in env.channels],
            "platforms": platforms,
            "sources": list(env.files),
        },
        "package": kept + entries,
    }
    header = HEADER.format(
        env=env.name, platforms=", ".join(platforms), files=", ".join(env.files)
    )
    body = yaml.dump(
        document, Dumper=SAFE_YAML_DUMPER, sort_keys=False, default_flow_style=False
    )
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(header + body, encoding="utf-8")
    temporary.replace(path)
    return path
