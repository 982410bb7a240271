//! novograd_ref.rs: the novograd-ref protocol, version 1, for a port written in Rust.
//!
//! One file, the standard library only. Put it next to the port's main file, declare
//! `mod novograd_ref;` there and build with plain `rustc -O port.rs`. The port
//! implements [`Port`] and serves it from `main`:
//!
//! ```ignore
//! fn main() { std::process::exit(novograd_ref::serve::<MyNovoGrad>()) }
//! ```
//!
//! Values reach the port as `f64` whatever the run's dtype (`run.dtype`) and go back
//! rounded to it; `run.round(x)` rounds a result to that dtype, so a port can compute in
//! it (every operation rounded) as its framework would. Standard output belongs to the
//! protocol: print diagnostics to stderr. The protocol: docs/exec-protocol.md of
//! novograd-ref.
#![allow(dead_code)]

use std::io::{self, BufRead, Write};

pub const PROTOCOL_VERSION: u32 = 1;

/// One leaf of the parameter tree, in the kit's order.
pub struct Leaf {
    pub name: String,      // its path in the tree
    pub shape: Vec<usize>, // row-major (C) order; empty for a scalar
    pub param: Vec<f64>,   // the parameters: initial, then the port's after each step
    pub grad: Vec<f64>,    // this step's gradients
}

/// Everything the kit sent about the run.
pub struct Run {
    pub dtype: String,                   // "float16", "float32" or "float64"
    pub hyper: Vec<(String, String)>,    // canonical hyperparameters (b1, b2, eps, ...)
    pub keywords: Vec<(String, String)>, // the same in the preset's own keywords
    pub lr_is_table: bool,               // false: one constant rate, true: one per step
    pub rates: Vec<f64>,                 // the rates (one when constant)
    pub leaves: Vec<Leaf>,
    pub step: u64, // the step being taken, 1-based
    pub lr: f64,   // its learning rate
}

/// Why a port declines a configuration.
pub enum Refusal {
    Unsupported(String), // the kit skips the case, with this reason
    Error(String),       // the port failed
}

/// A port: built from the configuration, then initialized and stepped.
pub trait Port: Sized {
    /// Hyperparameters known (`run.leaves` still empty).
    fn configure(run: &Run) -> Result<Self, Refusal>;
    /// Leaves, initial parameters and rates known.
    fn init(&mut self, run: &Run) -> Result<(), String>;
    /// `leaf.grad` holds this step's gradients, `run.lr` its rate: update `leaf.param`.
    fn step(&mut self, run: &mut Run) -> Result<(), String>;
}

