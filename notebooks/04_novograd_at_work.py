# %% [markdown]
# # NovoGrad at work: learning rates and warm-up on a real (small) problem
#
# The NovoGrad paper (Ginsburg et al. 2019) reports that NovoGrad trains without
# learning-rate warm-up and is robust to the choice of learning rate. This notebook puts
# both claims to a small, honest test: a multilayer perceptron on scikit-learn's
# handwritten digits, trained with NovoGrad, Adam and SGD with momentum over a grid of
# learning rates, with and without warm-up, over several seeds. The conclusion at the
# end is computed from the results, whatever they turn out to be.
#
# **What you will do**
#
# - Train a 64-32-10 MLP (ReLU, softmax cross-entropy, backpropagation written out in
#   NumPy) on the 8x8 digits of `sklearn.datasets.load_digits`, with the reference
#   NovoGrad as optimizer.
# - Sweep 15 learning rates (a quarter of a decade apart), two schedules (with and
#   without a linear warm-up) and 3 seeds for each of three optimizers: 270 short runs.
# - Plot final accuracy and loss against the learning rate, and measure the effect of
#   warm-up.
#
# **What you will learn**
#
# - How to use `novograd_ref` as an ordinary optimizer in a training loop.
# - What "tolerates a wide range of learning rates" and "needs no warm-up" look like as
#   measurements, and how far one small experiment can take them.
#
# **What you will need**
#
# - NumPy, matplotlib and scikit-learn (`pip install -e ".[notebooks]"`); the dataset
#   ships with scikit-learn, nothing is downloaded. About half a minute on two CPU cores.
# - Notebook 1 for the update rules.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import novograd_ref as ngr

# %% [markdown]
# ## The data and the model
#
# 1797 grayscale digits of 8x8 pixels (values 0 to 16, scaled to [0, 1]); a stratified
# split keeps 25% for testing. The model is
# $\text{logits} = W_2^\top \operatorname{relu}(W_1^\top x + b_1) + b_2$ with four
# parameter tensors, so NovoGrad keeps four second-moment scalars.

# %%
X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                    stratify=y)
Y_train = np.eye(10)[y_train]
print(f"train {X_train.shape}, test {X_test.shape}, classes {np.bincount(y_train)}")


def init_params(rng):
    """He initialization for the ReLU layer, Glorot-like for the output layer."""
    return {"W1": rng.normal(0.0, np.sqrt(2 / 64), (64, 32)), "b1": np.zeros(32),
            "W2": rng.normal(0.0, np.sqrt(1 / 32), (32, 10)), "b2": np.zeros(10)}


def forward(p, X):
    z = X @ p["W1"] + p["b1"]
    h = np.maximum(z, 0.0)
    return z, h, h @ p["W2"] + p["b2"]


def loss_and_grads(p, X, Y):
    """Mean softmax cross-entropy and its gradient, by backpropagation."""
    z, h, logits = forward(p, X)
    logits = logits - logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    loss = -np.mean(np.sum(Y * log_probs, axis=1))
    d_logits = (np.exp(log_probs) - Y) / len(X)
    d_z = (d_logits @ p["W2"].T) * (z > 0)
    grads = {"W1": X.T @ d_z, "b1": d_z.sum(axis=0),
             "W2": h.T @ d_logits, "b2": d_logits.sum(axis=0)}
    return loss, grads


# %% [markdown]
# Before training anything, a finite-difference check of the hand-written gradient on a
# few coordinates (a wrong backward pass would make every later number meaningless).

# %%
rng = np.random.default_rng(0)
p = init_params(rng)
_, g = loss_and_grads(p, X_train[:32], Y_train[:32])
for name, index in (("W1", (10, 3)), ("b1", (5,)), ("W2", (7, 2)), ("b2", (4,))):
    h = 1e-6
    plus = {k: v.copy() for k, v in p.items()}
    minus = {k: v.copy() for k, v in p.items()}
    plus[name][index] += h
    minus[name][index] -= h
    numeric = (loss_and_grads(plus, X_train[:32], Y_train[:32])[0]
               - loss_and_grads(minus, X_train[:32], Y_train[:32])[0]) / (2 * h)
    print(f"{name}{list(index)}: backprop {g[name][index]: .8f}, finite difference {numeric: .8f}")
    np.testing.assert_allclose(g[name][index], numeric, rtol=1e-5, atol=1e-9)

