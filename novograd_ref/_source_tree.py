"""``novograd_ref.backends`` wherever the package is imported from.

An install maps the top-level ``backends/`` folder to ``novograd_ref.backends``
(setuptools' ``package-dir``, for wheels and editable installs alike). A source
checkout or an unpacked sdist has no such mapping: there the folder beside the package
is loaded under the same name, so ``import novograd_ref`` and ``python -m novograd_ref``
also work in the checkout root, where the installed package is shadowed by the source
tree.

>>> import novograd_ref
>>> novograd_ref.backends.__name__
'novograd_ref.backends'
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def import_backends(package: str, package_file: str) -> ModuleType:
    """Import ``PACKAGE.backends``: from the source tree when the package is imported
    from one, else from the install.

    A source tree is recognised by ``pyproject.toml`` and ``backends/__init__.py`` beside
    the package folder (an installed package has neither). Its own ``backends/`` is then
    used even where an install maps the name elsewhere (an editable install of another
    checkout), so that the package and its backends always come from the same tree.
    """
    name = f"{package}.backends"
    root = Path(package_file).resolve().parent.parent
    folder = root / "backends"
    in_source_tree = (root / "pyproject.toml").is_file() and (folder / "__init__.py").is_file()
    if not in_source_tree:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
        raise ModuleNotFoundError(
            f"{name} is not installed and {folder} is not there: install novograd-ref "
            "(pip install .) or import it from a complete source checkout",
            name=name,
        )
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {folder / '__init__.py'}", name=name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
