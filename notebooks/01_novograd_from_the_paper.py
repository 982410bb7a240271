# %% [markdown]
# # NovoGrad from the paper
#
# NovoGrad (Ginsburg et al. 2019, [arXiv:1905.11286](https://arxiv.org/abs/1905.11286);
# first used to train Jasper, [arXiv:1904.03288](https://arxiv.org/abs/1904.03288)) is an
# adaptive optimizer that keeps **one second-moment scalar per layer** instead of one per
# weight. This notebook derives its update rule by hand, one step at a time, and only at
# the end checks the hand-written version against `novograd_ref`.
#
# **What you will do**
#
# - Compute the first NovoGrad steps on a tiny quadratic by hand, in NumPy, and reproduce
#   the numbers printed by the `optax.novograd` docstring example.
# - Write SGD with momentum and Adam in a few lines each, and put the three update rules
#   side by side.
# - Make the layer-wise normalization visible: scale one layer's gradients by 1000 and
#   watch what each optimizer does.
# - Watch SGD with momentum, Adam, NovoGrad and LAMB move on an ill-conditioned 2-D
#   quadratic, with the two coordinates as one layer and as two, and NovoGrad's steps
#   ramp up where Adam's start at full size.
# - Derive, and check numerically, the steady-state step, scale invariance and the
#   per-element step in an $n$-element layer.
# - Measure the optimizer state and the peak memory of one update for ResNet-50's
#   parameters, beside the weights, gradients and activations.
# - Meet NovoGrad's relatives (normalized gradient descent, LARS and LAMB, Adafactor,
#   RAdam's account of warm-up, the two meanings of "decoupled" weight decay) and work out
#   how to move a learning rate over from Adam.
# - Solve three exercises (solutions included).
#
# **What you will learn**
#
# - What each term of the recurrence does, and why the first step needs no bias
#   correction.
# - In which sense NovoGrad sits between SGD and Adam: Adam-like across layers, SGD-like
#   within a layer.
# - Why NovoGrad's first moment is a sum, not an average, and what that does to the
#   step length; why a constant rate cannot settle at a minimum under noise.
# - Why NovoGrad's state is half of Adam's, and what share of training memory that is.
#
# Time: about 10 seconds on one CPU core (the test suite allows each cell 300 s); the
# memory section needs about 1 GiB of RAM.
#
# **What you will need**
#
# - NumPy and matplotlib, and `novograd_ref` installed (`pip install -e ".[notebooks]"`).
# - Familiarity with gradient descent; Adam helps but is re-derived here.

# %%
import tracemalloc

import matplotlib.pyplot as plt
import numpy as np
from matplotlib_inline.backend_inline import set_matplotlib_formats

import novograd_ref as ngr

np.set_printoptions(precision=6, suppress=False)

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
# ## The problem: the optax docstring example
#
# `optax.novograd`'s docstring minimizes $f(x) = \sum_i x_i^2$ from
# $x_0 = (1, 2, 3)$ with `optax.novograd(learning_rate=0.003)`, whose other defaults are
# $\beta_1 = 0.9$, $\beta_2 = 0.25$, $\epsilon = 10^{-6}$ and no weight decay, and prints
# the objective after each of five steps. The gradient is $g = \nabla f(x) = 2x$.
# We treat $x$ as a single layer.

# %%
def f(x):
    return np.sum(x**2)


def grad_f(x):
    return 2 * x


x0 = np.array([1.0, 2.0, 3.0])
lr, b1, b2, eps = 0.003, 0.9, 0.25, 1e-6
print(f"f(x0) = {f(x0)}, g0 = {grad_f(x0)}")

# %% [markdown]
# ## Step 1 by hand
#
# NovoGrad first reduces the layer's gradient to one number, its squared norm
#
# $$S_t = \lVert g_t \rVert_2^2 = \sum_i g_{t,i}^2 .$$
#
# On the first step the second moment is **initialized** with it, $v_1 = S_1$ (no
# decaying average yet, so no bias to correct later). The gradient is divided by the
# root of $v$, which makes the step independent of the gradient's scale:
#
# $$u_1 = \frac{g_1}{\sqrt{v_1} + \epsilon} + \lambda x_0, \qquad m_1 = u_1,
# \qquad x_1 = x_0 - \eta\, m_1 ,$$
#
# with weight decay $\lambda = 0$ here and learning rate $\eta = 0.003$. Since
# $\sqrt{v_1} = \lVert g_1 \rVert$, the first step is a unit vector along the gradient,
# scaled by $\eta$.

# %%
g1 = grad_f(x0)
S1 = np.sum(g1 * g1)
v1 = S1
u1 = g1 / (np.sqrt(v1) + eps)
m1 = u1
x1 = x0 - lr * m1
print(f"S1 = {S1}   sqrt(v1) = {np.sqrt(v1):.6f}")
print(f"u1 = {u1}   |u1| = {np.linalg.norm(u1):.9f}")
print(f"x1 = {x1}")
print(f"f(x1) = {f(x1)!r}")

# %% [markdown]
# The first objective value printed by the optax docstring is `1.40E+01`; in float64,
# optax 0.2.8 gives exactly `13.977559058676952`, the number above. (The five float64
# values used below were recorded by running `optax.novograd` 0.2.8 once in float64; they
# are copied into this notebook, so optax is not needed to run it.)
#
# ## Every later step
#
# From step 2 on, the second moment becomes an exponential moving average, and the first
# moment an exponentially weighted **sum**. For each layer:
#
# $$
# \begin{aligned}
# v_t &= \beta_2\, v_{t-1} + (1 - \beta_2)\, S_t \\
# m_t &= \beta_1\, m_{t-1} + \frac{g_t}{\sqrt{v_t} + \epsilon} + \lambda\, x_{t-1} \\
# x_t &= x_{t-1} - \eta_t\, m_t
# \end{aligned}
# $$
#
# Two details distinguish this from Adam. $v_t$ is a **scalar** per layer (the moving
# average of the squared gradient *norm*), and the first moment accumulates the
# *normalized* gradient without a $(1 - \beta_1)$ factor. Without that factor $m_t$ is
# not an average: $m_t = \sum_{k<t} \beta_1^k u_{t-k}$, whose weights add up to
# $(1-\beta_1^t)/(1-\beta_1)$, not to 1. The first step is not damped (so no bias
# correction is needed), but when successive normalized gradients point the same way the
# steps **grow**, up to $1/(1-\beta_1)$ times the first one: 20 times with the paper's
# $\beta_1 = 0.95$, 10 with optax's 0.9. This built-in ramp, over about $1/(1-\beta_1)$
# steps, is the learning rate's other half: the step NovoGrad actually takes in steady
# state is $\eta/(1-\beta_1)$, not $\eta$. (Some implementations add the factor as an
# option called "grad averaging", which divides every step by $1/(1-\beta_1)$; notebook 2
# shows what it changes.)
#
# Here is the whole recurrence for one layer, written out as a loop.

