"""``python -m bench.page``: the office page with 1,000 agents in headless Chromium (see
``__main__``)."""
