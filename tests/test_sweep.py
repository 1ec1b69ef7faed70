"""No traceback from jaxinspect, ever (issue 15 §6).

Every magic and every public function (``jaxinspect.__all__``) runs against a matrix of targets:
functions of each kind (plain, jit with static / donated arguments, nnx.jit, grad / vmap / jacfwd,
pmap, shard_map, checkpoint, custom_vjp, partials, bound methods, lambdas, built-ins), values of
each kind (linen dicts, TrainState, NNX Module / State / Optimizer, optax states, numpy, scalars,
None, empty and deep trees, int keys, zero-size, bf16 / int8 / bool / complex, deleted arrays,
keys, ShapeDtypeStruct, hostile objects), bad arguments, inside jit / vmap / disable_jit, with x64
on, and after unload. A case fails when an exception escapes with a frame of the jaxinspect
package in its traceback, or when what it printed or displayed (IPython's own tracebacks, a
display that raised) shows such a frame. The user's own errors (``jf('abc')``) may escape — with
no jaxinspect frame in them. Results are displayed the way a notebook would (mimebundle, repr,
to_json, text), so a view that raises when shown counts too.

Cases whose root cause lies in a module another engineer owns are ``xfail(strict=True)`` with
that cause, so the sweep stays honest while they land.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import traceback
import warnings

import pytest

import jaxinspect

PKG = os.path.dirname(os.path.abspath(jaxinspect.__file__)) + os.sep
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
FRAME_IN_OUTPUT = re.compile(re.escape(PKG) + r"\S*\.py")

SETUP = """
import functools, warnings
import numpy as np, jax, jax.numpy as jnp, optax
import flax.linen as nn
from flax import nnx
from flax.training import train_state
from jax.sharding import PartitionSpec as P
import jaxinspect

x = jnp.linspace(0.0, 1.0, 6)
x2 = jnp.ones(9)
def f(x):
    return jnp.sin(x) * 2
jf = jax.jit(f)
jf_static = jax.jit(lambda x, n: x * n, static_argnums=1)
jf_donate = jax.jit(lambda x: x + 1, donate_argnums=0)
lin = nnx.Linear(6, 3, rngs=nnx.Rngs(0))
@nnx.jit
def fwd(m, x):
    return m(x).sum()
g = jax.grad(lambda x: jnp.sum(x ** 2))
vf = jax.vmap(f)
jac = jax.jacfwd(f)
pf = jax.pmap(lambda x: x * 2)
mesh = jax.make_mesh((1,), ('i',))  # Explicit axes (the default)
auto_mesh = jax.make_mesh((1,), ('i',), axis_types=(jax.sharding.AxisType.Auto,))
sm = jax.shard_map(lambda x: x * 2, mesh=auto_mesh, in_specs=P('i'), out_specs=P('i'))
sm_explicit = jax.shard_map(lambda x: x * 2, mesh=mesh, in_specs=P('i'), out_specs=P('i'))
xsh = jax.device_put(x, jax.sharding.NamedSharding(mesh, P('i')))
ck = jax.checkpoint(f)
@jax.custom_vjp
def cv(x):
    return jnp.sin(x)
cv.defvjp(lambda x: (jnp.sin(x), x), lambda r, t: (jnp.cos(r) * t,))
def f2(x, y=1.0):
    return x * y
pt = functools.partial(f2, y=3.0)
class Scaler:
    def __init__(self):
        self.k = 2.0
    def apply(self, x):
        return x * self.k
bm = Scaler().apply
lam = lambda x: x + 1

class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(3)(x)
variables = MLP().init(jax.random.key(0), jnp.ones((1, 6)))
ts = train_state.TrainState.create(apply_fn=MLP().apply, params=variables['params'], tx=optax.adam(1e-3))
nstate = nnx.state(lin)
nopt = nnx.Optimizer(lin, optax.adam(1e-3), wrt=nnx.Param)
ostate = optax.adam(1e-3).init(variables['params'])
npa = np.arange(6.0)
npscalar = np.float32(2.0)
pyscalar = 3.5
none = None
empty_dict, empty_list = {}, []
deep = x
for _ in range(200):
    deep = {'a': deep}
intkeys = {1: x, 2: x2}
zero = jnp.zeros((0, 3))
bf16 = jnp.ones(4, jnp.bfloat16)
i8 = jnp.ones(4, jnp.int8)
bools = jnp.ones(4, bool)
cplx = jnp.ones(4, jnp.complex64)
deleted = jnp.ones(5)
deleted.delete()
tkey = jax.random.key(0)
rkey = jax.random.PRNGKey(1)
sds = jax.ShapeDtypeStruct((6,), jnp.float32)
class Hostile:
    def __getattr__(self, name):
        raise RuntimeError('no attributes here')
    def __repr__(self):
        return '<hostile>'
hostile = Hostile()
mixed = {'a': [x, 1, 'text', None], 'b': (npa,)}
xs = jnp.ones((3, 6))
nvg = nnx.value_and_grad(lambda m, x: m(x).sum())
nremat = nnx.remat(lambda m, x: m(x).sum())
@nnx.scan(in_axes=(nnx.Carry, 0), out_axes=(nnx.Carry, 0))
def nscan(c, t):
    return c + t, c * t
def lax_scan_f(x):
    return jax.lax.scan(lambda c, t: (c + t, c * t), 0.0, x)
def control(x):
    return jax.lax.cond(x.sum() > 0, lambda: x * 2, lambda: x) + jax.lax.while_loop(lambda i: i < 3, lambda i: i + 1, 0)
jf_kw = jax.jit(lambda x, *, scale: x * scale, static_argnames='scale')
nested = jax.jit(lambda x: jf(x) + 1)
jit_method = jax.jit(Scaler().apply)
from flax import struct
import collections
@struct.dataclass
class Pt:
    a: jax.Array
    b: int = struct.field(pytree_node=False, default=1)
