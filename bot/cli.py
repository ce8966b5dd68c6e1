"""The ``haven`` command line (SPEC 3.2)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from pathlib import Path

from bot import logs
from bot.config import ConfigError, Settings, load
from bot.i18n import Catalogs

log = logging.getLogger("haven")
EXIT_CONFIG = 2


def _load(path: str) -> Settings:
    return load(Path(path), languages=Catalogs().languages)


def check(args: argparse.Namespace) -> int:
    try:
        settings = _load(args.config)
    except ConfigError as error:
        print(f"{len(error.problems)} problem(s) in {args.config}:\n", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}\n", file=sys.stderr)
        return EXIT_CONFIG
    spaces = ", ".join(space.id for space in settings.spaces)
    print(f"{args.config}: OK ({len(settings.spaces)} space(s): {spaces}; platforms: {', '.join(settings.platforms)})")
    return 0


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then drain and return."""
    from bot.bootstrap import build

    haven = build(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await haven.start()
    try:
        await stop.wait()
        log.info("stopping: draining queued work")
    finally:
        await haven.stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
    log.info("stopped")


def run(args: argparse.Namespace) -> int:
    try:
        settings = _load(args.config)
    except ConfigError:
        return check(args)
    logs.setup(settings.operations.log_format, settings.operations.log_level)
    asyncio.run(serve(settings))
    return 0


def demo(args: argparse.Namespace) -> int:
    try:
        module = importlib.import_module("bot.demo")
    except ImportError:
        print("The embedded demo (a local Matrix homeserver) is not available in this build yet.", file=sys.stderr)
        return 1
    return int(module.main(walkthrough=args.walkthrough))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="haven", description="Private incident reporting and escalation.")
    commands = root.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="run the bot until SIGTERM/SIGINT")
    run_cmd.add_argument("--config", required=True, help="the TOML configuration file")
    run_cmd.set_defaults(func=run)
    check_cmd = commands.add_parser("check", help="validate a configuration (exit 2 on problems)")
    check_cmd.add_argument("--config", required=True)
    check_cmd.set_defaults(func=check)
    demo_cmd = commands.add_parser("demo", help="run the embedded default: a local Matrix homeserver and SQLite")
    demo_cmd.add_argument("--walkthrough", action="store_true", help="play a reporter and a responder, then stop")
    demo_cmd.set_defaults(func=demo)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
