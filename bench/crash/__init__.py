"""How long after a run's end a SIGKILL can still take the end along (``python -m bench.crash``)."""
