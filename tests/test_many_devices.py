"""Eight fake CPU devices and a 2×4 mesh (explicit and auto axes): buffers per device, sharding
views of every rank, sharding-driven recompiles explained (including an axis-type change, which
JAX's own explanation does not name), params with their sharding. Runs in a subprocess: the
device count is fixed when JAX's backend starts."""

import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CODE = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, jaxinspect
    from jax.sharding import NamedSharding, PartitionSpec as P
    try:
        from jax.sharding import AxisType
    except ImportError:  # older jax: no explicit axes
        AxisType = None
    assert len(jax.devices()) == 8
    kw = {"axis_types": (AxisType.Explicit, AxisType.Explicit)} if AxisType else {}
    mesh = jax.make_mesh((2, 4), ("data", "model"), **kw)
    amesh = jax.make_mesh((2, 4), ("data", "model"), **({"axis_types": (AxisType.Auto, AxisType.Auto)} if AxisType else {}))
    x = jax.device_put(jnp.ones((16, 32)), NamedSharding(mesh, P("data", "model")))
    y = jax.device_put(jnp.ones((16, 32)), NamedSharding(amesh, P("data", "model")))
    z = jax.device_put(jnp.ones((4, 8, 16)), NamedSharding(mesh, P(None, "data", "model")))
    v = jax.device_put(jnp.arange(64.0), NamedSharding(mesh, P(("data", "model"))))

    view = jaxinspect.buffers(limit=10)
    rec = view.record
    assert len(rec.devices) == 8, rec.devices
    assert sum(d.bytes for d in rec.devices) == rec.device_bytes == 3 * 2048 + 256, rec.devices
    assert all(d.bytes == (3 * 2048 + 256) // 8 for d in rec.devices)
    text = repr(view)
    assert "cpu:7" in text and "P('data', 'model')" in text

    grid = repr(jaxinspect.sharding(x))
    assert "8 shards on 8 devices" in grid and "| cpu:0 | cpu:1 | cpu:2 | cpu:3 |" in grid, grid
    assert "[8:16, 24:32]" in grid
    assert "8 shards on 8 devices" in repr(jaxinspect.sharding(z)) and "[0:4, 4:8, 12:16]" in repr(jaxinspect.sharding(z))
    assert "cpu:7" in repr(jaxinspect.sharding(v))
    html = jaxinspect.sharding(z)._repr_mimebundle_()["text/html"]
    assert "cpu:7" in html

    f = jax.jit(lambda a: a * 2)
    with jaxinspect.profile() as p:
        f(x)
        f(jax.device_put(x, NamedSharding(mesh, P("data", None))))
        if AxisType:
            f(y)  # same spec, auto axes
    ev = [e for e in p.events if not e.internal]
    (r1,) = ev[1].reasons
    assert r1.kind == "sharding" and r1.path == "a" and "P('data', None)" in r1.after, r1
    if AxisType:
        (r2,) = ev[2].reasons
        assert r2.kind == "sharding", r2
        assert "axis types" in r2.message and "→ Auto" in r2.message, r2.message

    if AxisType:
        g = jax.jit(lambda b: b + 1)
        with jaxinspect.profile() as q:
            g(x)
            g(y)  # the same spec on an auto-axes mesh: only the axis types changed
        (r3,) = [e for e in q.events if not e.internal][1].reasons
        assert "has the same spec on a mesh whose axis types changed Explicit/Explicit → Auto" in r3.message, r3

    # output shardings: recorded per compile, and a changed out_shardings= is the reason
    h = lambda a: (a * 2, a.sum())
    with jaxinspect.profile() as o:
        jax.jit(h, out_shardings=(NamedSharding(mesh, P("data", None)), None))(x)
        jax.jit(h, out_shardings=(NamedSharding(mesh, P(None, "model")), None))(x)
        jax.jit(lambda a: a + 3)(x)
    e1, e2, e3 = [e for e in o.events if not e.internal]
    assert "P('data', None)" in e1.out_shardings[0] and e1.out_shardings[1] == "unspecified", e1
    (r4,) = e2.reasons
    assert r4.kind == "sharding" and r4.path == "output 0" and "P(None, 'model')" in r4.after, r4
    if AxisType:  # an explicit mesh types its outputs: the sharding is known before compiling
        assert "P('data', 'model')" in e3.out_shardings[0], e3.out_shardings
    assert "outputs: 0 NamedSharding" in repr(o), repr(o)

    params = repr(jaxinspect.params({"w": x, "b": z}))
    assert "sharding P('data', 'model')" in params and "sharding P(None, 'data', 'model')" in params, params
    print("OK")
    """
)


@pytest.mark.parametrize("python", [sys.executable], ids=["this-python"])
def test_eight_devices_and_a_2x4_mesh(python):
    env = {
        "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": ROOT,
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    out = subprocess.run([python, "-c", CODE], capture_output=True, text=True, timeout=300, env=env)
    assert out.stdout.strip().endswith("OK"), (out.stdout[-2000:], out.stderr[-4000:])
