# %% [markdown]
# # One algorithm, many implementations
#
# NovoGrad has been implemented at least a dozen times: in optax, TensorFlow Addons,
# NVIDIA's OpenSeq2Seq, Apex, NeMo and Jasper code, timm, torch-optimizer,
# pytorch_optimizer, MONAI, flashlight... They are all called "NovoGrad", and with
# everyday settings most of them compute the same thing. This notebook looks for the
# places where they do not, and measures how far apart they end up.
#
# **What you will do**
#
# - Run every preset of `novograd_ref` (each one is a published implementation, built
#   with that implementation's own constructor keywords) on one problem.
# - Take the differences apart one at a time: a zero first gradient, a learning-rate
#   schedule, grad averaging on the first step, where $\epsilon$ goes, OpenSeq2Seq's
#   graph mode, and Apex's defaults.
# - Check the presets against trajectories recorded from the real frameworks where such
#   recordings exist (optax, TensorFlow Addons, OpenSeq2Seq, NeMo, timm, torch-optimizer,
#   pytorch_optimizer; they ship with the package in `novograd_ref.vectors`). The presets
#   of Apex, flashlight, Clara, DLE and MONAI have **no recording**: they are written from
#   a reading of those projects' source, and every statement about them below is marked
#   as read from source.
#
# **What you will learn**
#
# - Which implementations are the same algorithm, and which only share its name.
# - Which convention to look for when a port "almost" matches.
#
# **What you will need**
#
# - Notebook 1 (the recurrence), NumPy and matplotlib, `novograd_ref` installed
#   (`pip install -e ".[notebooks]"`). No framework needs to be installed: the recorded
#   trajectories are part of the package.
# - Time: about 10 seconds on one CPU core (the test suite allows each cell 300 s).

# %%
import textwrap

import matplotlib.pyplot as plt
import numpy as np
from matplotlib_inline.backend_inline import set_matplotlib_formats

import novograd_ref as ngr
from novograd_ref import vectors

np.set_printoptions(precision=4)

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
# ## The presets
#
# `ngr.presets.names()` lists them. Each preset is a function with the signature of the
# constructor it reproduces, so a configuration can be copied verbatim from a training
# script: `ngr.presets.nemo(lr=..., betas=(...))`,
# `ngr.presets.tfa(learning_rate=..., beta_1=...)`,
# `ngr.presets.flashlight(learningRate=...)`. What each one resolves to is printed by its
# `config`: every field that differs from the paper's conventions.

# %%
for name in ngr.presets.names():
    preset = ngr.presets.get(name)
    try:
        opt = preset()
    except TypeError:  # a few take the learning rate without a default
        opt = preset(0.01)
    print(f"{name:18s} {opt.config}")

# %% [markdown]
# Even the defaults differ: $\beta_2$ is 0.25 in optax, 0 in torch-optimizer, 0.98 in
# NeMo and 0.999 in TFA and Apex.
#
# ## What is recorded, and what is read from source
#
# A preset is only as good as the evidence behind it. For some frameworks the package
# ships trajectories recorded by running the framework itself; the others were written
# from their source code and have never been run against it here. The cell below lists
# which is which, from the package's own index of recordings.

# %%
recorded_cases = {}
for entry in vectors.record_entries():
    recorded_cases.setdefault(entry["preset"], set()).add(entry["case"])
for name in ngr.presets.names():
    cases = recorded_cases.get(name)
    evidence = (f"recorded from the framework on {len(cases)} cases" if cases else
                "the paper itself (the reference)" if name == "paper" else
                "NO recording: written from a reading of its source")
    print(f"{name:18s} {evidence}")

# %% [markdown]
# Below, a statement about a preset that has recordings is checked against them in the
# notebook; a statement about Apex, flashlight, Clara, DLE or MONAI describes what their
# source says, as the preset implements it, and is marked "(read from source)". Set the hyperparameters equal, though, and the
# question becomes whether the *algorithms* agree.
#
# ## Every preset on one problem
#
# A three-layer quadratic, $f(p) = \sum_l \tfrac{c_l}{2} \lVert p_l - t_l \rVert^2$,
# with curvatures $c_l$ of 1, 10 and 100, run for 150 steps with the same
# hyperparameters given to every preset in its own keywords: learning rate 0.01,
# $\beta_1 = 0.95$, $\beta_2 = 0.98$, $\epsilon = 10^{-8}$. OpenSeq2Seq, Clara and Apex
# keep their second moment in float32 whatever the parameters are; `state_dtype=None`
# makes them follow the float64 parameters here, and `hyper_dtype=None` keeps the
# hyperparameters that Apex's and flashlight's C `float` arguments would round to
# float32 as written, so that only the algorithms differ.

