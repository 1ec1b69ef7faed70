"""Compiled memory per jitted function (issue 16): what XLA says each compiled program needs
(``Compiled.memory_analysis()`` / ``cost_analysis()``), recorded with the compile that built it,
shown in ``%jit_profile`` / ``%jaxinspect compiles``, with the device's memory limit beside it and
an alert when a function's temporaries alone exceed ``config.temp_memory_share`` of it."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import pytest

import jaxinspect
from jaxinspect.collect import compilelib
from jaxinspect.config import config
from jaxinspect.glue import extension
from jaxinspect.records import CompiledMemory

N = 1000  # an N×N float32 outer product: a 4 MB temporary XLA cannot fuse away (it feeds a dot)


def fresh():
    """New function objects each time: JAX caches traces and executables per function, so a
    test's compiles must not be served by an earlier test's."""

    def outer_step(x, w):
        h = jnp.tanh(jnp.outer(x, x))
        return jnp.sum(h @ w)

    def small_step(x):
        return jnp.sin(x) * 2.0

    return outer_step, small_step


def args():
    return jnp.ones(N), jnp.ones((N, 4))


def user_events(p, name):
    return [e for e in p.events if e.fun_name == name]


def expected(fn, *a):
    """What JAX's own AOT API says for the same program."""
    compiled = jax.jit(fn).lower(*a).compile()
    m = compiled.memory_analysis()
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0]
    return m, cost


@pytest.fixture
def fake_limit(monkeypatch):
    """A device that reports a memory limit (as GPUs and TPUs do), on the CPU backend."""
    device_type = type(jax.devices()[0])

    def set_limit(limit):
        monkeypatch.setattr(device_type, "memory_stats", lambda self: {"bytes_limit": limit})

    return set_limit


def test_numbers_are_the_ones_compiled_memory_analysis_gives_for_the_same_program():
    outer_step, small_step = fresh()
    x, w = args()
    with jaxinspect.profile() as p:
        jax.jit(outer_step)(x, w)
    (event,) = user_events(p, "outer_step")
    m = event.memory
    ref, cost = expected(outer_step, x, w)
    assert isinstance(m, CompiledMemory)
    assert m.temp_bytes == ref.temp_size_in_bytes >= N * N * 4  # the outer product
    assert m.argument_bytes == ref.argument_size_in_bytes == (N + N * 4) * 4
    assert m.output_bytes == ref.output_size_in_bytes == 4
    assert m.alias_bytes == ref.alias_size_in_bytes
    assert m.generated_code_bytes == ref.generated_code_size_in_bytes
    assert m.flops == pytest.approx(cost["flops"]) and m.flops > 2 * N * N * 4
    assert m.bytes_accessed == pytest.approx(cost["bytes accessed"])
    assert m.platform == "cpu" and m.device_limit_bytes is None  # CPU reports no limit
    (stats,) = [f for f in p.functions if f.fun_name == "outer_step"]
    assert stats.memory == m and stats.peak_temp_bytes == m.temp_bytes
    assert "temporaries 3.8 MiB" in stats.memory_text
    assert "no device limit reported (cpu)" in stats.memory_text
    assert json.loads(json.dumps(event.to_json()))["memory"]["temp_bytes"] == m.temp_bytes


def test_two_functions_compiled_in_one_profile_each_get_their_own_numbers():
    outer_step, small_step = fresh()
    x, w = args()
    f, g = jax.jit(outer_step), jax.jit(small_step)
    with jaxinspect.profile() as p:
        f(x, w)
        g(x)
    (big,) = user_events(p, "outer_step")
    (small,) = user_events(p, "small_step")
    ref_big, _ = expected(outer_step, x, w)
    ref_small, _ = expected(small_step, x)
    assert big.memory.temp_bytes == ref_big.temp_size_in_bytes > 0
    assert small.memory.temp_bytes == ref_small.temp_size_in_bytes
    assert small.memory.argument_bytes == small.memory.output_bytes == N * 4
    assert big.memory.argument_bytes == (N + N * 4) * 4


