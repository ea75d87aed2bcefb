"""Throughput and tail latency of the racer server, with `docker ps` as the baseline.

Starts a server on loopback, creates 50 racer-labelled containers from one
small image, drives GET /health and GET /containers with wrk, and times
`docker ps --filter label=racer.managed=true` with the same concurrency and
duration. Everything it creates is removed at the end.

Usage: python bench/bench_api.py [--duration 10] [--connections 10] [--containers 50]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import docker

BASE_IMAGES = ("racer-base:bookworm", "racer-test-base:bookworm")
WRK = "/usr/bin/wrk"
LABEL = "racer.managed=true"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def small_image(client) -> str:
    for name in BASE_IMAGES:
        try:
            client.images.get(name)
            return name
        except docker.errors.ImageNotFound:
            pass
    sys.exit(
        f"bench_api: no base image ({', '.join(BASE_IMAGES)}); run `make offline` "
        "or bootstrap one with debootstrap first"
    )


def create_containers(client, image: str, count: int, run_id: str) -> list:
    """Running containers that look like racer's: its label, one project each."""
    made = []
    for index in range(count):
        made.append(
            client.containers.run(
                image,
                ["sleep", "infinity"],
                detach=True,
                init=True,
                name=f"racer-bench-{run_id}-{index:02d}",
                labels={
                    "racer.managed": "true",
                    "racer.project": f"bench-{index:02d}",
                    "racer.bench": run_id,
                },
            )
        )
    return made


def start_server(port: int, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "RACER_API_TOKEN"}
    env.update(API_HOST="127.0.0.1", API_PORT=str(port))
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "server"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tempfile.gettempdir(),
        )
    url = f"http://127.0.0.1:{port}/liveness"
    for _ in range(200):
        try:
            with urllib.request.urlopen(url, timeout=1):
                return process
        except OSError:
            time.sleep(0.1)
    process.terminate()
    sys.exit(f"bench_api: the server did not start; see {log}")


def _milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, duration: int, connections: int, threads: int) -> dict:
    # wrk's default 2 s timeout would drop slow answers from the percentiles.
    result = subprocess.run(
        [
            WRK,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "60s",
            "--latency",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    text = result.stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", text, re.MULTILINE))
    if set(percentiles) != {"50", "99"}:
        sys.exit(f"bench_api: cannot read wrk's output:\n{text}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        "p50": _milliseconds(percentiles["50"]),
        "p99": _milliseconds(percentiles["99"]),
        "requests": int(re.search(r"(\d+) requests in", text).group(1)),
        "errors": int(errors.group(1)) if errors else 0,
    }


def run_docker_ps(duration: int, connections: int) -> dict:
    """`docker ps` called back to back by as many workers as wrk has connections."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + duration
    command = ["docker", "ps", "--filter", f"label={LABEL}", "--format", "{{json .}}"]

    def worker():
        while time.monotonic() < deadline:
            started = time.monotonic()
            ok = (
                subprocess.run(command, capture_output=True, check=False).returncode
                == 0
            )
            elapsed = (time.monotonic() - started) * 1000
            with lock:
                latencies.append(elapsed)
                failures[0] += not ok

    started = time.monotonic()
    workers = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.monotonic() - started
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "rps": len(latencies) / elapsed,
        "p50": cuts[49],
        "p99": cuts[98],
        "requests": len(latencies),
        "errors": failures[0],
    }


def print_table(rows: list[tuple[str, dict]], containers: int, args) -> None:
    print(
        f"\n{containers} racer containers; {args.connections} connections, "
        f"{args.duration} s each; {os.cpu_count()} cores\n"
    )
    print(
        f"| {'target':<38} | {'requests/s':>10} | {'p50 ms':>8} | {'p99 ms':>8} | "
        f"{'requests':>8} | {'errors':>6} |"
    )
    print(f"|{'-' * 40}|{'-' * 12}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 8}|")
    for name, row in rows:
        print(
            f"| {name:<38} | {row['rps']:>10.1f} | {row['p50']:>8.2f} | "
            f"{row['p99']:>8.2f} | {row['requests']:>8} | {row['errors']:>6} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--containers", type=int, default=50)
    args = parser.parse_args()

    client = docker.from_env()
    run_id = uuid.uuid4().hex[:8]
    log = Path(tempfile.gettempdir()) / f"racer-bench-api-{run_id}.log"
    port = free_port()
    server = start_server(port, log)
    made = []
    try:
        made = create_containers(client, small_image(client), args.containers, run_id)
        present = len(client.containers.list(all=True, filters={"label": LABEL}))
        base = f"http://127.0.0.1:{port}"
        rows = [
            (
                "GET /health (wrk)",
                run_wrk(
                    f"{base}/health", args.duration, args.connections, args.threads
                ),
            ),
            (
                "GET /containers (wrk)",
                run_wrk(
                    f"{base}/containers", args.duration, args.connections, args.threads
                ),
            ),
            (
                "docker ps --filter label=racer.managed",
                run_docker_ps(args.duration, args.connections),
            ),
        ]
        print_table(rows, present, args)
    finally:
        for container in made:
            container.remove(force=True)
        server.terminate()
        server.wait(timeout=10)
        log.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
