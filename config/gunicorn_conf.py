"""Gunicorn's settings, shared by `make serve` and deploy/compose.yaml (`-c config/gunicorn_conf.py`).

The address comes from the command line (`--bind`): loopback for `make serve`, every
interface inside a container. Read by gunicorn as a file, not imported by the app.
"""

import os

# Worker processes use the cores (WEB_CONCURRENCY is the usual name for their number); each
# serves a few requests at once on threads, so that one waiting on PostgreSQL or Redis
# leaves its core to another, and keeps its clients' connections open between requests:
# gunicorn's synchronous workers close every connection after one response, and a client
# (or a proxy) then pays a new TCP connection per request (`make bench ARGS=load`).
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# The app is imported once, in the master, before the workers fork: a worker replaced after
# max_requests starts in milliseconds instead of importing Django again on a busy core.
preload_app = True
# A request that takes longer is a bug or a stuck connection: its worker is replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20  # on SIGTERM, requests in flight get this long to finish
keepalive = 5  # seconds an idle client connection is kept open
# Replace each worker after about ten thousand requests, so that a slow leak never grows.
max_requests = 10000
max_requests_jitter = 1000
accesslog = "-"  # stdout, beside the app's JSON log lines
errorlog = "-"
# Gunicorn 25+ opens a control socket in ~/.gunicorn by default: one per user, so a second
# server on the machine (a test's, another checkout's) would take it over. Nothing uses it.
control_socket_disable = True
