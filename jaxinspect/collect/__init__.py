"""Collectors: the only layer that imports jax or flax. Each module turns JAX state into records."""
