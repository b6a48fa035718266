"""``rediss://``: the shared store over TLS, against a real redis-server serving TLS only.

The certificate is checked (against the CA named by ``ssl_ca_certs``): a server whose
certificate another CA signed is unreachable, as is a plain ``redis://`` client on the TLS
port; both are counted failures, never a crash or a silent plain-text fallback.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from engines import TlsRedisProc, ip_certificate

from l7lb.store.backend import open_store
from l7lb.store.settings import parse_store_table

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[TlsRedisProc]:
    for tool in ("redis-server", "openssl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (CI installs it with apt)")
    server = TlsRedisProc(tmp_path)
    server.start()
    yield server
    server.stop()


def test_round_trip_over_tls(tls_redis: TlsRedisProc) -> None:
    async def main() -> None:
        store = open_store(tls_redis.settings())
        try:
            assert await store.set(b"k", b"over tls", 60)
            assert await store.get(b"k") == b"over tls"
            assert store.counters.failures == 0
        finally:
            await store.close()

    asyncio.run(main())


def test_the_url_carries_the_tls_options(tls_redis: TlsRedisProc) -> None:
    """What a configuration file says, parsed as l7lb parses it, reaches the server."""
    key = "ab" * 32
    table = {"url": tls_redis.url, "session_key": key, "timeout": "1s"}
    settings, issues = parse_store_table(table, "store")
    assert issues == [] and settings is not None
    assert settings.tls and settings.tls_ca_file == tls_redis.cert

    async def main() -> None:
        store = open_store(settings)
        try:
            assert await store.set(b"from-url", b"yes", 60)
            assert await store.get(b"from-url") == b"yes"
        finally:
            await store.close()

    asyncio.run(main())


def test_a_certificate_from_another_ca_is_refused(tls_redis: TlsRedisProc, tmp_path: Path) -> None:
    other_ca, _ = ip_certificate(tmp_path, "other")

    async def main() -> None:
        store = open_store(tls_redis.settings(tls_ca_file=other_ca), retry_interval=60)
        try:
            assert await store.set(b"k", b"v", 60) is False
            assert await store.get(b"k") is None
            assert store.counters.errors >= 1 and not store.reachable
        finally:
            await store.close()

    asyncio.run(main())


def test_plain_redis_on_the_tls_port_is_unreachable(tls_redis: TlsRedisProc) -> None:
    async def main() -> None:
        url = tls_redis.url.replace("rediss", "redis")
        plain = tls_redis.settings(tls=False, tls_ca_file=None, url=url)
        store = open_store(plain, retry_interval=60)
        try:
            assert await store.set(b"k", b"v", 60) is False
            assert not store.reachable
        finally:
            await store.close()

    asyncio.run(main())
