"""What runs inside a Celery worker, per process: the bootstep, the signal handlers, the
buffer and its flusher, the hand-over from pool processes to the main process, and the main
process's duties and judgement. Nothing here is imported until a worker needs it."""
