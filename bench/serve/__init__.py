"""``python -m bench.serve``: ``celery office serve`` under many pollers, healthy and with its
database hung (see ``__main__``)."""