flax_struct = Pt(x)
named = collections.namedtuple('named', 'w b')(x, x2)
from jax.sharding import NamedSharding
sharded = jax.device_put(x, NamedSharding(mesh, P('i')))
nan_arr = jnp.full(4, jnp.nan)
inf_arr = jnp.full(4, -jnp.inf)
rngs = nnx.Rngs(0, dropout=1)
variable = nnx.Variable(x)
bn = nnx.BatchNorm(3, rngs=nnx.Rngs(0))
objarr = np.array([None, 1], dtype=object)
wide = [jnp.ones(2) for _ in range(500)]
gen = (i for i in range(3))
"""

# -- targets ----------------------------------------------------------------------------------------

#: function kind -> (callee, arguments) as code in the shell
FUNCTIONS = {
    "plain": ("f", "x"),
    "jit": ("jf", "x"),
    "jit_static": ("jf_static", "x, 3"),
    "jit_donate": ("jf_donate", "jnp.ones(6)"),
    "nnx_jit": ("fwd", "lin, x"),
    "grad": ("g", "x"),
    "vmap": ("vf", "x"),
    "jacfwd": ("jac", "x"),
    "pmap": ("pf", "x[None]"),
    "shard_map": ("sm", "x"),
    "shard_map_explicit": ("sm_explicit", "xsh"),
    "checkpoint": ("ck", "x"),
    "custom_vjp": ("cv", "x"),
    "partial": ("pt", "x"),
    "bound_method": ("bm", "x"),
    "lambda": ("lam", "x"),
    "nnx_module": ("lin", "x"),
    "builtin_abs": ("abs", "x"),
    "builtin_len": ("len", "x"),
    "not_callable": ("pyscalar", "x"),
    "sds_argument": ("jf", "sds"),
    "nnx_value_and_grad": ("nvg", "lin, x"),
    "nnx_remat": ("nremat", "lin, x"),
    "nnx_scan": ("nscan", "jnp.zeros(()), x"),
    "lax_scan": ("lax_scan_f", "x"),
    "cond_while": ("control", "x"),
    "jit_static_kw": ("jf_kw", "x, scale=2"),
    "nested_jit": ("nested", "x"),
    "jit_method": ("jit_method", "x"),
}

#: other arguments that make the function recompile (default: x -> x2)
ALT = {"jit_static": "x2, 4", "shard_map_explicit": "jax.device_put(x2[:4], xsh.sharding)", "nnx_jit": "lin, xs", "nnx_module": "xs", "pmap": "x2[None]",
       "nnx_value_and_grad": "lin, xs", "nnx_remat": "lin, xs", "nnx_scan": "jnp.zeros(()), x2",
       "jit_static_kw": "x2, scale=3"}

DISABLE_JIT_FUNCTIONS = {"jit", "jit_static", "nnx_jit", "pmap", "shard_map", "custom_vjp", "nnx_scan", "lax_scan"}

#: with x64 on from the start (a subprocess): x64 changes dtypes, not structure, so a few targets
#: of each kind run every per-target case, and every bad-argument, magic-line and cell case runs
X64_FUNCTIONS = {"jit_static", "nnx_jit", "shard_map"}
X64_VALUES = {"ts", "npa", "cplx", "rkey"}

VALUES = [
    "variables", "ts", "lin", "nstate", "nopt", "ostate", "npa", "npscalar", "pyscalar", "none",
    "empty_dict", "empty_list", "deep", "intkeys", "zero", "bf16", "i8", "bools", "cplx",
    "deleted", "tkey", "rkey", "sds", "hostile", "mixed", "'a string'", "flax_struct", "named",
    "sharded", "nan_arr", "inf_arr", "rngs", "variable", "bn", "objarr", "wide", "gen", "b'bytes'",
]


def _function_cases():
    for kind in FUNCTIONS:
        yield from _function_cases_of(kind)


def _function_cases_of(kind):
    fn, args = FUNCTIONS[kind]
    call = f"{fn}({args})"
    yield f"jaxpr-magic-{kind}", ("line", "jaxpr", f"-o {call}")
    yield f"jaxpr-magic-text-{kind}", ("line", "jaxpr", f"{call} --text")
    yield f"jaxpr-magic-lowered-{kind}", ("line", "jaxpr", f"-o --cost --stablehlo --hlo {call}")
    yield f"jaxpr-magic-graph-source-{kind}", ("line", "jaxpr", f"-o --graph --source {call}")
    yield f"jaxpr-magic-diff-{kind}", ("line", "jaxpr", f"-o {call} --diff {call}")
    yield f"jaxpr-api-{kind}", ("eval", f"jaxinspect.jaxpr({fn}, {args})")
    yield f"jit_profile-{kind}", ("line", "jit_profile", f"-o -q {call}")
    if kind in DISABLE_JIT_FUNCTIONS:  # op by op: every primitive compiles, so a few kinds
        yield f"profile-disable_jit-{kind}", (
            "exec",
            f"with jax.disable_jit():\n    with jaxinspect.profile() as out:\n        {call}\n",
        )
    yield f"jaxpr-disable_jit-{kind}", (
        "exec", f"with jax.disable_jit():\n    out = jaxinspect.jaxpr({fn}, {args})\n"
    )
    yield f"assert_max_compiles-{kind}", (
        "exec", f"with jaxinspect.assert_max_compiles({fn}, 5) as out:\n    {call}\n"
    )
    # a recompile (another shape), then the jaxpr diff behind every event it recorded
    yield f"compile_diff-{kind}", (
        "exec",
        f"with jaxinspect.profile() as p:\n    {call}\n    {fn}({ALT.get(kind, args.replace('x', 'x2'))})\n"
        "out = [p] + [jaxinspect.compile_diff(e) for e in p.events]\n",
    )
    yield f"nan_guard-{kind}", (
        "exec", f"guard = jaxinspect.nan_guard({fn})\nguard({args})\nguard({args})\nout = guard\n"
    )
    yield f"as-value-{kind}", (
        "exec",
        f"out = [jaxinspect.params({fn}), jaxinspect.sharding({fn})]\n"
        f"jaxinspect.watch('fn', {fn})\nout.append(jaxinspect.api.sample_watched())\n",
    )


def _value_cases():
    for v in VALUES:
        yield from _value_cases_of(v)


def _value_cases_of(v):
    name = re.sub(r"\W+", "_", v).strip("_")
    yield f"params-{name}", ("eval", f"jaxinspect.params({v})")
    yield f"params-magic-{name}", ("line", "jaxinspect", f"params {v} --stats")
    yield f"sharding-{name}", ("eval", f"jaxinspect.sharding({v})")
    yield f"sharding-magic-{name}", ("line", "jaxinspect", f"sharding {v}")
    yield f"watch-{name}", (
        "exec",
        f"jaxinspect.watch('sweep', {v}, step=1)\nout = jaxinspect.api.sample_watched()\n"
        "jaxinspect.watch_history('sweep').text()\n",
    )
    yield f"watch-magic-{name}", ("line", "jaxinspect", f"watch {v}")
    yield f"jaxpr-value-{name}", ("eval", f"jaxinspect.jaxpr(f, {v})")
    yield f"jaxpr-magic-value-{name}", ("line", "jaxpr", f"-o jf({v})")
    yield f"jit_profile-value-{name}", ("line", "jit_profile", f"-o -q jf({v})")
    yield f"jaxpr-x64-{name}", (
        "exec", f"with jax.enable_x64(True):\n    out = jaxinspect.jaxpr(lambda t: t, {v})\n"
    )
    yield f"jaxpr-callee-{name}", ("eval", f"jaxinspect.jaxpr({v}, x)")
    yield f"nan_guard-value-{name}", ("exec", f"guard = jaxinspect.nan_guard(jf)\nout = guard({v})\n")
    yield f"nan_guard-callee-{name}", ("eval", f"jaxinspect.nan_guard({v})")
    yield f"monitor-log-{name}", (
        "exec",
        f"m = jaxinspect.monitor(mode='text')\nm.log(1, value={v})\nm.log({v}, loss=1.0)\n"
        "m.flush()\nout = str(m)\nm.close()\n",
    )
    # key functions wrapped by track_keys meet every kind of value: the user's error only
    yield f"keys-tracked-{name}", (
        "exec",
        "with jaxinspect.track_keys(on_reuse='ignore') as out:\n"
        f"    try:\n        jax.random.split({v})\n    except Exception:\n        pass\n"
        f"    jax.random.normal({v})\n",
    )


BAD_ARGUMENTS = {
    "buffers-limit-none": ("eval", "jaxinspect.buffers(limit=None)"),
    "buffers-limit-0": ("eval", "jaxinspect.buffers(limit=0)"),
    "buffers-limit-neg": ("eval", "jaxinspect.buffers(limit=-1)"),
    "buffers-limit-str": ("eval", "jaxinspect.buffers(limit='x')"),
    "buffers-limit-float": ("eval", "jaxinspect.buffers(limit=2.5)"),
    "buffers-owners-str": ("eval", "jaxinspect.buffers(owners='x')"),
    "buffers-profile": ("eval", "jaxinspect.buffers(profile=True)"),
    "compile_log-all": ("eval", "jaxinspect.compile_log(all=True)"),
    "compile_log-str": ("eval", "jaxinspect.compile_log(all='x')"),
    "compile_diff-neg": ("eval", "jaxinspect.compile_diff(-1)"),
    "compile_diff-str": ("eval", "jaxinspect.compile_diff('x')"),
    "compile_diff-none": ("eval", "jaxinspect.compile_diff(None)"),
    "compile_diff-huge": ("eval", "jaxinspect.compile_diff(10**9)"),
    "compile_diff-float": ("eval", "jaxinspect.compile_diff(2.5)"),
    "keys": ("eval", "jaxinspect.keys()"),
    "keys-clear": ("eval", "jaxinspect.keys(clear=True)"),
    "track_keys-bogus": ("exec", "out = jaxinspect.track_keys(on_reuse='bogus')\nout.stop()\n"),
    "track_keys-none": ("exec", "out = jaxinspect.track_keys(on_reuse=None)\nout.stop()\n"),
    "track_keys-block": (
        "exec",
        "with jaxinspect.track_keys(on_reuse='ignore') as t:\n"
        "    k1, k2 = jax.random.split(jax.random.key(3))\n"
        "    jax.random.normal(k1); jax.random.normal(k1)\n"
        "    jax.random.fold_in(k2, 2**40)\nout = t.keys()\n",
    ),
    "monitor-text": ("exec", "out = jaxinspect.monitor(mode='text')\nout.log(1, loss=1.0)\nout.flush()\nstr(out)\nout.close()\n"),
    "monitor-mode-bogus": ("eval", "jaxinspect.monitor(mode='bogus')"),
    "monitor-mode-int": ("eval", "jaxinspect.monitor(mode=3)"),
    "monitor-plot-str": ("exec", "out = jaxinspect.monitor(mode='text', plot='x')\nout.close()\n"),
    "monitor-log-bad": (
        "exec",
        "m = jaxinspect.monitor(mode='text')\nm.log('six', loss=1.0)\nm.log(1, loss='x')\n"
        "m.log(2, loss=x)\nm.log(None, **{'a b': 1})\nm.log(3, loss=cplx[0])\nm.flush()\nout = str(m)\nm.close()\n",
    ),
    "collect_processes-port-big": ("eval", "jaxinspect.collect_processes(port=70000)"),
    "collect_processes-port-neg": ("eval", "jaxinspect.collect_processes(port=-1)"),
    "collect_processes-port-str": ("eval", "jaxinspect.collect_processes(port='a')"),
    "collect_processes-port-none": ("eval", "jaxinspect.collect_processes(port=None)"),
    "collect_processes-token-int": ("eval", "jaxinspect.collect_processes(token=5)"),
    "collect_processes-object": ("eval", "jaxinspect.collect_processes(object())"),
    "processes-none-open": ("eval", "jaxinspect.processes()"),
    "processes-none-open-stacks": ("eval", "jaxinspect.processes().stacks()"),
    "connect-bad-address": ("eval", "jaxinspect.connect('nope')"),
    "connect-int-address": ("eval", "jaxinspect.connect(123)"),
    "connect-remote-address": ("eval", "jaxinspect.connect('10.0.0.1:5')"),
    "status": ("eval", "jaxinspect.status()"),
    "report-none": ("eval", "jaxinspect.report(None)"),
    "report-int": ("eval", "jaxinspect.report(5, trace=5)"),
    "report-folder": ("eval", "jaxinspect.report('/')"),
    "report-written": ("exec", "import os, tempfile\nd = tempfile.mkdtemp()\n"
                       "out = jaxinspect.report(os.path.join(d, 'r.html'), trace=os.path.join(d, 't.json'))\n"),
    "unwatch-unknown": ("eval", "jaxinspect.unwatch('nope')"),
    "unwatch-int": ("eval", "jaxinspect.unwatch(5)"),
    "watch-name-none": ("eval", "jaxinspect.watch(None, x)"),
    "watch-step-str": ("exec", "jaxinspect.watch('w', x, step='x')\nout = jaxinspect.api.sample_watched()\n"),
    "watch_history": ("exec", "jaxinspect.watch('h', x, step=1)\njaxinspect.api.sample_watched()\nout = jaxinspect.watch_history()\n"),
    "watch_history-int": ("exec", "out = jaxinspect.watch_history(5)\n"),
    "params-stats-str": ("eval", "jaxinspect.params(x, stats='yes')"),
    "params-title-int": ("eval", "jaxinspect.params(x, title=5)"),
    "jaxpr-int": ("eval", "jaxinspect.jaxpr(123, x)"),
    "jaxpr-missing-arg": ("eval", "jaxinspect.jaxpr(f)"),
    "jaxpr-bad-kwarg": ("eval", "jaxinspect.jaxpr(f, x, bogus=1)"),
    "jaxpr-user-error": ("eval", "jaxinspect.jaxpr(lambda t: t.nope, x)"),
    "jaxpr-view-diff-int": ("eval", "jaxinspect.jaxpr(f, x).diff(5)"),
    "jaxpr-view-diff-failed": ("eval", "jaxinspect.jaxpr(f, x).diff(jaxinspect.jaxpr(123, x))"),
    "jaxpr-view-diff-other": ("eval", "jaxinspect.jaxpr(f, x).diff(jaxinspect.jaxpr(f, x2))"),
    "jaxpr-view-section-str": ("eval", "jaxinspect.jaxpr(f, x).section('nope')"),
    "jaxpr-view-section-int": ("eval", "jaxinspect.jaxpr(f, x).section(99)"),
    "jaxpr-view-with-sections": ("eval", "jaxinspect.jaxpr(f, x).with_sections('nope')"),
    "assert_max_compiles-n-str": ("exec", "with jaxinspect.assert_max_compiles(jf, 'a'):\n    jf(x)\n"),
    "assert_max_compiles-n-none": ("exec", "with jaxinspect.assert_max_compiles(jf, None):\n    jf(x)\n"),
    "assert_max_compiles-n-neg": ("exec", "with jaxinspect.assert_max_compiles(jf, -1):\n    jf(x)\n"),
    "assert_max_compiles-fn-int": ("exec", "with jaxinspect.assert_max_compiles(3, 1):\n    jf(x)\n"),
    "assert_max_compiles-exceeded": (
        "exec", "with jaxinspect.assert_max_compiles(jf, 0):\n    jf(jnp.ones(17))\n"
    ),
    "profile-all-str": ("exec", "with jaxinspect.profile(all='x') as out:\n    jf(jnp.ones(13))\n"),
    "profile-user-error": ("exec", "with jaxinspect.profile() as out:\n    jf('abc')\n"),
    "profile-donated": (
        "exec", "a = jnp.ones(6)\njf_donate(a)\nwith jaxinspect.profile() as out:\n    jf_donate(a)\n"
    ),
    "profile-shard_map-mismatch": (
        "exec", "with jaxinspect.profile() as out:\n    sm_explicit(x)\n"
    ),
    "fold_in-huge": ("exec", "with jaxinspect.track_keys(on_reuse='ignore'):\n    out = jax.random.fold_in(tkey, 2**40)\n"),
    "config-storm-none": (
        "exec",
        "jaxinspect.config.storm_threshold = None\njax.jit(lambda t: t + 2)(jnp.ones(11))\n"
        "out = jaxinspect.compile_log()\n",
    ),
    "config-unknown": ("exec", "jaxinspect.config.nope = 1\n"),
    "load-twice": ("exec", "jaxinspect.load_ipython_extension(get_ipython())\njaxinspect.load_ipython_extension(get_ipython())\n"),
    "version": ("eval", "jaxinspect.__version__"),
    "keys-error-reuse-in-cell": (
        "exec",
        "get_ipython().run_line_magic('jaxinspect', 'keys on --error')\n"
        "get_ipython().run_cell('k = jax.random.key(5)\\njax.random.normal(k)\\njax.random.normal(k)')\n",
    ),
    "keys-error-reuse-initializer": (
        "exec",
        "get_ipython().run_line_magic('jaxinspect', 'keys on --error')\n"
        "get_ipython().run_cell('k = jax.random.key(6)\\ninit = jax.nn.initializers.glorot_normal()\\n"
        "init(k, (3, 3))\\ninit(k, (3, 3))')\n",
    ),
    "nan_guard-name-int": ("exec", "out = jaxinspect.nan_guard(jf, name=5)\nout(x)\n"),
    "nan_guard-copy-str": ("exec", "out = jaxinspect.nan_guard(jf_donate, copy_donated='x')\nout(jnp.ones(6))\n"),
    "nan_guard-decorator": ("exec", "out = jaxinspect.nan_guard(name='step')(jf)\nout(x)\n"),
    "nan_guard-nan-step": (
        "exec",
        "guard = jaxinspect.nan_guard(jax.jit(lambda w: w * jnp.where(w > 0.5, jnp.nan, 1.0)))\n"
        "w = guard(x)\nw = guard(w)\nguard(w)\nguard.wait(3)\nout = guard\n",
    ),
    "unload-load": (
        "exec",
        "jaxinspect.unload_ipython_extension(get_ipython())\njaxinspect.unload_ipython_extension(get_ipython())\n"
        "jaxinspect.load_ipython_extension(get_ipython())\n",
    ),
    "errors": ("exec", "out = [jaxinspect.KeyReuseError('a'), jaxinspect.KeyReuseWarning('b')]\n"),
    # inside jit / vmap: the public functions meet tracers
    "jit-watch": ("exec", "out = jax.jit(lambda t: (jaxinspect.watch('traced', t), t)[1])(x)\nout = jaxinspect.api.sample_watched()\n"),
    "jit-params": ("exec", "jax.jit(lambda t: (jaxinspect.params(t, stats=True).text(), t)[1])(x)\n"),
    "jit-sharding": ("exec", "jax.jit(lambda t: (repr(jaxinspect.sharding(t)), t)[1])(x)\n"),
    "jit-jaxpr": ("exec", "jax.jit(lambda t: (jaxinspect.jaxpr(f, t).text(), t)[1])(x)\n"),
    "jit-buffers": ("exec", "jax.jit(lambda t: (jaxinspect.buffers().to_json(), t)[1])(x)\n"),
    "jit-keys": ("exec", "jax.jit(lambda t: (jaxinspect.keys().text(), t)[1])(x)\n"),
    "jit-profile": ("exec", "def inner(t):\n    with jaxinspect.profile() as p:\n        r = jf(t)\n    return r\nout = jax.jit(inner)(x)\n"),
    "jit-assert_max_compiles": ("exec", "def inner(t):\n    with jaxinspect.assert_max_compiles(jf, 3):\n        r = jf(t)\n    return r\nout = jax.jit(inner)(x)\n"),
    "jit-monitor-log": ("exec", "m = jaxinspect.monitor(mode='text')\njax.jit(lambda t: (m.log(1, loss=t.sum()), t)[1])(x)\nm.flush()\nout = str(m)\nm.close()\n"),
    "vmap-watch": ("exec", "jax.vmap(lambda t: (jaxinspect.watch('vmapped', t), t)[1])(xs)\nout = jaxinspect.api.sample_watched()\n"),
    "vmap-params": ("exec", "jax.vmap(lambda t: (jaxinspect.params(t).text(), t)[1])(xs)\n"),
    "vmap-jaxpr": ("exec", "jax.vmap(lambda t: (jaxinspect.jaxpr(f, t).text(), t)[1])(xs)\n"),
    "nnx_jit-watch": ("exec", "nnx.jit(lambda m, t: (jaxinspect.watch('nnx', nnx.state(m)), m(t))[1])(lin, x)\nout = jaxinspect.api.sample_watched()\n"),
}

MAGIC_LINES = {
    "mg-status": ("jaxinspect", "status"),
    "mg-empty": ("jaxinspect", ""),
    "mg-compiles": ("jaxinspect", "compiles"),
    "mg-compiles-all": ("jaxinspect", "compiles --all"),
    "mg-compiles-diff-missing": ("jaxinspect", "compiles --diff 99999999"),
    "mg-compiles-diff-neg": ("jaxinspect", "compiles --diff -1"),
    "mg-buffers": ("jaxinspect", "buffers"),
    "mg-buffers-all-profile": ("jaxinspect", "buffers --all --profile --no-owners"),
    "mg-buffers-limit-bad": ("jaxinspect", "buffers --limit abc"),
    "mg-keys": ("jaxinspect", "keys"),
    "mg-keys-on-off": ("jaxinspect", "keys on"),
    "mg-keys-on-error": ("jaxinspect", "keys on --error"),
    "mg-keys-clear": ("jaxinspect", "keys --clear"),
    "mg-keys-bad": ("jaxinspect", "keys on off"),
    "mg-monitor-text": ("jaxinspect", "monitor --text --no-plot"),
    "mg-monitor-off": ("jaxinspect", "monitor --off"),
    "mg-monitor-bad": ("jaxinspect", "monitor --display --bogus"),
    "mg-processes": ("jaxinspect", "processes"),
    "mg-processes-port": ("jaxinspect", "processes --listen 70000"),
    "mg-processes-both": ("jaxinspect", "processes --listen --stop"),
    "mg-processes-listen": ("jaxinspect", "processes --listen"),
    "mg-processes-stacks": ("jaxinspect", "processes --stacks"),
    "mg-processes-stop": ("jaxinspect", "processes --stop"),
    "mg-watch-off-after": ("jaxinspect", "watch x --off"),
    "mg-compiles-diff-after": ("jaxinspect", "compiles --all --diff 3"),
    "mg-buffers-limit-eq": ("jaxinspect", "buffers --limit=2 --all"),
    "mg-help": ("jaxinspect", "help"),
    "mg-help-sub": ("jaxinspect", "help keys"),
    "mg-help-unknown": ("jaxinspect", "help nope"),
    "mg-help-flag": ("jaxinspect", "--help"),
    "mg-unknown": ("jaxinspect", "frobnicate"),
    "mg-quote": ("jaxinspect", '"'),
    "mg-paren": ("jaxinspect", ")"),
    "mg-dashes": ("jaxinspect", "--"),
    "mg-dash": ("jaxinspect", "-"),
    "mg-params-empty": ("jaxinspect", "params"),
    "mg-params-syntax": ("jaxinspect", "params x["),
    "mg-params-deep": ("jaxinspect", "params " + "+".join(["x"] * 3000)),
    "mg-sharding-hostile-attr": ("jaxinspect", "sharding hostile.anything"),
    "mg-watch-off-unknown": ("jaxinspect", "watch --off nope"),
    "mg-watch-empty": ("jaxinspect", "watch"),
    "mg-report-empty": ("jaxinspect", "report"),
    "mg-report-folder": ("jaxinspect", "report / --trace"),
    "mg-report-same": ("jaxinspect", "report /tmp/jaxinspect-sweep.html --trace /tmp/jaxinspect-sweep.html"),
    "jx-empty": ("jaxpr", ""),
    "jx-dashes": ("jaxpr", "--"),
    "jx-help": ("jaxpr", "--help"),
    "jx-diff-int": ("jaxpr", "f(x) --diff 5"),
    "jx-diff-syntax": ("jaxpr", "f(x) --diff f("),
    "jx-diff-failed": ("jaxpr", "-o f(x) --diff pyscalar(x)"),
    "jx-paren": ("jaxpr", "("),
    "jx-twice": ("jaxpr", "-o -o f(x)"),
    "jx-not-call": ("jaxpr", "x"),
    "jx-deep": ("jaxpr", "f(" + "+".join(["x"] * 3000) + ")"),
    "jx-wide": ("jaxpr", "-o (lambda *a: a[0])(" + ", ".join(["x"] * 2000) + ")"),
    "jx-user-error": ("jaxpr", "(lambda t: t.nope)(x)"),
    "jx-arg-raises": ("jaxpr", "f(hostile.anything)"),
    "jp-empty": ("jit_profile", ""),
    "jp-user-raise": ("jit_profile", "-q raise ValueError('user')"),
    "jp-user-type-error": ("jit_profile", "-q jf('abc')"),
    "jp-syntax": ("jit_profile", "-q )"),
    "jp-deep": ("jit_profile", "-q y = " + "+".join(["x"] * 3000)),
    "jp-flags-only": ("jit_profile", "-o -q"),
}

CELLS = {
    "cell-jaxpr-setup-raises": ("jaxpr", "-o", "y = hostile.anything\nf(y)"),
    "cell-jaxpr-no-call": ("jaxpr", "", "y = 1"),
    "cell-jaxpr-syntax": ("jaxpr", "", "def ("),
    "cell-jaxpr-line-expr": ("jaxpr", "f(x)", "f(x)"),
    "cell-jit_profile": ("jit_profile", "-q -o", "for n in (2, 3):\n    jf(jnp.ones(n))\n"),
    "cell-jit_profile-user-error": ("jit_profile", "-q", "jf(x)\nraise KeyError('user')\n"),
}

#: cases that fail today for a root cause not fixed yet (strict: a fix must remove its entry)
KNOWN: dict[str, str] = {}


def _cases():
    cases = dict(_function_cases())
    cases.update(_value_cases())
    cases.update(BAD_ARGUMENTS)
    cases.update({k: ("line", *v) for k, v in MAGIC_LINES.items()})
    cases.update({k: ("cell", *v) for k, v in CELLS.items()})
    return cases


CASES = _cases()


def x64_selection() -> list[str]:
    """The case ids the x64 subprocess runs (see X64_FUNCTIONS / X64_VALUES)."""
    per_target = {}
    for kind in FUNCTIONS:
        per_target.update({cid: kind in X64_FUNCTIONS for cid, _ in _function_cases_of(kind)})
    for v in VALUES:
        per_target.update({cid: v in X64_VALUES for cid, _ in _value_cases_of(v)})
    return [cid for cid in CASES if per_target.get(cid, True) and cid not in KNOWN]


def _params():
    out = []
    for case_id, case in CASES.items():
        marks = []
        if case_id in KNOWN:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN[case_id]))
        out.append(pytest.param(case, id=case_id, marks=marks))
    return out


# -- the harness ------------------------------------------------------------------------------------


def _ours(tb) -> list[str]:
    return [
        f"{fs.filename}:{fs.lineno} in {fs.name}"
        for fs in traceback.extract_tb(tb)
        if os.path.abspath(fs.filename).startswith(PKG)
    ]


def _caught_by_magics(errors) -> dict:
    return {(r.where, r.message): r.count for r in errors.recent() if r.where.startswith("magic ")}


class _LogTracebacks(logging.Handler):
    """Tracebacks that reach a log (e.g. JAX logs a failed ``jax.debug.callback``) count too."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.problems: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[2] is not None:
            frames = _ours(record.exc_info[2])
            if frames:
                self.problems.append(
                    f"logged by {record.name}: {record.exc_info[0].__name__}: {record.exc_info[1]} "
                    "through jaxinspect: " + " <- ".join(frames[::-1][:6])
                )


