"""Read a conda-project folder the way conda-project does.

A project is `conda-project.yml` (name, environments made of environment
files composed in order, variables, commands) or, failing that, a lone
`environment.yml`. Every problem found is collected with its file, key path
and line, so one `validate` reports them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rattler import MatchSpec

from .errors import InvalidProject, UsageError
from .yamlfile import Problem, YamlDocument, key_path, read_yaml

PROJECT_FILES = ("conda-project.yml", "conda-project.yaml")
ENVIRONMENT_FILES = ("environment.yml", "environment.yaml")
PROJECT_KEYS = {"name", "environments", "variables", "commands"}
COMMAND_KEYS = {"cmd", "environment", "variables"}
# conda-lock reads `platforms`; conda itself writes `prefix` when exporting.
ENVIRONMENT_KEYS = {"name", "channels", "dependencies", "variables", "prefix", "platforms"}
DEFAULT_CHANNEL_ALIAS = "https://conda.anaconda.org"


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

    def to_json(self) -> dict:
        return {
            "files": self.files,
            "channels": self.channels,
            "dependencies": self.dependencies,
            "pip": self.pip,
            "variables": self.variables,
            "platforms": self.platforms,
        }


@dataclass
class Command:
    name: str
    cmd: str
    environment: str
    variables: dict[str, str | None] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"cmd": self.cmd, "environment": self.environment, "variables": self.variables}


@dataclass
class Condarc:
    """The parts of a project's `.condarc` that decide where packages come from."""

    channels: list[str] = field(default_factory=list)
    channel_alias: str = DEFAULT_CHANNEL_ALIAS
    custom_channels: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "channels": self.channels,
            "channel_alias": self.channel_alias,
            "custom_channels": self.custom_channels,
        }


@dataclass
class Project:
    path: Path
    name: str
    environments: dict[str, Environment]
    commands: dict[str, Command]
    variables: dict[str, str | None]
    condarc: Condarc
    problems: list[Problem] = field(default_factory=list)

    @property
    def default_environment(self) -> str | None:
        return next(iter(self.environments), None)

    @property
    def default_command(self) -> str | None:
        if "default" in self.commands:
            return "default"
        return next(iter(self.commands), None)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

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

    def select(self, command: str | None = None, environment: str | None = None) -> Command:
        """The command to run: a named one, the default, or a literal one.

        A literal command is accepted only where the project names none, as
        for a folder holding just `environment.yml`.
        """
        if environment is not None and environment not in self.environments:
            raise UsageError(
                f"no environment '{environment}' in the project; it has: "
                + ", ".join(self.environments),
                environment=environment,
            )
        if command is None:
            command = self.default_command
            if command is None:
                raise UsageError(
                    "the project names no command; pass --command \"...\"",
                    file=self.name,
                )
        chosen = self.commands.get(command)
        if chosen is None:
            if self.commands:
                raise UsageError(
                    f"no command '{command}' in the project; it has: "
                    + ", ".join(self.commands),
                    command=command,
                )
            chosen = Command("custom", command, self.default_environment or "default")
        if environment is not None:
            chosen = Command(chosen.name, chosen.cmd, environment, chosen.variables)
        return chosen

    def variables_for(self, command: Command, overrides: dict | None = None) -> dict:
        """Project variables, then the command's, then the user's."""
        merged = dict(self.environments[command.environment].variables)
        merged.update(self.variables)
        merged.update(command.variables)
        merged.update(overrides or {})
        return {k: v for k, v in sorted(merged.items()) if v is not None}


def _as_text(value) -> str | None:
    """YAML scalars as conda-project stores them: `false` becomes 'False'."""
    if value is None:
        return None
    return str(value)


def _read_variables(doc: YamlDocument, key: str, value, problems) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(doc.problem("must be a mapping of names to values", key))
        return {}
    variables = {}
    for name, item in value.items():
        if isinstance(item, (dict, list)):
            problems.append(
                doc.problem("a variable's value must be a single value", key_path(key, name))
            )
            continue
        variables[str(name)] = _as_text(item)
    return variables


def _check_unknown_keys(doc: YamlDocument, data: dict, known: set, prefix: str, problems):
    for key in data:
        if key not in known:
            problems.append(
                doc.problem(
                    f"unknown key '{key}' is ignored",
                    key_path(prefix, str(key)),
                    severity="warning",
                )
            )


