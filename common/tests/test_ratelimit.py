"""The limiter every limit counts with (common.ratelimit): rates, sliding windows, the wait
it answers, and what it does when Redis fails. Time is frozen at T0, the start of a minute,
an hour and a quarter of an hour."""

from __future__ import annotations

import pytest
import redis

from common import ratelimit
from common.ratelimit import Rate, parse_rate
from tests.clock import frozen_at_t0

ALICE = ("write", "user:1")


@pytest.fixture
def clock(rate_limits):
    rate_limits(write="3/min", read="2/min")
    with frozen_at_t0() as move_to:
        yield move_to


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("600/min", Rate(600, 60)),
        ("5/15min", Rate(5, 900)),
        ("30/h", Rate(30, 3600)),
        ("2/hours", Rate(2, 3600)),
        ("1000/day", Rate(1000, 86400)),
        (" 10 / 2s ", Rate(10, 2)),
    ],
)
def test_it_reads_rates(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "min", "0/min", "5/0min", "5/fortnight", "-1/s", "5"])
def test_it_refuses_a_malformed_rate(text):
    with pytest.raises(ValueError, match="must be a rate such as 100/min"):
        parse_rate(text)


def test_it_allows_the_rate_then_answers_the_wait(clock):
    assert [ratelimit.hit(ALICE) for _ in range(3)] == [None, None, None]
    # 3 at the start of the window: the next minute starts with them weighing 3, and they
    # weigh 2 (room for one) a third of the way into it.
    assert ratelimit.hit(ALICE) == 80
    clock(79)
    assert ratelimit.hit(ALICE) is not None
    clock(80)
    assert ratelimit.hit(ALICE) is None
    assert ratelimit.hit(ALICE) is not None


def test_a_refused_request_does_not_count(clock):
    for _ in range(3):
        ratelimit.hit(ALICE)
    for _ in range(50):
        assert ratelimit.hit(ALICE) == 80
    clock(80)
    assert ratelimit.hit(ALICE) is None


def test_requests_spread_over_the_last_window_weigh_by_how_much_of_it_is_left(clock):
    clock(50)
    for _ in range(3):
        ratelimit.hit(ALICE)
    # at 70 s the previous window (3 requests) still weighs 3 x 50/60 = 2.5
    clock(70)
    assert ratelimit.hit(ALICE) == 10  # at 80 s they weigh 2: room for one
    clock(90)  # it weighs 1.5: one more fits, not two
    assert ratelimit.hit(ALICE) is None
    assert ratelimit.hit(ALICE) is not None


def test_counters_are_per_scope_and_ident(clock):
    for _ in range(3):
        ratelimit.hit(ALICE)
    assert ratelimit.hit(ALICE) is not None
    assert ratelimit.hit(("write", "user:2")) is None
    assert ratelimit.hit(("read", "user:1")) is None


def test_a_request_refused_by_one_limit_counts_against_none(clock):
    both = (ALICE, ("read", "user:1"))
    assert ratelimit.hit(*both) is None
    assert ratelimit.hit(*both) is None
    assert ratelimit.hit(*both) is not None  # read (2/min) is spent
    # write counted two, not three: one more fits
    assert ratelimit.hit(ALICE) is None
    assert ratelimit.hit(ALICE) is not None


def test_peek_counts_nothing_and_record_refuses_nothing(clock):
    for _ in range(5):
        assert ratelimit.peek(ALICE) is None
    for _ in range(4):
        ratelimit.record(ALICE)  # one past the limit: records are failures, not requests
    assert ratelimit.peek(ALICE) == 60 + 30  # the 4 weigh 2 halfway into the next minute
    ratelimit.clear(ALICE)
    assert ratelimit.peek(ALICE) is None


def test_an_ipv6_client_is_counted_by_its_64_block():
    assert ratelimit.address_ident("2001:db8:1:2:aaaa::1") == "ip:2001:db8:1:2::/64"
    assert ratelimit.address_ident("2001:db8:1:2:bbbb::9") == "ip:2001:db8:1:2::/64"
    assert ratelimit.address_ident("::ffff:203.0.113.7") == "ip:203.0.113.7"
    assert ratelimit.address_ident("203.0.113.7") == "ip:203.0.113.7"


def test_it_allows_and_logs_when_redis_fails(clock, monkeypatch, caplog):
    def fail(*args, **kwargs):
        raise redis.ConnectionError("Redis is down")

    # every command and pipeline to Redis fails, whichever way the limiter sends it
    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", fail)
    assert [ratelimit.hit(ALICE) for _ in range(5)] == [None] * 5
    assert ratelimit.peek(ALICE) is None
    assert "rate limits not counted: the cache failed" in caplog.text
    assert "rate limits not read: the cache failed" in caplog.text


def test_a_request_costs_one_round_trip_to_redis_however_many_limits(clock, monkeypatch):
    ratelimit.peek(ALICE)  # the connection is open (its handshake is not the request's)
    sent = []
    send = redis.connection.AbstractConnection.send_packed_command

    def counted(connection, command, *args, **kwargs):
        sent.append(command)
        return send(connection, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
    both = (ALICE, ("read", "user:1"))
    assert ratelimit.hit(*both) is None
    assert len(sent) == 1
    # and a peek at two limits is one read too
    sent.clear()
    assert ratelimit.peek(*both) is None
    assert len(sent) == 1


def test_a_counter_expires_after_two_periods(clock):
    from django.core.cache import cache

    ratelimit.hit(ALICE)
    window = ratelimit._Window(*ALICE)
    assert cache.get(window.key) == 1
    assert 60 < ratelimit._redis().ttl(cache.make_key(window.key)) <= 120
