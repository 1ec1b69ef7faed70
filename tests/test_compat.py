import sys
import types

from jaxinspect.collect import compat


def test_a_module_still_being_imported_counts_as_not_loaded(monkeypatch):
    """The sampler thread must not touch jax while the user's cell is importing it."""
    half = types.ModuleType("jax")
    half.__spec__ = types.SimpleNamespace(_initializing=True)
    monkeypatch.setitem(sys.modules, "jax", half)
    assert compat.loaded_module("jax") is None
    assert compat.jax_imported() is False
    assert compat.backends_initialized() is False


def test_never_imports(monkeypatch):
    monkeypatch.delitem(sys.modules, "jax._src.xla_bridge", raising=False)
    monkeypatch.setitem(sys.modules, "jax", types.ModuleType("jax"))
    assert compat.backends_initialized() is False
    assert "jax._src.xla_bridge" not in sys.modules


def test_detects_a_started_backend():
    import jax

    jax.numpy.zeros(1)
    assert compat.backends_initialized() is True
