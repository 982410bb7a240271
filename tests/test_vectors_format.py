"""The golden-vector format: manifest schema, checksums, safe loading, reproducible cases."""

from __future__ import annotations

import copy
import json
import pickle
import shutil
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from novograd_ref import _hyper, presets, vectors
from novograd_ref.conformance import frameworks
from novograd_ref.vectors import _cases

MANIFEST = vectors.load_manifest()
CASES = MANIFEST["cases"]
RECORDS = MANIFEST["records"]


@pytest.fixture
def root_copy(tmp_path: Path) -> Path:
    """A private copy of the bundled vectors (manifest, cases, a few records)."""
    src = vectors.data_root()
    shutil.copytree(src / "cases", tmp_path / "cases")
    (tmp_path / "records").mkdir()
    keep = RECORDS[:3]
    for entry in keep:
        shutil.copyfile(src / entry["file"], tmp_path / entry["file"])
    vectors.write_manifest(tmp_path, {**MANIFEST, "records": keep})
    return tmp_path


# ----------------------------------------------------------------------------- manifest


def test_manifest_validates() -> None:
    vectors.validate_manifest(MANIFEST)
    assert MANIFEST["schema_version"] == vectors.SCHEMA_VERSION == 1


def test_hyper_is_read_in_the_canonical_names_and_stored_as_the_format_says() -> None:
    """The files keep section 3.2's names (``grad_averaging``, ``luc``); the reading API
    gives the canonical ones, and writing them back gives the file's mapping again."""
    read = vectors.case_entries()
    assert [c["name"] for c in read] == [c["name"] for c in CASES]
    for stored, entry in zip(CASES, read):
        assert "grad_averaging" in stored["hyper"]
        assert "averaging" not in stored["hyper"]
        assert "averaging" in entry["hyper"]
        assert "grad_averaging" not in entry["hyper"]
        assert "luc" not in entry["hyper"]
        assert _hyper.to_stored(entry["hyper"]) == stored["hyper"]
        assert vectors.case_entry(entry["name"])["hyper"] == entry["hyper"]
        assert vectors.load_case(stored).hyper == entry["hyper"]
    luc = next(e["hyper"] for e in read if e["name"] == "nemo_luc")
    assert luc["update_clipping"] == "luc"


def test_manifest_is_written_canonically() -> None:
    keys = [vectors.record_key(r) for r in RECORDS]
    assert keys == sorted(keys)
    text = (vectors.data_root() / "manifest.json").read_text(encoding="utf-8")
    assert text.endswith("}\n")


def test_suite_covers_what_it_promises() -> None:
    names = {c["name"] for c in CASES}
    assert set(_cases.OPENSEQ2SEQ_CASES) <= names
    shapes = [tuple(s) for c in CASES for _, s in c["leaves"]]
    assert () in shapes
    assert any(len(s) == 4 for s in shapes)
    modes = {c["hyper"]["weight_decay_mode"] for c in CASES if c["hyper"]["weight_decay"] > 0}
    assert modes == {"inside", "decoupled", "fixed", "corrected"}
    assert {c["lr_kind"] for c in CASES} == {"constant", "schedule"}
    assert {c["grad_kind"] for c in CASES} == {"fixed", "quadratic"}
    for flag in ("amsgrad", "grad_averaging", "luc", "adam_debias", "maximize"):
        assert any(c["hyper"].get(flag) for c in CASES), flag
    assert sum(c["T"] >= 25 for c in CASES) >= 5
    new = [c for c in CASES if c["name"] not in _cases.OPENSEQ2SEQ_CASES]
    assert all(c["T"] >= 10 for c in new)


def test_every_value_array_is_small() -> None:
    for case in CASES:
        for _, shape in case["leaves"]:
            assert int(np.prod(shape)) <= 60


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m.update(schema_version=2), "schema_version"),
        (lambda m: m["cases"][0].pop("T"), "missing key 'T'"),
        (lambda m: m["cases"][0]["hyper"].update(weight_decay_mode="sideways"), "weight_decay"),
        (lambda m: m["cases"][0]["hyper"].update(bogus=1), "unknown keys"),
        (lambda m: m["cases"][0].update(lr_kind="cyclic"), "lr_kind"),
        (lambda m: m["cases"][0].update(sha256="xyz"), "sha256"),
        (lambda m: m["records"][0].update(case="no_such_case"), "unknown case"),
        (lambda m: m["records"][0].update(file="records/elsewhere.npz"), "'file' must be"),
        (lambda m: m["records"].append(copy.deepcopy(m["records"][0])), "duplicate record"),
        (lambda m: m["records"][0]["provenance"].pop("command"), "provenance"),
    ],
)
def test_invalid_manifests_are_rejected(mutate: Any, message: str) -> None:
    manifest = copy.deepcopy(MANIFEST)
    mutate(manifest)
    with pytest.raises(ValueError, match=message):
        vectors.validate_manifest(manifest)


