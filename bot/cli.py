"""The ``haven`` command line (SPEC 3.2)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import signal
import sqlite3
import sys
from pathlib import Path

from bot import logs
from bot.config import ConfigError, Settings, StorageSettings, load, load_storage
from bot.i18n import Catalogs
from bot.store.backup import BackupError, DatabaseBusy, DatabaseLock, backup, read_master_key, restore

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
    from bot.operations import Operations

    haven = build(settings)
    operations = Operations(haven, settings.operations)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await haven.start()
    try:
        await operations.start()
        await stop.wait()
        log.info("stopping: draining queued work")
    finally:
        await operations.stop()
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
    try:
        with DatabaseLock(settings.storage.path):
            asyncio.run(serve(settings))
    except DatabaseBusy as error:
        log.error("not starting: another Haven runs on this database")
        print(f"haven: {error}", file=sys.stderr)
        return 1
    return 0


def _storage(args: argparse.Namespace) -> StorageSettings | None:
    try:
        return load_storage(Path(args.config))
    except ConfigError as error:
        print(f"{len(error.problems)} problem(s) in {args.config}:\n", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}\n", file=sys.stderr)
        return None


def backup_command(args: argparse.Namespace) -> int:
    storage = _storage(args)
    if storage is None:
        return EXIT_CONFIG
    try:
        summary = backup(storage.path, Path(args.file))
    except (BackupError, OSError, sqlite3.Error) as error:
        print(f"haven backup: {error}", file=sys.stderr)
        return 1
    print(
        f"backup written: {summary.path} ({summary.size} bytes, schema {summary.schema_version}, "
        f"{summary.cases} case(s)). Report content stays encrypted in it.\n"
        f"It does not contain the master key ({storage.master_key_file}): keep a copy of that key somewhere "
        "else, or this backup cannot be read (docs/operations.md)."
    )
    return 0


def restore_command(args: argparse.Namespace) -> int:
    storage = _storage(args)
    if storage is None:
        return EXIT_CONFIG
    try:
        key = read_master_key(storage.master_key_file)
        summary = asyncio.run(restore(Path(args.file), storage.path, key))
    except (BackupError, OSError, sqlite3.Error) as error:
        print(f"haven restore: {error}", file=sys.stderr)
        return 1
    print(
        f"restored {args.file} to {summary.path} (schema {summary.schema_version}, {summary.cases} case(s), "
        "all readable with the master key). Start Haven again."
    )
    return 0


def rotate_key(args: argparse.Namespace) -> int:
    from bot import security
    from bot.domain.durations import parse_duration

    try:
        settings = _load(args.config)
    except ConfigError:
        return check(args)
    count, fingerprint = asyncio.run(security.rotate_key(settings, parse_duration(args.grace)))
    print(f"Rotated the master key (new fingerprint {fingerprint}); re-wrapped {count} data keys.")
    print(f"{settings.storage.master_key_file} now holds only the new key. Back it up separately from the database.")
    return 0


def audit(args: argparse.Namespace) -> int:
    from bot import security

    try:
        settings = _load(args.config)
    except ConfigError:
        return check(args)
    count, problem, head = asyncio.run(security.verify_audit(settings))
    if problem is not None:
        print(f"The audit trail was tampered with: {problem} ({count} entries before it are intact).", file=sys.stderr)
        return 1
    print(f"The audit trail is intact: {count} entries. Head: {head}")
    print("Record the head somewhere else from time to time: it also reveals entries cut from the end.")
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
    backup_cmd = commands.add_parser("backup", help="write a consistent copy of the database while Haven runs")
    backup_cmd.add_argument("--config", required=True)
    backup_cmd.add_argument("file", help="the backup file to create (never overwritten)")
    backup_cmd.set_defaults(func=backup_command)
    restore_cmd = commands.add_parser("restore", help="replace the database with a backup (Haven must be stopped)")
    restore_cmd.add_argument("--config", required=True)
    restore_cmd.add_argument("file", help="a file written by haven backup")
    restore_cmd.set_defaults(func=restore_command)
    demo_cmd = commands.add_parser("demo", help="run the embedded default: a local Matrix homeserver and SQLite")
    demo_cmd.add_argument("--walkthrough", action="store_true", help="play a reporter and a responder, then stop")
    demo_cmd.set_defaults(func=demo)
    rotate_cmd = commands.add_parser("rotate-key", help="re-wrap every data key under a new master key")
    rotate_cmd.add_argument("--config", required=True)
    rotate_cmd.add_argument("--grace", default="25s", help="how long a running Haven gets to pick up the new key")
    rotate_cmd.set_defaults(func=rotate_key)
    audit_cmd = commands.add_parser("audit", help="check the audit trail's hash chain")
    audit_cmd.add_argument("action", choices=["verify"])
    audit_cmd.add_argument("--config", required=True)
    audit_cmd.set_defaults(func=audit)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