def _check_spec(doc: YamlDocument, spec, key: str, problems) -> str | None:
    if not isinstance(spec, str) or not spec.strip():
        problems.append(doc.problem("a dependency must be a package spec string", key))
        return None
    try:
        MatchSpec(spec, strict=False)
    except Exception as exc:  # rattler raises its own types for each flaw
        problems.append(doc.problem(f"not a valid package spec '{spec}': {exc}", key))
        return None
    return spec.strip()


def _spec_name(spec: str) -> str:
    return str(MatchSpec(spec, strict=False).name.normalized)


def _read_dependencies(doc: YamlDocument, deps, env: Environment, problems) -> None:
    if deps is None:
        return
    if not isinstance(deps, list):
        problems.append(doc.problem("must be a list of package specs", "dependencies"))
        return
    for index, item in enumerate(deps):
        key = key_path("dependencies", index)
        if isinstance(item, dict):
            _read_pip_section(doc, item, key, env, problems)
            continue
        spec = _check_spec(doc, item, key, problems)
        if spec is not None:
            _add_dependency(env, spec)


def _add_dependency(env: Environment, spec: str) -> None:
    # A later file's spec for the same package replaces the earlier one.
    name = _spec_name(spec)
    env.dependencies = [d for d in env.dependencies if _spec_name(d) != name]
    env.dependencies.append(spec)


def _read_pip_section(doc, item: dict, key: str, env: Environment, problems) -> None:
    if set(item) != {"pip"}:
        problems.append(doc.problem("only a 'pip:' list may appear as a mapping", key))
        return
    pip = item["pip"]
    if not isinstance(pip, list) or not all(isinstance(p, str) for p in pip):
        problems.append(doc.problem("'pip:' must be a list of requirements", key_path(key, "pip")))
        return
    env.pip.extend(p for p in pip if p not in env.pip)


def _read_environment_file(project_dir: Path, rel: str, env: Environment, problems) -> None:
    path = project_dir / rel
    if not path.is_file():
        problems.append(Problem(rel, "environment file not found", key=None))
        return
    doc, problem = read_yaml(path, rel)
    if problem:
        problems.append(problem)
        return
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        problems.append(doc.problem("an environment file must be a mapping"))
        return
    _check_unknown_keys(doc, data, ENVIRONMENT_KEYS, "", problems)
    if data.get("prefix"):
        problems.append(
            doc.problem("'prefix' is ignored: racer installs into /opt/env", "prefix",
                        severity="warning")
        )
    channels = data.get("channels") or []
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        problems.append(doc.problem("must be a list of channel names or URLs", "channels"))
        channels = []
    env.channels.extend(c for c in channels if c not in env.channels)
    platforms = data.get("platforms") or []
    if isinstance(platforms, list):
        env.platforms.extend(str(p) for p in platforms if str(p) not in env.platforms)
    _read_dependencies(doc, data.get("dependencies"), env, problems)
    env.variables.update(_read_variables(doc, "variables", data.get("variables"), problems))


def _read_environments(doc: YamlDocument, project_dir: Path, problems) -> dict:
    raw = doc.data.get("environments")
    if raw is None:
        problems.append(doc.problem("'environments' is required", "environments"))
        return {}
    if not isinstance(raw, dict) or not raw:
        problems.append(
            doc.problem("must map environment names to lists of files", "environments")
        )
        return {}
    environments = {}
    for name, files in raw.items():
        key = key_path("environments", str(name))
        if isinstance(files, str):
            files = [files]
        if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
            problems.append(doc.problem("must be a list of environment files", key))
            continue
        env = Environment(str(name), list(files))
        for index, rel in enumerate(files):
            found: list[Problem] = []
            _read_environment_file(project_dir, rel, env, found)
            for p in found:
                if p.message == "environment file not found":
                    p = doc.problem(f"environment file '{rel}' not found",
                                    key_path(key, index))
                problems.append(p)
        environments[str(name)] = env
    return environments


def _read_commands(doc: YamlDocument, environments: dict, default_env, problems) -> dict:
    raw = doc.data.get("commands")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(doc.problem("must map command names to commands", "commands"))
        return {}
    commands = {}
    for name, spec in raw.items():
        key = key_path("commands", str(name))
        command = _read_command(doc, str(name), spec, key, default_env, problems)
        if command is None:
            continue
        if environments and command.environment not in environments:
            problems.append(
                doc.problem(f"unknown environment '{command.environment}'",
                            key_path(key, "environment"))
            )
            continue
        commands[str(name)] = command
    return commands


