# %% [markdown]
# # Porting NovoGrad, and checking the port
#
# Sooner or later NovoGrad has to be written again: for a new framework, a fused kernel,
# another language. This notebook writes a short port, checks it against the reference
# with the conformance kit, and then breaks it on purpose, three times, to show what a
# mismatch report looks like and how to read it.
#
# **What you will do**
#
# - Write a port of optax's NovoGrad in plain NumPy as a small class implementing the
#   conformance kit's `Adapter` protocol, in a module of its own.
# - Check it from Python (`verify_implementation`, `identify`) and from the command line
#   (`novograd-ref verify --impl module:factory --preset optax`).
# - Introduce three classic porting bugs ($\epsilon$ inside the square root; the second
#   moment starting from zero; normalizing per element) and ask `explain` what each
#   broken port does differently, instead of reading tables by eye.
# - Go through a porting checklist for real training code: what a layer is under
#   stacked, flattened or sharded parameters, float16 norm overflow, loss scaling.
# - Solve one exercise (solution included).
#
# **What you will learn**
#
# - What a port must provide to be checked: `init(params, learning_rate)` and
#   `update(grads, state)` over NumPy arrays, built by a factory that takes the target
#   implementation's constructor keywords.
# - How the checker isolates the optimizer (it replays the exact gradients your port
#   was fed) and how it reports the case, leaf and step where the trajectories are
#   furthest apart.
# - How `explain` diagnoses a port by experiment: probes that each isolate one
#   convention, and a search over the switches of `Config` for the configuration that
#   reproduces the port, or the nearest one and what lies outside the switch space.
#
# **What you will need**
#
# - Notebook 1 (the recurrence), NumPy and matplotlib, and `novograd_ref` installed
#   (`pip install -e ".[notebooks]"`). Nothing else: the port and its broken variants are
#   written to a temporary directory.
# - Time: about 20 seconds on one CPU core (the test suite allows each cell 300 s).

# %%
import contextlib
import importlib
import inspect
import io
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib_inline.backend_inline import set_matplotlib_formats

import novograd_ref as ngr
from novograd_ref import vectors
from novograd_ref.conformance import (
    Adapter,
    explain,
    identify,
    implementation,
    verify_implementation,
)
from novograd_ref.testing import rtol

# Okabe-Ito colours, told apart with the common colour-vision deficiencies, as the
# default colour cycle (C0, C1, ... in the plots below).
plt.rcParams["axes.prop_cycle"] = plt.cycler(color=[
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
    "#F0E442"])
# Figures at most 7.2 inches wide at 100 dpi, so that they fit the documentation's
# column at their own size, with text of at least 9 points; drawn with twice the pixels
# ("retina") for sharp lines on high-density screens, shown at the same size.
plt.rcParams.update({"figure.dpi": 100, "font.size": 10, "legend.fontsize": 9,
                     "xtick.labelsize": 9, "ytick.labelsize": 9})
set_matplotlib_formats("retina")

# %% [markdown]
# ## The contract
#
# Every implementation the kit can check, the oracle's presets, real frameworks and
# your port alike, is driven through one small protocol:

# %%
print(inspect.cleandoc(Adapter.__doc__))
print()
for method in ("init", "update"):
    print(f"{method}{inspect.signature(getattr(Adapter, method))}")

# %% [markdown]
# Two more things make a port checkable:
#
# - a **factory**, `module:function`, that builds the adapter from keyword arguments;
#   the checker calls it once per test case with the keywords of the implementation you
#   compare against (`--preset optax` passes optax's `b1, b2, eps, eps_root,
#   weight_decay`), so the port has to accept them;
# - the module must be importable (on `sys.path`, or `PYTHONPATH` for the command line).
#
# ## The port
#
# optax's conventions, from notebook 1: $v_1 = \lVert g_1 \rVert^2$ on the first step,
# then $v_t = \beta_2 v_{t-1} + (1-\beta_2)\lVert g_t \rVert^2$;
# $u_t = g_t / (\sqrt{v_t + \epsilon_{root}} + \epsilon) + \lambda p$; $m_1 = u_1$, then
# $m_t = \beta_1 m_{t-1} + u_t$; $p \leftarrow p - \eta_t m_t$. Everything is computed
# in the parameters' dtype, as optax does. The source goes into a fresh temporary
# directory, which is put on `sys.path`.