# %%
lr, b1, b2, eps = 0.01, 0.95, 0.98, 1e-8
P = ngr.presets
PRESETS = {
    "paper": P.paper(lr, b1=b1, b2=b2, eps=eps),
    "optax": P.optax(lr, b1=b1, b2=b2, eps=eps),
    "tfa": P.tfa(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps),
    "nemo": P.nemo(lr=lr, betas=(b1, b2), eps=eps),
    "timm": P.timm(lr=lr, betas=(b1, b2), eps=eps),
    "torch_optimizer": P.torch_optimizer(lr=lr, betas=(b1, b2), eps=eps),
    "dle": P.dle(lr=lr, betas=(b1, b2), eps=eps),
    "monai": P.monai(lr=lr, betas=(b1, b2), eps=eps),
    "pytorch_optimizer": P.pytorch_optimizer(lr=lr, betas=(b1, b2), eps=eps),
    "apex (reg_inside_moment, no bias correction, no averaging)": P.apex(
        lr=lr, betas=(b1, b2), eps=eps, reg_inside_moment=True, bias_correction=False,
        grad_averaging=False, state_dtype=None, hyper_dtype=None),
    "openseq2seq (eager)": P.openseq2seq(learning_rate=lr, beta1=b1, beta2=b2, epsilon=eps,
                                         mode="eager", state_dtype=None),
    "openseq2seq (graph)": P.openseq2seq(learning_rate=lr, beta1=b1, beta2=b2, epsilon=eps,
                                         mode="graph", state_dtype=None),
    "clara (use_nesterov)": P.clara(learning_rate=lr, beta1=b1, beta2=b2, epsilon=eps,
                                    use_nesterov=True, state_dtype=None),
    "flashlight": P.flashlight(learningRate=lr, beta1=b1, beta2=b2, epsilon=eps,
                               hyper_dtype=None),
    "apex (defaults)": P.apex(lr=lr, betas=(b1, b2), eps=eps, state_dtype=None,
                              hyper_dtype=None),
}

rng = np.random.default_rng(0)
shapes = {"dense": (4, 5), "vector": (7,), "bias": (1,)}
curvature = {"dense": 1.0, "vector": 10.0, "bias": 100.0}
target = {k: rng.normal(size=s) for k, s in shapes.items()}
start = {k: rng.normal(size=s) for k, s in shapes.items()}


def loss(p):
    return sum(curvature[k] / 2 * np.sum((p[k] - target[k]) ** 2) for k in p)


def grad(p):
    return {k: curvature[k] * (p[k] - target[k]) for k in p}


def train(opt, steps=150):
    """Parameter trajectory (steps + 1 entries) of opt on the quadratic."""
    p, state = start, opt.init(start)
    path = [p]
    for _ in range(steps):
        updates, state = opt.update(grad(p), state, p)
        p = ngr.apply_updates(p, updates)
        path.append(p)
    return path


paths = {name: train(opt) for name, opt in PRESETS.items()}


def flat(p):
    return np.concatenate([p[k].ravel() for k in shapes])


def deviation(path, reference):
    """max over steps of |p - p_ref|_inf / |p_ref|_inf."""
    return max(np.max(np.abs(flat(a) - flat(b))) / np.max(np.abs(flat(b)))
               for a, b in zip(path[1:], reference[1:]))


deviations = {name: deviation(path, paths["paper"]) for name, path in paths.items()}
for name, dev in sorted(deviations.items(), key=lambda item: item[1]):
    verdict = ("same algorithm (rounding only)" if dev < 1e-13 else
               "same up to eps placement" if dev < 1e-6 else "a different algorithm")
    print(f"{name:60s} max relative deviation from the paper {dev:8.1e}   {verdict}")
same = [name for name, dev in deviations.items() if dev < 1e-13]
print(f"{len(same)} presets follow the paper's trajectory to rounding: {', '.join(same)}")

# %%
# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies),
# with a line style each as well.
PALETTE = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7"]
STYLES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (3, 1)), (0, (1, 1))]
NO_RECORDING = ("apex", "flashlight", "clara", "dle", "monai")


def short(name):
    return name.split(" (")[0]


# Curves that coincide are drawn once: the group of presets within rounding of the
# paper, then every other preset on its own.
groups = [[n for n, d in deviations.items() if d < 1e-13]]
groups += [[n] for n, d in deviations.items() if d >= 1e-13]


def group_label(members):
    names = [short(n) + (" (source)" if short(n) in NO_RECORDING else "") for n in members]
    if len(members) > 1:
        return f"{len(members)} identical: " + ", ".join(names)
    return members[0] + (" (read from source)" if short(members[0]) in NO_RECORDING else "")


fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7.2, 9.0), layout="constrained")
for k, members in enumerate(groups):
    path = paths[members[0]]
    color, style = PALETTE[k % len(PALETTE)], STYLES[k % len(STYLES)]
    width = 2.5 if len(members) > 1 else 1.5
    label = textwrap.fill(group_label(members), 80)  # a long list on several lines
    ax1.plot([loss(p) for p in path], linestyle=style, color=color, lw=width, label=label)
    gap = [np.max(np.abs(flat(a) - flat(b))) / np.max(np.abs(flat(b)))
           for a, b in zip(path[1:], paths["paper"][1:])]
    ax2.plot(range(1, len(path)), np.maximum(gap, 1e-17), linestyle=style, color=color,
             lw=width, label=label)
