"""Build NVIDIA Apex's FusedNovoGrad for the GPU at hand, and nothing else of Apex.

    python scripts/apex/build.py SRC DEST            # build (needs a CUDA GPU, nvcc, ninja)
    python scripts/apex/build.py SRC DEST --check    # no GPU: check sources and command

``SRC`` is the export that ``scripts/gpu_collect.sh`` makes (``.gpu/apex``: Apex's
``fused_novograd.py``, its multi-tensor-apply helper, the kernels and headers, and
``PROVENANCE.json``). The build copies it to ``DEST`` and compiles the ``amp_C``
extension there from three sources: ``amp_C_novograd.cpp`` beside this script (the
Python binding of the one function) and Apex's ``csrc/multi_tensor_novograd.cu`` and
``csrc/multi_tensor_l2norm_kernel.cu`` (the per-tensor norms it blends), with the flags
Apex's ``setup.py`` gives ``amp_C`` (``-O3``; nvcc ``-lineinfo -O3 --use_fast_math``),
for the device's compute capability only (``TORCH_CUDA_ARCH_LIST``, e.g. ``9.0``; or
``--arch``). ``DEST`` is then what ``NOVOGRAD_REF_APEX_DIR`` names for the ``apex``
framework adapter; ``PROVENANCE.json`` there gains the architecture, the flags and the
torch and nvcc versions.

``--check`` builds nothing: it checks that every source is there with the sha256 its
provenance gives, prints the build (sources, flags, architecture: ``--arch`` or 9.0),
and preprocesses each source with ``nvcc -E`` for that architecture against the
installed torch's headers. Headers that a CPU-only torch or a minimal CUDA toolkit
lacks (cuSPARSE, cuBLAS, cuSOLVER, torch's generated CUDA macros) are replaced by
empty files for that step, and named in the output. Exit status 0 when every check
passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BINDING = HERE / "amp_C_novograd.cpp"
KERNELS = ("csrc/multi_tensor_novograd.cu", "csrc/multi_tensor_l2norm_kernel.cu")
PYTHON_FILES = ("apex/optimizers/fused_novograd.py", "apex/multi_tensor_apply/__init__.py",
                "apex/multi_tensor_apply/multi_tensor_apply.py")
# Apex's setup.py, extension "amp_C": extra_compile_args
CXX_FLAGS = ["-O3"]
NVCC_FLAGS = ["-lineinfo", "-O3", "--use_fast_math"]
DEFAULT_CHECK_ARCH = "9.0"  # the H100 and H200 the GPU check runs on


def check_sources(src: Path) -> list[str]:
    """Problems with the export at ``src`` (missing files, sha256 mismatches)."""
    problems = []
    prov_path = src / "PROVENANCE.json"
    if not prov_path.is_file():
        return [f"{prov_path} is missing (run scripts/gpu_collect.sh)"]
    prov = json.loads(prov_path.read_text())
    for key in ("repository", "commit", "files"):
        if not prov.get(key):
            problems.append(f"PROVENANCE.json has no {key!r}")
    files = prov.get("files", {})
    for name in (*KERNELS, *PYTHON_FILES, "csrc/multi_tensor_apply.cuh", "csrc/type_shim.h"):
        path = src / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif files.get(name) != hashlib.sha256(path.read_bytes()).hexdigest():
            problems.append(f"{name} differs from the sha256 in PROVENANCE.json")
    if not BINDING.is_file():
        problems.append(f"{BINDING} is missing")
    return problems


def arch_of_device() -> str:
    """``major.minor`` of CUDA device 0, as torch reports it."""
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("build.py: torch sees no CUDA device (use --check without one)")
    major, minor = torch.cuda.get_device_capability(0)
    return f"{major}.{minor}"


def nvcc_version() -> str:
    nvcc = shutil.which("nvcc") or str(Path(os.environ.get("CUDA_HOME", "/usr/local/cuda"))
                                       / "bin" / "nvcc")
    result = subprocess.run([nvcc, "--version"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"build.py: {nvcc} --version failed: {result.stderr.strip()}")
    return result.stdout.strip().splitlines()[-1]


def build(src: Path, dest: Path, arch: str) -> Path:
    """Copy ``src`` to ``dest`` and compile ``amp_C`` there; return the module's path."""
    import torch
    from torch.utils import cpp_extension

    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
    os.environ["TORCH_CUDA_ARCH_LIST"] = arch
    work = dest / "build"
    work.mkdir()
    print(f"building amp_C for sm_{arch.replace('.', '')} with {nvcc_version()}", flush=True)
    cpp_extension.load(
        name="amp_C", sources=[str(BINDING), *(str(dest / k) for k in KERNELS)],
        extra_cflags=CXX_FLAGS, extra_cuda_cflags=NVCC_FLAGS,
        extra_include_paths=[str(dest / "csrc")], build_directory=str(work), verbose=True)
    (built,) = work.glob("amp_C*.so")
    module = dest / built.name
    shutil.copy2(built, module)
    prov_path = dest / "PROVENANCE.json"
    prov = json.loads(prov_path.read_text())
    prov.update(cuda_arch=arch, cxx_flags=CXX_FLAGS, nvcc_flags=NVCC_FLAGS,
                nvcc=nvcc_version(), torch=torch.__version__, torch_cuda=torch.version.cuda,
                binding=BINDING.name,
                binding_sha256=hashlib.sha256(BINDING.read_bytes()).hexdigest())
    prov_path.write_text(json.dumps(prov, indent=2) + "\n")
    return module