def test_learning_rate_is_never_in_the_kwargs() -> None:
    for entry in RECORDS:
        assert entry["learning_rate_keyword"] not in entry["constructor_kwargs"]
        assert entry["learning_rate_keyword"] not in entry["preset_kwargs"]


def test_records_name_registered_frameworks() -> None:
    for entry in RECORDS:
        assert entry["framework"] in frameworks.FRAMEWORKS
        name = vectors.record_filename(
            entry["framework"], entry["case"], entry["dtype"], entry["tag"]
        )
        assert entry["file"] == f"records/{name}"


# ----------------------------------------------------------------------------- files


@pytest.mark.parametrize("entry", CASES + RECORDS, ids=lambda e: e["file"])
def test_sha256_matches(entry: dict[str, Any]) -> None:
    assert vectors.sha256_file(vectors.data_root() / entry["file"]) == entry["sha256"]


@pytest.mark.parametrize("entry", CASES, ids=lambda e: e["name"])
def test_case_loads(entry: dict[str, Any]) -> None:
    case = vectors.load_case(entry["name"])
    assert case.lr.shape == (case.T,)
    arrays = vectors.read_npz(vectors.data_root() / entry["file"])
    assert vectors.content_sha256(arrays) == entry["content_sha256"]
    params = case.params0_as("float32")
    grads = case.grads_at(0, params)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert [n for n, _ in case.leaves] == list(params)


@pytest.mark.parametrize("entry", RECORDS, ids=lambda e: e["file"])
def test_record_loads(entry: dict[str, Any]) -> None:
    record = vectors.load_record(entry)
    case = vectors.load_case(entry["case"])
    np.testing.assert_array_equal(record.lr, case.lr)
    for name, _ in case.leaves:
        np.testing.assert_array_equal(
            record.params[name][0], case.params0[name].astype(entry["dtype"])
        )
        if case.grads is not None:
            np.testing.assert_array_equal(
                record.grads[name], case.grads[name].astype(entry["dtype"])
            )


def test_quadratic_records_replay_their_gradients() -> None:
    entries = [e for e in RECORDS if vectors.case_entry(e["case"])["grad_kind"] == "quadratic"]
    for entry in entries:
        record = vectors.load_record(entry)
        case = vectors.load_case(entry["case"])
        for step in range(case.T):
            params = {n: record.params[n][step] for n, _ in case.leaves}
            expected = case.grads_at(step, params)
            for name, g in expected.items():
                np.testing.assert_array_equal(record.grads[name][step], g)


def test_all_files_verify() -> None:
    assert vectors.verify_files() == []


# ----------------------------------------------------------------------------- safety


def _zip_with_member(path: Path, name: str, payload: bytes) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(name, payload)


def test_pickled_object_array_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, lr=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match=r"evil\.npz.*allow_pickle"):
        vectors.read_npz(path)


def test_raw_pickle_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "raw.npz"
    path.write_bytes(pickle.dumps({"lr": [1.0]}))
    with pytest.raises(ValueError, match=r"raw\.npz"):
        vectors.read_npz(path)


@pytest.mark.parametrize(
    "payload", [b"", b"not a zip at all", b"PK\x03\x04truncated"], ids=["empty", "text", "trunc"]
)
def test_malformed_file_is_rejected(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=r"bad\.npz"):
        vectors.read_npz(path)


def test_corrupt_member_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "member.npz"
    _zip_with_member(path, "lr.npy", b"\x93NUMPY garbage")
    with pytest.raises(ValueError, match=r"member\.npz"):
        vectors.read_npz(path)


def test_single_npy_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "single.npz"
    with open(path, "wb") as fh:
        np.save(fh, np.zeros(3))
    with pytest.raises(ValueError, match=r"single\.npz.*not an \.npz"):
        vectors.read_npz(path)


