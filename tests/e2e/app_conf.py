"""What every Celery app of the end-to-end tests reads from the test's environment."""

import os

TEST_CONF = dict(
    broker_url=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
    result_backend=os.environ.get("CELERY_RESULT_BACKEND", "redis://127.0.0.1:6379/0"),
    task_default_queue=os.environ.get("OFFICE_TEST_QUEUE", "office-test"),
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=True,
    result_expires=600,
)
