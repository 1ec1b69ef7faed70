"""Render layer: records (JSON dicts) -> text and HTML. Never imports jax."""