ax1.set_yscale("log")
ax1.set_xlabel("step")
ax1.set_ylabel("loss (dimensionless)")
ax1.set_title("Loss on the three-layer quadratic")
ax2.set_yscale("log")
ax2.set_xlabel("step")
ax2.set_ylabel(r"$\max|p - p_{paper}| \;/\; \max|p_{paper}|$ (floor $10^{-17}$)")
ax2.set_title("Distance from the paper's trajectory")
handles, labels = ax1.get_legend_handles_labels()
fig.legend(handles, labels, loc="outside lower center", ncol=1, fontsize=9, frameon=False)
plt.show()
print("drawn as one curve (identical to rounding):", ", ".join(groups[0]))

# %% [markdown]
# The presets listed on the last line above, the paper included, collapse onto one
# trajectory within float64 rounding, so they are drawn as one thick curve (on the right,
# it sits on the plot's floor, since most of them are exactly 0): with a constant
# learning rate, no grad averaging and a non-zero first gradient, they **are** the
# paper's algorithm. OpenSeq2Seq in eager mode follows at the level of $\epsilon$ (it puts
# $\epsilon$ inside the square root). The dashed ones are different algorithms, and their
# loss curves show it: OpenSeq2Seq in graph mode, and, read from source, Clara's Nesterov
# option, flashlight and Apex's defaults. The rest of the notebook takes the differences
# apart, each on the input that brings it out.
#
# Sections 1, 2, 3 and 5 replay a **recorded trajectory**: the parameters a real
# framework produced, step by step, with the gradients it was fed. Replaying those
# gradients through a preset isolates the optimizer from any feedback loop. Section 4
# ($\epsilon$) computes with the presets only, and section 6 (Apex) is **read from
# source**: there is no recording of Apex in the package, so what it shows is what the
# preset computes from the reading of `FusedNovoGrad`'s kernel, not a measurement of Apex.

# %%
def replay(opt, record):
    """Run opt on the gradients of a record; return its parameter trajectory per leaf."""
    params = {k: v[0] for k, v in record.params.items()}
    state = opt.init(params)
    path = {k: [v] for k, v in params.items()}
    for t in range(len(record.lr)):
        grads = {k: g[t] for k, g in record.grads.items()}
        updates, state = opt.update(grads, state, params)
        params = ngr.apply_updates(params, updates)
        for k, v in params.items():
            path[k].append(v)
    return {k: np.stack(v) for k, v in path.items()}


def recorded(framework, case, dtype="float64", tag=""):
    (entry,) = vectors.record_entries(framework=framework, case=case, dtype=dtype, tag=tag)
    return vectors.load_record(entry)


def step_norms(path, leaf):
    """|p_t - p_{t-1}| of one leaf, for t = 1 .. T."""
    moves = np.diff(path[leaf], axis=0).reshape(len(path[leaf]) - 1, -1)
    return np.linalg.norm(moves, axis=1)


def rel_error(path, record):
    return max(np.max(np.abs(path[k] - record.params[k])) / np.max(np.abs(record.params[k]))
               for k in record.params)


# %% [markdown]
# ## 1. A zero first gradient: "first step" or "while v is zero"?
#
# Each implementation initializes $v_1 = \lVert g_1 \rVert^2$ on its first step, but
# they disagree on what "first" means. optax counts steps (`count == 1`), TFA checks the
# optimizer's global `iterations == 0`; the PyTorch family (NeMo, timm, torch-optimizer,
# and, read from source, Jasper's code and MONAI) and OpenSeq2Seq copy the squared norm
# **whenever the stored $v$ is exactly zero**. As long as the first gradient is non-zero these are the same. When a
# layer receives no gradient at first (a frozen layer, an unused embedding row, a
# branch switched off during warm-up), they part ways:
#
# - counting steps: $v_1 = 0$, then $v_t = \beta_2 \cdot 0 + (1 - \beta_2) S_t$ on the
#   first non-zero gradient, a $v$ that is $1 - \beta_2$ times too small, so a first real
#   step $1/\sqrt{1 - \beta_2}$ times too large (7.1x with $\beta_2 = 0.98$);
# - "while zero": $v$ stays 0 and is set to $S_t$ on the first non-zero gradient; the
#   first real step has the usual unit size.
#
# The bundled case `zero_first_grads` gives leaf `late` zero gradients on steps 1 and 2.
# Here are the recordings of optax and NeMo on it, with the presets replayed on the same
# gradients.