def _read_command(doc, name: str, spec, key: str, default_env, problems) -> Command | None:
    if isinstance(spec, str):
        return Command(name, spec, default_env)
    if not isinstance(spec, dict):
        problems.append(doc.problem("a command must be a string or a mapping with 'cmd'", key))
        return None
    ok = True
    for extra in spec:
        if extra not in COMMAND_KEYS:
            problems.append(doc.problem(f"'{extra}' is not permitted in a command",
                                        key_path(key, str(extra))))
            ok = False
    cmd = spec.get("cmd")
    if not isinstance(cmd, str) or not cmd.strip():
        problems.append(doc.problem("'cmd' is required and must be a string",
                                    key_path(key, "cmd") if "cmd" in spec else key))
        ok = False
    environment = spec.get("environment", default_env)
    if environment is not None and not isinstance(environment, str):
        problems.append(doc.problem("must be an environment name", key_path(key, "environment")))
        ok = False
    variables = _read_variables(doc, key_path(key, "variables"), spec.get("variables"), problems)
    return Command(name, cmd, environment or default_env, variables) if ok else None


def _read_condarc(project_dir: Path, problems) -> Condarc:
    path = project_dir / ".condarc"
    condarc = Condarc()
    if not path.is_file():
        return condarc
    doc, problem = read_yaml(path, ".condarc")
    if problem:
        problems.append(problem)
        return condarc
    data = doc.data or {}
    if not isinstance(data, dict):
        problems.append(doc.problem("must be a mapping"))
        return condarc
    channels = data.get("channels") or []
    if isinstance(channels, list):
        condarc.channels = [str(c) for c in channels]
    if isinstance(data.get("channel_alias"), str):
        condarc.channel_alias = data["channel_alias"].rstrip("/")
    if isinstance(data.get("custom_channels"), dict):
        condarc.custom_channels = {
            str(k): str(v).rstrip("/") for k, v in data["custom_channels"].items()
        }
    return condarc


def _load_project_file(project_dir: Path, filename: str, problems) -> Project:
    doc, problem = read_yaml(project_dir / filename, filename)
    if problem:
        problems.append(problem)
        return Project(project_dir, project_dir.name, {}, {}, {}, Condarc())
    if not isinstance(doc.data, dict):
        problems.append(doc.problem("the project file must be a mapping"))
        return Project(project_dir, project_dir.name, {}, {}, {}, Condarc())
    data = doc.data
    _check_unknown_keys(doc, data, PROJECT_KEYS, "", problems)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(doc.problem("'name' is required and must be a string", "name"))
        name = project_dir.name
    environments = _read_environments(doc, project_dir, problems)
    default_env = next(iter(environments), None)
    if default_env is None and isinstance(data.get("environments"), dict):
        default_env = next(iter(data["environments"]), None)
    commands = _read_commands(doc, environments, default_env, problems)
    variables = _read_variables(doc, "variables", data.get("variables"), problems)
    return Project(project_dir, name, environments, commands, variables, Condarc())


def _load_environment_only(project_dir: Path, filename: str, problems) -> Project:
    env = Environment("default", [filename])
    _read_environment_file(project_dir, filename, env, problems)
    return Project(project_dir, project_dir.name, {"default": env}, {}, {}, Condarc())


def load_project(path: str | Path) -> Project:
    """Read the project at `path`; problems are kept on the result, not raised."""
    project_dir = Path(path).expanduser().resolve()
    if not project_dir.exists():
        raise InvalidProject(f"no such folder: {path}", file=str(path))
    if not project_dir.is_dir():
        raise InvalidProject(f"not a folder: {path}", file=str(path))
    problems: list[Problem] = []
    project_file = next((f for f in PROJECT_FILES if (project_dir / f).is_file()), None)
    env_file = next((f for f in ENVIRONMENT_FILES if (project_dir / f).is_file()), None)
    if project_file:
        project = _load_project_file(project_dir, project_file, problems)
    elif env_file:
        project = _load_environment_only(project_dir, env_file, problems)
    else:
        raise InvalidProject(
            f"{path} is not a conda-project: it has neither conda-project.yml "
            "nor environment.yml",
            file=str(project_dir),
        )
    project.condarc = _read_condarc(project_dir, problems)
    project.problems = problems
    return project


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