# %% [markdown]
# ## The optimizers
#
# NovoGrad is `ngr.presets.paper`: the paper's recurrence with its defaults
# $\beta_1 = 0.95$, $\beta_2 = 0.98$, no grad averaging, no weight decay. Adam
# ($\beta_1 = 0.9$, $\beta_2 = 0.999$) and SGD with momentum 0.9 are written in NumPy
# as in notebook 1. All three take a learning-rate schedule `count -> rate`, where
# `count` is the number of updates already applied (the library's convention).
#
# Every run lasts 15 epochs of minibatches of 64 (315 steps). The schedule is a cosine
# decay from the peak rate to 0 over the whole run, optionally multiplied by a linear
# warm-up over the first 2 epochs (42 steps):
#
# $$\eta_t = \eta_{\text{peak}} \cdot \min\!\left(1, \tfrac{t+1}{42}\right) \cdot
# \tfrac12\left(1 + \cos \tfrac{\pi t}{315}\right).$$

# %%
def tree_map(fn, *trees):
    return {name: fn(*(tree[name] for tree in trees)) for name in trees[0]}


def sgd_momentum(lr_fn, b1=0.9):
    def init(params):
        return 0, tree_map(np.zeros_like, params)

    def update(grads, state, params=None):
        count, m = state
        m = tree_map(lambda m, g: b1 * m + g, m, grads)
        return tree_map(lambda m: -lr_fn(count) * m, m), (count + 1, m)

    return init, update


def adam(lr_fn, b1=0.9, b2=0.999, eps=1e-8):
    def init(params):
        return 0, tree_map(np.zeros_like, params), tree_map(np.zeros_like, params)

    def update(grads, state, params=None):
        count, m, v = state
        m = tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
        v = tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
        c1, c2, lr = 1 - b1 ** (count + 1), 1 - b2 ** (count + 1), lr_fn(count)
        step = tree_map(lambda m, v: -lr * (m / c1) / (np.sqrt(v / c2) + eps), m, v)
        return step, (count + 1, m, v)

    return init, update


def novograd(lr_fn):
    opt = ngr.presets.paper(lr_fn)
    return opt.init, opt.update


OPTIMIZERS = {"SGD + momentum": sgd_momentum, "Adam": adam, "NovoGrad": novograd}
EPOCHS, BATCH = 15, 64
STEPS_PER_EPOCH = int(np.ceil(len(X_train) / BATCH))
TOTAL, WARMUP = EPOCHS * STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH


def schedule(peak, warmup):
    def rate(count):
        ramp = min(1.0, (count + 1) / WARMUP) if warmup else 1.0
        return peak * ramp * 0.5 * (1.0 + np.cos(np.pi * count / TOTAL))

    return rate


def train(optimizer, peak, warmup, seed):
    """Train one model; return (test accuracy, final training loss, diverged)."""
    rng = np.random.default_rng(seed)
    params = init_params(rng)
    init, update = OPTIMIZERS[optimizer](schedule(peak, warmup))
    state = init(params)
    with np.errstate(all="ignore"):  # diverging runs overflow; they are caught below
        for _ in range(EPOCHS):
            order = rng.permutation(len(X_train))
            for start in range(0, len(X_train), BATCH):
                batch = order[start:start + BATCH]
                loss, grads = loss_and_grads(params, X_train[batch], Y_train[batch])
                if not np.isfinite(loss):
                    return 0.0, np.nan, True
                updates, state = update(grads, state, params)
                params = tree_map(np.add, params, updates)
        loss, _ = loss_and_grads(params, X_train, Y_train)
        accuracy = np.mean(np.argmax(forward(params, X_test)[2], axis=1) == y_test)
    return float(accuracy), float(loss), not np.isfinite(loss)


# %% [markdown]
# A single run first, NovoGrad at a peak rate of 0.03 without warm-up, to see the loop
# work (and how long one run takes).