def _display_like_a_notebook(obj) -> None:
    """What a notebook does to a result: the mimebundle, repr, to_json, the text twin."""
    if obj is None or isinstance(obj, type):
        return
    bundle = getattr(obj, "_repr_mimebundle_", None)
    if callable(bundle):
        bundle()
    repr(obj)
    to_json = getattr(obj, "to_json", None)
    if callable(to_json):
        json.dumps(to_json(), default=str)
    text = getattr(obj, "text", None)
    if callable(text):
        text()


def _user_error_allowed(case, exc) -> bool:
    """assert_max_compiles fails with AssertionError by design; KeyReuseError is opted into."""
    if isinstance(exc, jaxinspect.KeyReuseError):
        return True
    return isinstance(exc, AssertionError) and "assert_max_compiles" in repr(case)


def run_case(shell, case) -> list[str]:
    """Run one case; return the problems (our frames in an escaping traceback or in output)."""
    from IPython.utils.capture import capture_output

    problems: list[str] = []
    ns = shell.user_ns
    ns.pop("out", None)
    kind = case[0]
    from jaxinspect import errors

    caught_before = _caught_by_magics(errors)
    logged = _LogTracebacks()
    root = logging.getLogger()
    root.addHandler(logged)
    with capture_output() as cap, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if kind == "eval":
                result = eval(compile(case[1], "<sweep>", "eval"), ns)  # noqa: S307
            elif kind == "exec":
                exec(compile(case[1], "<sweep>", "exec"), ns)  # noqa: S102
                result = ns.get("out")
            elif kind == "line":
                result = shell.run_line_magic(case[1], case[2])
            else:
                result = shell.run_cell_magic(case[1], case[2], case[3])
            if kind == "eval" and type(result).__name__ == "Message" and result.text.startswith("%"):
                problems.append(f"the Python API speaks as a magic: {result.text[:200]!r}")
            if isinstance(result, list):
                for item in result:
                    _display_like_a_notebook(item)
            else:
                _display_like_a_notebook(result)
        except BaseException as exc:  # noqa: BLE001
            frames = _ours(exc.__traceback__)
            if frames and not _user_error_allowed(case, exc):
                problems.append(
                    f"{type(exc).__name__}: {str(exc)[:300]} raised through jaxinspect: "
                    + " <- ".join(frames[::-1][:6])
                )
    root.removeHandler(logged)
    problems += logged.problems
    for key, count in _caught_by_magics(errors).items():
        if count > caught_before.get(key, 0):  # the magics' safety net hid a failure of ours
            problems.append(f"a magic caught a jaxinspect failure: {key[1]} (recorded at {key[0]!r})")
    shown = [cap.stdout, cap.stderr]
    for output in cap.outputs:
        try:
            shown.append(str(output.data))
        except Exception as exc:  # noqa: BLE001
            problems.append(f"a displayed output raised {type(exc).__name__}: {exc}")
    text = ANSI.sub("", "\n".join(shown))
    if FRAME_IN_OUTPUT.search(text) and ("Traceback" in text or "Error" in text):
        where = FRAME_IN_OUTPUT.search(text)
        problems.append(f"output shows a jaxinspect frame ({where.group(0)}):\n{text[-1500:]}")
    return problems