# %%
PORT = '''\
"""NovoGrad with optax's conventions, in NumPy: a port to be checked."""

import numpy as np


class NovoGradPort:
    name = "novograd-port"

    def __init__(self, b1=0.9, b2=0.25, eps=1e-6, eps_root=0.0, weight_decay=0.0):
        self.hyper = (b1, b2, eps, eps_root, weight_decay)

    def init(self, params, learning_rate):
        params = {k: np.array(p, copy=True) for k, p in params.items()}
        return {"t": 0, "lr": learning_rate, "params": params,
                "m": {k: np.zeros_like(p) for k, p in params.items()},
                "v": {k: np.zeros((), p.dtype) for k, p in params.items()}}

    def update(self, grads, state):
        t, lr = state["t"], state["lr"]
        rate = lr[t] if np.ndim(lr) else lr          # a table holds one rate per step
        new = {"t": t + 1, "lr": lr, "params": {}, "m": {}, "v": {}}
        for k, p in state["params"].items():
            b1, b2, eps, eps_root, wd = (p.dtype.type(h) for h in self.hyper)
            g = grads[k]
            s = np.sum(g * g)                            # one number per layer
            if t == 0:
                v = s                                    # v_1 = |g_1|^2
            else:
                v = b2 * state["v"][k] + (1 - b2) * s
            u = g / (np.sqrt(v + eps_root) + eps) + wd * p
            m = u if t == 0 else b1 * state["m"][k] + u
            new["params"][k] = p - p.dtype.type(rate) * m
            new["m"][k], new["v"][k] = m, v
        return new["params"], new


def make(**kwargs):
    return NovoGradPort(**kwargs)
'''

workdir = Path(tempfile.mkdtemp(prefix="novograd_port_"))
(workdir / "novograd_port.py").write_text(PORT)
sys.path.insert(0, str(workdir))
port = importlib.import_module("novograd_port")
print(f"wrote {workdir / 'novograd_port.py'} ({len(PORT.splitlines())} lines)")

# %% [markdown]
# A first sanity check by hand: the optax docstring example, five steps on
# $f(x) = \sum x^2$ from $(1, 2, 3)$, must give the float64 objective values of
# notebook 1.

# %%
adapter = port.make()
x = {"x": np.array([1.0, 2.0, 3.0])}
state = adapter.init(x, 0.003)
for _ in range(5):
    x, state = adapter.update({"x": 2 * x["x"]}, state)
    print(f"{float(np.sum(x['x'] ** 2))!r}")

# %% [markdown]
# ## Checking it from Python
#
# `implementation("novograd_port:make")` looks the factory up by name, exactly as the
# command line does, and returns what the checker drives.
# `verify_implementation(impl, preset)` runs the port on every standard case
# that the preset's keywords can express (constant and scheduled learning rates, weight
# decay, tiny and huge gradients, zero first gradients, mixed leaf shapes...), in float64
# and float32. For each case it records the gradients the port was fed and replays them
# through the oracle's preset, so only the optimizers are compared. The error of a case
# is computed **per leaf**: each leaf's largest difference over all steps, divided by
# that leaf's own largest magnitude in the reference trajectory; the case reports the
# worst leaf (`novograd_ref.conformance.judging._divergence.peak`, read from the kit's source).
# The tolerance depends on the dtype.

# %%
def show(report):
    print(f"{'case':24s} {'dtype':8s} {'rel. error':>10s} {'ulps':>8s} {'tolerance':>9s}  result")
    for c in report.comparisons:
        result = (f"FAIL (from step {c.divergence.step}, peak: leaf {c.leaf}, step {c.step})"
                  if c.status == "mismatch" else c.status)
        print(f"{c.case:24s} {c.dtype:8s} {c.error:10.2e} {c.shown_ulps:>8s} "
              f"{c.tolerance:9.1e}  {result}")
    summary = report.summary()
    print(f"\n{summary['passed']} passed, {summary['failed']} failed, "
          f"{summary['skipped']} skipped: {summary['verdict']}")


