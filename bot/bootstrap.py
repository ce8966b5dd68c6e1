"""The one place that names concrete classes and wires them together."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path

from adapters.memory.inbound import internal_facts
from adapters.memory.inbound import to_facts as memory_facts
from bot.clock import SystemClock
from bot.config import Settings
from bot.crypto import Vault, load_or_create_master_key
from bot.delivery.inbox import Mapper
from bot.directory import Directory
from bot.domain.ids import Platform
from bot.domain.space import Space
from bot.i18n import Catalogs
from bot.ports import Clock, Transport
from bot.runtime import Haven
from bot.service import Service, ServiceSettings
from bot.store.sqlite import SqliteStore


def open_store(
    database: Path | str, master_key: bytes | Sequence[bytes], clock: Clock | None = None, key_file: Path | None = None
) -> SqliteStore:
    return SqliteStore(database, Vault(master_key, key_file), clock or SystemClock())


def assemble(
    spaces: Sequence[Space],
    store: SqliteStore,
    transports: Sequence[Transport],
    *,
    catalogs: Catalogs | None = None,
    service_settings: ServiceSettings | None = None,
    mappers: dict[str, Mapper] | None = None,
) -> Haven:
    catalogs = catalogs or Catalogs()
    platforms = tuple(Platform(t.platform) for t in transports)
    service = Service(Directory(spaces), catalogs, platforms, service_settings)
    all_mappers: dict[str, Mapper] = {"memory": memory_facts, "internal": internal_facts}
    all_mappers.update(mappers or {})
    return Haven(store, service, transports, all_mappers, store.clock)


def build(settings: Settings, *, clock: Clock | None = None) -> Haven:
    """The production wiring for a checked configuration."""
    key_file = settings.storage.master_key_file
    store = open_store(settings.storage.path, load_or_create_master_key(key_file), clock, key_file)
    transports: list[Transport] = []
    mappers: dict[str, Mapper] = {}
    for name, section in (("telegram", settings.telegram), ("matrix", settings.matrix)):
        if section is None:
            continue
        wiring = importlib.import_module(f"adapters.{name}.wiring")
        transport, mapper = wiring.create(section, store.secret)
        transports.append(transport)
        mappers[name] = mapper
    reporting = settings.reporting
    return assemble(
        settings.spaces,
        store,
        transports,
        service_settings=ServiceSettings(
            max_text=reporting.max_text,
            draft_remind_after=reporting.draft_remind_after,
            draft_expire_after=reporting.draft_expire_after,
        ),
        mappers=mappers,
    )
