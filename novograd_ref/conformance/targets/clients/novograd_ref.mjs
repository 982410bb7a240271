// novograd_ref.mjs: the novograd-ref protocol, version 1, for a port written in
// JavaScript (Node, no packages). The port imports serve and hands it three functions:
//
//   import { serve, Unsupported } from "./novograd_ref.mjs";
//   serve({
//     configure(run) {},  // hyperparameters known; throw new Unsupported(reason) to
//                         // decline (the kit skips the case)
//     init(run) {},       // leaves, initial parameters and rates known
//     step(run) {},       // leaf.grad holds this step's gradients, run.lr its rate:
//   });                   // update leaf.param (a Float64Array) in place
//
// Values reach the port as float64 whatever the run's dtype (run.dtype) and go back
// rounded to it; run.round(x) rounds a result to that dtype, so a port can compute in
// it (every operation rounded) as its framework would. Any other exception is reported
// to the kit as an error. Standard output belongs to the protocol: log to stderr
// (console.error). The protocol: docs/exec-protocol.md of novograd-ref.
import fs from "node:fs";

export const PROTOCOL_VERSION = 1;

/** Thrown by configure to decline a configuration, with the reason. */
export class Unsupported extends Error {}

const DIGITS = { float16: 4, float32: 8, float64: 16 };
const scratch = new DataView(new ArrayBuffer(8));
const pause = new Int32Array(new SharedArrayBuffer(4));

