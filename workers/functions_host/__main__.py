"""`python -m workers.functions_host` (also `deploybot functions-host`): serve one
environment's active function release.

Secrets are read from environment variables named on the command line, never from the
command line itself (it is visible to every user of the machine).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from workers.functions_host.app import FunctionsHost


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m workers.functions_host",
        description="Serve an environment's active edge-function release at /functions/v1/.")
    p.add_argument("--database-url-env", default="SUPABASE_DB_URL",
                   help="variable holding the environment's database URL (SUPABASE_DB_URL)")
    p.add_argument("--anon-key-env", default="SUPABASE_ANON_KEY",
                   help="variable holding the key callers must send as a bearer token")
    p.add_argument("--service-key-env", default=None,
                   help="variable holding a second accepted key (the service role key)")
    p.add_argument("--jwt-secret-env", default=None,
                   help="variable holding the environment's JWT secret (HS256): bearer "
                        "JWTs signed with it are accepted (SUPABASE_JWT_SECRET on Supabase)")
    p.add_argument("--public-url", default=None,
                   help="the base URL functions see as SUPABASE_URL (default: where the "
                        "host listens)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=54321)
    p.add_argument("--fd", type=int, default=None,
                   help="serve on this inherited, already bound socket instead of --port")
    p.add_argument("--data-dir", default=os.environ.get("DEPLOYBOT_DATA_DIR", ".deploybot"),
                   help="where releases are extracted (<data dir>/function-cache)")
    p.add_argument("--poll-interval", type=float, default=5.0,
                   help="seconds between re-reads of the active release (5)")
    p.add_argument("--exit-with-parent", action="store_true",
                   help="stop when standard input closes (the starting process died)")
    p.add_argument("--log-level", default="warning",
                   choices=["critical", "error", "warning", "info", "debug"])
    return p


def _secret(name: str, what: str, parser: argparse.ArgumentParser) -> str:
    # Taken out of the environment: nothing the host starts inherits it.
    value = os.environ.pop(name, "").strip()
    if not value:
        parser.error(f"{name} is not set: it must hold {what}")
    return value


def _base_url(host: str, port: int) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - listening everywhere: loopback reaches it
        host = "127.0.0.1"
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    db_url = _secret(args.database_url_env, "the environment's database URL", parser)
    anon_key = _secret(args.anon_key_env, "the key callers send as a bearer token", parser)
    service_key = (_secret(args.service_key_env, "the service role key", parser)
                   if args.service_key_env else None)
    jwt_secret = (_secret(args.jwt_secret_env, "the environment's JWT secret", parser)
                  if args.jwt_secret_env else None)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")

    sockets = [socket.socket(fileno=args.fd)] if args.fd is not None else None
    if args.public_url:
        public_url = args.public_url.rstrip("/")
    elif sockets:
        address = sockets[0].getsockname()
        public_url = _base_url(str(address[0]), int(address[1]))
    else:
        public_url = _base_url(args.host, args.port)
    host = FunctionsHost(database_url=db_url, anon_key=anon_key, service_key=service_key,
                         jwt_secret=jwt_secret, public_url=public_url,
                         data_dir=Path(args.data_dir), poll_interval=args.poll_interval)
    config = uvicorn.Config(host, host=args.host, port=args.port, lifespan="on",
                            access_log=False, log_level=args.log_level, server_header=False,
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    if args.exit_with_parent:
        def watch_parent() -> None:
            sys.stdin.buffer.read()  # returns at EOF: the parent closed the pipe or died
            server.should_exit = True

        threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()
    server.run(sockets=sockets)
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