impl = implementation("novograd_port:make")
report = verify_implementation(impl, "optax")
show(report)
assert report.passed

# %% [markdown]
# Every case passes. `identify` asks the converse question: built with optax's keywords,
# which presets does the port reproduce on every case both can express? A port that
# names itself "NovoGrad" may well be another variant, and this is how to find out which.
# Several presets can be listed: on the cases optax's keywords can express, some
# implementations are the same algorithm (notebook 2 shows where they part).

# %%
matches = identify(impl, "optax")
print("the port reproduces:", ", ".join(matches))
assert "optax" in matches

# %% [markdown]
# ## Checking it from the command line
#
# The same check as a command, the form to put into a port's CI. The command is
# `novograd-ref verify --impl novograd_port:make --preset optax`, with the port's
# directory on `PYTHONPATH`; the exit status is 0 when everything matches and 1 on a
# mismatch.

# %%
def novograd_ref_cli(*args):
    """Run the novograd-ref command in a subprocess, with the port importable."""
    script = Path(sys.executable).with_name("novograd-ref")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "novograd_ref.cli"]
    env = {**os.environ, "PYTHONPATH": str(workdir)}
    done = subprocess.run([*command, *args], capture_output=True, text=True, env=env,
                          cwd=workdir, check=False)
    return done.returncode, done.stdout + done.stderr


status, output = novograd_ref_cli("verify", "--impl", "novograd_port:make", "--preset", "optax",
                                  "--dtype", "float64")
print("$ novograd-ref verify --impl novograd_port:make --preset optax --dtype float64\n")
print(output)
print(f"exit status {status}")
assert status == 0

# %% [markdown]
# ## Breaking it on purpose
#
# Three bugs that real ports have shipped with (the first two now, the third after
# `explain` is introduced):
#
# 1. **$\epsilon$ inside the square root**: `np.sqrt(v + eps)` instead of
#    `np.sqrt(v) + eps` (OpenSeq2Seq does this by design; in a port of optax it is a bug).
#    Since $v \approx \lVert g \rVert^2$ and
#    $\sqrt{v + \epsilon} = \sqrt{v}\,\bigl(1 + \tfrac{\epsilon}{2v} - \ldots\bigr)$,
#    it shrinks the step by a relative amount $\epsilon / (2 \lVert g \rVert^2)$
#    (the $\epsilon$ outside the root only adds $\epsilon / \lVert g \rVert$, far
#    smaller), and changes it completely when $\lVert g \rVert$ is not large compared
#    with $\sqrt{\epsilon}$.
# 2. **The second moment starting from zero**: blending $v$ from the first step,
#    $v_1 = \beta_2 \cdot 0 + (1 - \beta_2)\lVert g_1 \rVert^2$, as Adam does, instead
#    of initializing it with $\lVert g_1 \rVert^2$. The first step is then
#    $1/\sqrt{1-\beta_2}$ times too large, and the error decays only slowly.
#
# Each bug is a one-line edit of the source, saved as a module of its own.

# %%
BUGS = {
    "port_eps_inside": ("u = g / (np.sqrt(v + eps_root) + eps) + wd * p",
                        "u = g / np.sqrt(v + eps_root + eps) + wd * p"),
    "port_v_from_zero": ("v = s                                    # v_1 = |g_1|^2",
                         "v = (1 - b2) * s                         # blended from v_0 = 0"),
}
for module, (good, bad) in BUGS.items():
    assert PORT.count(good) == 1
    (workdir / f"{module}.py").write_text(PORT.replace(good, bad))
    print(f"{module}.py:\n  - {good}\n  + {bad}")

# %% [markdown]
# ### Bug 1: $\epsilon$ inside the root

# %%
broken = implementation("port_eps_inside:make")
report = verify_implementation(broken, "optax")
show(report)
failed = sorted((c for c in report.comparisons if c.status == "mismatch"), key=lambda c: -c.error)
print("\nlargest errors:", ", ".join(f"{c.case}/{c.dtype} {c.error:.2g}" for c in failed[:4]))
print("identify: the broken port reproduces",
      ", ".join(identify(broken, "optax")) or "no preset")