impl Run {
    /// A canonical hyperparameter's text, if the kit sent it.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.hyper.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    /// A preset keyword's text (a pair's values separated by a space), if sent.
    pub fn keyword(&self, name: &str) -> Option<&str> {
        self.keywords.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    /// A numeric canonical hyperparameter.
    pub fn number(&self, name: &str) -> Result<f64, String> {
        let text = self.text(name).ok_or(format!("the kit sent no hyperparameter '{}'", name))?;
        text.parse().map_err(|_| format!("hyperparameter {}: '{}' is not a number", name, text))
    }
    /// Whether a canonical hyperparameter is `true`.
    pub fn flag(&self, name: &str) -> bool {
        self.text(name) == Some("true")
    }
    /// `x` rounded to the run's dtype.
    pub fn round(&self, x: f64) -> f64 {
        match self.digits() {
            16 => x,
            8 => x as f32 as f64,
            _ => half_to_f64(f64_to_half(x)),
        }
    }
    fn digits(&self) -> usize {
        match self.dtype.as_str() {
            "float16" => 4,
            "float32" => 8,
            _ => 16,
        }
    }
}

/// Report an error to the kit and exit.
pub fn fail(message: &str) -> ! {
    println!("error {}", message.replace('\n', " "));
    let _ = io::stdout().flush();
    std::process::exit(1)
}

fn half_to_f64(h: u16) -> f64 {
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f64;
    let v = match exp {
        0 => frac * pow2(-24), // subnormal
        31 => if frac != 0.0 { f64::NAN } else { f64::INFINITY },
        _ => (frac + 1024.0) * pow2(exp - 25),
    };
    if h & 0x8000 != 0 { -v } else { v }
}

/// A double rounded once to float16 (to nearest, ties to even), as its bits.
fn f64_to_half(v: f64) -> u16 {
    let sign: u16 = if v.is_sign_negative() { 0x8000 } else { 0 };
    let a = v.abs();
    if v.is_nan() {
        return sign | 0x7e00;
    }
    if a >= 65520.0 {
        return sign | 0x7c00; // rounds to infinity
    }
    if a < pow2(-14) {
        return sign | (a * pow2(24)).round_ties_even() as u16; // 2^-24 units; 1024: normal
    }
    let mut e = ((a.to_bits() >> 52) & 0x7ff) as i32 - 1023; // a = 1.f * 2^e
    let mut q = (a * pow2(10 - e)).round_ties_even(); // 11 significant bits
    if q == 2048.0 {
        q = 1024.0;
        e += 1;
    }
    if e + 15 >= 31 {
        return sign | 0x7c00;
    }
    sign | (((e + 15) as u16) << 10) | (q as u16 - 1024)
}

fn pow2(n: i32) -> f64 {
    f64::from_bits(((1023 + n) as u64) << 52) // exact for normal powers of two
}

/// Reads the kit's lines; the end of input (the kit has gone) exits quietly.
struct Input<'a> {
    lines: io::StdinLock<'a>,
    buf: String,
}

impl<'a> Input<'a> {
    fn line(&mut self) -> &str {
        self.buf.clear();
        match self.lines.read_line(&mut self.buf) {
            Ok(0) | Err(_) => std::process::exit(0),
            Ok(_) => self.buf.trim_end_matches(['\n', '\r']),
        }
    }
    /// A line that must start with `keyword`: the rest of it.
    fn expect(&mut self, keyword: &str) -> String {
        let line = self.line();
        match line.split_once(' ') {
            Some((word, rest)) if word == keyword => rest.to_string(),
            _ if line == keyword => String::new(),
            _ => fail(&format!("expected a '{}' line, got '{:.60}'", keyword, line)),
        }
    }
    fn values(&mut self, keyword: &str, digits: usize, out: &mut [f64]) {
        let rest = self.expect(keyword);
        let mut words = rest.split_ascii_whitespace();
        for slot in out.iter_mut() {
            let word = words.next().unwrap_or("");
            let bits = match u64::from_str_radix(word, 16) {
                Ok(bits) if word.len() == digits => bits,
                _ => fail(&format!("bad value '{:.40}'", word)),
            };
            *slot = match digits {
                16 => f64::from_bits(bits),
                8 => f32::from_bits(bits as u32) as f64,
                _ => half_to_f64(bits as u16),
            };
        }
        if words.next().is_some() {
            fail(&format!("more than {} values for a leaf", out.len()));
        }
    }
}

fn number<T: std::str::FromStr>(word: Option<&str>, what: &str) -> T {
    let word = word.unwrap_or("");
    word.parse().unwrap_or_else(|_| fail(&format!("expected {}, got '{}'", what, word)))
}

fn settings(input: &mut Input, n: usize, keyword: &str) -> Vec<(String, String)> {
    (0..n)
        .map(|_| {
            let rest = input.expect(keyword);
            let (name, value) = rest.split_once(' ').unwrap_or((&rest, ""));
            (name.to_string(), value.to_string())
        })
        .collect()
}