def test_missing_file_is_rejected(root_copy: Path) -> None:
    entry = vectors.case_entries(root_copy)[0]
    (root_copy / entry["file"]).unlink()
    with pytest.raises(ValueError, match=r"not found"):
        vectors.load_case(entry["name"], root_copy)


def test_checksum_mismatch_is_rejected(root_copy: Path) -> None:
    entry = vectors.record_entries(root_copy)[0]
    path = root_copy / entry["file"]
    arrays = vectors.read_npz(path)
    key = next(k for k in arrays if k.startswith("params__"))
    arrays[key] = arrays[key] + 1
    vectors.write_npz(path, arrays)
    with pytest.raises(ValueError, match=r"sha256 mismatch"):
        vectors.load_record(entry, root_copy)


def test_shape_mismatch_is_rejected(root_copy: Path) -> None:
    entry = vectors.case_entries(root_copy)[0]
    path = root_copy / entry["file"]
    arrays = vectors.read_npz(path)
    arrays["lr"] = arrays["lr"][:-1]
    vectors.write_npz(path, arrays)
    with pytest.raises(ValueError, match=r"member 'lr' declares float64\[9\], expected "
                                         r"float64\[10\]"):
        vectors.load_case(entry, root_copy, verify=False)


def test_bad_manifest_json_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"manifest\.json.*not valid JSON"):
        vectors.load_manifest(tmp_path)


def test_object_arrays_are_never_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="object dtype"):
        vectors.write_npz(tmp_path / "x.npz", {"a": np.array([None], dtype=object)})


# ----------------------------------------------------------------------------- reproducibility


def test_write_npz_is_deterministic(tmp_path: Path) -> None:
    arrays = {"b": np.arange(3.0), "a": np.float32(2.5) * np.ones((2, 2), np.float32)}
    sha1 = vectors.write_npz(tmp_path / "one.npz", arrays)
    sha2 = vectors.write_npz(tmp_path / "two.npz", dict(reversed(list(arrays.items()))))
    assert sha1 == sha2 == vectors.sha256_file(tmp_path / "one.npz")
    back = vectors.read_npz(tmp_path / "one.npz")
    assert back["a"].dtype == np.float32
    np.testing.assert_array_equal(back["b"], arrays["b"])


def test_zero_d_arrays_keep_their_shape(tmp_path: Path) -> None:
    vectors.write_npz(tmp_path / "s.npz", {"s": np.array(1.5)})
    assert vectors.read_npz(tmp_path / "s.npz")["s"].shape == ()


def test_generated_cases_are_bit_identical(tmp_path: Path) -> None:
    by_name = {c["name"]: c for c in CASES}
    generated = _cases.generate()
    assert len(generated) + len(_cases.OPENSEQ2SEQ_CASES) == len(CASES)
    for entry, arrays in generated:
        stored = by_name[entry["name"]]
        assert {k: v for k, v in stored.items() if k != "sha256"} == entry
        sha = vectors.write_npz(tmp_path / f"{entry['name']}.npz", arrays)
        assert sha == stored["sha256"], entry["name"]


def test_openseq2seq_cases_keep_their_checksums() -> None:
    repo = Path(__file__).resolve().parents[1]
    candidates = [repo / "shared", repo.parent / "shared"]
    found = [c / "recorded" / "openseq2seq" for c in candidates]
    found = [f for f in found if (f / "cases" / "index.json").is_file()]
    if not found:
        pytest.skip("shared OpenSeq2Seq recordings not present")
    src = found[0]
    index_path = src / "cases" / "index.json"
    index = json.loads(index_path.read_text(encoding="utf-8"))
    by_name = {c["name"]: c for c in CASES}
    for item in index["cases"]:
        assert by_name[item["name"]]["content_sha256"] == item["sha256"]
        original = src / "cases" / f"{item['name']}.npz"
        assert vectors.sha256_file(original) == by_name[item["name"]]["sha256"]


def test_merge_replaces_same_identity() -> None:
    entry = copy.deepcopy(RECORDS[0])
    entry["sha256"] = "0" * 64
    merged = vectors.merge_records(MANIFEST, [entry])
    assert len(merged["records"]) == len(RECORDS)
    replaced = next(e for e in merged["records"] if e["file"] == entry["file"])
    assert replaced["sha256"] == "0" * 64


