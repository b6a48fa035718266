"""A tiny asyncio HTTP backend whose behaviour a test changes while it runs."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Backend:
    """Answers every request with ``status`` and ``body`` after ``delay``
    seconds and closes; records each request head."""

    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0
    chunked: bool = False
    requests: list[bytes] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # loop time of each connection
    connections: int = 0
    server: asyncio.Server | None = None

    port: int = 0

    async def start(self, ssl_ctx: ssl.SSLContext | None = None) -> Backend:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=ssl_ctx)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.times.append(asyncio.get_running_loop().time())
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(head)
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.chunked:
                mid = len(self.body) // 2
                chunks = b"".join(
                    b"%x\r\n%s\r\n" % (len(c), c) for c in (self.body[:mid], self.body[mid:]) if c
                )
                writer.write(
                    b"HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\n\r\n%s0\r\n\r\n"
                    % (self.status, chunks)
                )
            else:
                writer.write(
                    b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                    % (self.status, len(self.body), self.body)
                )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass  # TCP checks connect and leave
        finally:
            writer.close()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "backend.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    d = tmp_path_factory.mktemp("tls")
    cert_path, key_path = d / "cert.pem", d / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    yield cert_path, key_path


@pytest.fixture
def backend_type() -> type[Backend]:
    """The Backend class (test modules cannot import conftest under importlib)."""
    return Backend
