"""Usage per tenant per day: API requests, orders placed, events published, stored bytes (a feature
home outside the kernel; the core counts through ``saas.hooks``: ``count_usage``, ``after_job``,
``worker_shutdown``)."""
