"""Overhead: what the instrumentation costs a worker (throughput) and one task (handlers)."""
