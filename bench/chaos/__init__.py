"""The chaos harness: real workers under mixed faults, every row checked against an oracle
(run it: python -m bench.chaos)."""