/// Serve one run of `P` over standard input and output; the exit status to return.
pub fn serve<P: Port>() -> i32 {
    let stdin = io::stdin();
    let mut input = Input { lines: stdin.lock(), buf: String::new() };
    let mut out = io::BufWriter::new(io::stdout().lock());
    // Handshake: both sides say their version; a mismatch is the kit's to report.
    let greeting = input.line().to_string();
    writeln!(out, "novograd-ref-protocol {}", PROTOCOL_VERSION).unwrap();
    out.flush().unwrap();
    if greeting != format!("novograd-ref-protocol {}", PROTOCOL_VERSION) {
        return 1;
    }
    // configure DTYPE H K, then the hyper and keyword lines.
    let rest = input.expect("configure");
    let mut words = rest.split_ascii_whitespace();
    let dtype = words.next().unwrap_or("").to_string();
    if !["float16", "float32", "float64"].contains(&dtype.as_str()) {
        fail(&format!("unknown dtype '{:.20}'", dtype));
    }
    let n_hyper: usize = number(words.next(), "the number of hyper lines");
    let n_keyword: usize = number(words.next(), "the number of keyword lines");
    let hyper = settings(&mut input, n_hyper, "hyper");
    let keywords = settings(&mut input, n_keyword, "keyword");
    let mut run = Run { dtype, hyper, keywords, lr_is_table: false, rates: vec![],
                        leaves: vec![], step: 0, lr: 0.0 };
    let mut port = match P::configure(&run) {
        Ok(port) => port,
        Err(Refusal::Unsupported(reason)) => {
            writeln!(out, "unsupported {}", reason.replace('\n', " ")).unwrap();
            out.flush().unwrap();
            return 0;
        }
        Err(Refusal::Error(message)) => fail(&message),
    };
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    // init N, the rate line, then each leaf's "leaf" and "param" lines.
    let n_leaves: usize = number(Some(input.expect("init").as_str()), "the number of leaves");
    let rest = input.expect("lr");
    let mut words = rest.split_ascii_whitespace();
    run.lr_is_table = words.next() == Some("table");
    let count: usize = if run.lr_is_table { number(words.next(), "the number of rates") } else { 1 };
    run.rates = (0..count).map(|_| number(words.next(), "a rate")).collect();
    let digits = run.digits();
    for _ in 0..n_leaves {
        let rest = input.expect("leaf");
        let mut words = rest.splitn(2, ' ');
        let ndim: usize = number(words.next(), "the number of dimensions");
        let mut rest = words.next().unwrap_or("");
        let mut shape = vec![];
        for _ in 0..ndim {
            let (size, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            shape.push(number(Some(size), "a size"));
            rest = tail;
        }
        let size = shape.iter().product();
        let mut leaf = Leaf { name: rest.to_string(), shape, param: vec![0.0; size],
                              grad: vec![0.0; size] };
        input.values("param", digits, &mut leaf.param);
        run.leaves.push(leaf);
    }
    port.init(&run).unwrap_or_else(|message| fail(&message));
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    // step K LR and the gradients, answered with the parameters; until "end".
    loop {
        let line = input.line().to_string();
        if line == "end" {
            return 0;
        }
        let mut words = line.split_ascii_whitespace();
        if words.next() != Some("step") {
            fail(&format!("expected 'step' or 'end', got '{:.60}'", line));
        }
        run.step = number(words.next(), "the step number");
        run.lr = number(words.next(), "the rate");
        for leaf in run.leaves.iter_mut() {
            input.values("grad", digits, &mut leaf.grad);
        }
        port.step(&mut run).unwrap_or_else(|message| fail(&message));
        for i in 0..run.leaves.len() {
            write!(out, "param").unwrap();
            for k in 0..run.leaves[i].param.len() {
                // Round to the dtype; the leaf keeps what the kit receives.
                let v = run.round(run.leaves[i].param[k]);
                run.leaves[i].param[k] = v;
                match digits {
                    16 => write!(out, " {:016x}", v.to_bits()),
                    8 => write!(out, " {:08x}", (v as f32).to_bits()),
                    _ => write!(out, " {:04x}", f64_to_half(v)),
                }
                .unwrap();
            }
            writeln!(out).unwrap();
        }
        out.flush().unwrap();
    }
}
