"""A NaN in a real two-process ``jax.distributed`` job (CPU, gloo, two devices per process):
data-parallel training with replicated parameters placed by ``device_put``, a parameter
sharded across the processes, and a batch that makes a NaN on process 1 only. Every call of
``nan_guard`` is checked on each process (or the alert says which were not), the alert names the call and the leaf on both
(the all-reduced gradient spreads the NaN), says that sharded leaves were checked on this
process's shards, and says the step was not replayed: a replay on one process alone would
wait forever in the step's collectives. Nothing from jaxinspect fails, and the job ends."""

import json
import os
import re
import socket
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKER = textwrap.dedent(
    """
    import json, sys
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    pid, port = int(sys.argv[1]), sys.argv[2]
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=pid)
    import jax.numpy as jnp, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    import jaxinspect
    from jaxinspect import errors

    mesh = jax.make_mesh((4,), ("data",))
    params = {
        "dense": jax.device_put(jnp.ones((4,)), NamedSharding(mesh, P())),    # replicated
        "table": jax.device_put(jnp.ones((8,)), NamedSharding(mesh, P("data"))),  # sharded
    }
    batch = NamedSharding(mesh, P("data"))

    @jax.jit
    def train_step(params, x):
        def loss(p):
            return jnp.mean(jnp.sqrt(x @ p["dense"])) + 1e-3 * jnp.sum(p["table"] ** 2)
        l, g = jax.value_and_grad(loss)(params)
        return jax.tree.map(lambda a, b: a - 0.1 * b, params, g), l

    step = jaxinspect.nan_guard(train_step)
    for i in range(10):
        local = np.ones((4, 4), np.float32) * (1.0 + i)
        if i == 5 and pid == 1:
            local[0] = -1.0                  # sqrt of a negative, in process 1's batch only
        x = jax.make_array_from_process_local_data(batch, local)
        params, l = step(params, x)
        jaxinspect.watch("params", params, step=i)
    cause = step.wait(60)
    watched = [a for a in jaxinspect.api.SESSION.watcher.alerts if a.name == "params"]
    print(json.dumps({
        "cause": cause,
        "message": step.alert and step.alert.message,
        "hint": step.alert and step.alert.hint,
        "leaves": step.alert and list(step.alert.leaves),
        "errors": [f"{e.where}: {e.message}" for e in errors.recent()],
        "watched": [(a.step, a.hint) for a in watched],
    }), flush=True)
    """
)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_nan_in_a_two_process_job_is_named_on_each_process_and_never_replayed(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    port = str(_free_port())
    env = {**os.environ, "PYTHONPATH": ROOT, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    procs = [
        subprocess.Popen([sys.executable, str(script), str(i), port], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]  # fmt: skip
    try:
        outs = [p.communicate(timeout=180) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for pid, (p, (out, err)) in enumerate(zip(procs, outs, strict=True)):
        assert p.returncode == 0, err[-3000:]
        got = json.loads(out.strip().splitlines()[-1])
        assert got["errors"] == [], got["errors"]  # e.g. addressable_shards of a device_put copy
        message = got["message"]
        assert message, f"process {pid} saw no NaN: {got}"
        # NaN inputs from call 6 on. The cost cap may thin the checks (gloo makes calls slow
        # and uneven); the alert then says exactly which calls it skipped
        m = re.match(r"train_step inputs: first NaN at call (\d+), last finite call (\d+) \((.*?)\);", message)
        first, last, checked = int(m[1]), int(m[2]), m[3]
        assert last <= 5 < 6 <= first, message
        if first == last + 1:
            assert checked.startswith("every call checked"), message
        else:
            span = f"call {last + 1}" if first == last + 2 else f"calls {last + 1}–{first - 1}"
            assert checked.startswith(f"{span} not checked"), message
        assert f"process {pid} of 2 checks its own shards of the 2 leaves sharded across processes" in message
        assert got["leaves"] == ["params['dense']"], got["leaves"]
        assert got["cause"].startswith(f"call {first - 1} was not replayed: 3 of its inputs are arrays across the job's 2 processes")
        assert "not replayed" in got["hint"] and "replay of the call before" not in got["hint"]
        # watch() of the same parameters: the step is named, and nan_guard is not offered
        # (it would not replay a multi-process step either)
        ((at, hint),) = got["watched"]
        assert at >= 5 and "nan_guard" not in hint and "not replayed" in hint, got["watched"]