# %% [markdown]
# The float64 check is strict, a tolerance of about $10^{-12}$ relative, so an error of
# order $\epsilon / (2 \lVert g \rVert^2)$ fails most float64 cases. The float32 check can only
# see differences above float32 rounding, and there the bug shows on fewer cases. The
# largest errors, in both dtypes, are in the cases built to make $\epsilon$ matter (a
# large $\epsilon$, tiny gradients): that is where to look first.
#
# Every failure says where it starts (its first divergence: the earliest step, leaf and
# element beyond the tolerance) apart from where it peaks, shows that step of that leaf
# with the differing elements marked, and carries a **reproducer**, a self-contained
# Python snippet that rebuilds the implementation and the oracle with the case's
# keywords, runs both on the case, and prints the same excerpt. Here is the largest
# failure.

# %%
worst = failed[0]
print(f"{worst.label}: {worst.first_and_peak()}\n")
print(worst.excerpt, end="\n\n")
print(worst.reproducer)


# %% [markdown]
# The reproducer is plain Python: save it to a file and run it. Run as a script, it
# leaves the two trajectories in the variables `got` (the implementation) and `want`
# (the oracle), one array of shape `(steps + 1, *leaf_shape)` per leaf, which is all one
# needs to see where the port goes wrong.

# %%
def run_reproducer(snippet):
    script = workdir / "reproducer.py"
    script.write_text(snippet)
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        namespace = runpy.run_path(str(script))
    print(f"(python {script.name} printed {len(printed.getvalue().splitlines())} lines)")
    return namespace["got"], namespace["want"]


def leaf_scale(want, k):
    """The largest magnitude of leaf k in the reference trajectory (steps 1 ... T)."""
    return np.max(np.abs(want[k][1:]))


def relative_gap(got, want):
    """Per step: the worst leaf's max |port - oracle|, relative to that leaf's scale,
    the kit's definition; the maximum over steps is the error in the check's table."""
    steps = len(next(iter(want.values())))
    return np.array([max(np.max(np.abs(got[k][t] - want[k][t])) / leaf_scale(want, k)
                         for k in want) for t in range(1, steps)])


def global_gap(got, want):
    """Per step: max |port - oracle| over all leaves, relative to the largest magnitude
    over all leaves (one scale for the whole tree: small leaves weigh little)."""
    scale = max(leaf_scale(want, k) for k in want)
    steps = len(next(iter(want.values())))
    return np.array([max(np.max(np.abs(got[k][t] - want[k][t])) for k in want) / scale
                     for t in range(1, steps)])


got, want = run_reproducer(worst.reproducer)
leaf = worst.leaf
for t in (1, 2, 5, 10, 15, 20):
    print(f"step {t:2d}  {leaf}: port {np.array2string(got[leaf][t].ravel()[:3], precision=8)}"
          f"  oracle {np.array2string(want[leaf][t].ravel()[:3], precision=8)}")


def reproducer_of(report, case, dtype="float64"):
    return next(c.reproducer for c in report.comparisons if c.case == case and c.dtype == dtype)


const_got, const_want = run_reproducer(reproducer_of(report, "const_lr"))
gap_eps = relative_gap(const_got, const_want)

# %% [markdown]
# The reproducer of `const_lr` (float64, $\epsilon = 10^{-8}$) lets us test the
# prediction leaf by leaf. The port moves $\epsilon$ from outside the root to inside, so
# to first order its step differs from optax's by the relative amount
# $\epsilon/(2\lVert g\rVert^2) - \epsilon/\lVert g\rVert$ (inside: the step shrinks by
# the first term; outside: optax's shrinks by the second). The table puts, for each leaf,
# the first gradient's norm (from the case file), the two terms, their difference, the
# relative difference of the first step measured on the trajectories, and the error the
# check reports for that leaf (a *parameter* error, relative to the leaf's largest value).