# %%
def novograd_by_hand(x0, grad_fn, steps, lr, b1, b2, eps, wd=0.0):
    """Return the iterates x_0 ... x_steps of NovoGrad on a single layer."""
    x, m, v = x0.copy(), np.zeros_like(x0), 0.0
    iterates = [x]
    for t in range(1, steps + 1):
        g = grad_fn(x)
        S = np.sum(g * g)
        v = S if t == 1 else b2 * v + (1 - b2) * S
        u = g / (np.sqrt(v) + eps) + wd * x
        m = u if t == 1 else b1 * m + u
        x = x - lr * m
        iterates.append(x)
    return np.array(iterates)


xs = novograd_by_hand(x0, grad_f, 5, lr, b1, b2, eps)
objective = [f(x) for x in xs[1:]]
optax_float64 = [13.977559058676952, 13.93497535374016, 13.874357252693496,
                 13.797632429108546, 13.706558641726376]
for t, (mine, theirs) in enumerate(zip(objective, optax_float64), start=1):
    print(f"step {t}: by hand {float(mine)!r:>20}  optax (float64) {theirs!r:>20}  "
          f"printed by the docstring: {mine:.2E}")
np.testing.assert_array_equal(objective, optax_float64)

# %% [markdown]
# The ramp, computed: feed the recurrence a gradient of fixed direction (whatever its
# size, since it is normalized) and divide each step's length by the first one's. The
# formula to compare with is $(1-\beta_1^t)/(1-\beta_1)$.

# %%
def step_lengths(b1, steps=150, b2=0.98):
    """|x_t - x_{t-1}| / |x_1 - x_0| for a constant gradient direction."""
    path = novograd_by_hand(np.zeros(3), lambda x: np.array([1.0, -2.0, 0.5]), steps,
                            lr=1.0, b1=b1, b2=b2, eps=0.0)
    lengths = np.linalg.norm(np.diff(path, axis=0), axis=1)
    return lengths / lengths[0]


for beta1 in (0.9, 0.95):
    ratios = step_lengths(beta1)
    t = np.arange(1, len(ratios) + 1)
    np.testing.assert_allclose(ratios, (1 - beta1**t) / (1 - beta1), rtol=1e-12)
    print(f"b1 = {beta1}: step 2 / step 1 = {ratios[1]:.3f}, step 20 = {ratios[19]:.2f}x, "
          f"step 150 = {ratios[-1]:.3f}x the first; limit 1/(1 - b1) = {1 / (1 - beta1):.0f}x")

# %% [markdown]
# All five values agree to the last bit with optax run in float64, and their `.2E`
# rounding is what the docstring prints (`1.40E+01, 1.39E+01, 1.39E+01, 1.38E+01,
# 1.37E+01`). The example is a weak test, though: the objective barely moves in five
# steps, and many different update rules would print the same five rounded numbers.
# The rest of this notebook looks at what the rule *does*.

# %% [markdown]
# ## Three optimizers side by side
#
# Written per weight $i$ of a layer, with $g_t$ the gradient:
#
# | | state per layer of $n$ weights | update |
# |---|---|---|
# | SGD with momentum | $m$ ($n$ numbers) | $m_t = \beta_1 m_{t-1} + g_t$, $\;x_t = x_{t-1} - \eta\, m_t$ |
# | Adam | $m, v$ ($2n$ numbers) | $m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t$, $\;v_{t} = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2$ (per weight), $\;x_t = x_{t-1} - \eta\, \frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}$ |
# | NovoGrad | $m$ ($n$ numbers), $v$ (**1 number**) | $v_t = \beta_2 v_{t-1} + (1-\beta_2) \lVert g_t \rVert^2$, $\;m_t = \beta_1 m_{t-1} + \frac{g_t}{\sqrt{v_t} + \epsilon}$, $\;x_t = x_{t-1} - \eta\, m_t$ |
#
# Adam divides each weight's gradient by that weight's own running RMS; NovoGrad divides
# the whole layer's gradient by the layer's running gradient norm. Below, SGD with
# momentum and Adam are written as `init` / `update` pairs over a dict of layers, the
# same shape as `novograd_ref`'s optimizers, so the three can be swapped freely.

# %%
def tree_map(fn, *trees):
    return {name: fn(*(tree[name] for tree in trees)) for name in trees[0]}


def sgd_momentum(lr, b1=0.9):
    def init(params):
        return tree_map(np.zeros_like, params)

    def update(grads, m, params=None):
        m = tree_map(lambda m, g: b1 * m + g, m, grads)
        return tree_map(lambda m: -lr * m, m), m

    return init, update


def adam(lr, b1=0.9, b2=0.999, eps=1e-8):
    def init(params):
        return 0, tree_map(np.zeros_like, params), tree_map(np.zeros_like, params)

    def update(grads, state, params=None):
        t, m, v = state
        t += 1
        m = tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
        v = tree_map(lambda v, g: b2 * v + (1 - b2) * g**2, v, grads)
        step = tree_map(lambda m, v: -lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps),
                        m, v)
        return step, (t, m, v)

    return init, update


def novograd(lr, b1=0.95, b2=0.98, eps=1e-8):
    # The library's optimizer, wrapped in the same (init, update) shape.
    opt = ngr.novograd(lr, b1=b1, b2=b2, eps=eps)
    return opt.init, lambda grads, state, params=None: opt.update(grads, state, params)


OPTIMIZERS = {"SGD + momentum": sgd_momentum, "Adam": adam, "NovoGrad": novograd}

# %% [markdown]
# ## Layer-wise normalization, made visible
#
# Take a model with two layers of four weights and a fixed sequence of 20 random
# gradients. Run each optimizer three times on the same sequence:
#
# 1. as is;
# 2. with **every gradient of layer 2 multiplied by 1000**, as happens when one layer's
#    inputs or activations live on a much larger scale than another's;
# 3. with **only the first weight of layer 2** multiplied by 1000.
#
# and compare the total displacement of layer 2's weights after the 20 steps with the
# unscaled run.

# %%
rng = np.random.default_rng(0)
params = {"layer1": np.zeros(4), "layer2": np.zeros(4)}
gradient_sequence = [{name: rng.normal(size=4) for name in params} for _ in range(20)]
scenarios = {
    "as is": {"layer1": 1.0, "layer2": 1.0},
    "layer 2 x1000": {"layer1": 1.0, "layer2": 1000.0},
    "one weight of layer 2 x1000": {"layer1": 1.0, "layer2": np.array([1000.0, 1, 1, 1])},
}


def displacement(make, scale):
    init, update = make(0.01)
    state, total = init(params), tree_map(np.zeros_like, params)
    for grads in gradient_sequence:
        step, state = update(tree_map(np.multiply, grads, scale), state)
        total = tree_map(np.add, total, step)
    return total


