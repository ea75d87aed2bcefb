"""Fetching projects from real git repositories made here.

One repository, served by `git daemon` on a loopback port and read through
file:// too: a project in `app/` on main, a tag on it, a branch that adds a
command, and a branch whose commit breaks the project.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from pathlib import Path

import git
import pytest

from racer_tools.errors import BadInput, InvalidProject
from racer_tools.gitsource import fetch, safe_url
from racer_tools.project import load_project, require_valid

PROJECT = """\
name: from-git
environments:
  default: [environment.yml]
commands:
  serve: python -m http.server
"""
ENVIRONMENT = "channels: [conda-forge]\ndependencies: [python]\n"


def commit(repo: git.Repo, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        path = Path(repo.working_dir) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        repo.index.add([name])
    return repo.index.commit(message).hexsha


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("served")
    repo = git.Repo.init(base / "project.git", initial_branch="main")
    shas = {
        "main": commit(
            repo,
            {
                "app/conda-project.yml": PROJECT,
                "app/environment.yml": ENVIRONMENT,
                "README.md": "a project in app/\n",
            },
            "the project",
        )
    }
    repo.create_tag("v1", message="first release")
    (Path(repo.working_dir) / "outside").symlink_to("/etc")
    repo.index.add(["outside"])
    shas["symlink"] = repo.index.commit("a link out of the repository").hexsha
    repo.git.checkout("-b", "feature", shas["main"])
    shas["feature"] = commit(
        repo, {"app/conda-project.yml": PROJECT + "  check: pytest\n"}, "add a command"
    )
    repo.git.checkout("-b", "broken", shas["main"])
    shas["broken"] = commit(
        repo, {"app/conda-project.yml": "name: [unclosed\n"}, "break the project"
    )
    repo.git.checkout("main")
    return {"base": base, "path": Path(repo.working_dir), **shas}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def daemon_url(origin):
    port = free_port()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--informative-errors",
            f"--base-path={origin['base']}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(origin["base"]),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield f"git://127.0.0.1:{port}/project.git"
    daemon.terminate()
    daemon.wait(timeout=10)


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


# Fetching -------------------------------------------------------------------------


def test_the_default_branch_is_fetched_shallow(daemon_url, origin, cache):
    folder, info = fetch(daemon_url, subdir="app", cache_dir=cache)
    assert info == {
        "url": daemon_url,
        "ref": None,
        "commit": origin["symlink"],
        "subdir": "app",
    }
    assert require_valid(load_project(folder)).name == "from-git"
    assert (folder.parent / ".git" / "shallow").is_file()


@pytest.mark.parametrize(
    ("ref", "expected"), [("main", "symlink"), ("v1", "main"), ("feature", "feature")]
)
def test_a_branch_or_tag_names_its_commit(daemon_url, origin, cache, ref, expected):
    folder, info = fetch(daemon_url, ref=ref, subdir="app", cache_dir=cache)
    assert info["commit"] == origin[expected] and info["ref"] == ref
    assert git.Repo(folder.parent).head.commit.hexsha == origin[expected]


def test_the_branch_adds_its_command(daemon_url, cache):
    folder, _ = fetch(daemon_url, ref="feature", subdir="app", cache_dir=cache)
    assert list(load_project(folder).commands) == ["serve", "check"]


def test_a_full_commit_id_is_fetched_alone(daemon_url, origin, cache):
    folder, info = fetch(daemon_url, ref=origin["feature"], cache_dir=cache)
    assert info["commit"] == origin["feature"]
    assert (folder / ".git" / "shallow").is_file()


def test_a_short_commit_id_is_found(daemon_url, origin, cache):
    _, info = fetch(daemon_url, ref=origin["broken"][:10], cache_dir=cache)
    assert info["commit"] == origin["broken"]


def test_a_second_fetch_of_the_same_commit_uses_the_cache(daemon_url, origin, cache):
    first, _ = fetch(daemon_url, ref="main", cache_dir=cache)
    (first / "marker").write_text("still here")
    again, _ = fetch(daemon_url, ref="main", cache_dir=cache)
    by_tag, _ = fetch(daemon_url, ref=origin["symlink"], cache_dir=cache)
    assert again == first == by_tag and (again / "marker").is_file()
    assert [p.name for p in cache.iterdir()] == [first.name]


def test_a_commit_that_breaks_the_project_fetches_but_does_not_validate(
    daemon_url, cache
):
    folder, _ = fetch(daemon_url, ref="broken", subdir="app", cache_dir=cache)
    project = load_project(folder)
    assert [p.file for p in project.errors] == ["conda-project.yml"]
    with pytest.raises(InvalidProject):
        require_valid(project)


def test_file_urls_and_paths_work_only_when_local_sources_are_allowed(origin, cache):
    url = origin["path"].as_uri()
    _, info = fetch(url, ref="feature", allow_local=True, cache_dir=cache)
    assert info["commit"] == origin["feature"]
    _, info = fetch(str(origin["path"]), ref="v1", allow_local=True, cache_dir=cache)
    assert info["commit"] == origin["main"]
    with pytest.raises(BadInput, match="file://"):
        fetch(url, cache_dir=cache)
    with pytest.raises(BadInput, match="local paths are refused"):
        fetch(str(origin["path"]), cache_dir=cache)


# Failing clearly -------------------------------------------------------------------


def test_an_unknown_ref_is_named(daemon_url, cache):
    with pytest.raises(BadInput, match="no branch or tag 'nope' in git://"):
        fetch(daemon_url, ref="nope", cache_dir=cache)


def test_an_unknown_repository_is_one_sentence(daemon_url, cache):
    with pytest.raises(BadInput, match="git could not list the refs of") as raised:
        fetch(daemon_url.replace("project.git", "other.git"), cache_dir=cache)
    assert "\n" not in raised.value.message


def test_a_missing_folder_is_an_invalid_project(daemon_url, cache):
    with pytest.raises(InvalidProject, match="no folder 'nowhere'"):
        fetch(daemon_url, subdir="nowhere", cache_dir=cache)


def test_a_folder_that_links_out_of_the_repository_is_refused(daemon_url, cache):
    with pytest.raises(BadInput, match="outside the repository"):
        fetch(daemon_url, ref="main", subdir="outside", cache_dir=cache)


# Refusing before git runs ------------------------------------------------------------


@pytest.fixture
def no_git(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("git ran")

    monkeypatch.setattr(git.Git, "execute", refuse)


@pytest.mark.parametrize(
    "url",
    [
        "-uhelp",
        "--upload-pack=touch /tmp/pwned",
        "ext::sh -c touch% /tmp/pwned",
        "fd::17",
        "git://127.0.0.1/repo::x",
        "http://example.com/repo.git",
        "ftp://example.com/repo.git",
        "https://example.com/a b",
        "https://exa\nmple.com/r",
        "",
        "https://",
        "file:///tmp/repo",
        "/tmp/repo",
        "relative/path",
        "ssh://-oProxyCommand=touch%20x/repo",
        "ssh://-user@example.com/repo",
        "git@-oProxyCommand=x:repo",
        "user:s3cret@example.com:repo",
    ],
)
def test_a_url_racer_does_not_accept_is_refused_before_git_runs(no_git, cache, url):
    with pytest.raises(BadInput) as raised:
        fetch(url, cache_dir=cache)
    assert "s3cret" not in raised.value.message


@pytest.mark.parametrize(
    "ref",
    [
        "-x",
        "--upload-pack=evil",
        "main..feature",
        "a b",
        "refs/heads/x.lock",
        "main:evil",
        "HEAD@{1}",
        "ref/",
    ],
)
def test_a_bad_ref_is_refused_before_git_runs(no_git, cache, ref):
    with pytest.raises(BadInput, match="not a branch, tag or commit"):
        fetch("https://example.com/repo.git", ref=ref, cache_dir=cache)


@pytest.mark.parametrize(
    "subdir", ["-x", "../up", "a/../../b", "/etc", "a\\b", "a\x00b"]
)
def test_a_subdir_outside_the_repository_is_refused_before_git_runs(
    no_git, cache, subdir
):
    with pytest.raises(BadInput):
        fetch("https://example.com/repo.git", subdir=subdir, cache_dir=cache)


# Credentials -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://user:s3cret@example.com/r.git", "https://example.com/r.git"),
        ("https://s3cret@example.com/r.git", "https://example.com/r.git"),
        ("ssh://git:s3cret@example.com:22/r.git", "ssh://git@example.com:22/r.git"),
        ("git@example.com:team/r.git", "git@example.com:team/r.git"),
        ("git:s3cret@example.com:team/r.git", "git@example.com:team/r.git"),
    ],
)
def test_credentials_are_stripped_from_a_url(url, safe):
    assert safe_url(url) == safe


def test_credentials_never_reach_errors_or_logs(cache, caplog):
    caplog.set_level(logging.DEBUG)
    url = f"https://user:s3cret@127.0.0.1:{free_port()}/repo.git"
    with pytest.raises(BadInput) as raised:
        fetch(url, cache_dir=cache)
    assert "s3cret" not in str(raised.value) and "user:" not in str(raised.value)
    assert "https://127.0.0.1:" in raised.value.message
    assert "s3cret" not in caplog.text
