"""One reading of ``--impl``: the loader, the spec check and the command line agree."""

from __future__ import annotations

import pytest

from novograd_ref.conformance import ImplementationError, implementation
from novograd_ref.conformance.adapters._loader import check_spec
from novograd_ref.conformance.targets import ImplSpec, parse_impl


@pytest.mark.parametrize(("spec", "kind", "name", "preset"), [
    ("exec:./port --fast", "exec", "./port --fast", "optax"),
    ("torch:my_optim:NovoGrad?kw.foreach=False", "target", "my_optim", "optax"),
    ("preset:timm", "preset", "timm", "timm"),
    ("paper", "preset", "paper", "paper"),
    ("tests.flawed_ports:v_from_zero", "factory", "tests.flawed_ports", "optax"),
    ("timm", "framework", "timm", "timm"),  # a preset and a framework: the framework
    ("framework:optax", "framework", "optax", "optax"),
    ("framework:paper", "framework", "paper", "optax"),  # no such framework
    ("frobnicate", "framework", "frobnicate", "optax"),
])
def test_each_name_reads_as_one_kind(spec: str, kind: str, name: str, preset: str) -> None:
    impl = parse_impl(spec)
    assert (impl.kind, impl.name) == (kind, name)
    assert impl.keywords_preset() == preset


def test_a_factory_keeps_its_name() -> None:
    assert parse_impl("pkg.mod:make") == ImplSpec("factory", "pkg.mod", "make")


@pytest.mark.parametrize(("spec", "message"), [
    ("", "an empty name is refused"),
    ("x" * 1001, "a name of at most 1000 characters"),
    ("a." * 40 + "b:make", "at most 32 dotted components"),
    ("my mod:make", "is not module:factory"),
    ("torch:my optim:NovoGrad", "is not a module name"),
])
def test_a_malformed_name_is_refused_alike_everywhere(spec: str, message: str) -> None:
    for read in (parse_impl, check_spec, implementation):
        with pytest.raises(ImplementationError, match=message):
            read(spec)


@pytest.mark.parametrize("spec", ["framework:paper", "preset:nonesuch", "frobnicate"])
def test_the_check_refuses_what_the_loader_refuses(spec: str) -> None:
    with pytest.raises(ImplementationError) as checked:
        check_spec(spec)
    with pytest.raises((ImplementationError, ValueError)):
        implementation(spec)
    assert spec.split(":")[-1] in str(checked.value)
