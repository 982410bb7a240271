"""``explain``: probes, experiments, the search over configurations, and the
explanation."""