# %%
start = time.perf_counter()
accuracy, final_loss, _ = train("NovoGrad", 0.03, warmup=False, seed=0)
print(f"NovoGrad, lr 0.03, no warm-up: test accuracy {accuracy:.1%}, "
      f"final training loss {final_loss:.4f} ({time.perf_counter() - start:.2f} s)")

# %% [markdown]
# ## The sweep
#
# Same grid of peak learning rates for every optimizer, from $10^{-3}$ to $10^{0.5}
# \approx 3.2$, a quarter of a decade apart, so that no optimizer is favored by where its
# usual default sits. Seeds change the initialization and the order of the minibatches;
# the data split is fixed. A run whose loss overflows is stopped and counted as
# diverged, with accuracy 0.

# %%
LEARNING_RATES = np.logspace(-3, 0.5, 15)
SEEDS = (0, 1, 2)
start = time.perf_counter()
results = {}  # (optimizer, warmup) -> arrays of shape (len(LEARNING_RATES), len(SEEDS))
for optimizer in OPTIMIZERS:
    for warmup in (False, True):
        runs = [[train(optimizer, lr, warmup, seed) for seed in SEEDS] for lr in LEARNING_RATES]
        results[optimizer, warmup] = {
            "accuracy": np.array([[r[0] for r in row] for row in runs]),
            "loss": np.array([[r[1] for r in row] for row in runs]),
            "diverged": np.array([[r[2] for r in row] for row in runs]),
        }
n_runs = len(results) * len(LEARNING_RATES) * len(SEEDS)
print(f"{n_runs} runs in {time.perf_counter() - start:.1f} s")

header = "optimizer        warm-up  " + " ".join(f"{lr:6.3g}" for lr in LEARNING_RATES)
print("mean test accuracy over seeds, by peak learning rate\n" + header)
for (optimizer, warmup), r in results.items():
    cells = " ".join(f"{a:6.3f}" for a in r["accuracy"].mean(axis=1))
    print(f"{optimizer:16s} {'yes' if warmup else 'no':7s}  {cells}")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
for k, optimizer in enumerate(OPTIMIZERS):
    for warmup, style in ((False, "-"), (True, "--")):
        r = results[optimizer, warmup]
        label = f"{optimizer}, {'with' if warmup else 'no'} warm-up"
        acc = r["accuracy"]
        ax1.semilogx(LEARNING_RATES, acc.mean(axis=1), style, color=f"C{k}", marker="o",
                     ms=3, label=label)
        ax1.fill_between(LEARNING_RATES, acc.min(axis=1), acc.max(axis=1), color=f"C{k}",
                         alpha=0.12)
        loss = np.where(r["diverged"], np.nan, r["loss"])
        with np.errstate(all="ignore"):
            ax2.loglog(LEARNING_RATES, np.nanmean(loss, axis=1), style, color=f"C{k}",
                       marker="o", ms=3, label=label)
ax1.set_xlabel("peak learning rate")
ax1.set_ylabel("test accuracy (mean; band: min-max over seeds)")
ax1.set_title("Final test accuracy after 15 epochs")
ax1.legend(fontsize=8)
ax2.set_xlabel("peak learning rate")
ax2.set_ylabel("final training loss (mean over non-diverged seeds)")
ax2.set_title("Final training loss")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## How wide is the good range?
#
# One number per optimizer and schedule: the range of peak learning rates whose mean
# test accuracy is within a tolerance of that optimizer's best (the contiguous run of
# grid points around the best one). Since the answer depends on the tolerance, it is
# computed for 1, 2 and 5 percentage points. The grid spacing limits the resolution to
# a factor of $10^{1/4} \approx 1.78$ at each end.

# %%
TOLERANCES = (0.01, 0.02, 0.05)


def tol_label(tol):
    return f"{tol * 100:.0f} point{'s' if tol != 0.01 else ''}"


def good_range(acc_mean, tolerance):
    """Indices (best, lo, hi): the contiguous good rates around the best one."""
    best = int(np.argmax(acc_mean))
    ok = acc_mean >= acc_mean[best] - tolerance
    lo = hi = best
    while lo > 0 and ok[lo - 1]:
        lo -= 1
    while hi < len(ok) - 1 and ok[hi + 1]:
        hi += 1
    return best, lo, hi