# ----------------------------------------------------------------------------- frameworks


def test_registry_is_lazy_and_complete() -> None:
    assert set(frameworks.FRAMEWORKS) >= {
        "optax",
        "tfa",
        "torch_optimizer",
        "timm",
        "pytorch_optimizer",
        "nemo",
    }
    with pytest.raises(ValueError, match="unknown framework"):
        frameworks.load("no_such_framework")


@pytest.mark.parametrize("name", frameworks.names())
def test_framework_plugin_asks_the_preset_registry(name: str) -> None:
    plugin = frameworks.load(name)
    assert isinstance(plugin, frameworks.Framework)
    assert plugin.name == name
    spec = presets.spec(plugin.preset)
    assert spec.framework == name
    assert plugin.learning_rate_keyword == spec.learning_rate_keyword
    expressed = 0
    for case in vectors.case_entries():  # hyper in the canonical names, as read
        kwargs = plugin.kwargs_for(case["hyper"])
        if kwargs is not None:
            expressed += 1
            assert plugin.learning_rate_keyword not in kwargs
            assert kwargs == json.loads(json.dumps(spec.case_keywords(case["hyper"])))
    assert expressed  # every framework expresses some standard case


def test_every_framework_binding_names_a_plugin_of_that_preset() -> None:
    bound = {s.name: s.framework for s in presets.specs() if s.framework is not None}
    assert set(bound.values()) == set(frameworks.names())
    for preset, name in bound.items():
        assert frameworks.load(name).preset == preset


def test_recorded_kwargs_agree_with_the_registry() -> None:
    """Every bundled record of a recorder-made framework was constructed with exactly
    the keywords the registry gives for its case, and modelled with exactly the preset
    keywords its plugin gives for its run."""
    checked = set()
    # recorded only on a CUDA machine (scripts/gpu_check.sh): no bundled records yet
    recorded_elsewhere = {"apex"} - {e["framework"] for e in RECORDS}
    for entry in RECORDS:
        if entry["framework"] not in frameworks.names() or entry["framework"] == "openseq2seq":
            continue
        plugin = frameworks.load(entry["framework"])
        case = vectors.case_entry(entry["case"])
        assert plugin.kwargs_for(case["hyper"]) == entry["constructor_kwargs"], entry["file"]
        assert (
            plugin.preset_kwargs(entry["constructor_kwargs"], entry["dtype"], entry["settings"])
            == entry["preset_kwargs"]
        ), entry["file"]
        checked.add(entry["framework"])
    assert checked == set(frameworks.names()) - {"openseq2seq"} - recorded_elsewhere


