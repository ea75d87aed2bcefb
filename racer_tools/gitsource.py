"""Fetch a project from a git repository into racer's cache.

A URL, a branch, tag or commit, and a folder inside the repository name a
project. Everything a caller hands in is checked before git runs, because a
URL or ref that git reads as an option or as a transport helper (`ext::sh -c
...`) would run commands on this host. Checkouts are kept per repository and
commit, so deploying the same commit again fetches nothing but the ref.

Credentials written into a URL (`https://user:token@host/repo`) are passed
to git and nowhere else: the returned description, every error and every log
line name the URL without them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit, urlunsplit

import git

from .errors import BadInput, InvalidProject
from .settings import Settings

log = logging.getLogger("racer.git")

REMOTE_SCHEMES = {"https", "ssh", "git"}
# user@host:path, where neither the user nor the host may pass for an option.
SCP_LIKE = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*@[A-Za-z0-9.][A-Za-z0-9.-]*:\S+")
FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
SHORT_SHA = re.compile(r"[0-9a-f]{7,64}")
REF = re.compile(r"[A-Za-z0-9._/+@-]+")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
GIT_TIMEOUT = 600


# What a caller may ask for ------------------------------------------------------


def safe_url(url: str) -> str:
    """The URL without credentials; an ssh user name is kept, it is no secret."""
    if "://" not in url:
        return re.sub(r"^([^@/:]+):[^@/]*@", r"\1@", url)
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    if parts.scheme in ("ssh", "git") and parts.username:
        host = f"{parts.username}@{host}"
    return urlunsplit(parts._replace(netloc=host))


def _check_url(url, allow_local: bool) -> str:
    """The URL as git should receive it, or BadInput before git ever sees it."""
    if not isinstance(url, str) or not url.strip():
        raise BadInput("the git URL is empty")
    if url.startswith("-"):
        raise BadInput("a git URL cannot start with '-'")
    if CONTROL.search(url) or re.search(r"\s", url):
        raise BadInput("a git URL cannot contain spaces or control characters")
    if "::" in url:
        raise BadInput(
            f"'{safe_url(url)}' asks git for a transport helper; racer "
            "accepts https, ssh and git URLs only"
        )
    if "://" in url:
        return _check_scheme_url(url, allow_local)
    if SCP_LIKE.fullmatch(url):
        return url
    return _check_local_path(url, allow_local)


def _check_scheme_url(url: str, allow_local: bool) -> str:
    scheme = url.split("://", 1)[0].lower()
    if scheme in REMOTE_SCHEMES:
        parts = urlsplit(url)
        if not parts.hostname:
            raise BadInput(f"'{safe_url(url)}' names no host")
        if parts.hostname.startswith("-") or (parts.username or "").startswith("-"):
            raise BadInput(
                f"'{safe_url(url)}' has a host or user that reads as an option"
            )
        return url
    if scheme == "file":
        if not allow_local:
            raise BadInput(
                "file:// URLs are refused unless local sources are allowed (--allow-local-git)"
            )
        return url
    raise BadInput(
        f"'{scheme}://' URLs are refused; racer accepts https, ssh and git URLs"
    )


def _check_local_path(url: str, allow_local: bool) -> str:
    if not allow_local:
        raise BadInput(
            f"'{safe_url(url)}' is not an https, ssh or git URL, and local paths "
            "are refused unless local sources are allowed (--allow-local-git)"
        )
    path = Path(url).expanduser()
    if not path.is_dir():
        raise BadInput(f"no git repository at '{safe_url(url)}'")
    return str(path.resolve())


def _check_ref(ref) -> str | None:
    if ref is None:
        return None
    if not isinstance(ref, str) or not ref:
        raise BadInput("the git ref is empty")
    if (
        ref.startswith("-")
        or ".." in ref
        or ref.endswith((".lock", "/", "."))
        or not REF.fullmatch(ref)
    ):
        raise BadInput(f"'{ref}' is not a branch, tag or commit name")
    return ref


def _check_subdir(subdir) -> str | None:
    if subdir is None or subdir in ("", "."):
        return None
    if not isinstance(subdir, str) or CONTROL.search(subdir):
        raise BadInput("the project folder must be a plain relative path")
    path = PurePosixPath(subdir)
    if subdir.startswith(("-", "/", "\\")) or ".." in path.parts or "\\" in subdir:
        raise BadInput(f"'{subdir}' is not a folder inside the repository")
    return path.as_posix()


# Running git --------------------------------------------------------------------


def _git(workdir: Path, allow_local: bool) -> git.Git:
    """git in a folder, speaking only the protocols racer accepts, never prompting."""
    runner = git.Git(str(workdir))
    protocols = ["https", "ssh", "git"] + (["file"] if allow_local else [])
    runner.set_persistent_git_options(
        c=["protocol.allow=never"] + [f"protocol.{p}.allow=always" for p in protocols]
    )
    # A password prompt would hang a server; git and ssh fail instead.
    runner.update_environment(
        GIT_TERMINAL_PROMPT="0",
        GIT_SSH_COMMAND=os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
    )
    return runner


def _scrub(text: str, url: str) -> str:
    text = text.replace(url, safe_url(url))
    return re.sub(r"://[^/\s@]+@", "://", text)


def _run(runner: git.Git, url: str, doing: str, command: str, *args: str) -> str:
    """One git command; a failure becomes one sentence without credentials."""
    try:
        run = getattr(runner, command.replace("-", "_"))
        return run(*args, kill_after_timeout=GIT_TIMEOUT)
    except git.GitCommandError as exc:
        lines = [
            ln.strip().removeprefix("stderr: ").strip("'")
            for ln in str(exc.stderr or "").splitlines()
        ]
        lines = [ln for ln in lines if ln]
        # git says what went wrong on its `fatal:` line; what follows is advice.
        fatal = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
        reason = (fatal or lines or ["git failed"])[0]
        raise BadInput(
            f"git could not {doing} {safe_url(url)}: {_scrub(reason, url)}"
        ) from None


# Resolving and fetching ---------------------------------------------------------


def _remote_refs(runner: git.Git, url: str, ref: str | None) -> dict[str, str]:
    patterns = (
        ["HEAD"] if ref is None else [ref, f"refs/heads/{ref}", f"refs/tags/{ref}"]
    )
    out = _run(runner, url, "list the refs of", "ls-remote", url, *patterns)
    refs = {}
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        refs[name.strip()] = sha.strip()
    return refs


def _pick_ref(refs: dict[str, str], ref: str | None) -> tuple[str, str] | None:
    """The remote ref a name means, and the commit it points at: branches first."""
    if ref is None:
        return ("HEAD", refs["HEAD"]) if "HEAD" in refs else None
    for name in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
        if name in refs:
            return name, refs.get(f"{name}^{{}}", refs[name])
    return None


def _fetch_commit(runner: git.Git, url: str, sha: str) -> str:
    """Fetch one commit by its id: shallow where the server allows it."""
    try:
        _run(runner, url, "fetch", "fetch", "--depth", "1", "--no-tags", url, sha)
        return _run(runner, url, "read", "rev-parse", "FETCH_HEAD^{commit}")
    except BadInput:
        # Servers may refuse to send a commit by id; then fetch every branch
        # and tag and look for it among them.
        _run(
            runner,
            url,
            "fetch",
            "fetch",
            "--no-tags",
            url,
            "+refs/heads/*:refs/remotes/source/*",
            "+refs/tags/*:refs/tags/*",
        )
    try:
        return _run(
            runner,
            url,
            "find the commit in",
            "rev-parse",
            "--verify",
            "--end-of-options",
            f"{sha}^{{commit}}",
        )
    except BadInput:
        raise BadInput(f"no commit '{sha}' in {safe_url(url)}") from None


def _fetch(runner: git.Git, url: str, ref: str | None, remote: tuple | None) -> str:
    if remote is not None:
        _run(runner, url, "fetch", "fetch", "--depth", "1", "--no-tags", url, remote[0])
        return _run(runner, url, "read", "rev-parse", "FETCH_HEAD^{commit}")
    if ref is not None and SHORT_SHA.fullmatch(ref):
        return _fetch_commit(runner, url, ref)
    what = f"branch or tag '{ref}'" if ref else "default branch"
    raise BadInput(f"no {what} in {safe_url(url)}")


# The cache --------------------------------------------------------------------


def _cache_root(cache_dir: Path | None) -> Path:
    root = (
        Path(cache_dir) if cache_dir is not None else Settings.load().cache_dir / "git"
    )
    root.mkdir(parents=True, exist_ok=True)
    return root


def _repo_key(url: str) -> str:
    # Keyed by the URL without credentials: another token, the same checkout.
    return hashlib.sha256(safe_url(url).encode()).hexdigest()[:16]


def _cached(root: Path, url: str, commit: str) -> Path | None:
    matches = sorted(root.glob(f"{_repo_key(url)}-{commit}*"))
    if len(matches) == 1 and (matches[0] / ".git").is_dir():
        return matches[0]
    return None


def _publish(work: Path, final: Path) -> Path:
    # A rename is atomic, so a half-made checkout never looks finished; when
    # another fetch of the same commit wins the race, its checkout is used.
    try:
        os.rename(work, final)
    except OSError:
        if not (final / ".git").is_dir():
            raise
        shutil.rmtree(work, ignore_errors=True)
    return final


def _checkout(
    root: Path, url: str, ref: str | None, allow_local: bool
) -> tuple[Path, bool]:
    """The checkout of the commit `ref` names, and whether it came from the cache."""
    probe = _git(root, allow_local)
    remote = None
    if ref is None or not FULL_SHA.fullmatch(ref):
        remote = _pick_ref(_remote_refs(probe, url, ref), ref)
    known = remote[1] if remote else (ref if ref and SHORT_SHA.fullmatch(ref) else None)
    if known and (hit := _cached(root, url, known)):
        return hit, True

    work = Path(tempfile.mkdtemp(prefix=".fetch-", dir=root))
    try:
        git.Repo.init(work)
        runner = _git(work, allow_local)
        commit = _fetch(runner, url, ref, remote)
        _run(runner, url, "check out", "checkout", "--quiet", "--detach", commit)
        return _publish(work, root / f"{_repo_key(url)}-{commit}"), False
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def _commit_of(checkout: Path) -> str:
    return git.Repo(checkout).head.commit.hexsha


def _project_folder(checkout: Path, subdir: str | None, url: str, commit: str) -> Path:
    if subdir is None:
        return checkout
    folder = (checkout / subdir).resolve()
    if not folder.is_relative_to(checkout.resolve()):
        raise BadInput(f"'{subdir}' leads outside the repository")
    if not folder.is_dir():
        raise InvalidProject(
            f"no folder '{subdir}' in {safe_url(url)} at {commit[:12]}", subdir=subdir
        )
    return folder


def no_project_message(checkout: Path, info: dict) -> str:
    """Why a checkout's top is no project, with a --subdir that would be."""
    nested = sorted(
        p.parent.relative_to(checkout).as_posix()
        for p in checkout.glob("*/**/conda-project.y*ml")
    )
    hint = f"; pass --subdir, e.g. --subdir {nested[0]}" if nested else ""
    return (
        f"{info['url']} at {info['commit'][:12]} has no conda-project.yml or "
        f"environment.yml at its top{hint}"
    )


def fetch(
    url: str,
    ref: str | None = None,
    subdir: str | None = None,
    allow_local: bool = False,
    cache_dir: Path | None = None,
) -> tuple[Path, dict]:
    """Check out a project from git; return its folder and where it came from.

    `ref` is a branch, a tag or a commit id (the default branch when None);
    `subdir` the project's folder inside the repository. Local paths and
    file:// URLs need `allow_local`, since on a server they would read the
    host's own repositories.
    """
    git_url = _check_url(url, allow_local)
    ref = _check_ref(ref)
    subdir = _check_subdir(subdir)
    root = _cache_root(cache_dir)

    checkout, reused = _checkout(root, git_url, ref, allow_local)
    commit = _commit_of(checkout)
    log.info(
        "%s %s at %s", "reusing" if reused else "fetched", safe_url(git_url), commit
    )
    folder = _project_folder(checkout, subdir, git_url, commit)
    return folder, {
        "url": safe_url(url),
        "ref": ref,
        "commit": commit,
        "subdir": subdir,
    }