def _reset(shell) -> None:
    """Undo what a case may have switched on, so cases stay independent."""
    from jaxinspect import api
    from jaxinspect.collect import keyslib
    from jaxinspect.config import Config, config
    from jaxinspect.glue import processes
    from jaxinspect.glue.session import SESSION

    api.unwatch(None)
    SESSION.close_monitors()
    tracker = keyslib.tracker()
    if tracker.tracking:
        tracker.stop()
    processes.close_collector()
    for field in Config.__dataclass_fields__.values():
        setattr(config, field.name, field.default)
    if "jaxinspect" not in shell.magics_manager.magics["line"]:
        shell.run_line_magic("load_ext", "jaxinspect")


@pytest.fixture(scope="module")
def shell():
    pytest.importorskip("optax")
    pytest.importorskip("flax")
    from IPython.core.interactiveshell import InteractiveShell

    from jaxinspect.glue import extension

    ip = InteractiveShell.instance()
    extension.unload(ip)
    ip.run_line_magic("load_ext", "jaxinspect")
    result = ip.run_cell(SETUP)
    assert result.success, result.error_in_exec
    yield ip
    _reset(ip)
    if "jaxinspect" in ip.extension_manager.loaded:
        ip.run_line_magic("unload_ext", "jaxinspect")
    extension.unload(ip)
    for name in ("deep", "variables", "ts", "lin", "nstate", "nopt", "ostate"):
        ip.user_ns.pop(name, None)


