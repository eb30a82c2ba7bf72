"""The fleet benchmark: many workers writing one table (run it: python -m bench.fleet)."""
