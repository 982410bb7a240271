"""Judging a run: comparison against the oracle, divergence, the verdict and its
reports (text, JSON, JUnit XML)."""