def preprocess(src: Path, arch: str) -> list[str]:
    """``nvcc -E`` of every source for ``arch``; returns the problems found."""
    from torch.utils import cpp_extension

    includes = [*cpp_extension.include_paths(), sysconfig.get_paths()["include"],
                str(src / "csrc")]
    flags = ["-std=c++17", f"-arch=sm_{arch.replace('.', '')}",
             "-DTORCH_EXTENSION_NAME=amp_C", *NVCC_FLAGS]
    problems, stubbed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        stubs = Path(tmp)
        for source in (BINDING, *(src / k for k in KERNELS)):
            for _ in range(30):  # stub each missing system header in turn
                result = subprocess.run(
                    ["nvcc", "-E", *flags, *(f"-I{i}" for i in includes), f"-I{stubs}",
                     str(source), "-o", os.devnull],
                    capture_output=True, text=True, check=False)
                missing = re.search(r"fatal error: ([\w./]+): No such file", result.stderr)
                if result.returncode == 0 or missing is None:
                    break
                header = missing.group(1)
                if (src / "csrc" / header).exists() or header.startswith("apex"):
                    break  # an Apex header is missing: a real problem
                (stubs / header).parent.mkdir(parents=True, exist_ok=True)
                (stubs / header).write_text("")
                stubbed.append(header)
            status = "ok" if result.returncode == 0 else "FAILED"
            print(f"nvcc -E {source.name} (sm_{arch.replace('.', '')}): {status}")
            if result.returncode != 0:
                problems.append(f"nvcc -E {source}: {result.stderr.strip()[-1500:]}")
    if stubbed:
        print("headers missing here, empty for the preprocessing check: "
              + ", ".join(sorted(set(stubbed))))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path, help="the Apex export (.gpu/apex)")
    parser.add_argument("dest", type=Path, help="where to copy it and build amp_C")
    parser.add_argument("--arch", help="compute capability, e.g. 9.0 (default: the device's)")
    parser.add_argument("--check", action="store_true", help="check, build nothing")
    args = parser.parse_args(argv)
    problems = check_sources(args.src)
    for problem in problems:
        print(f"source problem: {problem}", file=sys.stderr)
    if problems:
        return 1
    prov = json.loads((args.src / "PROVENANCE.json").read_text())
    print(f"Apex {prov['repository']} at {prov['commit']}: sources ok")
    if args.check:
        arch = args.arch or DEFAULT_CHECK_ARCH
        print(f"nvcc: {nvcc_version()}")
        print(f"build: amp_C from {BINDING.name}, {', '.join(KERNELS)}; cxx {CXX_FLAGS}, "
              f"nvcc {NVCC_FLAGS}; TORCH_CUDA_ARCH_LIST={arch}")
        problems = preprocess(args.src, arch)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    module = build(args.src, args.dest, args.arch or arch_of_device())
    print(f"built {module}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
