"""ADOLF: an example office of 14 agents in 8 departments, for celery-office.

``adolf.app.app`` is the Celery app (``celery -A adolf.app worker``); ``adolf.tasks`` holds one
module of emulated tasks per department; ``adolf.round.send_round`` sends one task of every
agent. The agents themselves are described in ``agents.yaml`` at the repository's top level.
"""

from adolf.app import app

__all__ = ["app"]
