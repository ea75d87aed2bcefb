"""Solve and install an environment with py-rattler; runs inside the baseline build."""

import asyncio
import json
import os
import sys
from pathlib import Path

import rattler
from rattler.networking import Client, MirrorMiddleware


async def main(spec_path: str, prefix: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    client = Client([MirrorMiddleware(spec["mirrors"])])
    records = await rattler.solve(
        sources=spec["channels"],
        specs=spec["specs"],
        gateway=rattler.Gateway(client=client),
        platforms=[spec["platform"], "noarch"],
        virtual_packages=[
            rattler.GenericVirtualPackage(
                rattler.PackageName(n), rattler.Version(v), rattler.BuildString(b)
            )
            for n, v, b in spec["virtual"]
        ],
    )
    await rattler.install(
        records, target_prefix=prefix, client=client, show_progress=False
    )
    print(f"installed {len(records)} packages into {prefix}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
    # py-rattler's threads have been seen to abort the interpreter's shutdown.
    sys.stdout.flush()
    os._exit(0)
