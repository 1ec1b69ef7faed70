"""records -> records: compile summaries, leak suspects, jaxpr diffs, computed once in the kernel (no jax)."""
