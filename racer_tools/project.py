"""Read a conda-project folder the way conda-project 0.5.4 does.

A project is `conda-project.yml` (name, environments made of environment
files composed in order, variables, commands) or, failing that, a lone
`environment.yml`. Every problem found is collected with its file, key path
and line, so one `validate` reports them all.

racer is stricter than conda-project in a few places, each on purpose:
conda-project reports a bad package spec, a missing environment file or
channels that cannot be combined only when it first locks, and racer at once;
variable names must be names a shell can export; environment files must lie
inside the project folder, since a project may come from someone else's git
repository and its files must not name the host's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rattler import MatchSpec
from rattler.exceptions import InvalidMatchSpecError

from .errors import InvalidProject, UsageError
from .lock import find_lock
from .settings import ENV_PREFIX
from .yamlfile import (
    HasProblems,
    Problem,
    YamlDocument,
    duplicate_key_problems,
    key_path,
    read_yaml,
)

PROJECT_FILES = ("conda-project.yml", "conda-project.yaml")
ENVIRONMENT_FILES = ("environment.yml", "environment.yaml")
PROJECT_KEYS = {"name", "environments", "variables", "commands"}
COMMAND_KEYS = {"cmd", "environment", "variables"}
# conda-lock reads `platforms`; conda itself writes `prefix` when exporting.
ENVIRONMENT_KEYS = {
    "name",
    "channels",
    "dependencies",
    "variables",
    "prefix",
    "platforms",
}
DEFAULT_CHANNEL_ALIAS = "https://conda.anaconda.org"
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# conda-lock keeps a dependency line ending in `# [selector]` only on the
# platforms the selector names. racer applies them for linux-64, the platform
# its images are nearly always built for.
SELECTOR_PLATFORM = "linux-64"
LINUX_64_SELECTORS = {"linux64", "unix", "linux"}
SELECTOR = re.compile(r"#.*\[([^\[\]]+)\][^()]*$")


@dataclass
class Environment:
    """An environment: its files composed in order into one specification."""

    name: str
    files: list[str]
    channels: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    pip: list[str] = field(default_factory=list)
    variables: dict[str, str | None] = field(default_factory=dict)
    platforms: list[str] = field(default_factory=list)
    lock: str | None = None

    def to_json(self) -> dict:
        return {
            "files": self.files,
            "channels": self.channels,
            "dependencies": self.dependencies,
            "pip": self.pip,
            "variables": self.variables,
            "platforms": self.platforms,
            "lock": self.lock,
        }


@dataclass
class Command:
    name: str
    cmd: str
    environment: str
    variables: dict[str, str | None] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "cmd": self.cmd,
            "environment": self.environment,
            "variables": self.variables,
        }


@dataclass
class Condarc:
    """The parts of a project's `.condarc` that decide where packages come from."""

    channels: list[str] = field(default_factory=list)
    channel_alias: str = DEFAULT_CHANNEL_ALIAS
    custom_channels: dict[str, str] = field(default_factory=dict)
    default_channels: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "channels": self.channels,
            "channel_alias": self.channel_alias,
            "custom_channels": self.custom_channels,
            "default_channels": self.default_channels,
        }