// --- float16, rounded once from a double (to nearest, ties to even)
function roundTiesEven(x) { // x >= 0
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function halfToNumber(h) {
  const exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  const v = exp === 0 ? frac * 2 ** -24 : exp === 31 ? (frac ? NaN : Infinity)
    : (frac + 1024) * 2 ** (exp - 25);
  return h & 0x8000 ? -v : v;
}

function numberToHalf(v) {
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0, a = Math.abs(v);
  if (Number.isNaN(v)) return sign | 0x7e00;
  if (a >= 65520) return sign | 0x7c00; // rounds to infinity
  if (a < 2 ** -14) return sign | roundTiesEven(a * 2 ** 24); // 1024 is the first normal
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1; // correct log2's rounding: a = 1.f * 2^e
  if (2 ** (e + 1) <= a) e += 1;
  let q = roundTiesEven(a * 2 ** (10 - e)); // 11 significant bits
  if (q === 2048) { q = 1024; e += 1; }
  if (e + 15 >= 31) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | (q - 1024);
}

function round(dtype, x) {
  return dtype === "float64" ? x : dtype === "float32" ? Math.fround(x)
    : halfToNumber(numberToHalf(x));
}

// --- values as bit patterns
function decode(word, digits) {
  if (word === undefined || word.length !== digits || !/^[0-9a-fA-F]+$/.test(word)) {
    fail(`bad value '${String(word).slice(0, 40)}'`);
  }
  if (digits === 4) return halfToNumber(parseInt(word, 16));
  if (digits === 8) { scratch.setUint32(0, parseInt(word, 16)); return scratch.getFloat32(0); }
  scratch.setUint32(0, parseInt(word.slice(0, 8), 16));
  scratch.setUint32(4, parseInt(word.slice(8), 16));
  return scratch.getFloat64(0);
}

function encode(v, digits) {
  if (digits === 4) return numberToHalf(v).toString(16).padStart(4, "0");
  if (digits === 8) { scratch.setFloat32(0, v); return scratch.getUint32(0).toString(16).padStart(8, "0"); }
  scratch.setFloat64(0, v);
  return scratch.getUint32(0).toString(16).padStart(8, "0")
    + scratch.getUint32(4).toString(16).padStart(8, "0");
}

// --- standard input and output, synchronously (a pipe may be non-blocking: retry)
let pending = "";
const chunk = Buffer.alloc(1 << 16);

function line() {
  for (;;) {
    const end = pending.indexOf("\n");
    if (end >= 0) {
      const out = pending.slice(0, end);
      pending = pending.slice(end + 1);
      return out.endsWith("\r") ? out.slice(0, -1) : out;
    }
    let n;
    try {
      n = fs.readSync(0, chunk, 0, chunk.length, null);
    } catch (err) {
      if (err.code === "EAGAIN") { Atomics.wait(pause, 0, 0, 1); continue; }
      if (err.code === "EOF") process.exit(0);
      throw err;
    }
    if (n === 0) process.exit(0); // the kit has gone
    pending += chunk.toString("latin1", 0, n);
  }
}

function write(text) {
  const data = Buffer.from(text, "latin1");
  let done = 0;
  while (done < data.length) {
    try {
      done += fs.writeSync(1, data, done, data.length - done);
    } catch (err) {
      if (err.code !== "EAGAIN") throw err;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

/** Report an error to the kit and exit. */
export function fail(message) {
  write(`error ${String(message).replace(/\n/g, " ")}\n`);
  process.exit(1);
}

// A line that must start with keyword: the rest of it.
function expect(keyword) {
  const text = line();
  if (text === keyword) return "";
  if (!text.startsWith(keyword + " ")) fail(`expected a '${keyword}' line, got '${text.slice(0, 60)}'`);
  return text.slice(keyword.length + 1);
}

function count(word, what) {
  if (!/^[0-9]+$/.test(word ?? "")) fail(`expected ${what}, got '${word}'`);
  return Number(word);
}

function readValues(keyword, digits, out) {
  const words = expect(keyword).split(" ").filter((w) => w !== "");
  if (words.length > out.length) fail(`more than ${out.length} values for a leaf`);
  for (let i = 0; i < out.length; i++) out[i] = decode(words[i], digits);
}

function settings(n, keyword) {
  const out = new Map();
  for (let i = 0; i < n; i++) {
    const rest = expect(keyword), space = rest.indexOf(" ");
    out.set(space < 0 ? rest : rest.slice(0, space), space < 0 ? "" : rest.slice(space + 1));
  }
  return out;
}

// What a run knows: dtype, hyper and keywords (Maps of name -> text), lrIsTable, rates,
// leaves ({name, shape, param, grad}), step (1-based) and lr (its rate).
class Run {
  constructor(dtype, hyper, keywords) {
    Object.assign(this, { dtype, hyper, keywords, lrIsTable: false, rates: [], leaves: [],
                          step: 0, lr: 0 });
  }
  text(name) { return this.hyper.get(name); }
  keyword(name) { return this.keywords.get(name); }
  number(name) {
    const text = this.text(name);
    if (text === undefined) fail(`the kit sent no hyperparameter '${name}'`);
    const v = Number(text);
    if (Number.isNaN(v)) fail(`hyperparameter ${name}: '${text}' is not a number`);
    return v;
  }
  flag(name) { return this.text(name) === "true"; }
  round(x) { return round(this.dtype, x); }
}

// Call the port; an exception is an error (Unsupported too, outside configure).
function guarded(call) {
  try {
    call();
  } catch (err) {
    fail(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  }
}

/** Serve one run of the port over standard input and output, then exit. */
export function serve(port) {
  // Handshake: both sides say their version; a mismatch is the kit's to report.
  const greeting = line();
  write(`novograd-ref-protocol ${PROTOCOL_VERSION}\n`);
  if (greeting !== `novograd-ref-protocol ${PROTOCOL_VERSION}`) process.exit(1);
  // configure DTYPE H K, then the hyper and keyword lines.
  const [dtype, nHyper, nKeyword] = expect("configure").split(" ");
  if (!(dtype in DIGITS)) fail(`unknown dtype '${dtype}'`);
  const hyper = settings(count(nHyper, "the number of hyper lines"), "hyper");
  const run = new Run(dtype, hyper, settings(count(nKeyword, "the number of keyword lines"), "keyword"));
  try {
    port.configure(run);
  } catch (err) {
    if (!(err instanceof Unsupported)) guarded(() => { throw err; });
    write(`unsupported ${err.message.replace(/\n/g, " ")}\n`);
    process.exit(0);
  }
  write("ready\n");
  // init N, the rate line, then each leaf's "leaf" and "param" lines.
  const nLeaves = count(expect("init"), "the number of leaves");
  const rate = expect("lr").split(" ");
  run.lrIsTable = rate[0] === "table";
  run.rates = (run.lrIsTable ? rate.slice(2) : rate.slice(1)).map(Number);
  const digits = DIGITS[dtype];
  for (let i = 0; i < nLeaves; i++) {
    const words = expect("leaf").split(" ");
    const ndim = count(words[0], "the number of dimensions");
    const shape = words.slice(1, 1 + ndim).map((w) => count(w, "a size"));
    const size = shape.reduce((a, b) => a * b, 1);
    const leaf = { name: words.slice(1 + ndim).join(" "), shape,
                   param: new Float64Array(size), grad: new Float64Array(size) };
    readValues("param", digits, leaf.param);
    run.leaves.push(leaf);
  }
  guarded(() => port.init(run));
  write("ready\n");
  // step K LR and the gradients, answered with the parameters; until "end".
  for (;;) {
    const words = line().split(" ");
    if (words[0] === "end") process.exit(0);
    if (words[0] !== "step") fail(`expected 'step' or 'end', got '${words.join(" ").slice(0, 60)}'`);
    run.step = count(words[1], "the step number");
    run.lr = Number(words[2]);
    for (const leaf of run.leaves) readValues("grad", digits, leaf.grad);
    guarded(() => port.step(run));
    let out = "";
    for (const leaf of run.leaves) {
      // Round to the dtype; the leaf keeps what the kit receives.
      for (let k = 0; k < leaf.param.length; k++) leaf.param[k] = run.round(leaf.param[k]);
      out += "param" + Array.from(leaf.param, (v) => " " + encode(v, digits)).join("") + "\n";
    }
    write(out);
  }
}
