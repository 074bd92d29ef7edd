"""The benchmark suite (not part of the unit tests): `python -m benchmarks --help`."""