# %%
case = vectors.case_entry("zero_first_grads")
print(case["description"])
rec_optax = recorded("optax", "zero_first_grads")
rec_nemo = recorded("nemo", "zero_first_grads")
kw_optax = rec_optax.entry["preset_kwargs"]
kw_nemo = rec_nemo.entry["preset_kwargs"]
print("optax constructed with", kw_optax, "\nNeMo constructed with ", kw_nemo)
rate = float(rec_optax.lr[0])
opt_optax = P.optax(rate, **kw_optax)
opt_nemo = P.nemo(lr=rate, **kw_nemo)
path_optax, path_nemo = replay(opt_optax, rec_optax), replay(opt_nemo, rec_nemo)
print(f"preset optax vs recorded optax: {rel_error(path_optax, rec_optax):.1e}")
print(f"preset nemo  vs recorded NeMo:  {rel_error(path_nemo, rec_nemo):.1e}")
print(f"recorded optax vs recorded NeMo:  {rel_error(rec_optax.params, rec_nemo):.1e}")
first = step_norms(rec_optax.params, "late")[2] / step_norms(rec_nemo.params, "late")[2]
print(f"leaf 'late', step 3 (its first non-zero gradient): optax's step / NeMo's step = "
      f"{first:.3f}; 1/sqrt(1 - b2) = {1 / np.sqrt(1 - kw_optax['b2']):.3f}")

# %%
fig, ax = plt.subplots(figsize=(7, 4))
steps = np.arange(1, len(rec_optax.lr) + 1)
for path, rec, label, color in ((path_optax, rec_optax, "optax", "C0"),
                                (path_nemo, rec_nemo, "NeMo", "C1")):
    ax.plot(steps, step_norms(path, "late"), color=color, label=f"preset {label}")
    ax.plot(steps, step_norms(rec.params, "late"), "o", color=color, mfc="none",
            label=f"recorded {label}")
ax.set_xlabel("step")
ax.set_ylabel(r"$\|p_t - p_{t-1}\|$ of leaf 'late'")
ax.set_title("Zero gradients on steps 1-2: the first real step")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# The first real step of optax is about 7 times NeMo's, exactly the
# $1/\sqrt{1-\beta_2}$ predicted, and the presets (lines) sit on the recordings
# (circles). The recorded case has only 15 steps, too few to see the gap close: it closes
# only as $v$'s moving average forgets its zero start, on a time scale of
# $1/(1-\beta_2) = 50$ steps. The presets can run longer than the recordings: here the
# two on a leaf like `late` for 300 steps (two zero gradients, then random ones), with
# the ratio of optax's step to NeMo's at a few steps.

# %%
rng_long = np.random.default_rng(1)
late_grads = [np.zeros(3), np.zeros(3)] + [rng_long.normal(size=3) for _ in range(298)]
long_sizes = {}
for label, opt in (("optax", opt_optax), ("nemo", opt_nemo)):
    p = {"late": np.zeros(3)}
    state, sizes = opt.init(p), []
    for g in late_grads:
        updates, state = opt.update({"late": g}, state, p)
        sizes.append(np.linalg.norm(updates["late"]))
    long_sizes[label] = np.array(sizes)
long_ratio = long_sizes["optax"][2:] / long_sizes["nemo"][2:]  # steps 3 ... 300
for t in (3, 4, 10, 25, 50, 100, 200, 300):
    print(f"step {t:3d}: optax's step / NeMo's step = {long_ratio[t - 3]:.3f}")
for within in (0.10, 0.01):
    print(f"optax's steps stay within {within:.0%} of NeMo's from step "
          f"{int(np.nonzero(np.abs(long_ratio - 1) > within)[0].max()) + 4} on")
#
# ## 2. Learning-rate schedules: TFA puts the rate inside the momentum
#
# Keras' momentum (which TFA's NovoGrad uses) accumulates the *scaled* step,
# $a_t = \beta_1 a_{t-1} - \eta_t u_t$, $p_t = p_{t-1} + a_t$; everyone else scales the
# moment at the end, $p_t = p_{t-1} - \eta_t m_t$ with $m_t = \beta_1 m_{t-1} + u_t$.
# With a constant rate the two are identical. With a schedule, TFA's step remembers the
# rates of past steps: smaller than the others while the rate warms up, larger while it
# decays.

# %%
print(vectors.case_entry("schedule_lr")["description"])
rec_tfa = recorded("tfa", "schedule_lr")
rec_torch = recorded("torch_optimizer", "schedule_lr")
table = rec_tfa.lr


def schedule(count):
    return float(table[count])


opt_tfa = P.tfa(learning_rate=schedule, **rec_tfa.entry["preset_kwargs"])
opt_torch = P.torch_optimizer(lr=schedule, **rec_torch.entry["preset_kwargs"])
path_tfa, path_torch = replay(opt_tfa, rec_tfa), replay(opt_torch, rec_torch)
print(f"preset tfa vs recorded TFA:                         {rel_error(path_tfa, rec_tfa):.1e}")
print(f"preset torch_optimizer vs recorded torch-optimizer: {rel_error(path_torch, rec_torch):.1e}")
print(f"recorded TFA vs recorded torch-optimizer:           "
      f"{rel_error(rec_tfa.params, rec_torch):.1e}")

