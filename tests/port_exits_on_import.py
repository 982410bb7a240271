"""A port module that ends the process when it is imported."""

import sys

sys.exit("this port exits on import")


def make(**kwargs: object) -> object:  # pragma: no cover - never reached
    raise AssertionError
