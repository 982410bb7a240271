"""The live checks: verify and identify on standard and generated cases."""