moved = {(opt, sc): displacement(make, scale)
         for opt, make in OPTIMIZERS.items() for sc, scale in scenarios.items()}
for opt in OPTIMIZERS:
    for sc in list(scenarios)[1:]:
        ratio = np.abs(moved[opt, sc]["layer2"] / moved[opt, "as is"]["layer2"])
        same_l1 = np.allclose(moved[opt, sc]["layer1"], moved[opt, "as is"]["layer1"])
        print(f"{opt:15s} {sc:28s} layer-2 displacement / unscaled: {np.round(ratio, 4)}"
              f"   layer 1 unchanged: {same_l1}")

# %%
# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies) and a
# marker each. On a log axis a bar has no natural floor, so each ratio is drawn as a
# stem from 1 (no change), upwards for "moves further", downwards for "moves less".
PALETTE = {"SGD + momentum": "#0072B2", "Adam": "#E69F00", "NovoGrad": "#009E73",
           "LAMB": "#CC79A7"}
MARKERS = {"SGD + momentum": "o", "Adam": "s", "NovoGrad": "D", "LAMB": "^"}
fig, axes = plt.subplots(2, 1, figsize=(7.2, 7.0), sharex=True, sharey=True)
width = 0.25
for ax, sc in zip(axes, list(scenarios)[1:]):
    for k, opt in enumerate(OPTIMIZERS):
        ratio = np.abs(moved[opt, sc]["layer2"] / moved[opt, "as is"]["layer2"])
        x = np.arange(4) + (k - 1) * width
        ax.vlines(x, 1.0, ratio, color=PALETTE[opt], lw=2)
        ax.plot(x, ratio, MARKERS[opt], color=PALETTE[opt], label=opt)
    ax.set_yscale("log")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(range(4), [f"w{i}" for i in range(4)])
    ax.set_xlabel("weight of layer 2")
    ax.set_title(f"gradients: {sc}")
for ax in axes:
    ax.set_ylabel("|displacement| / |displacement unscaled|\n(ratio, log scale)")
axes[1].legend(loc="upper right")
fig.suptitle("How far layer 2 moves in 20 steps when its gradients are rescaled")
fig.tight_layout()
plt.show()

# %% [markdown]
# What the bars say:
#
# - **SGD with momentum** moves 1000 times further when the layer's gradients are 1000
#   times larger; its learning rate has to be tuned to the steepest layer.
# - **Adam** is blind to both rescalings: it normalizes every weight by its own history,
#   so scaling one weight's gradient changes nothing either.
# - **NovoGrad** is blind to rescaling a *whole layer* (like Adam), but within a layer it
#   keeps the proportions of the gradient (like SGD): when one weight's gradient is 1000
#   times larger, that weight takes most of the layer's step and the others almost stop.
#
# In every case layer 1 is untouched by what happens to layer 2: each layer is
# normalized by its own norm only.

# %% [markdown]
# ## Memory, in context
#
# The usual claim is that NovoGrad's state is about half of Adam's: one moment per weight
# plus one scalar per layer, against two moments per weight. That is arithmetic, not a
# measurement, and the state is only one part of training memory. Here both, on the
# parameter shapes of ResNet-50 (the torchvision layout: 161 parameter tensors,
# convolutions, batch-norm scales and shifts, and the final classifier), in float32:
#
# - the **state** each optimizer keeps, counted from its arrays;
# - the **peak** Python's allocation tracer (`tracemalloc`, which NumPy reports to) sees
#   during **one update**: the new state, the update itself and every temporary array
#   the implementation allocates on the way. This is a measurement of these NumPy
#   implementations (the library's and the two above), not of a fused GPU kernel, which
#   can avoid most temporaries;
# - beside them the weights, the gradients, and an **estimate** of the activations kept
#   for the backward pass at batch 32 (counted from the layer shapes below: the output of
#   every convolution, batch norm and ReLU at 224 x 224 pixels; frameworks keep somewhat
#   fewer with in-place ReLUs, or more with other layers).

# %%
def resnet50_shapes():
    shapes = {"conv1.weight": (64, 3, 7, 7), "bn1.weight": (64,), "bn1.bias": (64,)}
    inplanes = 64
    for stage, (width, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3)), start=1):
        for block in range(blocks):
            prefix = f"layer{stage}.{block}."
            convs = ((width, inplanes, 1), (width, width, 3), (4 * width, width, 1))
            for i, (c_out, c_in, k) in enumerate(convs, start=1):
                shapes[f"{prefix}conv{i}.weight"] = (c_out, c_in, k, k)
                shapes[f"{prefix}bn{i}.weight"] = (c_out,)
                shapes[f"{prefix}bn{i}.bias"] = (c_out,)
            if block == 0:
                shapes[f"{prefix}downsample.0.weight"] = (4 * width, inplanes, 1, 1)
                shapes[f"{prefix}downsample.1.weight"] = (4 * width,)
                shapes[f"{prefix}downsample.1.bias"] = (4 * width,)
            inplanes = 4 * width
    shapes["fc.weight"] = (1000, 2048)
    shapes["fc.bias"] = (1000,)
    return shapes


def resnet50_activations_per_image(side=224):
    """Elements of the conv, batch-norm and ReLU outputs of one image (an estimate)."""
    side //= 2                                   # conv1, stride 2
    count = 3 * 64 * side**2                     # conv1, bn1, relu
    side //= 2                                   # max pool
    count += 64 * side**2
    for stage, (width, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3)), start=1):
        for block in range(blocks):
            stride = 2 if (block == 0 and stage > 1) else 1
            count += 3 * width * side**2         # conv1, bn1, relu at the input size
            side //= stride
            count += 3 * width * side**2         # conv2, bn2, relu
            count += 3 * 4 * width * side**2     # conv3, bn3, relu after the residual sum
            if block == 0:
                count += 2 * 4 * width * side**2  # downsample conv and batch norm
    return count + 2048 + 1000                   # pooled features, logits


shapes = resnet50_shapes()
resnet = {name: np.zeros(shape, dtype=np.float32) for name, shape in shapes.items()}
gradients = {name: np.full(shape, 1e-3, dtype=np.float32) for name, shape in shapes.items()}
n_weights = sum(p.size for p in resnet.values())
activations = 32 * resnet50_activations_per_image()
print(f"{len(resnet)} layers, {n_weights:,} weights ({n_weights * 4 / 2**20:.1f} MiB in "
      f"float32); activations at batch 32 (estimate): {activations:,} elements")


