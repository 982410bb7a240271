#!/usr/bin/env node
// A NovoGrad port in JavaScript (Node, no packages), checked live by the conformance kit:
//
//     chmod +x port.mjs          (novograd_ref.mjs next to it)
//     novograd-ref verify --impl exec:./port.mjs --preset optax
//
// The math is optax's novograd (the "optax" preset), per leaf with g its gradient:
//     nu = |g|^2 on step 1, else b2 nu + (1 - b2) |g|^2     (|g|: the leaf's L2 norm)
//     u  = g / (sqrt(nu + eps_root) + eps) + weight_decay p
//     mu = u on step 1, else b1 mu + u
//     p  = p - lr mu
// computed in the run's dtype: r rounds each result to it (a float32 run computes in
// float32, so a squared norm can overflow to infinity as in optax).
import { serve, Unsupported } from "./novograd_ref.mjs";

// The canonical hyperparameters this port has, and the values it needs for the rest.
const KNOWN = ["b1", "b2", "eps", "eps_root", "weight_decay", "luc_trust", "luc_eps"];
const REQUIRED = { weight_decay_mode: "inside", grad_averaging: "false", amsgrad: "false",
                   luc: "false", adam_debias: "false", maximize: "false" };

let b1, b2, eps, epsRoot, weightDecay, nu, mu;

serve({
  configure(run) {
    for (const [name, value] of run.hyper) {
      if (!KNOWN.includes(name) && REQUIRED[name] !== value) {
        throw new Unsupported(`no ${name} = ${value}`); // the kit skips this case
      }
    }
    [b1, b2, eps, epsRoot, weightDecay] =
      ["b1", "b2", "eps", "eps_root", "weight_decay"].map((name) => run.number(name));
  },

  init(run) {
    nu = run.leaves.map(() => 0);
    mu = run.leaves.map((leaf) => new Float64Array(leaf.param.length));
  },

  step(run) {
    const r = (x) => run.round(x), first = run.step === 1;
    run.leaves.forEach((leaf, i) => {
      const sum = leaf.grad.reduce((s, g) => r(s + r(g * g)), 0);
      const norm = r(Math.sqrt(sum));
      const square = r(norm * norm); // optax squares the norm it took
      nu[i] = first ? square : r(r(b2 * nu[i]) + r(r(1 - b2) * square));
      const den = r(r(Math.sqrt(r(nu[i] + epsRoot))) + eps);
      for (let k = 0; k < leaf.param.length; k++) {
        const u = r(r(leaf.grad[k] / den) + r(weightDecay * leaf.param[k]));
        mu[i][k] = first ? u : r(r(b1 * mu[i][k]) + u);
        leaf.param[k] = r(leaf.param[k] - r(run.lr * mu[i][k]));
      }
    });
  },
});
