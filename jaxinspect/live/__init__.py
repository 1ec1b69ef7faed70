"""Live layer: the in-kernel hub, the sampler thread and the comm transport."""
