"""The baseline: Haven's quick-report journey built the way python-telegram-bot's documentation suggests.

A ``ConversationHandler`` (``persistent=True``, ``name=...``) with ``PicklePersistence`` (its defaults:
one file, written every 60 seconds and at a graceful shutdown), ``Application.run_polling()`` and the
default sequential update processing, as in PTB's ``persistentconversationbot.py`` example. A quick
report (``/report TEXT``) is stored in ``bot_data``, acknowledged to the reporter, posted as a card in the
team room and paged to every responder; ``/emergency`` does the same at once. ``/status`` answers with
the reporter's references. ``/report`` without text asks what happened and waits for the answer.

Run: ``python -m bench.baseline_ptb SETTINGS.json`` (written by :func:`write_settings`). It prints a JSON
line ``{"event": "ready"}`` once it is about to poll.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    PicklePersistence,
    filters,
)

DESCRIBE = 0
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def write_settings(path: Path, base_url: str, pickle: Path, room: int, responders: tuple[int, ...]) -> None:
    from tests.fakes.telegram_api import DEFAULT_TOKEN

    settings = {
        "token": DEFAULT_TOKEN,
        "base_url": base_url,
        "pickle": str(pickle),
        "room": room,
        "responders": list(responders),
    }
    path.write_text(json.dumps(settings))


def new_reference() -> str:
    text = "".join(secrets.choice(ALPHABET) for _ in range(6))
    return f"{text[:3]}-{text[3:]}"


async def file_case(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str, emergency: bool) -> None:
    settings = context.bot_data["settings"]
    assert update.effective_user is not None and update.message is not None
    ref = new_reference()
    context.bot_data.setdefault("cases", {})[ref] = {
        "reporter": update.effective_user.id,
        "text": text,
        "urgency": "emergency" if emergency else "normal",
    }
    context.user_data.setdefault("cases", []).append(ref)  # type: ignore[union-attr]
    if emergency:
        receipt = f"🆘 We are alerting the response team now. Reference: {ref}."
        page = f"🔴 EMERGENCY {ref}. Please acknowledge now."
    else:
        receipt = f"Thank you. Your report is received and stored safely. Reference: {ref}."
        page = f"🔔 New case {ref}. Please acknowledge."
    await update.message.reply_text(receipt)
    buttons = InlineKeyboardMarkup([[InlineKeyboardButton("Acknowledge", callback_data=f"ack:{ref}")]])
    await context.bot.send_message(settings["room"], f"New case {ref}", reply_markup=buttons)
    for responder in settings["responders"]:
        await context.bot.send_message(responder, page)


async def report(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    text = " ".join(context.args or [])
    if not text:
        assert update.message is not None
        await update.message.reply_text("What happened? Describe it in your own words.")
        return DESCRIBE
    await file_case(update, context, text, emergency=False)
    return ConversationHandler.END


async def describe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None
    await file_case(update, context, update.message.text or "", emergency=False)
    return ConversationHandler.END


async def emergency(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    await file_case(update, context, "", emergency=True)
    return ConversationHandler.END


async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    cases = context.user_data.get("cases", []) if context.user_data else []
    await update.message.reply_text("Your cases: " + (", ".join(cases) or "none"))


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None
    await update.message.reply_text("Cancelled.")
    return ConversationHandler.END


def application(settings: dict[str, Any]) -> Application:  # type: ignore[type-arg]
    async def ready(app: Application) -> None:  # type: ignore[type-arg]
        app.bot_data["settings"] = settings
        print(json.dumps({"event": "ready"}), flush=True)

    app = (
        ApplicationBuilder()
        .token(settings["token"])
        .base_url(settings["base_url"])
        .persistence(PicklePersistence(filepath=settings["pickle"]))
        .post_init(ready)
        .build()
    )
    conversation = ConversationHandler(
        entry_points=[CommandHandler("report", report), CommandHandler(["emergency", "sos"], emergency)],
        states={DESCRIBE: [MessageHandler(filters.TEXT & ~filters.COMMAND, describe)]},
        fallbacks=[CommandHandler("cancel", cancel)],
        name="report",
        persistent=True,
    )
    app.add_handler(conversation)
    app.add_handler(CommandHandler("status", status))
    return app


def main(argv: list[str] | None = None) -> None:
    arguments = argv if argv is not None else sys.argv[1:]
    settings = json.loads(Path(arguments[0]).read_text())
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    application(settings).run_polling(timeout=5, allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
