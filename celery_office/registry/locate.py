"""Where ``agents.yaml`` is: as given, else beside the module that defines the Celery app.

A relative ``office_agents_file`` (the default ``agents.yaml`` included) is first taken from the
worker's working directory, as it always was; when no file is there, the folder of the app's
module is tried, so ``celery -A proj worker`` started from anywhere finds ``proj/agents.yaml``.
The error for a missing file names every place tried.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["app_folder", "candidates"]


def app_folder(app: Any) -> str | None:
    """The folder of the module that defines ``app``, or None when it cannot be told."""
    if app is None:
        return None
    main = getattr(app, "main", None)
    module = sys.modules.get(main) if isinstance(main, str) and main != "__main__" else None
    if getattr(module, "__file__", None) is None:
        module = None
        for candidate in list(sys.modules.values()):
            names = getattr(candidate, "__dict__", {})  # no getattr: a module's own
            if names.get("app") is app or names.get("celery") is app:  # __getattr__ may import
                module = candidate
                break
    path = getattr(module, "__file__", None)
    return os.path.dirname(os.path.abspath(path)) if isinstance(path, str) else None


def candidates(path: str, app: Any = None) -> list[str]:
    """The files to try for ``path``, in order: itself, then beside the app's module."""
    if os.path.isabs(path):
        return [path]
    tried = [path]
    folder = app_folder(app)
    if folder is not None:
        beside = os.path.join(folder, path)
        if os.path.abspath(beside) != os.path.abspath(path):
            tried.append(beside)
    return tried