@dataclass
class Project(HasProblems):
    path: Path
    name: str
    environments: dict[str, Environment]
    commands: dict[str, Command]
    variables: dict[str, str | None]
    condarc: Condarc = field(default_factory=Condarc)
    problems: list[Problem] = field(default_factory=list)

    @property
    def default_environment(self) -> str | None:
        return next(iter(self.environments), None)

    @property
    def default_command(self) -> str | None:
        # A command named `default` is the obvious intent; conda-project itself
        # would run the first one, which is the same on every real project seen.
        if "default" in self.commands:
            return "default"
        return next(iter(self.commands), None)

    def to_json(self) -> dict:
        return {
            "path": str(self.path),
            "name": self.name,
            "default_environment": self.default_environment,
            "default_command": self.default_command,
            "environments": {n: e.to_json() for n, e in self.environments.items()},
            "commands": {n: c.to_json() for n, c in self.commands.items()},
            "variables": self.variables,
            "condarc": self.condarc.to_json(),
        }

    def select(
        self, command: str | None = None, environment: str | None = None
    ) -> Command:
        """The command to run: a named one, the default, or a literal one.

        Like conda-project, a command that is not one of the project's runs
        as a shell command in the default environment. A single word that
        names no command is refused instead, since it is far more often a
        misspelt name than a program to run.
        """
        if environment is not None and environment not in self.environments:
            raise UsageError(
                f"no environment '{environment}' in the project; it has: "
                + ", ".join(self.environments),
                environment=environment,
            )
        chosen = self._named_or_literal(command)
        if environment is not None:
            chosen = Command(chosen.name, chosen.cmd, environment, chosen.variables)
        return chosen

    def _named_or_literal(self, command: str | None) -> Command:
        if command is None:
            command = self.default_command
            if command is None:
                raise UsageError(
                    'the project names no command; pass --command "..."', file=self.name
                )
        if command in self.commands:
            return self.commands[command]
        if self.commands and len(command.split()) == 1:
            raise UsageError(
                f"no command '{command}' in the project; it has: "
                + ", ".join(self.commands),
                command=command,
            )
        return Command("custom", command, self.default_environment or "default")

    def _merged_variables(self, command: Command, overrides: dict | None) -> dict:
        # conda-project sets the project's variables and the command's; the
        # `variables:` of environment files are not set.
        merged = dict(self.variables)
        merged.update(command.variables)
        merged.update(overrides or {})
        return merged

    def variables_for(self, command: Command, overrides: dict | None = None) -> dict:
        """Project variables, then the command's, then the user's."""
        merged = self._merged_variables(command, overrides)
        return {k: v for k, v in sorted(merged.items()) if v is not None}

    def missing_variables(
        self, command: Command, overrides: dict | None = None
    ) -> list[str]:
        """Variables declared without a value that nobody has given one."""
        merged = self._merged_variables(command, overrides)
        return sorted(k for k, v in merged.items() if v is None)


@dataclass
class _Report:
    """Problems found in one YAML file, each pointing at a key and its line."""

    doc: YamlDocument
    problems: list[Problem]

    def error(self, message: str, key: str | None = None) -> None:
        self.problems.append(self.doc.problem(message, key))

    def warn(self, message: str, key: str | None = None) -> None:
        self.problems.append(self.doc.problem(message, key, severity="warning"))

    def check_keys(self, data: dict, known: set, prefix: str = "") -> None:
        for key in data:
            if key not in known:
                self.warn(f"unknown key '{key}' is ignored", key_path(prefix, str(key)))


def _open(
    path: Path, name: str, problems: list[Problem], empty_ok: bool = False
) -> _Report | None:
    """Parse a YAML file that must hold a mapping; None when it cannot be read."""
    doc, problem = read_yaml(path, name)
    if problem:
        problems.append(problem)
        return None
    problems.extend(duplicate_key_problems(doc))
    report = _Report(doc, problems)
    if doc.data is None and empty_ok:
        doc.data = {}
    if doc.data is None:
        report.error("the file is empty")
        return None
    if not isinstance(doc.data, dict):
        report.error("the file must hold a mapping of keys to values")
        return None
    return report


def _as_text(value) -> str | None:
    """A YAML scalar as conda-project stores it: `false` becomes 'False'."""
    if value is None:
        return None
    return str(value)


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _read_variables(
    report: _Report, key: str, value, need_values: bool = False
) -> dict:
    if not isinstance(value, dict):
        report.error("must map variable names to values", key)
        return {}
    variables = {}
    for name, item in value.items():
        name, item_key = str(name), key_path(key, str(name))
        if not VARIABLE_NAME.match(name):
            report.error(
                f"'{name}' is not a valid variable name: use letters, digits and '_', "
                "not starting with a digit",
                item_key,
            )
        elif not _is_scalar(item):
            report.error("a variable's value must be a single value", item_key)
        elif item is None and need_values:
            report.error("a variable in an environment file needs a value", item_key)
        else:
            variables[name] = _as_text(item)
    return variables


# Environment files -------------------------------------------------------------


@dataclass
class _EnvironmentFile:
    """What one environment file adds to an environment."""

    name: str
    channels: list[str] = field(default_factory=list)
    specs: list[str] = field(default_factory=list)
    pip: list[str] = field(default_factory=list)
    has_pip_section: bool = False
    variables: dict = field(default_factory=dict)
    platforms: list[str] = field(default_factory=list)


def _string_list(report: _Report, data: dict, key: str, what: str) -> list[str]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        report.error(f"must be a list of {what}", key)
        return []
    return list(value)


def _check_spec(report: _Report, spec, key: str) -> str | None:
    if not isinstance(spec, str) or not spec.strip():
        report.error("a dependency must be a package spec string", key)
        return None
    try:
        MatchSpec(spec, strict=False)
    except InvalidMatchSpecError as exc:
        reason = str(exc).splitlines()[0]
        report.error(f"not a valid package spec '{spec}': {reason}", key)
        return None
    return spec.strip()


