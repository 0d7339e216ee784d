"""Background work: a task queue in the database, workers that run tasks, and the scheduler that enqueues them.

* :mod:`.queue`: enqueue, claim (with a lease), complete, retry with backoff.
* :mod:`.heartbeat`: renews the leases of the tasks a worker process runs while it lives.
* :mod:`.registry`: task handlers by kind.
* :mod:`.worker`: the embedded worker (a thread pool inside ``connector serve``).
* :mod:`.scheduler`: APScheduler jobs with fixed ids that only enqueue tasks.

Tasks carry ids, never payloads: the rows they point at are the truth, so a task can run twice
(after a crash, a redelivery) and every handler is written to be idempotent.
"""
