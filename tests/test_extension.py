import subprocess
import sys
import textwrap
import threading

import comm

from jaxinspect.glue import extension


def footprint(ip):
    """Everything jaxinspect could leave behind in a shell."""
    manager = comm.get_comm_manager()
    from jax._src import monitoring, pjit

    return {
        "jax_duration_listeners": len(monitoring.get_event_duration_listeners()),
        "jax_event_listeners": len(monitoring.get_event_listeners()),
        "jit_hooks": tuple(
            f.__qualname__ for f in (pjit._infer_params, pjit._run_python_pjit, pjit._trace_for_jit)
        ),
        "events": {k: len(v) for k, v in ip.events.callbacks.items()},
        "line_magics": set(ip.magics_manager.magics["line"]),
        "cell_magics": set(ip.magics_manager.magics["cell"]),
        # IPython registers its own ExtensionMagics lazily on the first %load_ext
        "registry": set(ip.magics_manager.registry) - {"ExtensionMagics"},
        "threads": {t.name for t in threading.enumerate() if t.name.startswith("jaxinspect")},
        "comm_targets": set(manager.targets),
        "comms": set(manager.comms),
    }


def test_load_then_unload_leaves_nothing_behind(ip):
    before = footprint(ip)
    ip.run_line_magic("load_ext", "jaxinspect")
    loaded = footprint(ip)
    assert "jaxinspect" in loaded["line_magics"] and "jit_profile" in loaded["line_magics"]
    assert "jit_profile" in loaded["cell_magics"]
    assert loaded["jax_duration_listeners"] == before["jax_duration_listeners"] + 1
    assert loaded["jit_hooks"] != before["jit_hooks"]
    assert {"jaxinspect", "jaxinspect.rpc"} <= loaded["comm_targets"]
    assert loaded["events"]["pre_run_cell"] == before["events"]["pre_run_cell"] + 1
    assert loaded["events"]["post_run_cell"] == before["events"]["post_run_cell"] + 1
    # a sidebar connects: threads start
    manager = comm.get_comm_manager()
    fake = extension.current().transport
    from conftest import FakeComm

    push = FakeComm(target_name="jaxinspect")
    fake._on_push_open(push, {"content": {"data": {"v": 1, "type": "open", "client": "t"}}})
    assert {"jaxinspect-hub", "jaxinspect-sampler"} <= footprint(ip)["threads"]
    ip.run_line_magic("unload_ext", "jaxinspect")
    after = footprint(ip)
    assert after == before
    assert extension.current() is None
    assert push.messages()[-1]["type"] == "goodbye" and push.closed
    assert manager.targets.keys() == before["comm_targets"]


def test_loading_twice_is_harmless(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    first = extension.current()
    once = footprint(ip)
    extension.load(ip)  # directly, bypassing IPython's own "already loaded" check
    ip.run_line_magic("load_ext", "jaxinspect")
    assert extension.current() is first
    assert footprint(ip) == once
    ip.run_line_magic("reload_ext", "jaxinspect")
    assert extension.current() is not first
    assert footprint(ip) == once


def test_busy_idle_and_execution_count_follow_cells(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    insp = extension.current()
    seen = []
    ip.run_cell(
        "import jaxinspect.glue.extension as e\n"
        "_n = get_ipython().execution_count\n"
        "_s = e.current().kernel.status()",
        store_history=True,
    )
    seen.append(ip.user_ns["_s"])
    assert seen[0].busy is True and seen[0].cell_elapsed_s is not None
    assert seen[0].execution_count == ip.user_ns["_n"]
    assert insp.kernel.status().busy is False
    statuses = insp.hub.recent("status")
    assert [s["busy"] for s in statuses[-2:]] == [True, False]


def test_status_magic_shows_versions_text_and_html(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    result = ip.run_cell("%jaxinspect status")
    data, _ = ip.display_formatter.format(result.result)  # what a notebook would receive
    text = data["text/plain"]
    html = data["text/html"]
    import jax

    assert f"jax      {jax.__version__}" in text
    assert "jaxinspect 0.1.0 (protocol v1)" in text
    assert jax.__version__ in html and "<table>" in html


def test_help_and_bad_subcommands_are_one_clear_message(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    assert "%jaxinspect status" in repr(ip.run_line_magic("jaxinspect", "help"))
    assert "%jaxinspect status" in repr(ip.run_line_magic("jaxinspect", ""))
    bad = repr(ip.run_line_magic("jaxinspect", "frobnicate --x"))
    assert "unknown subcommand 'frobnicate'" in bad and "status, compiles, buffers, keys, monitor, processes, help, sharding" in bad
    assert "could not parse" in repr(ip.run_line_magic("jaxinspect", 'status "unclosed'))


def test_internal_errors_in_hooks_never_reach_user_code(ip, monkeypatch):
    ip.run_line_magic("load_ext", "jaxinspect")
    insp = extension.current()

    def broken(*a, **k):
        raise RuntimeError("collector exploded")

    monkeypatch.setattr(insp.kernel, "cell_started", broken)
    result = ip.run_cell("x_user = 41 + 1")
    assert result.success and ip.user_ns["x_user"] == 42
    from jaxinspect import errors

    assert errors.total() >= 1
    assert insp.hub.latest("internal_error")["message"] == "RuntimeError: collector exploded"
    assert "internal errors: 1" in repr(ip.run_line_magic("jaxinspect", "status"))


def test_loading_does_not_start_the_jax_backend():
    """Users set jax_num_cpu_devices / XLA_FLAGS after %load_ext; we must not freeze the backend."""
    code = textwrap.dedent(
        """
        from IPython.core.interactiveshell import InteractiveShell
        ip = InteractiveShell.instance()
        import jax
        ip.run_line_magic("load_ext", "jaxinspect")
        assert "not started" in repr(ip.run_line_magic("jaxinspect", "status"))
        jax.config.update("jax_num_cpu_devices", 4)
        assert len(jax.devices()) == 4
        ip.run_cell("1")
        from jaxinspect.glue import extension
        env = extension.current().env
        assert env["backend"] == "cpu" and env["device_count"] == 4, env
        assert [d["id"] for d in env["devices"]] == [0, 1, 2, 3]
        print("OK")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().endswith("OK"), out.stderr[-3000:]
