"""Scale-out: gunicorn web, Celery workers, one leader scheduler on PostgreSQL, global rate limits."""
