"""Shipped recipes: one file per run, each with `get_config()` (see `_base.py` for every key)."""