summary = {}
for (optimizer, warmup), r in results.items():
    mean = r["accuracy"].mean(axis=1)
    entry = {"diverged": int(r["diverged"].sum()),
             "seed_std": float(r["accuracy"].std(axis=1).max())}
    for tol in TOLERANCES:
        best, lo, hi = good_range(mean, tol)
        entry["best_acc"], entry["best_lr"] = float(mean[best]), LEARNING_RATES[best]
        entry[tol] = (LEARNING_RATES[lo], LEARNING_RATES[hi],
                      LEARNING_RATES[hi] / LEARNING_RATES[lo])
    _, lo, hi = good_range(mean, 0.02)
    entry["seed_std_good"] = float(r["accuracy"].std(axis=1)[lo:hi + 1].max())
    summary[optimizer, warmup] = entry
    ranges = "  ".join(f"{tol_label(tol)}: {entry[tol][0]:.3g}-{entry[tol][1]:.3g} "
                       f"(x{entry[tol][2]:.3g})" for tol in TOLERANCES)
    print(f"{optimizer:15s} warm-up {'yes' if warmup else 'no ':3s} best {entry['best_acc']:.3f} "
          f"at {entry['best_lr']:.3g} | {ranges} | diverged runs: {entry['diverged']}")

# %% [markdown]
# ## What warm-up changes
#
# The gain from warm-up at each learning rate: mean accuracy with warm-up minus mean
# accuracy without, with the seed-to-seed standard deviation of that difference as error
# bars.

# %%
gain = {}
fig, ax = plt.subplots(figsize=(7.5, 4.3))
for k, optimizer in enumerate(OPTIMIZERS):
    diff = results[optimizer, True]["accuracy"] - results[optimizer, False]["accuracy"]
    gain[optimizer] = diff.mean(axis=1)
    ax.errorbar(LEARNING_RATES * (1 + 0.04 * (k - 1)), gain[optimizer], yerr=diff.std(axis=1),
                fmt="o-", ms=3, capsize=2, color=f"C{k}", label=optimizer)
ax.axhline(0, color="k", lw=0.8)
ax.set_xscale("log")
ax.set_xlabel("peak learning rate")
ax.set_ylabel("accuracy with warm-up - without")
ax.set_title("Gain from a 2-epoch linear warm-up")
ax.legend()
fig.tight_layout()
plt.show()


# %% [markdown]
# ## Conclusion, computed from the results
#
# The cell below writes the conclusion from the numbers above; rerun the notebook with
# other seeds or settings and it rewrites itself.

# %%
def pts(x):
    return f"{x * 100:.1f} points"


def range_verdict():
    """Compare NovoGrad's no-warm-up range with the widest baseline, per tolerance."""
    wider, tied, narrower = [], [], []
    for tol in TOLERANCES:
        novo = summary["NovoGrad", False][tol][2]
        other = max(summary[o, False][tol][2] for o in OPTIMIZERS if o != "NovoGrad")
        (wider if novo > other * 1.01 else tied if novo >= other / 1.01 else narrower).append(
            tol_label(tol))
    if len(wider) == len(TOLERANCES):
        return ("NovoGrad's range is the widest at every tolerance: on this problem the data "
                "support the claim that it tolerates a wider range of learning rates.")
    if len(narrower) == len(TOLERANCES):
        return ("NovoGrad's range is narrower than the widest baseline's at every tolerance: "
                "on this problem the data do not support the claim.")
    parts = [f"{label} at {', '.join(tols)}" for label, tols in
             (("wider than both baselines", wider), ("as wide as the widest", tied),
              ("narrower than the widest", narrower)) if tols]
    return ("NovoGrad's range is " + "; ".join(parts) + " of tolerance: the ranking depends on "
            "the threshold, so at this grid's resolution and with these seeds the data show "
            "no robust difference in the width of the usable range.")