# Constant rate: the same two implementations agree to rounding.
c_tfa, c_torch = recorded("tfa", "const_lr"), recorded("torch_optimizer", "const_lr")
print(f"constant rate, recorded TFA vs torch-optimizer:     "
      f"{rel_error(c_tfa.params, c_torch):.1e}")

# %%
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7.2, 7.0), sharex=True)
steps = np.arange(1, len(table) + 1)
ax1.plot(steps, table, "k.-")
ax1.set_xlabel("step")
ax1.set_ylabel("learning rate")
ax1.set_title("Schedule of the case: warm-up, then cosine decay")
leaf = "conv"
ratio_rec = step_norms(rec_tfa.params, leaf) / step_norms(rec_torch.params, leaf)
ratio_pre = step_norms(path_tfa, leaf) / step_norms(path_torch, leaf)
ax2.plot(steps, ratio_pre, "C2-", label="presets tfa / torch_optimizer")
ax2.plot(steps, ratio_rec, "C2o", mfc="none", label="recorded TFA / torch-optimizer")
ax2.axhline(1, color="k", lw=0.8)
ax2.set_xlabel("step")
ax2.set_ylabel(f"ratio of step sizes, leaf '{leaf}'")
ax2.set_title("Same gradients, same schedule: TFA's steps vs the rest")
ax2.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# During warm-up and just after it, TFA's steps are shorter (its momentum still carries
# the small rates of the first steps); once the rate has decayed for a few steps they are
# longer, ten times longer by the end (its momentum carries the larger rates of the
# recent past). A schedule tuned for one family does not transfer exactly to the other.
#
# ## 3. Grad averaging on the first step
#
# With `grad_averaging=True` the normalized gradient enters the moment scaled by
# $1 - \beta_1$, like Adam's first moment. NeMo (and timm, torch-optimizer, OpenSeq2Seq)
# scale it on every step, *including the first*, so with $\beta_1 = 0.9$ the first step
# is 10 times shorter and the moment needs about $1/(1-\beta_1)$ steps to build up. TFA
# and pytorch_optimizer do not scale the first step: their moment starts at full size.

# %%
print(vectors.case_entry("grad_averaging")["description"])
fig, ax = plt.subplots(figsize=(7, 4))
sizes = {}
for k, framework in enumerate(("nemo", "tfa", "pytorch_optimizer")):
    rec = recorded(framework, "grad_averaging")
    rate = float(rec.lr[0])
    kwargs = rec.entry["preset_kwargs"]
    opt = (P.tfa(learning_rate=rate, **kwargs) if framework == "tfa"
           else P.get(framework)(lr=rate, **kwargs))
    path = replay(opt, rec)
    print(f"{framework:18s} {opt.config}\n{'':18s} preset vs recording: {rel_error(path, rec):.1e}")
    sizes[framework] = step_norms(rec.params, "mat")
    steps = np.arange(1, len(rec.lr) + 1)
    style = "--" if framework == "pytorch_optimizer" else "-"
    ax.plot(steps, step_norms(path, "mat"), f"C{k}{style}", label=f"preset {framework}")
    ax.plot(steps, sizes[framework], f"C{k}o", mfc="none", ms=4 + 3 * k,
            label=f"recorded {framework}")
for t in (0, len(steps) - 1):
    print(f"step {t + 1}: NeMo's step / TFA's step = {sizes['nemo'][t] / sizes['tfa'][t]:.3f}, "
          f"pytorch_optimizer's / TFA's = {sizes['pytorch_optimizer'][t] / sizes['tfa'][t]:.3f}")
ax.set_xlabel("step")
ax.set_ylabel(r"$\|p_t - p_{t-1}\|$ of leaf 'mat'")
ax.set_title(r"grad_averaging=True, $\beta_1 = 0.9$")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# TFA and pytorch_optimizer coincide. Their moment starts with a full normalized
# gradient and shrinks as it turns into an average of normalized gradients pointing in
# different directions (the case's gradients are random); NeMo's starts at exactly one
# tenth of theirs and grows towards the same average from below. On gradients that keep
# their direction, NeMo's steps would need about $1/(1-\beta_1) = 10$ steps to reach
# full size, like a warm-up.
#
# The other frameworks recorded on this case say which side they are on: the first
# recorded step of each, divided by TFA's (0.1 = scaled on step 1, 1 = not scaled).

# %%
by_framework = {}
for entry in vectors.record_entries(case="grad_averaging", tag=""):
    if entry["dtype"] == "float64" or entry["framework"] not in by_framework:
        by_framework[entry["framework"]] = entry  # float64 where recorded, else float32
tfa_first = step_norms(vectors.load_record(by_framework["tfa"]).params, "mat")[0]
for framework, entry in sorted(by_framework.items()):
    first = step_norms(vectors.load_record(entry).params, "mat")[0]
    print(f"recorded {framework:18s} ({entry['dtype']}) first step / TFA's = "
          f"{first / tfa_first:.3f}")
