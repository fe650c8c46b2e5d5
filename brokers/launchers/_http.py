"""What the launchers of HTTP APIs share: a client that carries the key from settings, and
one mapping from HTTP failures to launch errors.

Keys live in settings (`LAMBDA_API_KEY`...), go out in a header only, and `brokers.http`
scrubs them from every message it builds, so no launch error or log line can carry one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from brokers.http import HttpError, PermanentHttpError, ProviderHttpClient, TransientHttpError
from brokers.launchers.base import CapacityError, PermanentLaunchError, TransientLaunchError

# Launch calls are made once per task run (the task retries, after looking the instance up
# by its name); polls and terminations may retry in the client.
TIMEOUT = (5, 30)
MAX_RETRIES = 2


def api_client(*, provider: str, base_url: str, api_key: str, setting: str) -> ProviderHttpClient:
    if not api_key:
        raise PermanentLaunchError(f"{provider}: no API key configured (set {setting})")
    return ProviderHttpClient(base_url, api_key=api_key, timeout=TIMEOUT, max_retries=MAX_RETRIES)


@contextmanager
def launch_errors(
    provider: str, *, capacity_scope: Callable[[HttpError], str | None] | None = None
) -> Iterator[None]:
    """Timeouts, 429 and 5xx: transient. A provider's "no capacity" answer (recognised by
    `capacity_scope`, which names its scope): CapacityError. 401/403 and other 4xx: permanent."""
    try:
        yield
    except TransientHttpError as exc:
        raise TransientLaunchError(f"{provider}: {exc}") from exc
    except PermanentHttpError as exc:
        scope = capacity_scope(exc) if capacity_scope else None
        if scope:
            raise CapacityError(f"{provider}: no capacity ({exc})", scope=scope) from exc
        if exc.status in (401, 403):
            raise PermanentLaunchError(f"{provider}: credentials rejected ({exc})") from exc
        raise PermanentLaunchError(f"{provider}: {exc}") from exc


def unless_gone(call: Callable[[], Any]) -> Any:
    """The call's answer, or None when the provider answers 404: the instance is gone."""
    try:
        return call()
    except PermanentHttpError as exc:
        if exc.status == 404:
            return None
        raise