# %%
const_case = vectors.load_case("const_lr")
eps_case = const_case.hyper["eps"]
first_grads = const_case.grads_at(0, const_case.params0_as("float64"))
print(f"{'leaf':6s} {'|g_1|':>9s} {'eps/(2|g|^2)':>13s} {'eps/|g|':>9s} {'difference':>11s}"
      f" {'step 1 measured':>16s} {'leaf error':>11s}")
for name, g1 in first_grads.items():
    norm = float(np.linalg.norm(g1))
    inside, outside = eps_case / (2 * norm**2), eps_case / norm
    step_port = const_got[name][1] - const_got[name][0]
    step_optax = const_want[name][1] - const_want[name][0]
    step_change = np.linalg.norm(step_port - step_optax) / np.linalg.norm(step_optax)
    leaf_error = np.max(np.abs(const_got[name][1:] - const_want[name][1:])) / leaf_scale(
        const_want, name)
    print(f"{name:6s} {norm:9.4g} {inside:13.3g} {outside:9.2g} {abs(inside - outside):11.3g}"
          f" {step_change:16.3g} {leaf_error:11.3g}")

# %% [markdown]
# The first-step change matches the prediction on every leaf. On the small leaf `bias`
# ($\lVert g \rVert \approx 0.019$) the inside term dominates, $\epsilon/(2\lVert g
# \rVert^2) \approx 1.4 \times 10^{-5}$, and since that leaf moves by about its own size
# over the run, its parameter error (the table's $1.38 \times 10^{-5}$) is the same
# number; an $\epsilon/\lVert g \rVert$ rule would have predicted $5 \times 10^{-7}$. On
# the larger leaves the outside term is the larger one, and their parameter errors are
# smaller than the step change because their steps are small beside their values.

# %% [markdown]
# ### Asking `explain` what is wrong
#
# The table says *that* the port is wrong and where the error peaks; it does not say
# *what* is wrong. `explain` answers that by experiment: it runs the port on the
# standard cases and on small designed probes, then searches the switches of `Config`
# (starting from every preset) for a configuration that reproduces the port on all of
# them. Its first lines are the answer; the details (every probe's reading with its
# evidence, every run) follow.

# %%
found = explain(implementation("port_eps_inside:make"), "optax")
print(found.summary())
assert found.verdict == "reproduced"
assert {d["switch"] for d in found.differences} == {"eps", "eps_root"}

# %% [markdown]
# The port is not optax, but it *is* a NovoGrad: optax's configuration with `eps` moved
# inside the square root (`eps=0.0, eps_root=1e-08`), the convention OpenSeq2Seq uses
# on purpose. The `ngr.novograd(...)` line is exact: the reference reproduces the
# broken port with it, so the bug is located to the one line that adds `eps`.
#
# ### Bug 2: the second moment starting from zero

# %%
broken = implementation("port_v_from_zero:make")
report = verify_implementation(broken, "optax")
show(report)
print("identify: the broken port reproduces",
      ", ".join(identify(broken, "optax")) or "no preset")
print("passing cases:", ", ".join(sorted({c.case for c in report.comparisons if c.passed})))
gap_zero = relative_gap(*run_reproducer(reproducer_of(report, "const_lr")))

# %% [markdown]
# This bug fails almost every case by a wide margin. The cases that pass are those where
# it cannot show: with $\beta_2 = 0$ (`b2_zero`) there is nothing to blend, and with
# gradients of order $10^{-22}$ (`tiny_grads`) $\epsilon$ dominates the denominator
# whatever $v$ is. The plot compares bugs 1 and 2 on an everyday case, `const_lr` in
# float64, step by step, with two normalizations of the error: **per leaf** (solid: each
# leaf's difference over its own largest magnitude, the definition of the check's
# table, so the last point of each solid curve is that bug's `const_lr` row) and
# **global** (dashed: one scale, the largest magnitude of the whole tree). They differ
# when the worst leaf is a small one: `const_lr`'s leaf `bias` has a single element
# whose gradient norm is about 0.02, against 3 to 10 for the other leaves.