#
# ## 4. Where $\epsilon$ goes
#
# Most implementations divide by $\sqrt{v} + \epsilon$; OpenSeq2Seq (and Clara) divide by
# $\sqrt{v + \epsilon}$, and optax offers both (`eps` outside, `eps_root` inside). For
# everyday gradient norms this changes nothing. It decides what happens to a layer whose
# gradient becomes tiny: with $\epsilon$ outside, normalization holds down to
# $\lVert g \rVert \approx \epsilon$; with $\epsilon$ inside, it fades out below
# $\lVert g \rVert \approx \sqrt{\epsilon}$, which for $\epsilon = 10^{-8}$ is
# $10^{-4}$, and the layer falls back to plain SGD with rate $\eta/\sqrt{\epsilon}$.
# Below, the size of the first step (divided by the learning rate) for gradients of
# every norm from $10^{-12}$ to $10^2$. (optax with `eps_root` and OpenSeq2Seq overlap:
# an $\epsilon$ of $10^{-8}$ outside the root is negligible next to one inside it.)

# %%
norms = np.logspace(-12, 2, 57)
direction = np.array([0.6, 0.8])
variants = {
    r"paper: $g/(\sqrt{v}+\epsilon)$": P.paper(1.0, eps=1e-8),
    r"openseq2seq: $g/\sqrt{v+\epsilon}$": P.openseq2seq(1.0, epsilon=1e-8, state_dtype=None),
    r"optax eps_root=1e-8, eps=1e-8: $g/(\sqrt{v+\epsilon_r}+\epsilon)$": P.optax(
        1.0, eps=1e-8, eps_root=1e-8),
}
fig, ax = plt.subplots(figsize=(7.2, 4.5))
for (label, opt), style in zip(variants.items(), ("-", "-", "--")):
    sizes = []
    for n in norms:
        p = np.zeros(2)
        updates, _ = opt.update(n * direction, opt.init(p), p)
        sizes.append(np.linalg.norm(updates))
    ax.loglog(norms, sizes, style, label=label)
ax.loglog(norms, norms, "k:", lw=0.8, label=r"unnormalized: $\|g\|$")
ax.set_xlabel(r"$\|g\|$ (first step)")
ax.set_ylabel(r"$\|\Delta p\| / \eta$")
ax.set_ylim(1e-6, 10)
ax.set_title("Normalized step vs gradient norm")
ax.legend(fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 5. OpenSeq2Seq in graph mode: a moving average that never moves
#
# OpenSeq2Seq's NovoGrad (the first implementation, used to train Jasper) keeps the
# moving average in a TensorFlow variable, but in TF1 graph mode (read from its source;
# the two recordings below confirm it) the new value is bound to a Python list entry and
# never assigned back to the variable. Every step therefore
# reads the stored value 0 and re-initializes, so $v_t = \lVert g_t \rVert^2$: the
# moving average is never used, and $\beta_2$ has no effect at all. Run eagerly, the
# same file does compute the moving average. Both recordings ship with the package; the
# preset takes `mode="graph"` or `mode="eager"`.

# %%
graph, eager = recorded("openseq2seq", "const_lr", "float32"), recorded(
    "openseq2seq", "const_lr", "float32", tag="eager")
rate = float(graph.lr[0])
print("constructor keywords:", graph.entry["constructor_kwargs"])
for mode in ("graph", "eager"):
    kwargs = {**graph.entry["constructor_kwargs"], "mode": mode}
    path = replay(P.openseq2seq(learning_rate=rate, **kwargs), graph)
    print(f"preset mode={mode!r}: vs graph recording {rel_error(path, graph):.1e}, "
          f"vs eager recording {rel_error(path, eager):.1e}")

betas2 = (0.0, 0.5, 0.98, 0.999)
graph_paths = {b: replay(P.openseq2seq(learning_rate=rate, beta1=0.95, beta2=b, mode="graph"),
                         graph) for b in betas2}
spread = max(rel_error(graph_paths[b], graph) for b in betas2)
print(f"graph mode with beta2 in {betas2}: largest distance to the recording {spread:.1e}")

# %%
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7.2, 7.0), sharex=True)
steps = np.arange(0, len(graph.lr) + 1)
leaf = "mat"
ax1.plot(steps, graph.params[leaf].reshape(len(steps), -1)[:, 0], "C0o", mfc="none",
         label="recorded, graph mode")
ax1.plot(steps, eager.params[leaf].reshape(len(steps), -1)[:, 0], "C1s", mfc="none",
         label="recorded, eager mode")
for b in betas2:
    ax1.plot(steps, graph_paths[b][leaf].reshape(len(steps), -1)[:, 0], "C0-", lw=0.8,
             alpha=0.6)
ax1.plot([], [], "C0-", label=rf"preset graph mode, $\beta_2 \in$ {betas2}")
ax1.set_xlabel("step")
ax1.set_ylabel(f"first weight of leaf '{leaf}'")
ax1.set_title("OpenSeq2Seq: graph vs eager, constant rate")
ax1.legend(fontsize=9)