# %%
def state_bytes(tree):
    if isinstance(tree, dict):
        return sum(state_bytes(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return sum(state_bytes(v) for v in tree)
    return 0 if tree is None or isinstance(tree, int) else np.asarray(tree).nbytes


def measure(make):
    """(state bytes, peak bytes allocated during one update) on ResNet-50's shapes."""
    init, update = make(1e-3)
    _, state = update(gradients, init(resnet))   # a first update, outside the trace
    tracemalloc.start()
    _step, state = update(gradients, state)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return state_bytes(state), peak


MiB = 2**20
memory = {opt: measure(make) for opt, make in OPTIMIZERS.items()}
for opt, (counted, peak) in memory.items():
    print(f"{opt:15s} state {counted / MiB:7.1f} MiB = {counted / (4 * n_weights):.6f} x the "
          f"weights; peak of one update {peak / MiB:7.1f} MiB = "
          f"{peak / (4 * n_weights):.2f} x the weights")
extra = memory["NovoGrad"][0] - memory["SGD + momentum"][0]
print(f"NovoGrad - SGD with momentum: {extra} bytes "
      f"= {len(resnet)} layers x 4 bytes + the 4-byte step counter")
print(f"NovoGrad state / Adam state: {memory['NovoGrad'][0] / memory['Adam'][0]:.6f}")

# %% [markdown]
# The state is what the arithmetic said: NovoGrad's is SGD with momentum's plus one
# number per layer (161 of them, beside 25.6 million weights), half of Adam's. The peak
# of one update is larger than the state in every NumPy implementation: the new state,
# the update array and the temporaries of each expression are alive at once.
#
# Now the whole picture, in float32 and in mixed precision (float16 weights, gradients
# and activations, with a float32 master copy of the weights, as in Micikevicius et al.
# 2018, [arXiv:1710.03740](https://arxiv.org/abs/1710.03740); the optimizer state stays
# in float32). Weights, gradients and states are counted; activations are the estimate
# above at batch 32.

# %%
def training_memory(state, mixed):
    """MiB of each part of training memory; state in bytes (float32)."""
    if mixed:
        parts = {"weights (fp16 + fp32 master)": 6 * n_weights, "gradients (fp16)": 2 * n_weights,
                 "activations, batch 32 (fp16)": 2 * activations}
    else:
        parts = {"weights (fp32)": 4 * n_weights, "gradients (fp32)": 4 * n_weights,
                 "activations, batch 32 (fp32)": 4 * activations}
    parts["optimizer state (fp32)"] = state
    return {k: v / MiB for k, v in parts.items()}


PART_COLOURS = ["#56B4E9", "#E69F00", "#999999", "#009E73"]
fig, axes = plt.subplots(2, 1, figsize=(7.2, 5.6), sharex=True, layout="constrained")
for ax, mixed in zip(axes, (False, True)):
    for i, opt in enumerate(OPTIMIZERS):
        left = 0.0
        parts = training_memory(memory[opt][0], mixed)
        for colour, (part, mib) in zip(PART_COLOURS, parts.items()):
            ax.barh(i, mib, left=left, color=colour, edgecolor="k", lw=0.5,
                    label=part.split(" (")[0] if i == 0 else None)
            left += mib
        share = parts["optimizer state (fp32)"] / left
        ax.text(left, i, f" {left:,.0f} MiB, state {share:.0%}", va="center", fontsize=9)
        print(f"{'mixed' if mixed else 'fp32 '} {opt:15s} total {left:8,.0f} MiB, "
              f"optimizer state {share:.1%}")
    ax.set_yticks(range(len(OPTIMIZERS)), list(OPTIMIZERS))
    ax.set_xlabel("memory (MiB)")
    ax.set_title("mixed precision" if mixed else "float32")
handles, labels = axes[0].get_legend_handles_labels()
fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=9, frameon=False)
axes[1].set_xlim(0, 1.45 * max(sum(training_memory(m[0], False).values())
                               for m in memory.values()))
fig.suptitle("ResNet-50 training memory:\nweights, gradients, activations, optimizer state")
plt.show()
for opt, (_, peak) in memory.items():
    print(f"{opt:15s} (fp32) the update's measured peak, {peak / MiB:.0f} MiB, is "
          f"{peak / (4 * activations):.1%} of the activations' estimate")

# %% [markdown]
# At batch 32 the activations dominate, and NovoGrad's saving over Adam (one float32 copy
# of the weights, about 98 MiB) is a modest share of the total. The update's transient
# peak (measured above) comes after the backward pass, when a framework has usually freed
# the activations, and is far smaller than them, so it does not raise the total. The
# saving matters more when the batch per device is small or activations are recomputed
# (checkpointing), and for models whose weights, not activations, fill the memory (large
# language models).

# %% [markdown]
# ## The library agrees with the derivation
#
# Finally, the hand-written recurrence is compared with `novograd_ref` on the docstring
# quadratic (`ngr.presets.optax`, the optax defaults) and then on a tree of three layers
# of different shapes with weight decay, a learning-rate schedule and 30 random
# gradients (`ngr.novograd`, the paper's defaults $\beta_1 = 0.95$, $\beta_2 = 0.98$).

# %%
opt = ngr.presets.optax(learning_rate=0.003)
print(opt.config)
x, state = x0, opt.init(x0)
library_iterates = [x]
for _ in range(5):
    updates, state = opt.update(grad_f(x), state, x)
    x = ngr.apply_updates(x, updates)
    library_iterates.append(x)
np.testing.assert_array_equal(np.array(library_iterates), xs)
print("optax preset: all iterates identical to the hand derivation")


# %%
def novograd_tree_by_hand(params, grads_seq, lr_fn, b1, b2, eps, wd):
    """The recurrence on a dict of layers, with a schedule lr_fn(t) for t = 1, 2, ..."""
    m = {k: np.zeros_like(p) for k, p in params.items()}
    v = dict.fromkeys(params, 0.0)
    for t, grads in enumerate(grads_seq, start=1):
        for k, g in grads.items():
            S = np.sum(g * g)
            v[k] = S if t == 1 else b2 * v[k] + (1 - b2) * S
            u = g / (np.sqrt(v[k]) + eps) + wd * params[k]
            m[k] = u if t == 1 else b1 * m[k] + u
        params = {k: p - lr_fn(t) * m[k] for k, p in params.items()}
    return params


rng = np.random.default_rng(1)
start = {"conv": rng.normal(size=(3, 2, 3, 3)), "dense": rng.normal(size=(5, 4)),
         "bias": rng.normal(size=(4,))}
grads_seq = [{k: rng.normal(scale=10.0 ** rng.integers(-3, 3), size=p.shape)
              for k, p in start.items()} for _ in range(30)]


def warmup_then_decay(count):
    """The library's convention: count = number of updates already applied."""
    return 0.01 * min(1.0, (count + 1) / 5) * 0.95**count


opt = ngr.novograd(warmup_then_decay, b1=0.95, b2=0.98, eps=1e-8, weight_decay=1e-3)
params, state = start, opt.init(start)
for grads in grads_seq:
    updates, state = opt.update(grads, state, params)
    params = ngr.apply_updates(params, updates)

by_hand = novograd_tree_by_hand(start, grads_seq, lambda t: warmup_then_decay(t - 1),
                                b1=0.95, b2=0.98, eps=1e-8, wd=1e-3)
for k in start:
    np.testing.assert_allclose(params[k], by_hand[k], rtol=1e-14, atol=0)
    print(f"{k:6s} max relative difference: "
          f"{np.max(np.abs(params[k] - by_hand[k]) / np.abs(by_hand[k])):.1e}")

# %% [markdown]
# The library computes the same numbers as the derivation: bit for bit on the optax
# example, and on the tree to the relative differences printed above (the assertion
# allows $10^{-14}$, a few units in the last place of float64, since nothing obliges two
# implementations to order their floating-point operations the same way).

# %% [markdown]
# ## See it move
#
# Numbers on a few steps say little about how an optimizer *behaves*. Here the four
# optimizers move on an ill-conditioned two-dimensional quadratic,
# $f(w) = \tfrac12 (w_1^2 + 25\, w_2^2)$ (curvatures 1 and 25, a condition number of
# 25), from $w_0 = (-4, 1)$, for 60 steps. The two coordinates are grouped in two ways:
#
# - **one layer**, `{"w": array([w1, w2])}`: one norm for both coordinates;
# - **two layers**, `{"w1": array([w1]), "w2": array([w2])}`: each coordinate its own
#   layer, so NovoGrad divides each by its own gradient's magnitude.
#
# The fourth optimizer is LAMB (You et al. 2019,
# [arXiv:1904.00962](https://arxiv.org/abs/1904.00962)), NovoGrad's closest relative:
# Adam's per-weight step $r$, rescaled per layer so that its norm is the layer's weight
# norm times the rate ("trust ratio" $\lVert w \rVert / \lVert r \rVert$). It is a few
# lines on top of Adam:

# %%
def lamb(lr, b1=0.9, b2=0.999, eps=1e-6):
    def init(params):
        return 0, tree_map(np.zeros_like, params), tree_map(np.zeros_like, params)

    def update(grads, state, params):
        t, m, v = state
        t += 1
        m = tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
        v = tree_map(lambda v, g: b2 * v + (1 - b2) * g**2, v, grads)
        r = tree_map(lambda m, v: (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps), m, v)

        def layer_step(w, r):
            w_norm, r_norm = np.linalg.norm(w), np.linalg.norm(r)
            trust = w_norm / r_norm if w_norm > 0 and r_norm > 0 else 1.0
            return -lr * trust * r

        return tree_map(layer_step, params, r), (t, m, v)

    return init, update


MOVERS = {**OPTIMIZERS, "LAMB": lamb}
CURVATURE = np.array([1.0, 25.0])
W0 = np.array([-4.0, 1.0])
GROUPINGS = {
    "one layer": (lambda w: {"w": w.copy()}, lambda tree: tree["w"]),
    "two layers": (lambda w: {"w1": w[:1].copy(), "w2": w[1:].copy()},
                   lambda tree: np.concatenate([tree["w1"], tree["w2"]])),
}


def trajectory(make, lr, grouping, steps=60, schedule=None):
    """Iterates w_0 ... w_steps (as flat 2-vectors) of one optimizer on the quadratic."""
    split, join = GROUPINGS[grouping]
    params = split(W0)
    init, update = make(lr)
    state, path = init(params), [W0.copy()]
    for t in range(steps):
        grads = split(CURVATURE * join(params))
        step, state = update(grads, state, params)
        factor = 1.0 if schedule is None else schedule(t)
        params = tree_map(lambda p, s, f=factor: p + f * s, params, step)
        path.append(join(params))
    return np.array(path)


def objective(path):
    return 0.5 * np.sum(CURVATURE * path**2, axis=-1)


# %% [markdown]
# Each optimizer gets its own best constant rate: the one, on a grid a quarter of a decade
# apart, with the lowest objective averaged over the last 10 of the 60 steps (chosen on
# the one-layer grouping, and kept for the other, so that only the grouping changes).

# %%
RATE_GRID = np.logspace(-3, 0, 13)
best_rate = {}
for name, make in MOVERS.items():
    with np.errstate(all="ignore"):
        scores = [np.mean(objective(trajectory(make, lr, "one layer")[-10:])) for lr in RATE_GRID]
    best_rate[name] = RATE_GRID[int(np.nanargmin(scores))]
paths = {(name, grouping): trajectory(make, best_rate[name], grouping)
         for name, make in MOVERS.items() for grouping in GROUPINGS}
for name in MOVERS:
    same = np.allclose(paths[name, "one layer"], paths[name, "two layers"], rtol=1e-12, atol=0)
    print(f"{name:15s} rate {best_rate[name]:.3g}: f after 60 steps "
          f"{objective(paths[name, 'one layer'][-1]):.2e} (one layer), "
          f"{objective(paths[name, 'two layers'][-1]):.2e} (two layers); "
          f"the grouping {'changes nothing' if same else 'changes the path'}")

# %%
grid1, grid2 = np.meshgrid(np.linspace(-4.5, 1.5, 200), np.linspace(-1.5, 1.5, 200))
levels = np.geomspace(0.01, 40, 12)
fig, axes = plt.subplots(2, 1, figsize=(7.2, 8.2), sharex=True, sharey=True,
                         layout="constrained")
for ax, grouping in zip(axes, GROUPINGS):
    ax.contour(grid1, grid2, 0.5 * (grid1**2 + 25 * grid2**2), levels=levels, colors="0.8",
               linewidths=0.8)
    for (name, style) in zip(MOVERS, ("-", "--", "-", "-.")):
        path = paths[name, grouping]
        ax.plot(path[:, 0], path[:, 1], linestyle=style, marker=MARKERS[name], ms=3, lw=1.2,
                color=PALETTE[name], label=f"{name} (rate {best_rate[name]:.3g})")
    ax.plot(*W0, "k*", ms=10)
    ax.plot(0, 0, "k+", ms=12)
    ax.set_xlim(-4.5, 1.5)
    ax.set_ylim(-1.5, 1.5)
    ax.set_xlabel("$w_1$ (curvature 1)")
    ax.set_title(f"coordinates as {grouping}")
for ax in axes:
    ax.set_ylabel("$w_2$ (curvature 25)")
handles, labels = axes[1].get_legend_handles_labels()
fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=9, frameon=False)
fig.suptitle(r"60 steps on $f(w) = (w_1^2 + 25 w_2^2)/2$ from $\star$ to the minimum $+$")
plt.show()