def _selector(report: _Report, key: str) -> str | None:
    line = report.doc.line(key)
    if line is None:
        return None
    match = SELECTOR.search(report.doc.text_lines[line - 1])
    return match.group(1).strip() if match else None


def _read_pip_section(report: _Report, item: dict, key: str, spec: _EnvironmentFile):
    if set(item) != {"pip"}:
        report.error("only a 'pip:' list may appear as a mapping in dependencies", key)
        return
    pip = item["pip"]
    if not isinstance(pip, list) or not all(isinstance(p, str) for p in pip):
        report.error("'pip:' must be a list of requirements", key_path(key, "pip"))
        return
    spec.has_pip_section = True
    spec.pip.extend(p.strip() for p in pip)


def _read_dependencies(report: _Report, data: dict, spec: _EnvironmentFile) -> None:
    if "dependencies" not in data:
        return
    deps = data["dependencies"]
    if not isinstance(deps, list):
        report.error("must be a list of package specs", "dependencies")
        return
    for index, item in enumerate(deps):
        key = key_path("dependencies", index)
        if isinstance(item, dict):
            _read_pip_section(report, item, key, spec)
            continue
        selector = _selector(report, key)
        if selector is not None and selector not in LINUX_64_SELECTORS:
            report.warn(
                f"skipped: its selector [{selector}] does not name {SELECTOR_PLATFORM}",
                key,
            )
            continue
        checked = _check_spec(report, item, key)
        if checked is not None:
            spec.specs.append(checked)


def _read_environment_file(path: Path, name: str, problems) -> _EnvironmentFile | None:
    report = _open(path, name, problems)
    if report is None:
        return None
    data = report.doc.data
    report.check_keys(data, ENVIRONMENT_KEYS)
    if data.get("prefix"):
        report.warn(
            f"'prefix' is ignored: racer installs the environment at {ENV_PREFIX}",
            "prefix",
        )
    spec = _EnvironmentFile(name)
    spec.channels = _string_list(report, data, "channels", "channel names or URLs")
    spec.platforms = _string_list(report, data, "platforms", "platform names")
    _read_dependencies(report, data, spec)
    if data.get("variables") is not None:
        spec.variables = _read_variables(
            report, "variables", data["variables"], need_values=True
        )
    if spec.variables:
        report.warn(
            "conda-project does not set an environment file's variables; "
            "move them to conda-project.yml",
            "variables",
        )
    return spec


# Composing an environment from its files ---------------------------------------


def _spec_name(spec: str) -> str:
    return str(MatchSpec(spec, strict=False).name.normalized)


