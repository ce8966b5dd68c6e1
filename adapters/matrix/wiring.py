"""Wiring of the Matrix adapter (named only by :mod:`bot.bootstrap`)."""

from __future__ import annotations

from collections.abc import Callable

from adapters.matrix.inbound import to_facts
from adapters.matrix.transport import MatrixTransport
from bot.config import MatrixSettings
from bot.delivery.inbox import Mapper


def create(settings: MatrixSettings, secret: Callable[[str], bytes]) -> tuple[MatrixTransport, Mapper]:
    """The transport and the inbound mapper. ``secret`` is unused: Matrix needs no signed buttons."""
    return MatrixTransport(settings), to_facts
