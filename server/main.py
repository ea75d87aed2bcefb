"""The server's entry point: settings, logging, the exposure check, then serve."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from racer_tools import __version__
from racer_tools.errors import RacerError

from .config import ServerConfig, export_dotenv

log = logging.getLogger("racer.server")


def setup_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    for name in ("racer", "waitress"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(logging.INFO if debug else logging.WARNING)
    # The request log and the server's own notices show without DEBUG too.
    logging.getLogger("racer.server").setLevel(logging.INFO)
    logging.getLogger("waitress").setLevel(logging.INFO)


def load_config(host: str | None = None, port: int | None = None) -> ServerConfig:
    """Settings from `.env` and the environment, with the command line's on top."""
    export_dotenv()
    config = ServerConfig.load()
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    return dataclasses.replace(config, **overrides)


def run(config: ServerConfig) -> None:
    """Serve in this process until interrupted; refuses an exposed, open server."""
    from .wsgi import serve

    config.check_exposure()
    setup_logging(config.debug)
    log.info(
        "racer %s serving on http://%s:%s (token %s)",
        __version__,
        config.host,
        config.port,
        "required" if config.token else "not required",
    )
    serve(config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m server", description="Run the racer server in the foreground."
    )
    parser.add_argument("--host", help="address to listen on (API_HOST)")
    parser.add_argument("--port", type=int, help="port to listen on (API_PORT)")
    args = parser.parse_args(argv)
    try:
        run(load_config(args.host, args.port))
    except RacerError as exc:
        print(f"racer server: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        pass
    return 0