# %%
gap_zero_global = global_gap(*run_reproducer(reproducer_of(report, "const_lr")))
zero_row = next(c for c in report.comparisons if c.case == "const_lr" and c.dtype == "float64")
print(f"v from zero, const_lr float64: the table says {zero_row.error:.3g} (leaf "
      f"{zero_row.leaf!r}); per-leaf curve at its peak {gap_zero.max():.3g}; global curve "
      f"at its peak {gap_zero_global.max():.3g}")

fig, ax = plt.subplots(figsize=(7.2, 4.2))
steps = np.arange(1, len(gap_eps) + 1)
ax.semilogy(steps, np.maximum(gap_eps, 1e-17), "o-", color="#0072B2",
            label="eps inside the root (per leaf)")
ax.semilogy(steps, np.maximum(gap_zero, 1e-17), "s-", color="#D55E00",
            label="v starting from zero (per leaf)")
ax.semilogy(steps, np.maximum(gap_zero_global, 1e-17), "s--", color="#D55E00", mfc="none",
            label="v starting from zero (global scale)")
ax.axhline(rtol("float64", "framework"), color="k", ls=":", label="tolerance (float64)")
ax.set_xlabel("step")
ax.set_ylabel("max |port - oracle| / scale (dimensionless)")
ax.set_title("Bugs 1 and 2 on case 'const_lr' (float64)")
ax.legend(fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# Both normalizations tell the same story: $\epsilon$ inside the root stays within
# about $10^{-5}$, invisible in a loss curve but millions of times the tolerance, while
# the zero start is off from step 1 and grows. Read per leaf, the small leaf `bias` has
# moved more than twice its own size off course by step 10 (the table's figure); read on
# the tree's scale, the same difference is about half of the largest weight. A report that
# quotes an error should say which of the two it is.

# %% [markdown]
# `explain` names this one too, in the porter's terms:

# %%
found = explain(implementation("port_v_from_zero:make"), "optax")
print(found.summary())
assert [(d["switch"], d["port"]) for d in found.differences] == [("second_moment_init", "zero")]

# %% [markdown]
# ### Bug 3: normalizing per element
#
# A port that writes `s = g * g` where `np.sum(g * g)` belongs keeps one second moment
# per *element*: each coordinate is divided by the root of its own exponential moving
# average of $g_i^2$. That is per-coordinate normalization, RMSprop's (or Adam's without
# bias correction, with momentum on the normalized gradient), not NovoGrad. Only on the
# first step ($v_1 = g_1^2$), or when the gradients are constant, is each element
# divided by its own $\lvert g_i \rvert$, so that the step is $\eta\,\mathrm{sign}(g)$. No switch of `Config` describes it, so
# `explain` reports it as an anomaly, with the evidence of the probe that isolates it
# (constant gradients: a per-layer NovoGrad moves a layer along its gradient; this port
# moves every element by the same amount), and still names the nearest preset.

# %%
good, bad = "s = np.sum(g * g)                            # one number per layer", \
    "s = g * g                                    # one number per element"
assert PORT.count(good) == 1
(workdir / "port_per_element.py").write_text(PORT.replace(good, bad))
found = explain(implementation("port_per_element:make"), "optax")
print(found.summary())
normalization = next(p for p in found.probes if p["convention"] == "normalization scope")
for item in normalization["evidence"]:
    print(f"  evidence: {item['run']}, step {item['step']}, leaf {item['leaf']}: "
          f"{item['note']}")
assert [a["code"] for a in found.anomalies] == ["elementwise_normalization"]
assert found.nearest == "optax"

# %% [markdown]
# The command line gives the same diagnosis (`novograd-ref explain --impl
# port_v_from_zero:make --preset optax`, with `--json FILE` for a machine-readable copy,
# schema in `docs/explain.md`). For CI, `verify` remains the check: it lists every case
# with where it first diverges and where it peaks, prints the smallest failing input
# marked with its reproducer, and exits with status 1, which is what fails a CI job.

# %%
status, output = novograd_ref_cli("verify", "--impl", "port_v_from_zero:make", "--preset",
                                  "optax", "--dtype", "float64")
print("$ novograd-ref verify --impl port_v_from_zero:make --preset optax --dtype float64\n")
print(output)
print(f"exit status {status}")
assert status == 1

# %% [markdown]
# ## The library agrees with the port
#
# Finally, the good port and `ngr.presets.optax` side by side on one problem with a
# schedule and weight decay, directly through the library's optimizer API.

# %%
rng = np.random.default_rng(0)
params = {"w": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}
grads_seq = [{k: rng.normal(size=p.shape) for k, p in params.items()} for _ in range(25)]
rates = np.linspace(0.01, 0.001, 25)

opt = ngr.presets.optax(lambda count: rates[count], weight_decay=1e-3)
ours, state = params, opt.init(params)
adapter = port.make(weight_decay=1e-3)
theirs, port_state = params, adapter.init(params, rates)
for grads in grads_seq:
    updates, state = opt.update(grads, state, ours)
    ours = ngr.apply_updates(ours, updates)
    theirs, port_state = adapter.update(grads, port_state)
for k in params:
    np.testing.assert_allclose(theirs[k], ours[k], rtol=1e-13, atol=0)
print("port and library agree after 25 steps:",
      {k: f"{np.max(np.abs(theirs[k] - ours[k])):.1e}" for k in params})

# %% [markdown]
# ## A porting checklist
#
# The kit checks a port on whole parameter trees in one process. Real training code
# adds three complications that no single-process test sees; each is worth a line in a
# port's review. The kit's adapters for real frameworks, in
# `novograd_ref/conformance/frameworks/` (one module per framework: `optax.py`,
# `tfa.py`, `openseq2seq.py`, `nemo.py`, `timm.py`, `torch_optimizer.py`,
# `pytorch_optimizer.py`), show how each of those frameworks is driven leaf by leaf, and
# are the models to copy for a new one.
#
# 1. **What is a layer?** NovoGrad keeps one second moment per *parameter tensor as the
#    paper's model defines it*. Code that stacks the layers of a repeated block into one
#    array (a `scan` over layers, shape `(L, ...)`), flattens all parameters into one
#    buffer (fused multi-tensor kernels), or shards a tensor across devices (tensor
#    parallelism, ZeRO/FSDP) changes what one array holds. Stacked: normalize each slice
#    `[l]` separately, or the layers share one norm. Flattened: keep the tensor
#    boundaries. Sharded: every device holds part of a layer, so the squared norm is a
#    **sum over shards**, and needs an all-reduce before the square root; a per-shard
#    norm gives each shard a unit step of its own.
# 2. **float16 norms overflow.** float16's largest finite value is 65504, so
#    $\lVert g \rVert^2$ computed in float16 is infinite as soon as $\lVert g \rVert$
#    reaches $\sqrt{65504} \approx 256$, and the step becomes $g/\infty = 0$ (or NaN).
#    Accumulate the squared norm, and keep $v$, in float32 (the kit's case
#    `f32_norm_overflow` is the float32 version of the same trap, at $|g| \approx 1.8
#    \times 10^{19}$).
# 3. **Loss scaling comes off before the norm enters $v$.** Mixed-precision training
#    multiplies the loss, hence every gradient, by a scale $S$ that a dynamic scaler
#    halves or doubles during training. One step's $g/\sqrt{v}$ does not care about a
#    constant $S$, but $v$ is a moving average *across* steps: if $S$ changes, $v$
#    mixes gradients of two scales and the steps shrink or grow until it forgets.
#    Unscale the gradients first (and skip the step on an overflow, before $v$ is
#    touched).
#
# The cell shows each point numerically: a layer split into 4 shards, a float16 norm
# at $\lVert g \rVert = 256$, and a loss scale halved mid-run.

# %%
rng = np.random.default_rng(7)
g_layer = rng.normal(size=1000)
shards = np.split(g_layer, 4)
per_shard = np.concatenate([s / np.linalg.norm(s) for s in shards])
all_reduced = np.sqrt(sum(np.sum(s * s) for s in shards))  # the all-reduce of squared norms
print(f"1. sharded layer, first normalized step: per-shard norms give |u| = "
      f"{np.linalg.norm(per_shard):.3f} (one unit step per shard); the all-reduced norm "
      f"gives |u| = {np.linalg.norm(np.concatenate(shards) / all_reduced):.3f}")

for norm in (255.0, 256.0):
    g16 = np.full(4, norm / 2, dtype=np.float16)  # |g| = norm
    with np.errstate(over="ignore"):
        s16 = np.sum(g16 * g16, dtype=np.float16)
    s32 = np.sum(g16.astype(np.float32) ** 2)
    print(f"2. |g| = {norm:.0f}: squared norm in float16 = {s16}, in float32 = {s32:.0f}; "
          f"step g/sqrt(S) in float16 = {(g16 / np.sqrt(s16))[0]}")



def step_lengths_under_scaling(unscale):
    """Step lengths of 200 steps when the loss scale halves at step 21."""
    opt = ngr.novograd(1.0, b1=0.0, b2=0.98, eps=0.0)
    p = {"w": np.zeros(3)}
    state, lengths = opt.init(p), []
    for t in range(200):
        scale = 1024.0 if t < 20 else 512.0  # the dynamic scaler halves S at step 21
        g = scale * np.array([0.1, -0.2, 0.3])
        step, state = opt.update({"w": g / scale if unscale else g}, state, p)
        lengths.append(np.linalg.norm(step["w"]))
    return np.array(lengths)


lengths = step_lengths_under_scaling(unscale=False)
clean = step_lengths_under_scaling(unscale=True)
print(f"3. loss scale halved at step 21, scaled gradients fed to v: step length "
      f"{lengths[19]:.3f} at step 20, {lengths[20]:.3f} at step 21, {lengths[69]:.3f} at "
      f"step 70, {lengths[199]:.3f} at step 200; unscaled first: every step between "
      f"{clean.min():.3f} and {clean.max():.3f}")

# %% [markdown]
# ## Exercise
#
# **Exercise 5.** A port of a model-parallel training script computes one norm over the
# whole parameter tree instead of one per layer: `s` is the sum of $\lVert g \rVert^2$
# over *all* leaves. On which standard cases can this bug hide, what does it do to a
# small layer sitting beside a large one, and what will `explain` call it? Write the
# broken port and check your answer.
#
# *Solution.* With one norm for the tree, each leaf's step is its share of a single unit
# vector: a leaf whose gradient is small beside another's barely moves. On `const_lr`'s
# first step, `bias` ($\lVert g \rVert \approx 0.02$ beside leaves of norm 3 to 10)
# moves by $\lVert g_{bias} \rVert / \lVert g_{tree} \rVert$ of the rate instead of the
# whole rate, several hundred times less (computed below). The bug can hide where the
# tree has a single leaf, or where $\epsilon$ dominates every denominator (tiny
# gradients). No switch of `Config` describes it, so `explain` reports an anomaly,
# `global_normalization`.

# %%
good = "s = np.sum(g * g)                            # one number per layer"
bad = "s = sum(np.sum(h * h) for h in grads.values())  # one number for the tree"
(workdir / "port_global_norm.py").write_text(PORT.replace(good, bad))
found = explain(implementation("port_global_norm:make"), "optax")
print(found.summary().splitlines()[0])
print("anomalies:", [a["code"] for a in found.anomalies])
broken_report = verify_implementation(implementation("port_global_norm:make"), "optax")
still_passing = sorted({c.case for c in broken_report.comparisons if c.passed})
print("cases that pass despite the bug:", ", ".join(still_passing) or "none")
tree_norm = np.sqrt(sum(np.sum(g * g) for g in first_grads.values()))
print(f"const_lr step 1: leaf bias moves {np.linalg.norm(first_grads['bias']) / tree_norm:.2e}"
      f" of the rate instead of 1, {tree_norm / np.linalg.norm(first_grads['bias']):.0f} times"
      " less")
assert [a["code"] for a in found.anomalies] == ["global_normalization"]

# %%
sys.path.remove(str(workdir))
shutil.rmtree(workdir)

# %% [markdown]
# ## On your own
