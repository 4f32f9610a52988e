"""Each HTTP/2 attack class against the real sidecar, with raw frames written here (python3-h2's
HPACK encoder for header blocks): the attacker's connection is closed with GOAWAY, or only its
stream is reset, and a gRPC client on another connection is served meanwhile.

The limits are the defaults of sidecar/h2/limits.h (docs/http2.md lists them); each attack sends
well past them.
"""
import socket
import struct
import threading
import time

import grpc
import hpack
import pytest

from common import start_sidecar
from procs import GrpcModel, Upstream, metric_sum

import model as standin

v2, v2_grpc, shapes, shapes_grpc = standin.load_stubs()

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, CONTINUATION = 0, 1, 3, 4, 6, 7, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
ENHANCE_YOUR_CALM, PROTOCOL_ERROR, REFUSED_STREAM = 0xB, 0x1, 0x7


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def grpc_headers(encoder, extra=()):
    return encoder.encode([(":method", "POST"), (":scheme", "http"), (":authority", "model"),
                           (":path", "/mlsidecar.test.Shapes/Unary"),
                           ("content-type", "application/grpc"), ("te", "trailers"), *extra])


class Attacker:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
        self.encoder = hpack.Encoder()
        self.buf = b""

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sidecar closed first: what the frames after it would have got anyway

    def frames(self, timeout=10):
        """Frames until the connection closes (or `timeout`): [(type, flags, stream, payload)]."""
        out = []
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            self.buf += chunk
            while len(self.buf) >= 9:
                length = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + length:
                    break
                kind, flags = self.buf[3], self.buf[4]
                stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                out.append((kind, flags, stream, self.buf[9:9 + length]))
                self.buf = self.buf[9 + length:]
        return out

    def close(self):
        self.sock.close()


def goaway_code(frames):
    codes = [struct.unpack(">II", p[:8])[1] for k, _, _, p in frames if k == GOAWAY]
    return codes[-1] if codes else None


@pytest.fixture(scope="module")
def sidecar():
    with GrpcModel() as model, Upstream() as up:
        with start_sidecar(up.port, "--grpc-upstream", f"127.0.0.1:{model.port}", threads=2) as sc:
            yield sc


class Bystander:
    """A grpcio client that keeps calling on its own connection while an attack runs."""

    def __init__(self, port):
        self.port = port
        self.ok = 0
        self.failed = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self):
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as ch:
            stub = shapes_grpc.ShapesStub(ch)
            while not self.stop.is_set():
                try:
                    assert stub.Unary(shapes.Chunk(seq=self.ok), timeout=5).seq == self.ok
                    self.ok += 1
                except Exception as e:  # noqa: BLE001 - any failure is what the test reports
                    self.failed.append(repr(e))
                time.sleep(0.01)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        time.sleep(0.3)  # a few calls after the attack too
        self.stop.set()
        self.thread.join(10)


def rapid_reset(a):
    for i in range(1000):
        sid = 1 + 2 * i
        a.send(frame(HEADERS, END_HEADERS, sid, grpc_headers(a.encoder)) + frame(RST_STREAM, 0, sid, struct.pack(">I", 8)))


def continuation_flood(a):
    block = grpc_headers(a.encoder)
    a.send(frame(HEADERS, 0, 1, block[:5]))
    for _ in range(2000):
        a.send(frame(CONTINUATION, 0, 1, b""))


def settings_flood(a):
    a.send(b"".join(frame(SETTINGS, 0, 0) for _ in range(500)))


def ping_flood(a):
    a.send(b"".join(frame(PING, 0, 0, struct.pack(">Q", i)) for i in range(2000)))


def empty_data_flood(a):
    a.send(frame(HEADERS, END_HEADERS, 1, grpc_headers(a.encoder)))
    a.send(b"".join(frame(DATA, 0, 1) for _ in range(2000)))


@pytest.mark.parametrize("attack", [rapid_reset, continuation_flood, settings_flood, ping_flood,
                                    empty_data_flood], ids=lambda f: f.__name__)
def test_flood_closes_the_attackers_connection_only(sidecar, attack):
    with Bystander(sidecar.port) as bystander:
        a = Attacker(sidecar.port)
        try:
            attack(a)
            got = a.frames()
        finally:
            a.close()
    assert goaway_code(got) in (ENHANCE_YOUR_CALM, PROTOCOL_ERROR), got[-3:]
    assert bystander.ok > 0 and not bystander.failed, bystander.failed[:3]
    # An SRE sees it: the refusal is counted with its reason.
    assert metric_sum(sidecar.scrape(), "mlsidecar_http2_refusals_total",
                      reason=attack.__name__) >= 1


def test_hpack_bomb_resets_the_stream_and_the_connection_serves_on(sidecar):
    """A header block that decodes far beyond the header list limit: that stream is refused, the
    same connection then carries a normal call."""
    with Bystander(sidecar.port) as bystander:
        a = Attacker(sidecar.port)
        try:
            big = "x" * 4000
            # Indexed once, then referenced: a few bytes on the wire for each 4 KB decoded.
            block = grpc_headers(a.encoder, [("x-bomb", big)] * 40)
            a.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
            body = shapes.Chunk(seq=7).SerializeToString()
            a.send(frame(HEADERS, END_HEADERS, 3, grpc_headers(a.encoder)) +
                   frame(DATA, END_STREAM, 3, b"\0" + len(body).to_bytes(4, "big") + body))
            got = a.frames(timeout=5)
        finally:
            a.close()
    assert len(block) * 20 < 40 * 4000  # a bomb: decoded, 20 times what was sent
    refused = [f for f in got if f[2] == 1 and (f[0] == RST_STREAM or f[0] == HEADERS)]
    assert refused, got
    assert goaway_code(got) is None  # the connection itself stayed
    answered = [f for f in got if f[2] == 3 and f[0] == DATA]
    assert answered, got
    assert bystander.ok > 0 and not bystander.failed
    assert metric_sum(sidecar.scrape(), "mlsidecar_http2_refusals_total",
                      reason="header_list_too_large") >= 1


def test_streams_beyond_the_limit_are_refused(sidecar):
    a = Attacker(sidecar.port)
    try:
        # 150 calls that never end their request: 100 open at once, the rest refused.
        a.frames(timeout=0.5)  # our SETTINGS ack and the sidecar's SETTINGS
        a.send(frame(SETTINGS, ACK, 0))
        for i in range(150):
            a.send(frame(HEADERS, END_HEADERS, 1 + 2 * i, grpc_headers(a.encoder, [("x-delay-ms", "100")])))
        got = a.frames(timeout=3)
    finally:
        a.close()
    refused = {s for k, _, s, p in got if k == RST_STREAM and struct.unpack(">I", p)[0] == REFUSED_STREAM}
    assert len(refused) >= 50 or goaway_code(got) == PROTOCOL_ERROR, got[-5:]