gap = [np.max(np.abs(graph.params[k] - eager.params[k]).reshape(len(steps), -1), axis=1)
       for k in graph.params]
drift = np.max(gap, axis=0)
print(f"step 1: the two recordings differ by {drift[1]:.1e} (both start v at the first "
      "squared norm); the plot starts at step 2")
ax2.semilogy(steps[2:], drift[2:], "k.-")
ax2.set_xlabel("step")
ax2.set_ylabel(r"$\max |p_{graph} - p_{eager}|$ (parameter units)")
ax2.set_title("How far apart the two recordings drift")
fig.tight_layout()
plt.show()

# %% [markdown]
# The recording made in graph mode matches the `mode="graph"` preset to float32
# rounding and not the eager one, and vice versa; and changing $\beta_2$ over four orders
# of magnitude changes nothing in graph mode. A $\beta_2$ set for OpenSeq2Seq's NovoGrad
# in a TF1 graph-mode run is a no-op: such runs used, in effect, $\beta_2 = 0$, which
# is also the default that torch-optimizer and the Jasper PyTorch code adopted.
#
# ## 6. Apex's defaults: an Adam-shaped NovoGrad with a built-in warm-up (read from source)
#
# This section is derived from Apex's source (the `FusedNovoGrad` Python wrapper and its
# CUDA kernel), as the `apex` preset implements it; no Apex run is recorded in the
# package, so the curves below are the preset's, not Apex's. Read that way,
# `FusedNovoGrad` has a different default recipe: the momentum averages the
# **raw** gradient ($m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t$) and the normalization is
# applied afterwards; the stored quantity is the norm $n_t$, initialized with
# $\lVert g_1 \rVert$ and then blended on every step, *including* the first; and both
# are bias-corrected, $\hat m_t = m_t / (1 - \beta_1^t)$ and
# $\hat n_t = n_t / \sqrt{1 - \beta_2^t}$. The bias correction of $n$ divides a quantity
# that has no bias (it started at $\lVert g_1 \rVert$, not at 0), so the step is scaled
# by $\sqrt{1 - \beta_2^t}$: about $\sqrt{t(1-\beta_2)}$ at first. That is an implicit
# warm-up over roughly $1/(1-\beta_2)$ = 1000 steps with Apex's $\beta_2 = 0.999$.
#
# Feed a constant gradient and watch the step size per unit learning rate.

# %%
T = 4000
g = {"w": np.array([3.0, 4.0])}
candidates = {
    "apex (defaults)": P.apex(lr=1.0, state_dtype=None, hyper_dtype=None),
    "apex (bias_correction=False)": P.apex(lr=1.0, bias_correction=False, state_dtype=None,
                                           hyper_dtype=None),
    "apex (init_zero=True)": P.apex(lr=1.0, init_zero=True, state_dtype=None,
                                    hyper_dtype=None),
    "nemo (betas=(0.9, 0.999), grad_averaging=True)": P.nemo(
        lr=1.0, betas=(0.9, 0.999), grad_averaging=True),
}
step_size = {}
for label, opt in candidates.items():
    p, state, sizes = {"w": np.zeros(2)}, opt.init({"w": np.zeros(2)}), []
    for _ in range(T):
        updates, state = opt.update(g, state, p)
        sizes.append(np.linalg.norm(updates["w"]))
    step_size[label] = np.array(sizes)
t = np.arange(1, T + 1)
half = int(np.argmax(step_size["apex (defaults)"] >= 0.5)) + 1
print(f"apex defaults: step 1 = {step_size['apex (defaults)'][0]:.4f}, "
      f"reaches half of its final size at step {half}, "
      f"90% at step {int(np.argmax(step_size['apex (defaults)'] >= 0.9)) + 1}")
np.testing.assert_allclose(step_size["apex (defaults)"], np.sqrt(1 - 0.999**t), rtol=1e-6)

# %%
fig, ax = plt.subplots(figsize=(7.2, 4.5))
for (label, sizes), style in zip(step_size.items(), ("-", "--", "-.", ":")):
    ax.semilogx(t, sizes, linestyle=style, lw=1.8, label=label)
ax.semilogx(t, np.sqrt(1 - 0.999**t), "k:", label=r"$\sqrt{1 - \beta_2^t}$")
ax.set_xlabel("step")
ax.set_ylabel(r"$\|\Delta p\| / \eta$ (constant gradient)")
ax.set_title("Step size with a constant gradient")
ax.legend(fontsize=9, loc="lower right")
fig.tight_layout()
plt.show()