# %% [markdown]
# What the paths show (the printed lines above are the numbers):
#
# - **SGD with momentum and Adam do not care how the weights are grouped**: their paths
#   are identical in both panels. SGD's rate is capped by the steep direction, so it
#   crawls along the shallow one; Adam normalizes each coordinate by its own history and
#   heads almost diagonally, like sign descent, at first.
# - **NovoGrad as one layer** keeps the gradient's direction and only normalizes its
#   length: its path has the shape of (momentum) gradient descent, zig-zagging across
#   the steep valley; its rate no longer needs tuning to the gradient's scale, but still
#   to the curvature's ratio.
# - **NovoGrad as two layers** normalizes each coordinate separately, which makes it a
#   per-coordinate method like Adam (without bias correction and with momentum on
#   normalized gradients): same optimizer, a different path, only because of what is
#   called a layer.
# - **LAMB** scales each layer's step to the layer's weight norm, so its steps shrink as
#   the weights approach the minimum at 0, a relative step (this quadratic's minimum at
#   the origin flatters it; trust ratios are designed for weights that stay away from 0).
#
# ## Step size against step: NovoGrad's ramp, Adam's full first step
#
# On the one-layer quadratic, all at the same rate $\eta = 0.01$: the length of each
# step divided by $\eta$. Adam's first step is full size at once (bias correction makes
# $\hat m_1 / \sqrt{\hat v_1} = \mathrm{sign}(g_1)$, a step of $\eta\sqrt2$ here);
# NovoGrad's first step is exactly $\eta$ (a unit vector), and grows while successive
# normalized gradients agree, towards $\eta/(1-\beta_1) = 20\eta$ (the ramp derived above).

