"""Gunicorn's settings, shared by `make serve` and deploy/compose.yaml (`-c config/gunicorn_conf.py`).

The address comes from the command line (`--bind`): loopback for `make serve`, every
interface inside a container. Read by gunicorn as a file, not imported by the app.
"""

import os

# Synchronous workers: every request is short (the slow work is Celery's), so processes,
# not threads, use the cores. WEB_CONCURRENCY is the usual name for their number.
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
# A request that takes longer is a bug or a stuck connection: its worker is replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20  # on SIGTERM, requests in flight get this long to finish
keepalive = 5  # behind a proxy that keeps connections open
# Replace each worker after about a thousand requests, so that a slow leak never grows.
max_requests = 1000
max_requests_jitter = 100
accesslog = "-"  # stdout, beside the app's JSON log lines
errorlog = "-"
# Gunicorn 25+ opens a control socket in ~/.gunicorn by default: one per user, so a second
# server on the machine (a test's, another checkout's) would take it over. Nothing uses it.
control_socket_disable = True