@pytest.mark.parametrize("case", _params())
def test_no_traceback_through_jaxinspect(shell, case):
    try:
        problems = run_case(shell, case)
    finally:
        _reset(shell)
    assert not problems, "\n".join(problems)


def test_the_sweep_covers_every_public_name_magic_and_subcommand(shell):
    from jaxinspect.glue import magics

    code = "\n".join(repr(case) for case in CASES.values())
    missing = [name for name in jaxinspect.__all__ if f"jaxinspect.{name}" not in code]
    assert not missing, f"public names the sweep never calls: {missing}"
    lines = [case for case in CASES.values() if case[0] in ("line", "cell")]
    for kind in ("line", "cell"):
        for name in extension_magics(shell, kind):
            assert any(c[0] == kind and c[1] == name for c in lines), (kind, name)
    for sub in magics.SUBCOMMANDS:
        assert any(c[1] == "jaxinspect" and c[2].split(" ")[0] == sub for c in lines), sub


def extension_magics(shell, kind):
    from jaxinspect.glue import extension

    return extension.magic_names(kind)


def test_the_harness_sees_our_frames(shell):
    """The sweep can fail: an escaping exception, a printed traceback and a logged one through a
    jaxinspect frame are each reported; the user's own error is not."""
    import jaxinspect.glue.display  # noqa: F401 - reached as attributes by the cases
    import jaxinspect.glue.monitor  # noqa: F401

    raise_inside = "jaxinspect.glue.monitor.Monitor(None, mode='bogus')"  # raises by design
    escaped = run_case(shell, ("eval", raise_inside))
    assert len(escaped) == 1 and "ValueError" in escaped[0] and "glue/monitor.py" in escaped[0]
    printed = run_case(shell, ("exec", f"get_ipython().run_cell({raise_inside!r})\n"))
    assert len(printed) == 1 and "output shows a jaxinspect frame" in printed[0]
    logged = run_case(
        shell,
        (
            "exec",
            "import logging\ntry:\n    " + raise_inside + "\nexcept ValueError:\n"
            "    logging.getLogger('sweep').exception('a callback failed')\n",
        ),
    )
    assert len(logged) == 1 and logged[0].startswith("logged by sweep")
    spoken = run_case(shell, ("eval", "jaxinspect.glue.display.Message('%jaxpr: as a magic')"))
    assert len(spoken) == 1 and "speaks as a magic" in spoken[0]
    assert run_case(shell, ("eval", "jf('abc')")) == []  # the user's own error, no frame of ours
    from jaxinspect.glue.session import SESSION

    real_status = SESSION.status
    SESSION.status = lambda: 1 / 0
    try:
        netted = run_case(shell, ("line", "jaxinspect", "status"))
    finally:
        del SESSION.status  # the class's method again
    assert SESSION.status is not None and SESSION.status.__func__ is real_status.__func__
    assert len(netted) == 1 and "a magic caught a jaxinspect failure: ZeroDivisionError" in netted[0]


