"""The Celery app `tests/test_cli.py` runs `celery -A cli_app office ...` against.

No broker is needed: the office commands never send a task. The database and the registry come
from the environment (OFFICE_DATABASE_URL, OFFICE_AGENTS_FILE) through celery-office's settings.
"""

from celery import Celery

app = Celery("cli_app")
app.conf.update(broker_url="memory://")


@app.task(name="cli_app.scan_prices")
def scan_prices():
    return 150


@app.task(name="cli_app.process_reviews")
def process_reviews():
    return 12


@app.task(name="cli_app.orphan_task")
def orphan_task():
    return None
