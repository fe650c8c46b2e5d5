"""The load benchmark's pure parts (bench/load.py); the load itself runs in `make bench ARGS=load`."""

import itertools
from collections import Counter
from urllib.parse import parse_qs, urlsplit

from bench.load import (
    HIGH_RATE_LIMITS,
    QUOTES,
    SEARCHES,
    Phase,
    Report,
    new_search_mix,
    percentile,
    quote_requests,
    request_mix,
    search_requests,
)


def test_it_takes_percentiles_by_nearest_rank():
    samples = [float(n) for n in range(100, 0, -1)]  # 1..100, unordered

    assert percentile(samples, 0.5) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile(samples, 1.0) == 100.0
    assert percentile(samples, 0.29) == 29.0
    assert percentile(samples, 0.0) == 1.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([1.0, 2.0, 3.0], 0.5) == 2.0


def test_it_sends_every_search_of_the_mix_url_encoded():
    requests = search_requests()

    sent = [parse_qs(urlsplit(r.path).query, keep_blank_values=True) for r in requests]
    assert [r.method for r in requests] == ["GET"] * len(SEARCHES)
    assert {urlsplit(r.path).path for r in requests} == {"/api/v1/offers/"}
    assert [(s["q"][0], s.get("sort", [""])[0]) for s in sent] == SEARCHES


def test_it_posts_every_quote_of_the_mix():
    requests = quote_requests()

    assert [(r.method, r.path) for r in requests] == [("POST", "/api/v1/quotes/")] * len(QUOTES)
    assert [r.body for r in requests] == QUOTES


def test_each_client_runs_the_whole_mix_from_its_own_start():
    requests = search_requests()[:3]

    sequences = request_mix(requests, clients=4)

    firsts = [list(itertools.islice(sequence, 4)) for sequence in sequences]
    assert [first[0] for first in firsts] == [requests[0], requests[1], requests[2], requests[0]]
    assert firsts[1] == [requests[1], requests[2], requests[0], requests[1]]


def test_each_new_search_is_a_search_of_the_mix_never_asked_before():
    sequences = new_search_mix(clients=3)

    sent = [r.path for sequence in sequences for r in itertools.islice(sequence, 2 * len(SEARCHES))]
    params = [parse_qs(urlsplit(path).query, keep_blank_values=True) for path in sent]
    assert len(set(sent)) == len(sent) == 3 * 2 * len(SEARCHES)
    # the first client's first search is the mix's first, "" with a price bound
    assert params[0]["q"] == ["price<1000000/h"] and "sort" not in params[0]
    second = SEARCHES[1]
    assert params[1]["q"][0].startswith(f"{second[0]} price<") and params[1]["sort"] == [second[1]]
    bounds = [int(p["q"][0].rsplit("price<", 1)[1].removesuffix("/h")) for p in params]
    assert min(bounds) >= 1_000_000  # above any offer's price per hour: the same offers match


def test_it_reports_rates_errors_and_the_aim():
    # given
    serve = Phase("serve", "search", latencies=[0.004] * 98 + [0.060] * 2, seconds=10.0)
    serve.errors = Counter({429: 2})
    serve.first_error[429] = '{"error": {"code": "throttled"}}'
    serve.wall, serve.client_cpu, serve.app_cpu = 15.0, 3.0, 1.02
    serve.app_cpu_by_role = Counter(web=0.918, supervisor=0.0816, celery=0.0204)
    dev = Phase("run", "search", latencies=[0.010] * 50, seconds=10.0, wall=15.0)
    new = Phase("serve", "new search", latencies=[0.020] * 25, seconds=10.0, wall=15.0)
    report = Report()

    # when
    report.table([serve, new, dev])

    # then
    text = "\n".join(report.lines)
    assert serve.requests == 102
    assert serve.per_second == 10.0
    assert (
        "serve search            102       2      10     4.0    60.0    60.0      10.0 ms" in text
    )
    assert "serve search: 429 x2" in text and "throttled" in text
    # 0.918 s over 102 requests is 9.0 ms each
    assert "serve search: app CPU/req by process, ms: celery 0.2, supervisor 0.8, web 9.0" in text
    assert "searches, serve/run: 2.0x the requests per second" in text
    assert "searches, repeated/new (serve): 4.0x the requests per second" in text
    assert "serve new search         25       0       2" in text
    assert "NOT met" in text


def test_it_raises_the_rate_limits_the_mixes_meet():
    assert {HIGH_RATE_LIMITS[f"RATE_LIMIT_{scope}"] for scope in ("SEARCH", "RESERVE")} == {
        "1000000/min"
    }
