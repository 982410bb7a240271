//! A NovoGrad port in Rust (std only), checked live by the conformance kit:
//!
//!     rustc -O port.rs          (novograd_ref.rs next to it)
//!     novograd-ref verify --impl exec:./port --preset optax
//!
//! The math is optax's novograd (the "optax" preset), per leaf with g its gradient:
//!     nu = |g|^2 on step 1, else b2 nu + (1 - b2) |g|^2     (|g|: the leaf's L2 norm)
//!     u  = g / (sqrt(nu + eps_root) + eps) + weight_decay p
//!     mu = u on step 1, else b1 mu + u
//!     p  = p - lr mu
//! computed in the run's dtype: `r` rounds each result to it (a float32 run computes in
//! float32, so a squared norm can overflow to infinity as in optax).
mod novograd_ref;

use novograd_ref::{Port, Refusal, Run};

struct NovoGrad {
    b1: f64,
    b2: f64,
    eps: f64,
    eps_root: f64,
    weight_decay: f64,
    nu: Vec<f64>,
    mu: Vec<Vec<f64>>,
}

/// The canonical hyperparameters this port has, and the values it needs for the rest.
const KNOWN: [&str; 7] = ["b1", "b2", "eps", "eps_root", "weight_decay", "luc_trust", "luc_eps"];
const REQUIRED: [(&str, &str); 6] = [("weight_decay_mode", "inside"), ("grad_averaging", "false"),
    ("amsgrad", "false"), ("luc", "false"), ("adam_debias", "false"), ("maximize", "false")];

impl Port for NovoGrad {
    fn configure(run: &Run) -> Result<Self, Refusal> {
        for (name, value) in &run.hyper {
            let known = KNOWN.contains(&name.as_str())
                || REQUIRED.contains(&(name.as_str(), value.as_str()));
            if !known {
                // The kit skips this case, with the reason.
                return Err(Refusal::Unsupported(format!("no {} = {}", name, value)));
            }
        }
        let get = |name| run.number(name).map_err(Refusal::Error);
        Ok(NovoGrad { b1: get("b1")?, b2: get("b2")?, eps: get("eps")?,
                      eps_root: get("eps_root")?, weight_decay: get("weight_decay")?,
                      nu: vec![], mu: vec![] })
    }

    fn init(&mut self, run: &Run) -> Result<(), String> {
        self.nu = vec![0.0; run.leaves.len()];
        self.mu = run.leaves.iter().map(|leaf| vec![0.0; leaf.param.len()]).collect();
        Ok(())
    }

    fn step(&mut self, run: &mut Run) -> Result<(), String> {
        let mut leaves = std::mem::take(&mut run.leaves);
        let r = |x: f64| run.round(x);
        let (first, lr) = (run.step == 1, run.lr);
        for (i, leaf) in leaves.iter_mut().enumerate() {
            let sum = leaf.grad.iter().fold(0.0, |s, g| r(s + r(g * g)));
            let norm = r(sum.sqrt());
            let square = r(norm * norm); // optax squares the norm it took
            self.nu[i] = if first { square }
                         else { r(r(self.b2 * self.nu[i]) + r(r(1.0 - self.b2) * square)) };
            let den = r(r(r(self.nu[i] + self.eps_root).sqrt()) + self.eps);
            for k in 0..leaf.param.len() {
                let u = r(r(leaf.grad[k] / den) + r(self.weight_decay * leaf.param[k]));
                self.mu[i][k] = if first { u } else { r(r(self.b1 * self.mu[i][k]) + u) };
                leaf.param[k] = r(leaf.param[k] - r(lr * self.mu[i][k]));
            }
        }
        run.leaves = leaves;
        Ok(())
    }
}

fn main() {
    std::process::exit(novograd_ref::serve::<NovoGrad>())
}