def test_a_cache_hit_reads_nothing_and_records_nothing(monkeypatch):
    outer_step, small_step = fresh()
    x, w = args()
    f = jax.jit(outer_step)
    f(x, w)  # compiled before the profile
    reads = []
    real = compilelib.compiled_memory
    monkeypatch.setattr(
        compilelib, "compiled_memory", lambda *a, **k: reads.append(1) or real(*a, **k)
    )
    with jaxinspect.profile() as p:
        for _ in range(3):
            f(x, w)
    assert user_events(p, "outer_step") == [] and reads == []
    x2, w2 = jnp.ones(N // 2), jnp.ones((N // 2, 4))
    with jaxinspect.profile(all=True) as p:
        f(x2, w2)  # a new shape compiles: read once
    assert [e.fun_name for e in p.events] == ["outer_step"] and reads == [1]
    assert p.events[0].memory.argument_bytes == (N // 2) * 5 * 4


def test_a_backend_that_reports_nothing_says_so_and_never_shows_zero(monkeypatch):
    outer_step, small_step = fresh()
    x, w = args()
    other, _ = fresh()
    executable_type = type(jax.jit(other).lower(x, w).compile().runtime_executable())

    def unimplemented(self):
        raise NotImplementedError("UNIMPLEMENTED: no memory stats on this backend")

    monkeypatch.setattr(executable_type, "get_compiled_memory_stats", unimplemented)
    monkeypatch.setattr(executable_type, "cost_analysis", unimplemented)
    with jaxinspect.profile() as p:
        jax.jit(outer_step)(x, w)
    (event,) = user_events(p, "outer_step")
    m = event.memory
    assert (m.temp_bytes, m.argument_bytes, m.output_bytes, m.flops, m.bytes_accessed) == (None,) * 5
    assert m.text.startswith("memory not reported by the backend")
    assert "cost not reported by the backend" in m.text and "0 B" not in m.text
    text = repr(p)  # the %jit_profile view
    assert "compiled: memory not reported by the backend" in text
    row = next(line for line in text.splitlines() if line.strip().startswith("outer_step") and "not reported" in line)
    assert row.split()[1:7] == ["not", "reported", "not", "reported", "not", "reported"], row
    assert " 0 B" not in row


def test_the_alert_fires_once_with_the_function_name_when_temporaries_exceed_the_share(
    fake_limit,
):
    outer_step, small_step = fresh()
    x, w = args()
    fake_limit(6_000_000)  # a 6 MB device: the 4 MB temporary is 67% of it
    f, g = jax.jit(outer_step), jax.jit(small_step)
    with jaxinspect.profile() as p:
        f(x, w)
        g(x)  # 0 B of temporaries: no alert
        f(jnp.ones(N + 10), jnp.ones((N + 10, 4)))  # a recompile, still too big: no second alert
    events = user_events(p, "outer_step")
    assert len(events) == 2 and all(e.memory.device_limit_bytes == 6_000_000 for e in events)
    memory_alerts = [a for a in p.alerts if a.reason_kind == "memory"]
    assert len(memory_alerts) == 1, p.alerts
    (alert,) = memory_alerts
    assert alert.fun_name == "outer_step" and alert.compiles == 1
    assert "`outer_step`'s compiled temporaries alone take 3.8 MiB, 67% of the cpu device's 5.7 MiB memory limit" in alert.message
    assert "jaxinspect.config.temp_memory_share" in alert.message and "jax.checkpoint" in alert.hint
    (stats,) = [s for s in p.functions if s.fun_name == "outer_step"]
    # the latest compile's numbers (the larger one), with its share of the limit
    assert stats.memory == events[-1].memory and stats.peak_temp_bytes == events[-1].memory.temp_bytes
    assert "temporaries 3.9 MiB (68% of the limit)" in stats.memory_text
    assert "device limit 5.7 MiB" in stats.memory_text and "largest" not in stats.memory_text


def test_the_share_is_a_validated_setting(fake_limit, capsys, monkeypatch):
    outer_step, small_step = fresh()
    monkeypatch.setattr(config, "temp_memory_share", config.temp_memory_share)  # restored after
    x, w = args()
    fake_limit(6_000_000)
    config.temp_memory_share = 1.5
    config.temp_memory_share = None
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "config.temp_memory_share takes a share of the device's memory limit" in err[0]
    assert config.temp_memory_share == 0.5
    config.temp_memory_share = 0.9  # 67% < 90%: no alert
    with jaxinspect.profile() as p:
        jax.jit(outer_step)(x, w)
    assert not [a for a in p.alerts if a.reason_kind == "memory"]
    config.temp_memory_share = 0.25
    outer_step, _ = fresh()
    with jaxinspect.profile() as p:
        jax.jit(outer_step)(x, w)
    assert [a.fun_name for a in p.alerts if a.reason_kind == "memory"] == ["outer_step"]


def test_in_a_session_the_alert_is_printed_once_and_reaches_the_hub_once(ip, fake_limit, capsys):
    outer_step, _ = fresh()
    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        inspector = extension.current()
        mon = jaxinspect.monitor(mode="text")
        ip.user_ns.update(outer_step=outer_step, jax=jax, jnp=jnp, N=N)
        fake_limit(6_000_000)
        ip.run_cell(
            "x = jnp.ones(N); w = jnp.ones((N, 4))\n"
            "f2 = jax.jit(lambda x, w: outer_step(x, w) + 1.0)\n"
            "f2(x, w); f2(x, w); f2(jnp.ones(N + 1), jnp.ones((N + 1, 4)));"
        )
        err = capsys.readouterr().err
        assert err.count("compiled temporaries alone take") == 1, err
        alerts = [r for r in inspector.hub.recent("compile_alert") if r.get("reason_kind") == "memory"]
        assert len(alerts) == 1 and alerts[0]["fun_name"] == "<lambda>"
        stats = inspector.hub.latest("compile_stats")
        assert stats["fun_name"] == "<lambda>" and stats["compiles"] == 2
        assert "device limit 5.7 MiB" in stats["memory_text"]
        assert stats["memory"]["device_limit_bytes"] == 6_000_000
        # the in-cell monitor: the function's memory under its row, the alert once
        inspector.cell_finished_monitors()
        snap = mon.state.snapshot()
        row = snap["functions"][stats["fun_key"]]
        assert row["notes"] == [f"compiled: {stats['memory_text']}"] == stats["notes"]
        assert stats["memory_text"].startswith("temporaries 3.8 MiB (67% of the limit) · arguments")
        said = [a["message"] for a in snap["alerts"] if "compiled temporaries" in a["message"]]
        assert len(said) == 1 and said[0].startswith("`<lambda>`'s compiled temporaries alone take")
        text = mon.text()  # the monitor's text twin, as the widget shows it
        assert stats["memory_text"] in text and text.count("compiled temporaries alone take") == 1
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")


def test_jit_profile_and_jaxinspect_compiles_show_the_bytes_in_text_and_html(ip, fake_limit):
    outer_step, small_step = fresh()
    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        ip.user_ns.update(outer_step=outer_step, small_step=small_step, jax=jax, jnp=jnp, N=N)
        ip.run_cell("f = jax.jit(outer_step); g = jax.jit(small_step); x = jnp.ones(N); w = jnp.ones((N, 4))")
        prof = ip.run_line_magic("jit_profile", "-o -q f(x, w); g(x)")
        text = repr(prof)
        section = text[text.index("compiled memory:") :]
        rows = {line.split()[0]: line.split()[1:] for line in section.splitlines()[2:4]}
        assert rows["outer_step"][:4] == ["3.8", "MiB", "19.5", "KiB"], section
        assert rows["small_step"][:6] == ["0", "B", "3.9", "KiB", "3.9", "KiB"], section
        assert rows["outer_step"][-3:] == ["none", "reported", "(cpu)"], section  # said once, in its column
        table = section[: section.index("events (")]
        assert "no device limit reported" not in table, table
        assert "compiled: temporaries 3.8 MiB · arguments 19.5 KiB" in text  # the event's own line
        html = prof._repr_mimebundle_()["text/html"]
        assert "compiled memory" in html and "3.8 MiB" in html and "no device limit reported (cpu)" in html
        # the session log, with a device that reports a limit: the share, and the alert on top
        fake_limit(6_000_000)
        ip.run_cell("f2 = jax.jit(lambda x, w: outer_step(x, w) * 3.0); f2(x, w);")
        log = repr(ip.run_line_magic("jaxinspect", "compiles"))
        assert "compiled temporaries alone take 3.8 MiB, 67% of the cpu device's 5.7 MiB memory limit" in log
        lam = next(line for line in log.splitlines() if line.strip().startswith("<lambda>") and "MiB" in line)
        assert lam.rstrip().endswith("temporaries 67% of 5.7 MiB"), lam
        # a later, smaller compile: the latest numbers, and the largest still decides the share
        ip.run_cell("x2, w2 = jnp.ones(N // 2), jnp.ones((N // 2, 4)); f2(x2, w2);")
        log = repr(ip.run_line_magic("jaxinspect", "compiles"))
        lam = next(line for line in log.splitlines() if line.strip().startswith("<lambda>") and "MiB" in line)
        assert "984.4 KiB (largest 3.8 MiB)" in lam and lam.rstrip().endswith("up to 67% of 5.7 MiB"), lam
        assert "device limit 5.7 MiB" in log
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")


PERSISTENT = textwrap.dedent(
    """
    import json, sys
    import jax, jax.numpy as jnp
    jax.config.update("jax_compilation_cache_dir", sys.argv[1])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    import jaxinspect

    def outer_step(x, w):
        return jnp.sum(jnp.tanh(jnp.outer(x, x)) @ w)

    def small_step(x):
        return jnp.sin(x) * 2.0

    x, w = jnp.ones(1000), jnp.ones((1000, 4))
    with jaxinspect.profile() as p:
        jax.jit(outer_step)(x, w)
        jax.jit(small_step)(x)
    print(json.dumps([e.to_json() for e in p.events]))
    """
)


def test_a_persistent_cache_hit_gets_the_numbers_of_the_loaded_program(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(PERSISTENT)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}

    def run():
        out = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "cache")],
            capture_output=True, text=True, timeout=180, env=env,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr[-3000:]
        events = json.loads(out.stdout.strip().splitlines()[-1])
        return {e["fun_name"]: e for e in events}

    first, second = run(), run()
    for name in ("outer_step", "small_step"):
        assert first[name]["persistent_cache"] == "miss" and second[name]["persistent_cache"] == "hit"
        assert second[name]["memory"] == first[name]["memory"]
    assert second["outer_step"]["memory"]["temp_bytes"] >= 1000 * 1000 * 4
    assert second["small_step"]["memory"]["argument_bytes"] == 4000
