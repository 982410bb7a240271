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
# - Measure (not assume) the memory the optimizer state takes for ResNet-50's parameters.
#
# **What you will learn**
#
# - What each term of the recurrence does, and why the first step needs no bias
#   correction.
# - In which sense NovoGrad sits between SGD and Adam: Adam-like across layers, SGD-like
#   within a layer.
# - Why NovoGrad's state is about half of Adam's.
#
# **What you will need**
#
# - NumPy and matplotlib, and `novograd_ref` installed (`pip install -e ".[notebooks]"`).
# - Familiarity with gradient descent; Adam helps but is re-derived here.

# %%
import tracemalloc

import matplotlib.pyplot as plt
import numpy as np

import novograd_ref as ngr

np.set_printoptions(precision=6, suppress=False)

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
# optax 0.2.8 gives exactly `13.977559058676952`, the number above.
#
# ## Every later step
#
# From step 2 on, both moments become exponential moving averages. For each layer:
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
# *normalized* gradient without a $(1 - \beta_1)$ factor, so the first step is not
# damped and no bias correction is needed. (Some implementations add that factor as an
# option called "grad averaging"; notebook 2 shows what it changes.)
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

    def update(grads, m):
        m = tree_map(lambda m, g: b1 * m + g, m, grads)
        return tree_map(lambda m: -lr * m, m), m

    return init, update


def adam(lr, b1=0.9, b2=0.999, eps=1e-8):
    def init(params):
        return 0, tree_map(np.zeros_like, params), tree_map(np.zeros_like, params)

    def update(grads, state):
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
    return opt.init, lambda grads, state: opt.update(grads, state)


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
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
width = 0.25
for ax, sc in zip(axes, list(scenarios)[1:]):
    for k, opt in enumerate(OPTIMIZERS):
        ratio = np.abs(moved[opt, sc]["layer2"] / moved[opt, "as is"]["layer2"])
        ax.bar(np.arange(4) + (k - 1) * width, ratio, width, label=opt)
    ax.set_yscale("log")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(range(4), [f"w{i}" for i in range(4)])
    ax.set_xlabel("weight of layer 2")
    ax.set_title(f"gradients: {sc}")
axes[0].set_ylabel("|displacement| / |displacement unscaled|")
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
# ## How much memory the state takes, measured
#
# The claim is that NovoGrad needs about half of Adam's memory: one moment per weight
# plus one scalar per layer, against two moments per weight. Let us measure it on the
# parameter shapes of ResNet-50 (the torchvision layout: 161 parameter tensors,
# convolutions, batch-norm scales and shifts, and the final classifier), in float32.

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


shapes = resnet50_shapes()
resnet = {name: np.zeros(shape, dtype=np.float32) for name, shape in shapes.items()}
n_weights = sum(p.size for p in resnet.values())
print(f"{len(resnet)} layers, {n_weights:,} weights, {n_weights * 4 / 2**20:.1f} MiB in float32")


# %% [markdown]
# Two measurements for each optimizer: the bytes of every array in its state, and the
# memory Python's allocator tracer (`tracemalloc`, which NumPy reports to) sees
# allocated by `init` and still alive afterwards. A warm-up call on a tiny tree first
# keeps one-off import costs out of the second measurement.

# %%
def state_bytes(tree):
    if isinstance(tree, dict):
        return sum(state_bytes(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return sum(state_bytes(v) for v in tree)
    return 0 if tree is None or isinstance(tree, int) else np.asarray(tree).nbytes


def measure(init):
    init({"warm-up": np.zeros(1, dtype=np.float32)})
    tracemalloc.start()
    state = init(resnet)
    allocated, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return state_bytes(state), allocated


memory = {opt: measure(make(1e-3)[0]) for opt, make in OPTIMIZERS.items()}
for opt, (counted, allocated) in memory.items():
    print(f"{opt:15s} state: {counted:>12,} bytes counted, {allocated:>12,} allocated "
          f"({allocated / counted - 1:+.3%}) = {counted / (4 * n_weights):.6f} x the weights")
extra = memory["NovoGrad"][0] - memory["SGD + momentum"][0]
print(f"NovoGrad - SGD with momentum: {extra} bytes "
      f"= {len(resnet)} layers x 4 bytes + the 4-byte step counter")
print(f"NovoGrad / Adam: {memory['NovoGrad'][0] / memory['Adam'][0]:.6f}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.2))
names = list(memory)
ax.barh(names, [memory[n][0] / 2**20 for n in names], color=["C0", "C1", "C2"])
for i, n in enumerate(names):
    ax.text(memory[n][0] / 2**20, i, f" {memory[n][0] / 2**20:.1f} MiB", va="center")
ax.set_xlabel("optimizer state (MiB, float32)")
ax.set_xlim(0, 1.25 * max(m[0] for m in memory.values()) / 2**20)
ax.set_title("Optimizer state for ResNet-50's 25.6 M parameters")
fig.tight_layout()
plt.show()

# %% [markdown]
# NovoGrad's state is the size of SGD with momentum's plus one number per layer (here
# 161 of them, next to 25.6 million weights), and half of Adam's. The two measurements
# agree to a small fraction of a percent: besides the state arrays, `init` only leaves
# Python's bookkeeping behind (the dicts and array headers).

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
#
# ## On your own
#
# - Set $\beta_2 = 0$ in `novograd_by_hand`: $v_t$ becomes the current squared norm, and
#   each step is exactly $\eta$ times the momentum of *unit* gradients. This is the
#   default of the Jasper PyTorch code and of torch-optimizer.
# - Replace $v_1 = S_1$ by $v_0 = 0$ followed by the moving average from step 1: how
#   large is the first step now? (Answer: $1/\sqrt{1-\beta_2}$ times larger. flashlight
#   and Apex with `init_zero=True` start the second moment this way; notebook 2 compares
#   them.)
#
# ## Further reading
#
# - Ginsburg et al., *Stochastic Gradient Methods with Layer-wise Adaptive Moments for
#   Training of Deep Networks*, 2019, [arXiv:1905.11286](https://arxiv.org/abs/1905.11286).
# - Li et al., *Jasper: An End-to-End Convolutional Neural Acoustic Model*, 2019,
#   [arXiv:1904.03288](https://arxiv.org/abs/1904.03288).
# - Notebook 2 of this directory: the same recurrence as a dozen frameworks implement it.