# %%
same_rate = 0.01
fig, ax = plt.subplots(figsize=(7.2, 4.2))
for name in ("Adam", "NovoGrad"):
    path = trajectory(MOVERS[name], same_rate, "one layer", steps=80)
    lengths = np.linalg.norm(np.diff(path, axis=0), axis=1) / same_rate
    ax.plot(np.arange(1, 81), lengths, linestyle="-" if name == "Adam" else "--",
            marker=MARKERS[name], ms=3, color=PALETTE[name], label=name)
    print(f"{name:9s} step 1 = {lengths[0]:.3f} eta, step 5 = {lengths[4]:.2f} eta, "
          f"largest = {lengths.max():.2f} eta (at step {int(np.argmax(lengths)) + 1})")
t = np.arange(1, 81)
ax.plot(t, (1 - 0.95**t) / (1 - 0.95), "k:", label=r"$(1-\beta_1^t)/(1-\beta_1)$, constant direction")
ax.set_xlabel("step")
ax.set_ylabel(r"$\|w_t - w_{t-1}\| / \eta$ (dimensionless)")
ax.set_title(r"Step length at the same rate $\eta = 0.01$ (one layer)")
ax.legend(fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# Until the path turns (the gradient's direction changes as it nears the valley floor),
# NovoGrad's steps follow the constant-direction ramp. A learning rate copied from Adam
# therefore does not mean the same step: see "moving a learning rate over" below.
#
# ## Three short derivations, each checked
#
# **1. The steady-state step.** With $\epsilon$ negligible, $u_t = g_t/\sqrt{v_t}$ has
# norm close to 1 (exactly 1 with $\beta_2 = 0$). If the $u_t$ all point the same way,
# $\lVert m_t \rVert \to \sum_k \beta_1^k = 1/(1-\beta_1)$. If they are uncorrelated
# unit vectors (noise-dominated gradients), the cross terms average out and
# $\mathbb E \lVert m_t \rVert^2 \to \sum_k \beta_1^{2k} = 1/(1-\beta_1^2)$, a step of
# $\eta/\sqrt{1-\beta_1^2} \approx 3.2\,\eta$ for $\beta_1 = 0.95$. Between those two
# extremes lies every real run: NovoGrad's step length measures how consistent the
# gradient's direction is.
#
# **2. Scale invariance.** Replace $g_t$ by $c\, g_t$ for every $t$: $v_t$ becomes
# $c^2 v_t$, $g_t/\sqrt{v_t}$ is unchanged, and so is the whole trajectory (up to
# $\epsilon$). A layer's step does not depend on its gradient's scale, only on the rate.
# One consequence: with a constant rate NovoGrad **cannot converge** to a minimum when
# $v_t$ tracks the current squared norm. Near the minimum $\lVert g \rVert \to 0$, but
# $g/\sqrt{v}$ keeps a length near 1, so the iterate keeps moving by about $\eta$ per step
# and hovers at a distance set by $\eta$; only a decaying rate brings it to rest. That
# is exactly the case with $\beta_2 = 0$, and in stochastic training, where gradient noise
# keeps $\lVert g \rVert$ from vanishing. With $\beta_2 > 0$ on a noiseless problem it is
# not: $v$ remembers the larger gradients of the past, $\lVert g \rVert/\sqrt{v}$ falls
# below 1 as the gradient shrinks, and the steps shrink with it. The check below runs the
# four combinations.
#
# **3. Per element against per layer.** In a layer of $n$ weights, the normalized
# gradient $u = g/\lVert g\rVert$ is a unit vector, so an element's share of the step is
# $\lvert g_i\rvert / \lVert g \rVert$, on average $1/\sqrt n$ when the gradient is spread
# over the layer. Adam's first step moves every element by $\eta$. At the same rate,
# NovoGrad's per-element step on the first step is therefore about $\sqrt n$ times smaller
# than Adam's (and up to $1/(1-\beta_1)$ times larger later, by the ramp).
#
# The cell below checks all three numerically.

# %%
rng = np.random.default_rng(3)
n = 1000
opt = ngr.novograd(1.0, b1=0.95, b2=0.98, eps=0.0)
p, state, lengths = np.zeros(n), opt.init(np.zeros(n)), []
for _ in range(3000):
    updates, state = opt.update(rng.normal(size=n), state, p)
    lengths.append(np.linalg.norm(updates))
print(f"1. uncorrelated gradients, n = {n}: mean step over steps 500-3000 = "
      f"{np.sqrt(np.mean(np.square(lengths[500:]))):.3f} eta (rms); "
      f"1/sqrt(1 - b1^2) = {1 / np.sqrt(1 - 0.95**2):.3f}")

scaled = {c: trajectory(lambda lr: novograd(lr, eps=0.0), 0.05, "one layer") for c in (1.0,)}
CURVATURE_SAVED = CURVATURE.copy()
CURVATURE = CURVATURE_SAVED * 1000.0
scaled[1000.0] = trajectory(lambda lr: novograd(lr, eps=0.0), 0.05, "one layer")
CURVATURE = CURVATURE_SAVED
print(f"2. f and 1000 f give the same NovoGrad path: largest difference "
      f"{np.max(np.abs(scaled[1.0] - scaled[1000.0])):.1e}")


def final_distance(b2, noise, decay, seed, steps=400, rate=0.05):
    """Mean distance to the minimum over the last 100 of `steps` NovoGrad steps."""
    noise_rng = np.random.default_rng(seed)
    opt = ngr.novograd(rate, b1=0.95, b2=b2, eps=1e-8)
    p = {"w": W0.copy()}
    state, distances = opt.init(p), []
    for t in range(steps):
        g = {"w": CURVATURE * p["w"] + noise * noise_rng.normal(size=2)}
        step, state = opt.update(g, state, p)
        factor = 0.5 * (1 + np.cos(np.pi * t / steps)) if decay else 1.0
        p = {"w": p["w"] + factor * step["w"]}
        distances.append(np.linalg.norm(p["w"]))
    return np.mean(distances[-100:])


print("   mean distance to the minimum over steps 301-400 (mean of 3 seeds), rate 0.05:")
for b2 in (0.0, 0.98):
    for noise in (0.0, 0.5):
        cells = [np.mean([final_distance(b2, noise, decay, seed) for seed in range(3)])
                 for decay in (False, True)]
        print(f"   b2 = {b2:<4}, gradient noise sd {noise}: constant rate {cells[0]:.1e}, "
              f"cosine decay {cells[1]:.1e}")

print("3. first step, rms element step / eta, random gradient:")
for n in (1, 100, 10_000, 1_000_000):
    g = {"layer": rng.normal(size=n)}
    params = {"layer": np.zeros(n)}
    novo_step, _ = novograd(1.0)[1](g, novograd(1.0)[0](params), params)
    adam_step, _ = adam(1.0)[1](g, adam(1.0)[0](params))
    print(f"   n = {n:>9,}: NovoGrad {np.sqrt(np.mean(novo_step['layer'] ** 2)):.2e} "
          f"(1/sqrt(n) = {1 / np.sqrt(n):.2e}), Adam {np.sqrt(np.mean(adam_step['layer'] ** 2)):.3f}")

# %% [markdown]
# ## Relatives, and moving a learning rate over
#
# NovoGrad belongs to a family of optimizers that normalize the step by some measure of
# the gradient or the weights. Each relative below is described in its own terms, with a
# short computation.
#
# **Normalized gradient descent** ($x \leftarrow x - \eta\, g/\lVert g \rVert$) is
# NovoGrad with $\beta_1 = \beta_2 = 0$, one layer at a time: the step has length $\eta$
# whatever the gradient's size.
#
# **LARS** (You et al. 2017, [arXiv:1708.03888](https://arxiv.org/abs/1708.03888)) and
# **LAMB** (written above) scale each layer's step by a *trust ratio*
# $\lVert w \rVert / \lVert \text{step} \rVert$, so the step is a fixed *fraction* $\eta$ of
# the layer's weight norm (LARS applies it to SGD with momentum, LAMB to Adam's step).
# NovoGrad's layer step has a fixed *length* instead: a layer with small weights moves
# as far as one with large weights.
#
# **Adafactor** (Shazeer and Stern 2018, [arXiv:1804.04235](https://arxiv.org/abs/1804.04235))
# also shrinks the second moment, differently: for an $r \times c$ matrix it keeps the
# moving averages of $g^2$ summed over rows and over columns ($r + c$ numbers) and
# rebuilds a per-element estimate from their outer product; NovoGrad keeps one number.
#
# **RAdam** (Liu et al. 2019, [arXiv:1908.03265](https://arxiv.org/abs/1908.03265))
# explains why Adam needs warm-up: in the first steps $v$ is estimated from very few
# gradients, so the adaptive rate $1/\sqrt{\hat v}$ has a large variance, and RAdam
# multiplies the step by a rectification factor $r_t$ that is 0 at first (plain momentum
# SGD for $\rho_t \le 4$) and tends to 1. The NovoGrad paper's argument is that a
# per-layer $v$ averages over all the layer's elements, so it is well estimated from the
# first step, and its first step initializes $v$ with $\lVert g_1\rVert^2$ instead of
# correcting a biased zero start.
#
# **"Decoupled" weight decay** means two things (see also the user guide's conventions
# page). In the NovoGrad paper, decoupled means that $\lambda w$ is added *after*
# normalization, $u = g/\sqrt v + \lambda w$, so it is not divided by the gradient norm
# (`weight_decay_mode="inside"` here); it still enters the momentum, which multiplies its
# effect by up to $1/(1-\beta_1)$. In AdamW (Loshchilov and Hutter,
# [arXiv:1711.05101](https://arxiv.org/abs/1711.05101)) as implemented, the weights shrink
# directly, $w \leftarrow w(1 - \eta\lambda)$, outside the momentum
# (`weight_decay_mode="decoupled"`).
#
# The cell checks the first, computes RAdam's $r_t$ for $\beta_2 = 0.999$, LAMB's and
# NovoGrad's first step on two layers of different weight norms, Adafactor's state size
# for a 1024 x 4096 matrix, and the two weight decays on a layer with no gradient.

# %%
g_check = np.array([3.0, -4.0])
opt = ngr.novograd(0.1, b1=0.0, b2=0.0, eps=0.0)
state = opt.init({"w": np.zeros(2)})
for _ in range(3):
    step, state = opt.update({"w": g_check}, state, {"w": np.zeros(2)})
print(f"normalized GD: NovoGrad(b1 = b2 = 0) step = {step['w']}, -eta g/|g| = "
      f"{-0.1 * g_check / np.linalg.norm(g_check)}")

beta2 = 0.999
rho_inf = 2 / (1 - beta2) - 1
t = np.arange(1, 5001)
rho = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
with np.errstate(invalid="ignore"):
    r = np.where(rho > 4, np.sqrt(np.clip((rho - 4) * (rho - 2) * rho_inf, 0, None)
                                  / ((rho_inf - 4) * (rho_inf - 2) * rho)), 0.0)
print(f"RAdam, beta2 = {beta2}: no adaptive step until step {int(np.argmax(r > 0)) + 1}; "
      f"r_t reaches 0.5 at step {int(np.argmax(r >= 0.5)) + 1}, 0.9 at step "
      f"{int(np.argmax(r >= 0.9)) + 1}: an implicit warm-up")

two_layers = {"small": np.full(4, 0.05), "large": np.full(4, 5.0)}
same_grads = {"small": np.array([1.0, -1.0, 0.5, 2.0]), "large": np.array([1.0, -1.0, 0.5, 2.0])}
for name, make in (("NovoGrad", MOVERS["NovoGrad"]), ("LAMB", MOVERS["LAMB"])):
    init, update = make(0.01)
    step, _ = update(same_grads, init(two_layers), two_layers)
    print(f"{name:8s} first step, |step| / |w|: " + ", ".join(
        f"{k} layer {np.linalg.norm(step[k]) / np.linalg.norm(two_layers[k]):.3g}"
        for k in two_layers))

rows, cols = 1024, 4096
print(f"second-moment state for a {rows} x {cols} matrix: Adam {rows * cols:,}, Adafactor "
      f"{rows + cols:,}, NovoGrad 1 (numbers)")

decayed = {}
for mode in ("inside", "decoupled"):
    opt = ngr.novograd(0.01, b1=0.95, b2=0.98, weight_decay=0.01, weight_decay_mode=mode)
    w = {"w": np.ones(3)}
    state = opt.init(w)
    for _ in range(200):
        step, state = opt.update({"w": np.zeros(3)}, state, w)
        w = ngr.apply_updates(w, step)
    decayed[mode] = w["w"][0]
print(f"weight decay 0.01, rate 0.01, no gradient, 200 steps: w = {decayed['inside']:.4f} "
      f"(paper's 'decoupled', through the momentum; exp(-200 eta lambda / (1 - b1)) = "
      f"{np.exp(-200 * 0.01 * 0.01 / 0.05):.4f}), {decayed['decoupled']:.4f} (AdamW's; "
      f"(1 - eta lambda)^200 = {(1 - 1e-4) ** 200:.4f})")

# %% [markdown]
# **Moving a learning rate over from Adam.** Adam moves every element by about $\eta$ per
# step. NovoGrad moves a layer of $n$ elements by a vector of length about $\eta$ per
# unit of momentum, about $\eta/\sqrt n$ per element (derivation 3 above), and its
# momentum sums rather than averages, up to $1/(1-\beta_1)$ along a consistent
# direction. Matching per-element steps therefore needs
# $\eta_{\text{NovoGrad}} \approx \eta_{\text{Adam}}\,(1-\beta_1)\sqrt n$ for consistent
# gradients, or $\eta_{\text{Adam}}\sqrt{(1-\beta_1^2)\,n}$ for noise-dominated ones: a
# factor that depends on each layer's size, so no single rate reproduces Adam on every
# layer. For the digits MLP of notebook 4 (layers of 2048, 32, 320 and 10 weights), the
# factors are printed below; notebook 4 measures the two optimizers' best rates on that
# model, 0.0316 for Adam and 0.1 for NovoGrad on its grid, a ratio of 3.16 that falls
# inside the range the layers span.

# %%
for name, n_layer in (("W1", 64 * 32), ("b1", 32), ("W2", 32 * 10), ("b2", 10)):
    consistent = (1 - 0.95) * np.sqrt(n_layer)
    noisy = np.sqrt((1 - 0.95**2) * n_layer)
    print(f"layer {name} ({n_layer:5d} weights): NovoGrad rate / Adam rate for equal "
          f"per-element steps: {consistent:.2f} (consistent gradients) to {noisy:.2f} (noise)")

# %% [markdown]
# ## Exercises
#
# Try each one before reading its solution, which follows it.
#
# **Exercise 1.** Set $\beta_2 = 0$ (the default of the Jasper PyTorch code and of
# torch-optimizer). What is $v_t$ then, what is the norm of every $u_t$, and what does
# the first moment accumulate? Check it with `novograd_by_hand` on the docstring
# quadratic.
#
# *Solution.* With $\beta_2 = 0$, $v_t = S_t = \lVert g_t \rVert^2$ on every step, so
# $u_t = g_t / (\lVert g_t \rVert + \epsilon)$ is a unit vector (up to $\epsilon$) and
# $m_t$ is the momentum of unit gradients: only the directions of past gradients count,
# never their sizes. The cell recovers each $u_t$ from the iterates
# ($m_t = (x_{t-1} - x_t)/\eta$, $u_t = m_t - \beta_1 m_{t-1}$) and measures its norm.

# %%
path_b2_zero = novograd_by_hand(x0, grad_f, 10, lr, b1, b2=0.0, eps=0.0)
moments = -np.diff(path_b2_zero, axis=0) / lr
unit = np.vstack([moments[:1], moments[1:] - b1 * moments[:-1]])
print("|u_t| for t = 1..10:", np.round(np.linalg.norm(unit, axis=1), 12))
np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-9)

