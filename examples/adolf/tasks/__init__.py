"""One module of emulated tasks per ADOLF department.

Task names are Celery's defaults, from the module path: ``adolf.tasks.<department>.<task>``.
"""

from adolf.tasks import (  # noqa: F401  (imported to register the tasks)
    cfo,
    content_factory,
    knowledge,
    lex,
    marketing,
    reputation,
    scout,
    watcher,
)

__all__ = [
    "watcher",
    "reputation",
    "content_factory",
    "marketing",
    "scout",
    "cfo",
    "knowledge",
    "lex",
]