AFTER_UNLOAD = [
    "jaxinspect.status()",
    "jaxinspect.compile_log()",
    "jaxinspect.buffers(limit=3)",
    "jaxinspect.params(variables, stats=True)",
    "jaxinspect.jaxpr(f, x)",
    "jaxinspect.keys()",
    "jaxinspect.sharding(x)",
    "jaxinspect.watch_history()",
    "jaxinspect.compile_diff(1)",
]


def test_after_unload_every_function_still_answers(shell):
    shell.run_line_magic("unload_ext", "jaxinspect")
    try:
        problems = []
        for code in AFTER_UNLOAD:
            problems += run_case(shell, ("eval", code))
        problems += run_case(shell, ("exec", "jaxinspect.watch('after', x)\nout = jaxinspect.api.sample_watched()\n"))
        problems += run_case(shell, ("exec", "with jaxinspect.profile() as out:\n    jf(jnp.ones(21))\n"))
        problems += run_case(shell, ("exec", "with jaxinspect.assert_max_compiles(jf, 1) as out:\n    jf(jnp.ones(22))\n"))
        problems += run_case(shell, ("exec", "out = jaxinspect.track_keys()\njax.random.normal(tkey)\nout.stop()\n"))
        # the magics are gone: IPython says so, no jaxinspect frame
        problems += run_case(shell, ("exec", "get_ipython().run_cell('%jaxinspect status')\n"))
        assert "jaxinspect" not in shell.magics_manager.magics["line"]
        assert not problems, "\n".join(problems)
    finally:
        _reset(shell)