# %% [markdown]
# **Exercise 2.** Replace $v_1 = S_1$ by $v_0 = 0$ followed by the moving average from
# step 1, as Adam does (and flashlight, and Apex with `init_zero=True`). How large is the
# first step, compared with the paper's, with $\beta_2 = 0.98$? Predict, then measure
# with `ngr.novograd(..., second_moment_init="zero")`.
#
# *Solution.* Then $v_1 = (1-\beta_2) S_1$, so $\sqrt{v_1} = \sqrt{1-\beta_2}\,
# \lVert g_1 \rVert$ and the first step is $1/\sqrt{1-\beta_2} = 1/\sqrt{0.02}
# \approx 7.07$ times the paper's; there is no bias correction to undo it (that is what
# Adam's $1/(1-\beta_2^t)$ is for).

# %%
g_first = {"w": np.array([0.3, -1.2, 2.0])}
zero_params = {"w": np.zeros(3)}
first_steps = {}
for init_rule in ("first_step", "zero"):
    opt = ngr.novograd(1.0, b1=0.95, b2=0.98, eps=0.0, second_moment_init=init_rule)
    step, _ = opt.update(g_first, opt.init(zero_params), zero_params)
    first_steps[init_rule] = np.linalg.norm(step["w"])
print(f"first step, v_0 = 0 / paper: {first_steps['zero'] / first_steps['first_step']:.4f}; "
      f"1/sqrt(1 - b2) = {1 / np.sqrt(1 - 0.98):.4f}")

