"""Golden vectors: recording from frameworks, export from the oracle, provenance."""