X64_SCRIPT = """
import json, sys
sys.path.insert(0, {tests_dir!r})
import jax
assert jax.config.jax_enable_x64
import test_sweep as s
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
ip.run_line_magic('load_ext', 'jaxinspect')
assert ip.run_cell(s.SETUP).success
assert str(ip.user_ns['x'].dtype) == 'float64'
problems, ran = {{}}, 0
for cid in s.x64_selection():
    found = s.run_case(ip, s.CASES[cid])
    s._reset(ip)
    ran += 1
    if found:
        problems[cid] = found
print('RESULT' + json.dumps({{'ran': ran, 'problems': problems}}))
"""


@pytest.fixture(scope="module", autouse=True)
def x64_process(request):
    """The x64 sweep runs in its own process (x64 must be on before JAX starts), started when
    this module starts so that it runs beside the in-process sweep on another core."""
    import importlib.util
    import subprocess

    wanted = any(item.name == "test_with_x64_on_from_the_start" for item in request.session.items)
    if not wanted or importlib.util.find_spec("flax") is None:  # the compat env has no flax
        yield None
        return
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "JAX_ENABLE_X64": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", X64_SCRIPT.format(tests_dir=tests_dir)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def test_with_x64_on_from_the_start(x64_process):
    """JAX_ENABLE_X64=1 before anything runs (float64 defaults everywhere, jaxinspect's own
    programs included): the selected cases in a fresh process, with the same harness."""
    pytest.importorskip("flax", reason="the sweep's targets need flax (not in the jax 0.10 compat env)")
    stdout, stderr = x64_process.communicate(timeout=600)
    line = next((ln for ln in stdout.splitlines() if ln.startswith("RESULT")), None)
    assert x64_process.returncode == 0 and line is not None, stderr[-3000:]
    result = json.loads(line[len("RESULT") :])
    assert result["ran"] > 200
    assert not result["problems"], json.dumps(result["problems"], indent=1)[:6000]


# -- the settings and arguments that used to fail silently ------------------------------------------


def test_a_bad_setting_is_refused_where_it_enters_and_compiles_keep_flowing(shell, capsys):
    from jaxinspect.config import config

    shell.run_cell("ticks = jax.jit(lambda t: t * 3)")
    try:
        jaxinspect.config.storm_threshold = None
        jaxinspect.config.compile_capacity = "many"
        jaxinspect.config.sidebar_silence_s = -1
        jaxinspect.config.storm_treshold = 2  # a typo
        err = capsys.readouterr().err
        assert "config.storm_threshold takes a whole number ≥ 1, got None; kept 5" in err
        assert "config.compile_capacity takes a whole number ≥ 1, got 'many'" in err
        assert "config.sidebar_silence_s takes a number of seconds > 0, got -1" in err
        assert "no setting 'storm_treshold'" in err and not hasattr(config, "storm_treshold")
        assert config.storm_threshold == 5 and config.compile_capacity == 10_000
        from jaxinspect import errors

        before = errors.total()
        # a real loop with a recompile storm: the sink must keep recording with the kept threshold
        shell.run_cell("for n in range(1, 9):\n    ticks(jnp.ones(n))\n")
        log = jaxinspect.compile_log()
        assert log.compiles("<lambda>") >= 8
        assert any("storm" in a.kind or "recompil" in a.message for a in log.alerts)
        assert errors.total() == before
        jaxinspect.config.storm_threshold = 7.0  # a whole float is a whole number
        assert config.storm_threshold == 7 and isinstance(config.storm_threshold, int)
        # a setting added later without its own check is checked by its declared type
        import dataclasses
        import importlib

        @dataclasses.dataclass
        class Later(importlib.import_module("jaxinspect.config").Config):
            new_limit: int = 3
            ratio: float = 0.5

        later = Later()
        later.new_limit, later.ratio = "a", float("nan")
        assert (later.new_limit, later.ratio) == (3, 0.5)
        assert "config.new_limit takes a whole number" in capsys.readouterr().err
    finally:
        _reset(shell)


