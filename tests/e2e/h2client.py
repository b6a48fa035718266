"""HTTP/2 clients for the end-to-end tests: the h2 library as a well-behaved client, and a
raw-frame client for attacks, both over real sockets (TLS with ALPN, or h2c).

``Session`` runs requests through python-hyper's h2 (an independent implementation: it
checks every frame l7lb sends against RFC 9113 as it goes). ``Raw`` writes hand-built
frames (``tests/proxy_h2/h2wire.py``) and reads l7lb's frames back, for the clients no
library would let you be.
"""

from __future__ import annotations

import select
import socket
import ssl
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "proxy_h2"))

from h2wire import Frame, preface, split


def client_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    return ctx


def connect(port: int, tls: bool = True, timeout: float = 10.0) -> socket.socket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if not tls:
        return raw
    s = client_context().wrap_socket(raw, server_hostname="localhost")
    assert s.selected_alpn_protocol() == "h2", s.selected_alpn_protocol()
    return s


@dataclass
class Response:
    stream_id: int
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    reset: int | None = None  # RST_STREAM's error code
    done: bool = False

    def header(self, name: bytes) -> bytes | None:
        for n, v in self.headers:
            if n == name:
                return v
        return None


class GoAway(Exception):
    def __init__(self, last_stream_id: int, code: int) -> None:
        super().__init__(f"GOAWAY last={last_stream_id} code={code}")
        self.last_stream_id = last_stream_id
        self.code = code


class Session:
    """One HTTP/2 connection driven by the h2 library.

    The h2 library closes its connection state on the first GOAWAY it receives and then
    refuses every frame of the streams still in progress (python-hyper/h2 issue #1181,
    open): that is not what RFC 9113 6.8 asks of a client. So GOAWAY frames are taken out
    of the byte stream here, noted in ``goaway``, and the rest is fed to h2; the caller
    opens no stream once ``goaway`` is set."""

    def __init__(self, port: int, tls: bool = True, authority: str = "localhost") -> None:
        self.sock = connect(port, tls)
        self.authority = authority
        self.scheme = "https" if tls else "http"
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.responses: dict[int, Response] = {}
        self.goaway: GoAway | None = None
        self.closed = False
        self.inbox = bytearray()
        self._flush()

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def start(
        self,
        path: str = "/",
        method: str = "GET",
        headers: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
    ) -> int:
        sid = self.conn.get_next_available_stream_id()
        fields = [
            (":method", method),
            (":scheme", self.scheme),
            (":authority", self.authority),
            (":path", path),
            *(headers or []),
        ]
        self.conn.send_headers(sid, fields, end_stream=body is None)
        self.responses[sid] = Response(sid)
        if body is not None:
            self._send_body(sid, body)
        self._flush()
        return sid

    def _send_body(self, sid: int, body: bytes) -> None:
        pos = 0
        while True:
            window = self.conn.local_flow_control_window(sid)
            size = min(window, self.conn.max_outbound_frame_size, len(body) - pos)
            if size > 0 or pos == len(body):
                self.conn.send_data(sid, body[pos : pos + size], end_stream=pos + size == len(body))
                pos += size
                self._flush()
                if pos == len(body):
                    return
            else:
                self._pump(5.0)  # wait for a WINDOW_UPDATE

    def _pump(self, timeout: float) -> bool:
        """Read once (up to ``timeout``); False when the connection closed."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return True
        try:
            data = self.sock.recv(65536)
        except (ConnectionError, ssl.SSLError):
            data = b""
        if not data:
            self.closed = True
            return False
        self.inbox += data
        passed = bytearray()
        while len(self.inbox) >= 9:
            n = int.from_bytes(self.inbox[:3], "big")
            if len(self.inbox) < 9 + n:
                break
            if self.inbox[3] == 0x7:  # GOAWAY
                payload = self.inbox[9 : 9 + n]
                self.goaway = GoAway(
                    int.from_bytes(payload[:4], "big") & 0x7FFFFFFF,
                    int.from_bytes(payload[4:8], "big"),
                )
            else:
                passed += self.inbox[: 9 + n]
            del self.inbox[: 9 + n]
        for ev in self.conn.receive_data(bytes(passed)):
            self._event(ev)
        self._flush()
        return True

    def _event(self, ev: h2.events.Event) -> None:
        if isinstance(ev, h2.events.ResponseReceived):
            r = self.responses[ev.stream_id]
            r.headers = list(ev.headers)
            r.status = int(dict(ev.headers)[b":status"])
        elif isinstance(ev, h2.events.DataReceived):
            r = self.responses[ev.stream_id]
            r.body += ev.data
            self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            self.responses[ev.stream_id].done = True
        elif isinstance(ev, h2.events.StreamReset):
            r = self.responses.get(ev.stream_id)
            if r is not None:
                r.reset = ev.error_code
                r.done = True

    def wait(self, sids: list[int], timeout: float = 30.0) -> list[Response]:
        deadline = time.monotonic() + timeout
        while not all(self.responses[s].done for s in sids):
            if time.monotonic() > deadline:
                raise TimeoutError(f"streams {sids} not done")
            if not self._pump(deadline - time.monotonic()):
                break
        return [self.responses[s] for s in sids]

    def get(self, path: str = "/", **kw: object) -> Response:
        return self.wait([self.start(path, **kw)])[0]  # type: ignore[arg-type]

    def close(self) -> None:
        try:
            self.conn.close_connection()
            self._flush()
        except (OSError, h2.exceptions.ProtocolError):
            pass
        self.sock.close()


class Raw:
    """Hand-built frames out, l7lb's frames in."""

    def __init__(self, port: int, tls: bool = True, **settings: int) -> None:
        self.sock = connect(port, tls)
        self.sock.sendall(preface(**settings))
        self.inbox = bytearray()
        self.frames: list[Frame] = []
        self.closed = False

    def send(self, data: bytes) -> bool:
        """False once l7lb has closed the connection."""
        try:
            self.sock.sendall(data)
            return True
        except (ConnectionError, ssl.SSLError, OSError):
            self.closed = True
            return False

    def read(self, timeout: float = 1.0) -> list[Frame]:
        """The frames that arrive within ``timeout`` (until the connection closes)."""
        deadline = time.monotonic() + timeout
        new: list[Frame] = []
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                break
            try:
                data = self.sock.recv(65536)
            except (ConnectionError, ssl.SSLError, OSError):
                data = b""
            if not data:
                self.closed = True
                break
            self.inbox += data
            new += self._parse()
        self.frames += new
        return new

    def _parse(self) -> list[Frame]:
        out: list[Frame] = []
        while len(self.inbox) >= 9:
            n = int.from_bytes(self.inbox[:3], "big")
            if len(self.inbox) < 9 + n:
                break
            out += split(bytes(self.inbox[: 9 + n]))
            del self.inbox[: 9 + n]
        return out

    def wait_closed(self, timeout: float = 10.0) -> list[Frame]:
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.read(deadline - time.monotonic())
        return self.frames

    def close(self) -> None:
        self.sock.close()