# %% [markdown]
# Under its defaults, Apex's first step is $\sqrt{1-\beta_2} \approx 3\%$ of a full
# step and its step size follows $\sqrt{1 - \beta_2^t}$ (asserted above): half size
# after about 290 steps, 90% only after about 1660 (printed above). Turning off
# `bias_correction` removes this warm-up, but also the first-moment correction, so $m$
# builds up over about 10 steps exactly like NeMo's with grad averaging (the two curves
# coincide); `init_zero=True` starts $n$ at 0, where the bias correction is the right
# one, and the very first step has full size. A training recipe tuned with Apex's defaults has
# this warm-up in it, whether or not its schedule says so.
#
# ## Summary
#
# | difference | who | what it changes | evidence here |
# |---|---|---|---|
# | first-step detection | optax, TFA count steps; the PyTorch family and OpenSeq2Seq test $v = 0$ | the first real step of a layer whose first gradients are zero ($1/\sqrt{1-\beta_2}$ larger when counting) | recorded (optax, NeMo) |
# | learning rate inside the momentum | TFA | every step under a schedule | recorded (TFA, torch-optimizer) |
# | grad averaging on step 1 | NeMo, timm, torch-optimizer, OpenSeq2Seq scale it; TFA, pytorch_optimizer do not | the first $\sim 1/(1-\beta_1)$ steps | recorded (NeMo, TFA, pytorch_optimizer) |
# | $\epsilon$ inside the root | OpenSeq2Seq, Clara (optax's `eps_root`) | layers with $\lVert g \rVert \lesssim \sqrt{\epsilon}$ | presets; OpenSeq2Seq recorded, Clara read from source |
# | moving average never stored | OpenSeq2Seq in TF1 graph mode | everything: $\beta_2$ is ignored | recorded (both modes) |
# | raw-gradient momentum, double bias correction | Apex defaults | an implicit warm-up over $\sim 1/(1-\beta_2)$ steps | read from source (no recording) |
#
# ## Exercise
#
# **Exercise 4.** A step decay: the rate is $\eta = 0.1$ for 50 steps, then $0.01$.
# The gradient keeps one direction (take $\beta_2 = 0$ and $\beta_1 = 0.95$, so that each
# normalized gradient is the same unit vector). Predict the ratio of TFA's step to
# torch-optimizer's on step 51, and how many steps after the drop it takes for the two to
# agree within 1%. Then check with the presets.
#
# *Solution.* By step 50 both have reached the steady state of the ramp: torch-optimizer's
# moment is $m_{50} \approx u/(1-\beta_1)$ and its step $\eta_t m_t$; TFA's accumulator
# is $a_{50} \approx -0.1\,u/(1-\beta_1)$ and carries the old rate. On step 51
# torch-optimizer steps $0.01\,m_{51} \approx 0.01/(1-\beta_1) = 0.2$, and TFA steps
# $\lVert \beta_1 a_{50} - 0.01\,u \rVert \approx 0.95 \cdot 2 + 0.01 = 1.91$: a ratio
# of $10\beta_1 + 0.1(1-\beta_1) \approx 9.5$. TFA's excess, $(0.1 - 0.01)$ times the
# old accumulated moment, decays like $\beta_1^k$, so the ratio is about
# $1 + 9\beta_1^k$, within 1% once $9 \cdot 0.95^k < 0.01$, i.e.
# $k > \ln 900 / \ln(1/0.95) \approx 133$ steps. (The moments have not quite reached
# steady state after 50 steps, $1 - 0.95^{50} = 92\%$, so the measured numbers are a
# little lower.)

# %%
def step_decay(count):
    return 0.1 if count < 50 else 0.01


decay_opts = {"tfa": P.tfa(learning_rate=step_decay, beta_1=0.95, beta_2=0.0, epsilon=0.0),
              "torch_optimizer": P.torch_optimizer(lr=step_decay, betas=(0.95, 0.0), eps=0.0)}
decay_sizes = {}
for label, opt in decay_opts.items():
    p = {"w": np.zeros(2)}
    state, sizes = opt.init(p), []
    for _ in range(300):
        updates, state = opt.update({"w": np.array([0.6, 0.8])}, state, p)
        sizes.append(np.linalg.norm(updates["w"]))
    decay_sizes[label] = np.array(sizes)
decay_ratio = decay_sizes["tfa"] / decay_sizes["torch_optimizer"]
late = int(np.nonzero(np.abs(decay_ratio - 1) > 0.01)[0].max()) + 1
print(f"step 50: ratio {decay_ratio[49]:.3f}; step 51: ratio {decay_ratio[50]:.3f} "
      f"(predicted about {10 * 0.95 + 0.1 * 0.05:.2f}); within 1% from step {late + 1} on, "
      f"{late + 1 - 51} steps after the drop (predicted about "
      f"{np.log(900) / np.log(1 / 0.95):.0f})")

# %% [markdown]
# ## On your own
#
# - `vectors.case_entries()` lists every bundled case; `vectors.record_entries(case=...)`
#   which frameworks were recorded on it. Replay `wd_decoupled` through `timm` and `nemo`.
# - Find the smallest input on which two presets differ with
#   `novograd-ref diff optax nemo` (notebook 3 introduces the command line).
