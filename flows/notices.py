"""Coordinator-facing operations notices: a platform is unreachable, or reachable again."""

from __future__ import annotations

from bot.i18n import Text, t, tn

#: Platform names are proper nouns: they are not translated.
PLATFORM_NAMES = {"telegram": "Telegram", "matrix": "Matrix"}


def platform_name(platform: str) -> str:
    return PLATFORM_NAMES.get(platform, platform.capitalize())


def platform_down(platform: str, minutes: int) -> Text:
    return tn(
        "⚠ Haven has not reached {platform} for {count} minute. Reports written there cannot reach Haven, and "
        "pages cannot reach anyone there, until it is back. Nothing is lost: what is queued leaves then. "
        "Until then, please keep an eye on {platform} yourselves.",
        "⚠ Haven has not reached {platform} for {count} minutes. Reports written there cannot reach Haven, and "
        "pages cannot reach anyone there, until it is back. Nothing is lost: what is queued leaves then. "
        "Until then, please keep an eye on {platform} yourselves.",
        minutes,
        platform=platform_name(platform),
    )


def platform_back(platform: str) -> Text:
    return t(
        "✅ Haven reaches {platform} again. What was queued for {platform} is being delivered now.",
        platform=platform_name(platform),
    )
