"""One sync of a pricing source at a time.

Beat may start a source's sync while the last one still runs (a slow provider, a big
catalog), an operator may run `refresh_prices` by hand meanwhile, and Redis hands a task
whose worker seems gone to another worker. Two syncs of one source would write the same
offers at once (lock waits, deadlocks between their writers) and each judge the other's
half-written catalog; so the second one does not run, and says so on its sync record.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections

# The first key of the price syncs' advisory locks ("PS"); the second is the source's name
# hashed by PostgreSQL.
LOCK_NAMESPACE = 0x5053


@contextmanager
def source_sync_lock(source_name: str) -> Iterator[bool]:
    """True while this process holds the source's lock, False if another sync holds it.

    A session-level advisory lock on a connection of its own: the sync's own connection goes
    through many transactions, perhaps inside a caller's, where a lock could outlive a failed
    run; closing this one always releases the lock, as does the death of the process."""
    own = connections[DEFAULT_DB_ALIAS]
    # a wrapper of its own with the same settings (the test database's, under pytest)
    holder = type(own)(dict(own.settings_dict), alias=own.alias)
    key = [LOCK_NAMESPACE, source_name]
    locked = False
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", key)
            (locked,) = cursor.fetchone()
        yield locked
    finally:
        try:
            if locked:
                # Released here, not by closing: the server ends a closed session a moment
                # after the client returns, and a sync started in that moment would find the
                # lock still held and skip.
                with holder.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", key)
        finally:
            holder.close()
