"""Deploy speed and image size, racer against baselines measured in the same run.

Prints, for test-project:
  - racer's cold deploy (empty caches) and warm redeploy after a change to main.py;
  - the same two for a baseline Dockerfile that installs the environment inside
    `docker build` from the same channel;
  - a bare `docker build` (warm cache) + `docker run` + first HTTP 200 of racer's
    own rendered Dockerfile, the floor a warm redeploy is compared with;
  - the image's size against the sum of base image, environment and project.

Run it with racer's settings in place (make bench). It removes what it creates.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import docker
import jinja2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from racer_tools import conda, engine
from racer_tools.context import project_files
from racer_tools.project import load_project
from racer_tools.render import _double_quoted
from racer_tools.settings import APP_DIR, ENV_PREFIX, Settings

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
LEGACY_BUILDER = {**os.environ, "DOCKER_BUILDKIT": "0"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_200(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answered on port {port}")


def timed(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def sh(*cmd, env=None, cwd=None) -> str:
    result = subprocess.run(
        [str(c) for c in cmd],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, cmd))} failed:\n{result.stderr[-2000:]}"
        )
    return result.stdout


def du(path: Path) -> int:
    """Bytes of the files under path, each hard-linked file once."""
    seen, total = set(), 0
    for root, _, files in os.walk(path):
        for name in files:
            stat = os.lstat(os.path.join(root, name))
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total


def touch_code(project: Path, n: int) -> None:
    main = project / "main.py"
    main.write_text(
        main.read_text()
        .replace('"World"', f'"World {n}"')
        .replace(f'"World {n - 1}"', f'"World {n}"')
    )


class Bench:
    def __init__(self, work: Path):
        self.work = work
        self.client = engine.client()
        self.settings = Settings.load()
        self.project = work / "test-project"
        shutil.copytree(ROOT / "test-project", self.project)
        self.cache = work / "cache"
        self.env = {**os.environ, "RACER_CACHE_DIR": str(self.cache)}
        self.images: set[str] = set()
        self.containers: list[str] = []
        self.dangling_before = self.dangling()

    # racer

    def racer_deploy(self) -> dict:
        port = free_port()
        out = sh(
            BIN / "racer",
            "run",
            "--path",
            self.project,
            "--ports",
            f"{port}:8000",
            "--wait",
            "0",
            env=self.env,
        )
        wait_for_200(port)
        doc = json.loads(out)
        self.images.add(doc["image"]["id"])
        self.containers.append(doc["container"]["id"])
        self.last = doc
        return doc

    # racer's own Dockerfile, built bare

    def bare_context(self) -> Path:
        ctx = self.work / "bare"
        shutil.rmtree(ctx, ignore_errors=True)
        ctx.mkdir()
        staged = Path(self.last["image"]["environment"]["prefix"])
        shutil.copytree(staged, ctx / "env", symlinks=True, copy_function=os.link)
        (ctx / "Dockerfile").write_text(self.last["dockerfile"])
        for rel in project_files(self.project):
            target = ctx / "app" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.project / rel, target)
        return ctx

    def docker_deploy(
        self,
        ctx: Path,
        tag: str,
        dockerfile: str = "Dockerfile",
        no_cache: bool = False,
    ) -> None:
        sh(
            "docker",
            "build",
            "-q",
            "--force-rm",
            *(["--no-cache"] if no_cache else []),
            "--network",
            "host",
            "-f",
            ctx / dockerfile,
            "-t",
            tag,
            ctx,
            env=LEGACY_BUILDER,
        )
        self.images.add(self.client.images.get(tag).id)
        port = free_port()
        cid = sh("docker", "run", "-d", "--init", "-p", f"{port}:8000", tag).strip()
        self.containers.append(cid)
        wait_for_200(port)

    # the baseline: the environment installed inside the build

    def installer_image(self) -> str:
        """python and py-rattler on the base image; made once, not timed."""
        project = load_project(self.project)
        env = project.environments["default"]
        env.dependencies = ["python=3.11", "pip"]
        staged = conda.stage(env, project.condarc, self.settings, engine.platform())
        ctx = self.work / "installer"
        shutil.copytree(
            staged.prefix, ctx / "env", symlinks=True, copy_function=os.link
        )
        sh(
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary",
            ":all:",
            "-d",
            ctx / "wheels",
            "py-rattler==0.28.0",
        )
        shutil.copy(HERE / "install_env.py", ctx / "install-env.py")
        (ctx / "Dockerfile").write_text(
            f"FROM {self.settings.base_image}\n"
            "COPY env/ /opt/env/\n"
            "COPY wheels/ /tmp/wheels/\n"
            "RUN /opt/env/bin/python -m pip install --no-index --no-cache-dir /tmp/wheels/* "
            "&& rm -r /tmp/wheels && mv /opt/env /opt/installer\n"
            "COPY install-env.py /opt/installer/install-env.py\n"
        )
        tag = "racer-bench-installer:latest"
        sh("docker", "build", "-q", "--force-rm", "-t", tag, ctx, env=LEGACY_BUILDER)
        self.images.add(self.client.images.get(tag).id)
        return tag

    def baseline_context(self, installer: str) -> Path:
        project = load_project(self.project)
        env = project.environments["default"]
        command = project.select()
        channels = conda.resolve_channels(env, project.condarc)
        platform = engine.platform()
        ctx = self.work / "baseline"
        shutil.rmtree(ctx, ignore_errors=True)
        (ctx / "app").mkdir(parents=True)
        (ctx / "environment.json").write_text(
            json.dumps(
                {
                    "channels": channels,
                    "specs": conda.conda_specs(env),
                    "mirrors": conda.mirror_map(self.settings, project.condarc),
                    "platform": platform,
                    "virtual": [
                        [str(v.name.normalized), str(v.version), str(v.build_string)]
                        for v in conda.virtual_packages(self.settings, platform)
                    ],
                }
            )
        )
        template = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        template.filters["dq"] = _double_quoted
        (ctx / "Dockerfile").write_text(
            template.get_template("Dockerfile.baseline.j2").render(
                installer_image=installer,
                base_image=self.settings.base_image,
                env_prefix=ENV_PREFIX,
                app_dir=APP_DIR,
                project=project.name,
                environment="default",
                cmd=["/bin/sh", "-c", command.cmd],
                variables=sorted(project.variables_for(command).items()),
            )
        )
        return ctx

    def copy_app(self, ctx: Path) -> None:
        shutil.rmtree(ctx / "app", ignore_errors=True)
        for rel in project_files(self.project):
            target = ctx / "app" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.project / rel, target)

    def dangling(self) -> set[str]:
        return {i.id for i in self.client.images.list(filters={"dangling": True})}

    def cleanup(self) -> None:
        for cid in self.containers:
            try:
                self.client.containers.get(cid).remove(force=True)
            except docker.errors.APIError:
                pass
        # The baseline's first stage stays behind as an untagged image.
        left = self.dangling() - self.dangling_before
        for image in [*left, *self.images]:
            try:
                self.client.images.remove(image, force=True)
            except docker.errors.APIError:
                pass


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="racer-bench-"))
    bench = Bench(work)
    figures = {}
    try:
        figures["racer cold"] = timed(bench.racer_deploy)
        touch_code(bench.project, 1)
        figures["racer warm"] = timed(bench.racer_deploy)

        ctx = bench.bare_context()
        bench.docker_deploy(ctx, "racer-bench-bare:latest")  # warms the layer cache
        touch_code(bench.project, 2)
        bench.copy_app(ctx)
        figures["bare docker warm"] = timed(
            lambda: bench.docker_deploy(ctx, "racer-bench-bare:latest")
        )

        installer = bench.installer_image()
        touch_code(bench.project, 3)
        ctx = bench.baseline_context(installer)
        bench.copy_app(ctx)
        figures["baseline cold"] = timed(
            lambda: bench.docker_deploy(
                ctx, "racer-bench-baseline:latest", no_cache=True
            )
        )
        touch_code(bench.project, 4)
        bench.copy_app(ctx)
        figures["baseline warm"] = timed(
            lambda: bench.docker_deploy(ctx, "racer-bench-baseline:latest")
        )

        image = bench.client.images.get(bench.last["image"]["id"])
        base = bench.client.images.get(bench.settings.base_image)
        env_bytes = du(Path(bench.last["image"]["environment"]["prefix"]))
        app_bytes = sum(
            (bench.project / f).stat().st_size for f in project_files(bench.project)
        )
        parts = base.attrs["Size"] + env_bytes + app_bytes
        report(
            figures,
            image.attrs["Size"],
            base.attrs["Size"],
            env_bytes,
            app_bytes,
            parts,
        )
    finally:
        bench.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(t: dict, image: int, base: int, env: int, app: int, parts: int) -> None:
    mb = 1024 * 1024
    print("deploy of test-project until its first HTTP 200 (seconds)")
    print(f"  {'':28}{'cold':>8}{'warm':>8}")
    print(f"  {'racer':28}{t['racer cold']:8.2f}{t['racer warm']:8.2f}")
    print(
        f"  {'baseline (install in build)':28}{t['baseline cold']:8.2f}"
        f"{t['baseline warm']:8.2f}"
    )
    print(f"  {'bare docker build + run':28}{'':>8}{t['bare docker warm']:8.2f}")
    print()
    print(
        f"  racer cold / baseline cold      {t['racer cold'] / t['baseline cold']:.2f}"
        "   (target <= 1.00)"
    )
    print(
        f"  racer warm / bare docker warm   {t['racer warm'] / t['bare docker warm']:.2f}"
        "   (target <= 1.50)"
    )
    print()
    print("image size (MiB)")
    print(
        f"  image {image / mb:.1f} = {image / parts:.3f} x parts {parts / mb:.1f} "
        f"(base {base / mb:.1f} + environment {env / mb:.1f} + project {app / mb:.3f})"
        "   (target <= 1.15)"
    )


if __name__ == "__main__":
    sys.exit(main())
