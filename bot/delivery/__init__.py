"""Durable delivery: the inbox (deduplicated inbound updates) and the outbox (rate-limited sending)."""
