"""Durable storage: the SQLite engine (default) and the codecs shared by every engine."""