def test_record_cli_missing_framework_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    from novograd_ref.conformance import record

    assert record.main(["openseq2seq"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error:")
    assert record.main(["no_such_framework"]) == 2


def _importorskip(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pytest.importorskip(name)


@pytest.mark.slow  # JAX compiles optax's update
@pytest.mark.filterwarnings("ignore")
def test_optax_records_live(tmp_path: Path) -> None:
    _importorskip("optax")
    from novograd_ref.conformance.golden._capture import record

    entries = record("optax", tmp_path, cases=["const_lr", "quadratic"], dtypes=("float64",))
    for entry in entries:
        fresh = vectors.load_record(entry, tmp_path)
        bundled = vectors.load_record(
            vectors.record_entries(
                framework="optax", case=entry["case"], dtype="float64", tag=entry["tag"]
            )[0]
        )
        for name, traj in fresh.params.items():
            np.testing.assert_allclose(traj, bundled.params[name], rtol=1e-12, atol=0)


@pytest.mark.filterwarnings("ignore")
def test_tfa_records_live(tmp_path: Path) -> None:
    _importorskip("tensorflow_addons")
    from novograd_ref.conformance.golden._capture import record

    entries = record("tfa", tmp_path, cases=["const_lr"], dtypes=("float64",))
    fresh = vectors.load_record(entries[0], tmp_path)
    bundled = vectors.load_record(
        vectors.record_entries(framework="tfa", case="const_lr", dtype="float64")[0]
    )
    for name, traj in fresh.params.items():
        np.testing.assert_allclose(traj, bundled.params[name], rtol=1e-12, atol=0)


# ----------------------------------------------------------------------------- recorder


class _SgdAdapter:
    """A stand-in framework: plain gradient descent, ``p -= lr_t * g``."""

    name = "sgd"

    def init(self, params: Any, learning_rate: Any) -> dict[str, Any]:
        return {"params": {k: np.array(v) for k, v in params.items()}, "lr": learning_rate, "k": 0}

    def update(self, grads: Any, state: dict[str, Any]) -> tuple[dict[str, np.ndarray], Any]:
        lr = state["lr"]
        rate = float(lr[state["k"]]) if isinstance(lr, np.ndarray) else lr
        params = {k: p - p.dtype.type(rate) * grads[k] for k, p in state["params"].items()}
        return params, {"params": params, "lr": lr, "k": state["k"] + 1}


def _fake_framework() -> Any:
    """A framework module (as :func:`frameworks.load` imports it) whose plug-in wraps
    :class:`_SgdAdapter`."""
    import types

    return types.SimpleNamespace(FRAMEWORK=frameworks.Framework(
        name="sgd",
        preset="sgd",
        available=lambda: True,
        versions=lambda: {"sgd": "1.0"},
        make=lambda settings=None, **kw: _SgdAdapter(),
    ))


def _fake_preset() -> presets.PresetSpec:
    """A preset spec for the fake framework: the numbers, no switch (so amsgrad cases
    are refused)."""
    def sgd(lr: float = 0.1, b1: float = 0.0, b2: float = 0.0, eps: float = 0.0,
            eps_root: float = 0.0, weight_decay: float = 0.0) -> Any:
        raise AssertionError("the recorder never builds the preset")

    numbers = {k: k for k in ("b1", "b2", "eps", "eps_root", "weight_decay")}
    return presets.PresetSpec("sgd", sgd, "lr", presets.Vocabulary(numbers))


def test_recorder_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from novograd_ref.conformance.golden._capture import record

    monkeypatch.setitem(sys.modules, "fake_sgd_framework", _fake_framework())
    monkeypatch.setitem(frameworks.FRAMEWORKS, "sgd", "fake_sgd_framework")
    monkeypatch.setitem(presets._SPECS, "sgd", _fake_preset())
    cases = ["quadratic", "schedule_lr", "amsgrad"]
    entries = record("sgd", tmp_path, cases=cases, dtypes=("float32",), command="cmd")
    assert {e["case"] for e in entries} == {"quadratic", "schedule_lr"}  # amsgrad refused
    for entry in entries:
        assert entry["provenance"]["command"] == "cmd"
        assert entry["provenance"]["framework_version"] == "1.0"
        rec = vectors.load_record(entry, tmp_path)
        case = vectors.load_case(entry["case"], tmp_path)
        for step in range(case.T):
            params = {n: rec.params[n][step] for n, _ in case.leaves}
            grads = case.grads_at(step, params)
            for name, p in params.items():
                expected = p - np.float32(case.lr[step]) * grads[name]
                np.testing.assert_array_equal(rec.params[name][step + 1], expected)
                np.testing.assert_array_equal(rec.grads[name][step], grads[name])
    # Re-recording replaces entries instead of duplicating them.
    record("sgd", tmp_path, cases=["quadratic"], dtypes=("float32",), command="again")
    manifest = vectors.load_manifest(tmp_path)
    quad = [e for e in manifest["records"] if e["case"] == "quadratic"]
    assert len(quad) == 1
    assert quad[0]["provenance"]["command"] == "again"
    assert vectors.verify_files(tmp_path) == []


def test_a_module_without_a_framework_object_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    monkeypatch.setitem(sys.modules, "no_plugin_framework", types.SimpleNamespace(PRESET="x"))
    monkeypatch.setitem(frameworks.FRAMEWORKS, "bare", "no_plugin_framework")
    with pytest.raises(TypeError, match="no_plugin_framework defines no FRAMEWORK"):
        frameworks.load("bare")


def test_recorder_rejects_unknown_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from novograd_ref.conformance.golden._capture import record

    monkeypatch.setitem(sys.modules, "fake_sgd_framework", _fake_framework())
    monkeypatch.setitem(frameworks.FRAMEWORKS, "sgd", "fake_sgd_framework")
    monkeypatch.setitem(presets._SPECS, "sgd", _fake_preset())
    with pytest.raises(ValueError, match="unknown cases: 'nope'"):
        record("sgd", tmp_path, cases=["nope"])