def test_monitor_log_keeps_every_point_it_can_plot_and_names_the_rest(shell, capsys):
    capsys.readouterr()
    m = jaxinspect.monitor(mode="text")
    try:
        shell.user_ns["_monitor"] = m
        result = shell.run_cell(
            "step_fn = jax.jit(lambda t: (t * 0.5, (t ** 2).sum()))\n"
            "w = jnp.ones(4)\n"
            "for i in range(3):\n"
            "    w, loss = step_fn(w)\n"
            "    _monitor.log(str(i), loss=loss)\n"
            "    _monitor.log(np.int64(10 + i), loss=loss, lr=np.float32(0.1), bad=w)\n"
        )
        assert result.success
        m.flush()
        err = capsys.readouterr().err
        assert err.count("monitor.log(step='0')") == 1  # once, not every step
        assert "the step must be a whole number or None" in err
        assert err.count("monitor.log(bad=<ArrayImpl>)") == 1 and "shape (4,)" in err
        losses = m.snapshot()["scalars"]["loss"]
        assert len(losses) == 6  # the 3 points with a bad step were kept, not dropped
        assert [p[0] for p in losses][1::2] == [10, 11, 12]
        assert losses[0][1] == pytest.approx(4.0)
        assert "bad" not in m.snapshot()["scalars"] and len(m.snapshot()["scalars"]["lr"]) == 3
    finally:
        m.close()
        shell.user_ns.pop("_monitor", None)
        _reset(shell)


def test_collect_processes_refuses_a_bad_port_in_one_line(shell):
    from jaxinspect.glue.display import Message

    for port in (70000, -1, "a", None, 2.5, True):
        out = jaxinspect.collect_processes(port=port)
        assert isinstance(out, Message) and out.level == "error", port
        assert "port must be a whole number from 0 to 65535" in out.text and repr(port) in out.text
    c = jaxinspect.collect_processes()
    try:
        taken = c.address.rsplit(":", 1)[1]
        c.close()
        import socket

        with socket.create_server(("127.0.0.1", 0)) as busy:
            port = busy.getsockname()[1]
            out = jaxinspect.collect_processes(port=port)
            assert isinstance(out, Message) and f"cannot listen on 127.0.0.1:{port}" in out.text
        assert taken.isdigit()
    finally:
        _reset(shell)


def test_assert_max_compiles_names_a_bad_argument(shell):
    shell.run_cell("counted = jax.jit(lambda t: t - 1)")
    for n, shown in (("a", "'a'"), (None, "None"), (-1, "-1"), (1.5, "1.5")):
        with pytest.raises(AssertionError, match=rf"n must be a whole number ≥ 0 .*got {re.escape(shown)}"):
            with jaxinspect.assert_max_compiles(shell.user_ns["counted"], n):
                shell.user_ns["counted"](shell.user_ns["x"])
    with pytest.raises(AssertionError, match="compiled 2 times"):  # the real check still works
        with jaxinspect.assert_max_compiles(shell.user_ns["counted"], 1):
            for n in (3, 4):
                shell.user_ns["counted"](shell.user_ns["jnp"].ones(n))
    with jaxinspect.assert_max_compiles(shell.user_ns["counted"], 1):
        pass


if __name__ == "__main__":  # pragma: no cover - a quick local summary
    sys.exit(pytest.main([__file__, "-q"]))


def test_connect_refuses_bad_arguments_before_starting_anything(shell, capsys):
    """A bad buffers_every used to fail after connect() had started its own inspector (outside
    a loaded kernel), which then ran on with nobody to close it."""
    import threading

    c = jaxinspect.collect_processes()
    shell.run_line_magic("unload_ext", "jaxinspect")
    try:
        before = {t.name for t in threading.enumerate() if t.name.startswith("jaxinspect")}
        for kwargs, said in (
            ({"buffers_every": "x"}, "buffers_every must be a number of seconds > 0, got 'x'"),
            ({"buffers_every": 0}, "buffers_every must be a number of seconds > 0, got 0"),
            ({"token": 5}, "token must be a string"),
        ):
            conn = jaxinspect.connect(c.address, **{"token": c.token, **kwargs})
            assert said in conn.error and conn.status()["state"] == "error"
            assert said in capsys.readouterr().err
        after = {t.name for t in threading.enumerate() if t.name.startswith("jaxinspect")}
        assert after <= before
        assert c.processes() == []  # nothing reached the collector
    finally:
        c.close()
        _reset(shell)


def test_a_failed_load_leaves_nothing_and_says_one_line(shell, monkeypatch, capsys):
    from jaxinspect.glue import extension
    from jaxinspect.glue.inspector import Inspector

    shell.run_line_magic("unload_ext", "jaxinspect")
    hooks = {k: len(v) for k, v in shell.events.callbacks.items()}
    magics = set(shell.magics_manager.magics["line"])

    def broken(self, *a, **k):
        raise RuntimeError("the sampler cannot start")

    monkeypatch.setattr(Inspector, "start", broken)
    try:
        shell.run_line_magic("load_ext", "jaxinspect")  # no traceback
        err = capsys.readouterr().err
        assert "jaxinspect: could not load (RuntimeError: the sampler cannot start)" in err
        assert len(err.strip().splitlines()) == 1
        assert extension.current() is None
        assert {k: len(v) for k, v in shell.events.callbacks.items()} == hooks
        assert set(shell.magics_manager.magics["line"]) == magics
        monkeypatch.undo()
        shell.run_line_magic("reload_ext", "jaxinspect")
        assert extension.current() is not None and "jaxinspect" in shell.magics_manager.magics["line"]
    finally:
        monkeypatch.undo()
        _reset(shell)
