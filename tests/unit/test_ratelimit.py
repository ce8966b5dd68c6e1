"""The sender's rate limiter: sends are spaced by when the platform could have handled them."""

from __future__ import annotations

import pytest

from bot.delivery.ratelimit import RateLimiter


def limiter(**rates: float | None) -> RateLimiter:
    settings: dict[str, float | None] = {
        "global_per_second": None,
        "private_per_second": None,
        "group_per_minute": None,
    }
    settings.update(rates)
    return RateLimiter(**settings, is_group=lambda chat: chat.startswith("-"))  # type: ignore[arg-type]


def test_a_chat_is_free_again_one_window_after_the_answer_came_back() -> None:
    limits = limiter(private_per_second=1.0)
    limits.begin()
    limits.end("5001", 10.4)  # dispatched at 10.0, answered at 10.4: Telegram handled it by 10.4
    assert limits.chat_free_at("5001", 10.5) == pytest.approx(10.4 + 1.05)
    assert limits.chat_free_at("5002", 10.5) == 10.5, "other chats are not held back"


def test_sends_under_way_count_against_the_global_window() -> None:
    limits = limiter(global_per_second=2.0)
    limits.begin()
    assert limits.global_free_at(0.0) == 0.0
    limits.begin()
    assert limits.global_free_at(0.0) > 0.0, "two sends under way fill a window of two"
    limits.end("1", 0.2)
    limits.end("2", 0.3)
    assert limits.global_free_at(0.5) == pytest.approx(0.2 + 1.05)


def test_a_group_window_counts_per_minute() -> None:
    limits = limiter(group_per_minute=20.0)
    for n in range(20):
        limits.begin()
        limits.end("-100", float(n))
    assert limits.chat_free_at("-100", 20.0) == pytest.approx(0.0 + 63.0)


def test_ordinary_messages_leave_a_third_of_the_global_window_to_pages() -> None:
    limits = limiter(global_per_second=30.0)
    for n in range(20):
        limits.begin()
        limits.end(str(n), 0.0)
    assert limits.global_free_at(0.1, page=False) == pytest.approx(1.05), "a backlog stops at two thirds"
    assert limits.global_free_at(0.1) == 0.1, "a page may still leave at once"
    for n in range(10):
        limits.begin()
        limits.end(str(n), 0.1)
    assert limits.global_free_at(0.2) > 0.2, "pages, too, stay within the platform's limit"
