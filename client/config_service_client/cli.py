"""The command line: `config-service-client get` and `config-service-client watch`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from config_service_client.client import Client
from config_service_client.errors import (
    ConfigServiceError,
    Forbidden,
    NotFound,
    ServerError,
    Unauthorized,
    Unreachable,
)
from config_service_client.outputs import Outputs, output_paths
from config_service_client.target import Target

PROG = "config-service-client"
NO_COPY, REFUSED, MISSING = 1, 3, 4  # exit statuses (2 is a usage error, as argparse's)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; print one line on failure, never a traceback."""
    args = parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
    logger = logging.getLogger("config_service_client")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if args.command == "watch" else logging.WARNING)
    try:
        return args.run(args)
    except ConfigServiceError as exc:
        print(f"{PROG}: error: {exc}{_hint(exc, args)}", file=sys.stderr)
        return _status(exc)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bad path, a full disk...: one line, not a traceback
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1


def parser() -> argparse.ArgumentParser:
    """Build the argument parser."""
    top = argparse.ArgumentParser(prog=PROG, description="Read and watch configurations.")
    commands = top.add_subparsers(dest="command", required=True)
    get = commands.add_parser("get", help="print a configuration's config as JSON")
    get.add_argument("app", metavar="APP")
    get.add_argument("name", metavar="NAME")
    get.set_defaults(run=run_get)
    watch = commands.add_parser("watch", help="keep files up to date with configurations")
    watch.add_argument("pairs", nargs="+", metavar="APP NAME", help="one or more APP NAME pairs")
    where = watch.add_mutually_exclusive_group(required=True)
    where.add_argument("--output", metavar="FILE", help="the file to write (one APP NAME)")
    where.add_argument("--output-dir", metavar="DIR", help="write DIR/APP/NAME.json for each pair")
    watch.add_argument("--exec", metavar="CMD", help="a shell command to run after each write")
    watch.add_argument("--wait", type=int, default=55, metavar="S",
                       help="seconds each long poll waits (1-60; default 55)")  # fmt: skip
    watch.set_defaults(run=run_watch)
    for command in (get, watch):
        command.add_argument("--environment", metavar="E", help="resolve for this environment")
        command.add_argument("--url", metavar="U", help="default: $CONFIG_SERVICE_URL")
        command.add_argument("--token", metavar="T", help="default: $CONFIG_SERVICE_TOKEN")
        command.add_argument("--cache-dir", metavar="D", help="default: $CONFIG_SERVICE_CACHE_DIR")
    return top


def run_get(args: argparse.Namespace) -> int:
    """Print the config; a kept copy (and one line about it) when the server fails."""
    client = _client(args)
    result = client.read(Target(application=args.app, name=args.name, environment=args.environment))
    print(json.dumps(result.config, indent=2, ensure_ascii=False))
    return 0


def run_watch(args: argparse.Namespace) -> int:
    """Write each configuration's file at start and after each change, until a signal."""
    if len(args.pairs) % 2:
        raise ValueError("give APP NAME pairs: an odd number of names was given")
    pairs = list(zip(args.pairs[::2], args.pairs[1::2], strict=True))
    if args.output and len(pairs) > 1:
        raise ValueError("--output takes one APP NAME; use --output-dir for several")
    targets = [Target(application=a, name=n, environment=args.environment) for a, n in pairs]
    outputs = Outputs(output_paths(targets, args.output, args.output_dir), args.exec)
    watcher = _client(args).watch(targets, on_change=outputs.write, wait=args.wait)
    watcher.stop_on_signals()
    watcher.run()
    return 0


def _client(args: argparse.Namespace) -> Client:
    return Client(args.url, args.token, args.cache_dir)


def _status(exc: ConfigServiceError) -> int:
    if isinstance(exc, (Unauthorized, Forbidden)):
        return REFUSED
    return MISSING if isinstance(exc, NotFound) else NO_COPY


def _hint(exc: ConfigServiceError, args: argparse.Namespace) -> str:
    if args.command == "watch" and isinstance(exc, NotFound):
        return "; the files written so far are kept"
    if args.command == "get" and isinstance(exc, (Unreachable, ServerError)):
        return f"; no kept copy in {args.cache_dir}" if args.cache_dir else "; no --cache-dir"
    return ""
