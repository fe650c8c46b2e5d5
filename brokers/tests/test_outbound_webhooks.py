"""A provider's webhook URL is the provider's choice: we call it as we would a stranger.

The attack these tests reproduce (issue 14): anyone may register a provider with
`webhook_url` `http://127.0.0.1:9999/hook`, list an offer, reserve it, and the worker used
to POST to that address inside our network and keep the reply's body in `last_error`, which
the provider read back from the launch-requests API. The listeners here are raw sockets on
127.0.0.1 that count the connections they get and answer with a secret.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from brokers.http import PermanentHttpError, ProviderHttpClient, TransientHttpError
from brokers.launchers import listed
from brokers.services import launch
from marketplace.models import LaunchRequest, Provider
from marketplace.tests.provider_fixtures import make_listed_offer, make_listed_provider, reserve
from tests.factories import make_org_with_key

pytestmark = pytest.mark.django_db

INTERNAL_SECRET = b"internal-admin-token-5f2c"


class Listener:
    """A TCP server on 127.0.0.1 that counts connections and runs `handle` on each."""

    def __init__(self, handle: Callable[[socket.socket], None]):
        self.handle = handle
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.settimeout(30)
            conn.recv(65536)  # the request (one read is enough for these small ones)
            self.handle(conn)

    def close(self) -> None:
        self.stopped.set()
        # shutdown wakes the thread blocked in accept(): a close alone leaves the kernel's
        # socket listening while accept holds it, and a later test's server on a reused
        # port number was answered by this one.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


@contextlib.contextmanager
def listening(handle: Callable[[socket.socket], None]) -> Iterator[Listener]:
    listener = Listener(handle)
    try:
        yield listener
    finally:
        listener.close()


def answer_500_with_the_secret(conn: socket.socket) -> None:
    conn.sendall(
        b"HTTP/1.1 500 " + INTERNAL_SECRET + b"\r\nContent-Length: "
        + str(len(INTERNAL_SECRET)).encode() + b"\r\nConnection: close\r\n\r\n" + INTERNAL_SECRET
    )  # fmt: skip


def dribble_forever(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for _ in range(120):
        time.sleep(0.25)
        conn.sendall(b"X")  # a header line that never ends, a byte at a time


def answer_200_with_a_megabyte(conn: socket.socket) -> None:
    body = b"A" * (1 << 20)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


@pytest.fixture
def strict(settings):
    """Production's rules: the test settings let test providers listen on loopback."""
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    settings.WEBHOOK_ALLOW_HTTP = True  # even with http allowed, loopback is not
    return settings


def launch_request_of(provider: Provider) -> LaunchRequest:
    reservation = reserve(make_listed_offer(provider))
    launch.launch_reservation(reservation_id=reservation.pk)
    return LaunchRequest.objects.get(reservation=reservation)


def test_the_attack_reaches_nothing_and_reads_nothing_back(strict):
    with listening(answer_500_with_the_secret) as internal:
        # given a provider whose webhook points inside (registered before URLs were checked)
        seller = make_listed_provider(webhook_url="https://hooks.example.com/x")
        Provider.objects.filter(pk=seller.provider.pk).update(
            webhook_url=f"http://127.0.0.1:{internal.port}/hook"
        )
        request = launch_request_of(Provider.objects.get(pk=seller.provider.pk))

        # when the worker delivers its launch request
        with pytest.raises(PermanentHttpError):
            listed.deliver(launch_request_id=request.pk)

        # then nothing reached the internal service, and nothing of it is shown
        assert internal.connections == 0
        request.refresh_from_db()
        assert "refused" in request.last_error
        assert INTERNAL_SECRET.decode() not in request.last_error


def test_a_name_that_resolves_inside_is_refused_where_it_connects(strict, monkeypatch):
    with listening(answer_500_with_the_secret) as internal:
        real_getaddrinfo = socket.getaddrinfo

        def resolver(host, port, *args, **kwargs):  # a DNS answer the attacker controls
            if host == "hooks.attacker.example":
                return real_getaddrinfo("127.0.0.1", port, *args, **kwargs)
            return real_getaddrinfo(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", resolver)
        client = listed.webhook_client()

        with pytest.raises(PermanentHttpError, match="non-public address"):
            client.post_bytes(f"http://hooks.attacker.example:{internal.port}/hook", b"{}")

        assert internal.connections == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9999/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://localhost/hook",
        "https://metadata.google.internal/",
        "http://hooks.example.com/plain-http",
        "https://user:pass@hooks.example.com/",
    ],
)
def test_registration_refuses_a_webhook_we_would_not_call(client, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    settings.WEBHOOK_ALLOW_HTTP = False
    owner = make_org_with_key(role="owner")

    response = client.post(
        "/api/v1/providers/",
        {"org": owner.org.slug, "name": "Acme", "slug": "acme-hooks", "webhook_url": url},
        content_type="application/json",
        **owner.headers,
    )

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_webhook_url"
    assert not Provider.objects.filter(slug="acme-hooks").exists()


def test_registration_takes_a_public_https_webhook(client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    settings.WEBHOOK_ALLOW_HTTP = False
    owner = make_org_with_key(role="owner")

    response = client.post(
        "/api/v1/providers/",
        {"org": owner.org.slug, "name": "Acme", "slug": "acme-hooks",
         "webhook_url": "https://hooks.example.com/gpumarket"},
        content_type="application/json",
        **owner.headers,
    )  # fmt: skip

    assert response.status_code == 201, response.content


def test_a_reply_dribbled_a_byte_at_a_time_is_cut_at_the_deadline():
    # allowed to reach loopback (the test settings), so that only the deadline is tested
    client = ProviderHttpClient(
        timeout=(2, 10), max_retries=0, public_only=True, allow_http=True, allow_private=True,
        deadline=1.5,
    )  # fmt: skip
    with listening(dribble_forever) as slow:
        started = time.monotonic()
        with pytest.raises(TransientHttpError, match=r"no complete reply within 1\.5 s"):
            client.post_bytes(f"http://127.0.0.1:{slow.port}/hook", b"{}")
        elapsed = time.monotonic() - started

    # each byte comes well within the 10 s read timeout, so only the deadline can stop it
    assert elapsed < 5


def test_reply_bodies_are_capped_and_never_quoted():
    client = ProviderHttpClient(
        timeout=(2, 10), max_retries=0, public_only=True, allow_http=True, allow_private=True
    )
    with (
        listening(answer_500_with_the_secret) as failing,
        pytest.raises(TransientHttpError) as error,
    ):
        client.post_bytes(f"http://127.0.0.1:{failing.port}/hook", b"{}")
    assert "HTTP 500" in str(error.value)
    assert INTERNAL_SECRET.decode() not in str(error.value)
    assert error.value.body_excerpt == ""

    with (
        listening(answer_200_with_a_megabyte) as large,
        pytest.raises(TransientHttpError, match="reply larger than 64 KB"),
    ):
        client.post_bytes(f"http://127.0.0.1:{large.port}/hook", b"{}")