def conclusion():
    lines = [("**Learning-rate range without warm-up** (peak rates whose mean test "
              "accuracy is within the tolerance of the optimizer's best):"), "",
             "| optimizer | best accuracy (at lr) | " +
             " | ".join(f"within {tol_label(tol)}" for tol in TOLERANCES) + " |",
             "|---|---|" + "---|" * len(TOLERANCES)]
    for optimizer in OPTIMIZERS:
        s = summary[optimizer, False]
        cells = " | ".join(f"{s[tol][0]:.3g} to {s[tol][1]:.3g} (x{s[tol][2]:.3g})"
                           for tol in TOLERANCES)
        lines.append(f"| {optimizer} | {s['best_acc']:.1%} ({s['best_lr']:.3g}) | {cells} |")
    lines += ["", range_verdict(), "", "**Warm-up** (2 epochs, linear):", ""]
    for optimizer in OPTIMIZERS:
        s0, s1, g = summary[optimizer, False], summary[optimizer, True], gain[optimizer]
        top = int(np.argmax(g))
        lines.append(f"- {optimizer}: best accuracy {s0['best_acc']:.1%} without warm-up, "
                     f"{s1['best_acc']:.1%} with; the largest gain from warm-up is "
                     f"{pts(g[top])} at a peak rate of {LEARNING_RATES[top]:.3g}.")
    needs = [o for o in OPTIMIZERS
             if summary[o, False]["best_acc"] < summary[o, True]["best_acc"] - 0.01]
    if "NovoGrad" in needs:
        first = ("At its best learning rate NovoGrad loses more than 1 point without warm-up: "
                 "on this problem it does benefit from warm-up.")
    elif needs:
        first = ("At its best learning rate NovoGrad reaches within 1 point of its warm-up "
                 f"accuracy without warm-up, while {', '.join(needs)} lose(s) more than 1 "
                 "point: here warm-up matters for them and not for NovoGrad.")
    else:
        first = ("At their best learning rates none of the three optimizers loses more than "
                 "1 point without warm-up, NovoGrad included: on this problem, needing no "
                 "warm-up at a well-chosen rate does not set NovoGrad apart.")
    best_gain = {o: float(np.max(gain[o])) for o in OPTIMIZERS}
    order = sorted(best_gain, key=best_gain.get, reverse=True)
    above = all(LEARNING_RATES[np.argmax(gain[o])] > summary[o, False]["best_lr"]
                for o in OPTIMIZERS)
    second = (("Above each optimizer's best rate, warm-up rescues runs that otherwise fail; "
               if above else "") + "the largest gain from warm-up is for "
              + ", then ".join(f"{o} ({pts(best_gain[o])})" for o in order) + ". ")
    second = second[0].upper() + second[1:]
    if best_gain["NovoGrad"] < best_gain["Adam"] - 0.05:
        second += ("NovoGrad depends on warm-up less than Adam does at high learning rates, "
                   "in the direction of the paper's claim, but it is not independent of it.")
    elif best_gain["NovoGrad"] > best_gain["Adam"] + 0.05:
        second += "NovoGrad depends on warm-up more than Adam does at high learning rates."
    else:
        second += "NovoGrad and Adam depend on it to a similar degree."
    caveats = (f"Caveats: one small model on one small dataset, {len(SEEDS)} seeds (the "
               "seed-to-seed standard deviation of an accuracy is at most "
               f"{pts(max(s['seed_std_good'] for s in summary.values()))} inside the "
               f"2-point ranges, and up to {pts(max(s['seed_std'] for s in summary.values()))}"
               " where accuracy collapses), a grid a quarter of a decade apart, 15 epochs, "
               "and one warm-up length; the paper's claims concern large models (ResNet-50, "
               "Jasper, Transformer) trained much longer.")
    lines += ["", first, "", second, "", caveats]
    return "\n".join(lines)


display(Markdown(conclusion()))

# %% [markdown]
# ## On your own
#
# - Try `ngr.presets.paper(lr, weight_decay=1e-3)` (the paper trains with weight decay)
#   or `ngr.novograd(lr, grad_averaging="always")`: the latter divides the effective step
#   by $1/(1-\beta_1) = 20$, so the whole accuracy curve shifts right.
# - Lengthen training (`EPOCHS`) or widen the model, and see whether the ranges change.
# - Replace the cosine decay by a constant rate.