# %% [markdown]
# **Exercise 3.** The ramp says that consistent gradients make NovoGrad's steps grow to
# $\eta/(1-\beta_1)$. What happens when the gradient flips sign on every step, as
# across the floor of a steep valley ($g, -g, g, -g, \ldots$)? Derive the steady-state
# step for $\beta_1 = 0.95$ and check it.
#
# *Solution.* The normalized gradients are $u, -u, u, \ldots$ with $\lVert u \rVert = 1$.
# In steady state $m_t = -\beta_1 m_{t-1}$ plus the new $\pm u$, so
# $\lVert m \rVert \to \sum_k (-\beta_1)^k = 1/(1+\beta_1)$: a step of
# $\eta/(1+\beta_1) \approx 0.51\,\eta$, forty times shorter than along a consistent
# direction. Momentum damps oscillation and amplifies progress; normalization makes both
# independent of the gradient's size.

# %%
opt = ngr.novograd(1.0, b1=0.95, b2=0.98, eps=0.0)
p, state = {"w": np.zeros(2)}, opt.init({"w": np.zeros(2)})
for t in range(300):
    step, state = opt.update({"w": np.array([1.0, 2.0]) * (-1) ** t}, state, p)
print(f"step length after 300 alternating steps: {np.linalg.norm(step['w']):.4f} eta; "
      f"1/(1 + b1) = {1 / 1.95:.4f}")

# ## Further reading
#
# - Ginsburg et al., *Stochastic Gradient Methods with Layer-wise Adaptive Moments for
#   Training of Deep Networks*, 2019, [arXiv:1905.11286](https://arxiv.org/abs/1905.11286).
# - Li et al., *Jasper: An End-to-End Convolutional Neural Acoustic Model*, 2019,
#   [arXiv:1904.03288](https://arxiv.org/abs/1904.03288).
# - Notebook 2 of this directory: the same recurrence as a dozen frameworks implement it.