def _pip_key(requirement: str) -> str:
    """The PyPI name a requirement is about; an option such as `-e .` is its own."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    if requirement.startswith("-") or not match:
        return requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


# How composing reports a problem: note(severity, message). A project file
# points it at the environment's key; a lone environment.yml at itself.
Note = Callable[[str, str], None]


def _compose_channels(files: list[_EnvironmentFile], note: Note) -> list[str]:
    """The channels of all files, combined the way conda-lock combines them.

    Each file's channels must end the longest list: `[bioconda, conda-forge]`
    extends `[conda-forge]`, but `[defaults]` and `[conda-forge]` conflict.
    """
    if not any(f.channels for f in files):
        note(
            "warning",
            "no environment file lists channels; using 'defaults', "
            "as conda-project does",
        )
        return ["defaults"]
    lists = [[c for c in f.channels if c != "nodefaults"] for f in files]
    longest = max(lists, key=len)
    for spec, channels in zip(files, lists):
        if channels and longest[-len(channels) :] != channels:
            note(
                "error",
                f"the channels of {spec.name} ({', '.join(channels)}) "
                f"do not end those of the others ({', '.join(longest)}), so conda-lock "
                "cannot combine them",
            )
    if not longest:
        note(
            "error", "'nodefaults' is the only channel: nothing is left to install from"
        )
    return longest


def _compose(name: str, files: list[_EnvironmentFile], note: Note) -> Environment:
    env = Environment(name, [f.name for f in files])
    env.channels = _compose_channels(files, note)
    # A later file's spec for a package replaces the earlier one in its place.
    conda: dict[str, str] = {}
    pip: dict[str, str] = {}
    for spec in files:
        conda.update((_spec_name(s), s) for s in spec.specs)
        if spec.has_pip_section:
            # conda-lock adds pip itself after a file's pip section, unpinned.
            conda["pip"] = "pip *"
        pip.update((_pip_key(p), p) for p in spec.pip)
        env.variables.update(spec.variables)
        env.platforms.extend(p for p in spec.platforms if p not in env.platforms)
    env.dependencies = list(conda.values())
    env.pip = list(pip.values())
    return env


# conda-project.yml -------------------------------------------------------------


def _environment_path(project_dir: Path, rel: str) -> Path | None:
    """The file an environment lists, or None when it lies outside the project."""
    if Path(rel).is_absolute():
        return None
    path = (project_dir / rel).resolve()
    return path if path.is_relative_to(project_dir) else None


def _read_file_list(report: _Report, project_dir: Path, key: str, files) -> list:
    specs = []
    for index, rel in enumerate(files):
        file_key = key_path(key, index)
        path = _environment_path(project_dir, rel)
        if path is None:
            report.error(f"'{rel}' is outside the project folder", file_key)
        elif not path.is_file():
            report.error(f"environment file '{rel}' not found", file_key)
        else:
            name = path.relative_to(project_dir).as_posix()
            specs.append(_read_environment_file(path, name, report.problems))
    return specs


def _read_environment(report: _Report, project_dir: Path, name: str, files):
    key = key_path("environments", name)
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        report.error("must be a list of environment files", key)
        return None
    if not files:
        report.warn("lists no environment files: the environment will be empty", key)
    specs = _read_file_list(report, project_dir, key, files)
    if any(s is None for s in specs) or len(specs) != len(files):
        return Environment(name, list(files))

    def at_key(severity: str, message: str) -> None:
        report.problems.append(report.doc.problem(message, key, severity=severity))

    env = _compose(name, specs, at_key)
    env.files = list(files)
    return env


def _read_environments(report: _Report, project_dir: Path) -> dict[str, Environment]:
    raw = report.doc.data.get("environments")
    if raw is None:
        report.error("'environments' is required", "environments")
        return {}
    if not isinstance(raw, dict) or not raw:
        report.error("must map environment names to lists of files", "environments")
        return {}
    environments = {}
    for name, files in raw.items():
        env = _read_environment(report, project_dir, str(name), files)
        if env is not None:
            environments[str(name)] = env
    return environments


def _read_command(report: _Report, name: str, spec, default_env: str) -> Command | None:
    key = key_path("commands", name)
    if isinstance(spec, str) and spec.strip():
        return Command(name, spec, default_env)
    if not isinstance(spec, dict):
        report.error("a command must be a shell command or a mapping with 'cmd'", key)
        return None
    ok = True
    for extra in spec:
        if extra not in COMMAND_KEYS:
            report.error(
                f"'{extra}' is not permitted in a command (it takes cmd, "
                "environment and variables)",
                key_path(key, str(extra)),
            )
            ok = False
    cmd = spec.get("cmd")
    if not isinstance(cmd, str) or not cmd.strip():
        report.error(
            "'cmd' is required and must be a string",
            key_path(key, "cmd") if "cmd" in spec else key,
        )
        ok = False
    environment = spec.get("environment")
    if environment is not None and not isinstance(environment, str):
        report.error("must be an environment name", key_path(key, "environment"))
        ok = False
    variables = {}
    if spec.get("variables") is not None:
        variables = _read_variables(
            report, key_path(key, "variables"), spec["variables"]
        )
    return Command(name, cmd, environment or default_env, variables) if ok else None


def _read_commands(report: _Report, env_names: list[str]) -> dict[str, Command]:
    data = report.doc.data
    if "commands" not in data:
        return {}
    raw = data["commands"]
    if not isinstance(raw, dict):
        report.error("must map command names to commands", "commands")
        return {}
    default_env = env_names[0] if env_names else "default"
    commands = {}
    for name, spec in raw.items():
        command = _read_command(report, str(name), spec, default_env)
        if command is None:
            continue
        if env_names and command.environment not in env_names:
            report.error(
                f"unknown environment '{command.environment}'",
                key_path(key_path("commands", str(name)), "environment"),
            )
            continue
        commands[str(name)] = command
    return commands


def _read_name(report: _Report, project_dir: Path) -> str:
    data = report.doc.data
    if "name" not in data:
        report.error("'name' is required", "name")
        return project_dir.name
    name = data["name"]
    if name is None or not _is_scalar(name):
        report.error("must be the project's name", "name")
        return project_dir.name
    if not str(name).strip():
        report.warn("the name is empty; racer uses the folder's name", "name")
        return project_dir.name
    return str(name)


def _read_project_variables(report: _Report) -> dict:
    data = report.doc.data
    if "variables" not in data:
        return {}
    return _read_variables(report, "variables", data["variables"])


def _load_project_file(project_dir: Path, filename: str, problems) -> Project:
    report = _open(project_dir / filename, filename, problems)
    if report is None:
        return Project(project_dir, project_dir.name, {}, {}, {})
    report.check_keys(report.doc.data, PROJECT_KEYS)
    name = _read_name(report, project_dir)
    environments = _read_environments(report, project_dir)
    raw_envs = report.doc.data.get("environments")
    env_names = [str(n) for n in raw_envs] if isinstance(raw_envs, dict) else []
    commands = _read_commands(report, env_names)
    variables = _read_project_variables(report)
    return Project(project_dir, name, environments, commands, variables)


def _load_environment_only(project_dir: Path, filename: str, problems) -> Project:
    spec = _read_environment_file(project_dir / filename, filename, problems)
    env = Environment("default", [filename])
    if spec is not None:

        def in_file(severity: str, message: str) -> None:
            problems.append(Problem(filename, message, severity=severity))

        env = _compose("default", [spec], in_file)
    return Project(project_dir, project_dir.name, {"default": env}, {}, {})


# .condarc and locks ------------------------------------------------------------


def _read_condarc(project_dir: Path, problems) -> Condarc:
    condarc = Condarc()
    path = project_dir / ".condarc"
    report = (
        _open(path, ".condarc", problems, empty_ok=True) if path.is_file() else None
    )
    if report is not None:
        _apply_condarc(report, report.doc.data, condarc)
    return condarc


def _apply_condarc(report: _Report, data: dict, condarc: Condarc) -> None:
    condarc.channels = _string_list(report, data, "channels", "channel names or URLs")
    condarc.default_channels = [
        c.rstrip("/")
        for c in _string_list(report, data, "default_channels", "channel URLs")
    ]
    alias = data.get("channel_alias")
    if isinstance(alias, str) and "://" in alias:
        condarc.channel_alias = alias.rstrip("/")
    elif alias is not None:
        report.error("must be a URL", "channel_alias")
    custom = data.get("custom_channels")
    if isinstance(custom, dict) and all(isinstance(v, str) for v in custom.values()):
        condarc.custom_channels = {str(k): v.rstrip("/") for k, v in custom.items()}
    elif custom is not None:
        report.error("must map channel names to URLs", "custom_channels")


def _find_locks(project: Project) -> None:
    for env in project.environments.values():
        path, problems = find_lock(project.path, env.name)
        env.lock = path.name if path else None
        project.problems.extend(problems)


# Entry points ------------------------------------------------------------------


def _find_one(project_dir: Path, names: tuple[str, str], problems) -> str | None:
    found = [n for n in names if (project_dir / n).is_file()]
    for name in found:
        if not (project_dir / name).resolve().is_relative_to(project_dir):
            raise InvalidProject(
                f"{name} links to a file outside the project folder", file=name
            )
    if len(found) > 1:
        problems.append(
            Problem(
                found[0],
                f"both {found[0]} and {found[1]} exist; "
                "conda-project refuses to choose: keep one",
            )
        )
    return found[0] if found else None


def load_project(path: str | Path) -> Project:
    """Read the project at `path`; problems are kept on the result, not raised."""
    project_dir = Path(path).expanduser().resolve()
    if not project_dir.exists():
        raise InvalidProject(f"no such folder: {path}", file=str(path))
    if not project_dir.is_dir():
        raise InvalidProject(f"not a folder: {path}", file=str(path))
    problems: list[Problem] = []
    project_file = _find_one(project_dir, PROJECT_FILES, problems)
    if project_file:
        project = _load_project_file(project_dir, project_file, problems)
    else:
        env_file = _find_one(project_dir, ENVIRONMENT_FILES, problems)
        if env_file is None:
            raise InvalidProject(
                f"{path} is not a conda-project: it has neither conda-project.yml "
                "nor environment.yml",
                file=str(project_dir),
            )
        project = _load_environment_only(project_dir, env_file, problems)
    project.condarc = _read_condarc(project_dir, problems)
    project.problems = problems
    _find_locks(project)
    _sort_problems(project.problems, first=project_file)
    return project


def _sort_problems(problems: list[Problem], first: str | None) -> None:
    # The project file, then the others in the order they were read; each
    # from top to bottom.
    order: dict[str, int] = {first: 0} if first else {}
    for problem in problems:
        order.setdefault(problem.file, len(order))
    problems.sort(key=lambda p: (order[p.file], p.line or 0))


def require_valid(project: Project) -> Project:
    """Raise one InvalidProject naming every error, or return the project."""
    errors = project.errors
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InvalidProject(
            f"{first}{more}",
            problems=[p.to_json() for p in project.problems],
            file=first.file,
            key=first.key,
            line=first.line,
        )
    return project
