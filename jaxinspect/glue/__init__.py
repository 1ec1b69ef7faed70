"""Glue layer: IPython magics, display objects and extension load/unload."""
