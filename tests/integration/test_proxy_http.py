"""The sidecar relays HTTP/1.1 faithfully: bodies byte for byte, HEAD, 204/304, pipelining,
Expect: 100-continue, HTTP/1.0 clients, x-request-id, hop-by-hop headers."""

import hashlib
import http.client
import json
import os
import threading

import pytest

from common import start_sidecar
from procs import expected_bytes, http_request, wait_for
from rawhttp import RawClient, RawUpstream

MB = 1024 * 1024


def hdr(headers, name):
    values = [v for n, v in headers if n.lower() == name.lower()]
    assert len(values) <= 1, (name, values)
    return values[0] if values else None


def inspect(sidecar, method="GET", headers=None, body=None):
    status, resp_headers, data = http_request(sidecar.port, method, "/inspect", body, headers)
    assert status == 200, data
    return json.loads(data), resp_headers


# --- bodies --------------------------------------------------------------------------------

def test_small_body_echoed_byte_for_byte(sidecar):
    body = bytes(range(256)) * 3 + b"\r\n\r\n0\r\n\r\n"
    status, headers, data = http_request(sidecar.port, "POST", "/echo", body,
                                         {"Content-Type": "application/x-test"})
    assert status == 200
    assert data == body
    assert hdr(headers, "Content-Type") == "application/x-test"
    assert hdr(headers, "Content-Length") == str(len(body))


def test_empty_body_post(sidecar):
    status, _, data = http_request(sidecar.port, "POST", "/echo", b"")
    assert (status, data) == (200, b"")


def test_10mb_upload_and_download_identical(sidecar):
    body = os.urandom(10 * MB)
    status, headers, data = http_request(sidecar.port, "POST", "/echo", body, timeout=60)
    assert status == 200
    assert hdr(headers, "x-upstream-body-sha256") == hashlib.sha256(body).hexdigest()
    assert len(data) == len(body) and data == body

    status, headers, data = http_request(sidecar.port, "GET", "/bytes?n=%d" % (10 * MB), timeout=60)
    assert status == 200 and hdr(headers, "Content-Length") == str(10 * MB)
    assert data == expected_bytes(10 * MB)


def test_chunked_response_relayed_chunked_and_identical(sidecar):
    n = 10 * MB + 123
    status, headers, data = http_request(sidecar.port, "GET",
                                         "/bytes?n=%d&chunked=1&chunk=65536" % n, timeout=60)
    assert status == 200
    assert hdr(headers, "Transfer-Encoding") == "chunked"
    assert hdr(headers, "Content-Length") is None
    assert data == expected_bytes(n)


@pytest.fixture
def fresh_sidecar(upstream):
    """A sidecar of its own, so that a pooled model connection one test spoils cannot fail the
    next test (see test_last_chunk_of_request_sent_once)."""
    with start_sidecar(upstream.port, threads=1) as sc:
        yield sc


def test_chunked_request_reaches_model_whole(fresh_sidecar):
    sidecar = fresh_sidecar
    pieces = [os.urandom(n) for n in (1, 1000, 65536, 7, 300000)]
    body = b"".join(pieces)
    conn = http.client.HTTPConnection("127.0.0.1", sidecar.port, timeout=30)
    try:
        conn.request("POST", "/echo?chunked=1&chunk=4000", body=iter(pieces),
                     headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    assert resp.status == 200
    assert resp.getheader("x-upstream-body-sha256") == hashlib.sha256(body).hexdigest()
    assert data == body


def test_chunked_request_seen_by_model_as_chunked(fresh_sidecar):
    sidecar = fresh_sidecar
    conn = http.client.HTTPConnection("127.0.0.1", sidecar.port, timeout=10)
    try:
        conn.request("POST", "/inspect", body=iter([b"abc", b"defg"]), encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        seen = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    names = {n.lower(): v for n, v in seen["headers"]}
    assert names.get("transfer-encoding") == "chunked"
    assert "content-length" not in names
    assert seen["body_length"] == 7
    assert seen["body_sha256"] == hashlib.sha256(b"abcdefg").hexdigest()


# --- HEAD, 204, 304, pipelining ------------------------------------------------------------

def test_head_has_length_but_no_body_and_connection_stays_usable(sidecar):
    with RawClient(sidecar.port) as c:
        c.send(b"HEAD /bytes?n=5000 HTTP/1.1\r\nHost: t\r\n\r\n")
        r = c.read_response(head_request=True)
        assert r.status == 200 and r.header("Content-Length") == "5000"
        c.send(b"HEAD /bytes?n=5000&chunked=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        r = c.read_response(head_request=True)
        assert r.status == 200
        # If any body bytes had been relayed, this response would be misparsed.
        c.send(b"GET /bytes?n=10 HTTP/1.1\r\nHost: t\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == expected_bytes(10)


def test_204_and_304_have_no_body(sidecar):
    with RawClient(sidecar.port) as c:
        for code in (204, 304, 204):
            c.send(b"GET /status?code=%d HTTP/1.1\r\nHost: t\r\n\r\n" % code)
            r = c.read_response()
            assert r.status == code
            assert r.header("Transfer-Encoding") is None
        c.send(b"GET /bytes?n=3 HTTP/1.1\r\nHost: t\r\n\r\n")
        r = c.read_response()
        assert (r.status, r.body) == (200, expected_bytes(3))
        assert c.buf == b""


def test_pipelined_requests_answered_in_order(sidecar):
    reqs = (b"GET /bytes?n=100 HTTP/1.1\r\nHost: t\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /status?code=204 HTTP/1.1\r\nHost: t\r\n\r\n"
            b"HEAD /bytes?n=9 HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /bytes?n=7 HTTP/1.1\r\nHost: t\r\n\r\n")
    # (Chunked bodies in a pipeline: see the chunked-framing tests below.)
    with RawClient(sidecar.port) as c:
        c.send(reqs)
        got = [c.read_response(head_request=i == 3) for i in range(5)]
    assert [r.status for r in got] == [200, 200, 204, 200, 200]
    assert got[0].body == expected_bytes(100)
    assert got[1].body == b"hello"
    assert got[3].header("Content-Length") == "9" and got[3].body == b""
    assert got[4].body == expected_bytes(7)


def test_expect_100_continue(sidecar, upstream):
    with RawClient(sidecar.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
        interim = c.read_response(skip_interim=False)
        assert interim.status == 100  # sent before the client sends its body
        c.send(b"hello world")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"hello world")
        # The model does not see Expect (the sidecar answered it).
        c.send(b"POST /inspect HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        assert c.read_response(skip_interim=False).status == 100
        c.send(b"ok")
        seen = json.loads(c.read_response().body)
    assert "expect" not in [n.lower() for n, _ in seen["headers"]]
    assert seen["body_length"] == 2


def test_http10_client(sidecar):
    # Content-Length response: HTTP/1.0 back, closed after (no keep-alive asked).
    with RawClient(sidecar.port) as c:
        c.send(b"GET /bytes?n=1000 HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.version == "1.0" and r.status == 200 and r.body == expected_bytes(1000)
        assert c.closed_by_peer(5)
    # A chunked response cannot go to an HTTP/1.0 client: the body is delimited by the close.
    with RawClient(sidecar.port) as c:
        c.send(b"GET /bytes?n=50000&chunked=1&chunk=1000 HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.version == "1.0" and r.status == 200
        assert r.header("Transfer-Encoding") is None
        assert r.body == expected_bytes(50000)
    # HTTP/1.0 with keep-alive: the connection is reused.
    with RawClient(sidecar.port) as c:
        for n in (10, 20):
            c.send(b"GET /bytes?n=%d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % n)
            r = c.read_response()
            assert r.status == 200 and r.body == expected_bytes(n)
            assert r.header("Connection").lower() == "keep-alive"


# --- x-request-id --------------------------------------------------------------------------

def test_request_id_propagated(sidecar):
    seen, headers = inspect(sidecar, headers={"X-Request-Id": "client-id-42"})
    model_ids = [v for n, v in seen["headers"] if n.lower() == "x-request-id"]
    assert model_ids == ["client-id-42"]
    assert hdr(headers, "x-request-id") == "client-id-42"


def test_request_id_generated_when_missing(sidecar):
    ids = set()
    for _ in range(3):
        seen, headers = inspect(sidecar)
        model_ids = [v for n, v in seen["headers"] if n.lower() == "x-request-id"]
        assert len(model_ids) == 1 and len(model_ids[0]) >= 16
        assert hdr(headers, "x-request-id") == model_ids[0]  # the client sees the same id
        ids.add(model_ids[0])
    assert len(ids) == 3


# --- hop-by-hop headers --------------------------------------------------------------------

def assert_same_order(got, sent):
    """RFC 9110 section 5.3: the order of field lines with the same name is significant, the
    order of different names is not; a proxy may group repeated names (Beast does). So: the
    same lines, each name's values in the order sent, names in order of first appearance."""
    assert sorted(got) == sorted(sent), (got, sent)

    def first_seen(lines):
        return list(dict.fromkeys(n for n, _ in lines))
    assert first_seen(got) == first_seen(sent), (got, sent)
    for name in first_seen(sent):
        assert [v for n, v in got if n == name] == [v for n, v in sent if n == name]


def test_hop_by_hop_request_headers_removed_end_to_end_kept_in_order(sidecar):
    raw = (b"GET /inspect HTTP/1.1\r\nHost: t\r\n"
           b"A-First: 1\r\n"
           b"Connection: keep-alive, X-Private-Hop\r\n"
           b"X-Private-Hop: secret\r\n"
           b"Keep-Alive: timeout=5\r\n"
           b"B-Second: 2\r\n"
           b"TE: trailers\r\n"
           b"Upgrade: h2c\r\n"
           b"Proxy-Connection: keep-alive\r\n"
           b"X-Multi: one\r\n"
           b"C-Third: 3\r\n"
           b"X-Multi: two\r\n"
           b"\r\n")
    with RawClient(sidecar.port) as c:
        c.send(raw)
        r = c.read_response()
    assert r.status == 200
    seen = json.loads(r.body)
    names = [n.lower() for n, _ in seen["headers"]]
    for hop in ("connection", "x-private-hop", "keep-alive", "te", "upgrade", "proxy-connection"):
        assert hop not in names, seen["headers"]
    kept = [(n.lower(), v) for n, v in seen["headers"]
            if n.lower() in ("a-first", "b-second", "x-multi", "c-third")]
    assert_same_order(kept, [("a-first", "1"), ("b-second", "2"), ("x-multi", "one"),
                             ("c-third", "3"), ("x-multi", "two")])


def test_hop_by_hop_response_headers_removed():
    answer = (b"HTTP/1.1 200 OK\r\n"
              b"X-End-1: a\r\n"
              b"Connection: X-Model-Hop\r\n"
              b"X-Model-Hop: secret\r\n"
              b"Keep-Alive: timeout=99\r\n"
              b"Upgrade: h2c\r\n"
              b"Proxy-Connection: keep-alive\r\n"
              b"Set-Cookie: a=1\r\n"
              b"X-End-2: b\r\n"
              b"Set-Cookie: b=2\r\n"
              b"Content-Length: 4\r\n\r\nbody")
    with RawUpstream(lambda req, conn: answer) as up, \
            start_sidecar(up.port, threads=1) as sc:
        with RawClient(sc.port) as c:
            c.send(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
            r = c.read_response()
    assert (r.status, r.body) == (200, b"body")
    names = [n.lower() for n, _ in r.headers]
    assert "x-model-hop" not in names and "upgrade" not in names
    assert "proxy-connection" not in names
    assert all(v.lower() != "timeout=99" for _, v in r.headers)
    end = [(n.lower(), v) for n, v in r.headers if n.lower() in ("x-end-1", "x-end-2", "set-cookie")]
    assert_same_order(end, [("x-end-1", "a"), ("set-cookie", "a=1"), ("x-end-2", "b"),
                            ("set-cookie", "b=2")])


# --- chunked framing across pieces ---------------------------------------------------------

def test_last_chunk_of_request_sent_once():
    """The client's last chunk arrives on its own: the model must still get one request."""
    with RawUpstream() as up, \
            start_sidecar(up.port, threads=1) as sc:
        with RawClient(sc.port) as c:
            c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"3\r\nabc\r\n")
            wait_for(lambda: any(b"abc" in r for r in up.received()), 5, what="first chunk")
            c.send(b"0\r\n\r\n")
            r = c.read_response()
            assert r.status == 200
            wait_for(lambda: any(r.endswith(b"0\r\n\r\n") for r in up.received()), 5,
                     what="last chunk")
        received = b"".join(up.received())
        assert received.endswith(b"\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), received
        assert len(up.requests()) == 1 and up.bad == []


def test_last_chunk_of_response_sent_once():
    """The model's last chunk arrives on its own: a keep-alive client must see one response."""
    # The model stand-in sends the last chunk after the next request begins to arrive; the
    # sidecar's connection to it is the same (keep-alive).
    step = {"n": 0}

    def respond(req, conn):
        step["n"] += 1
        if step["n"] == 1:
            conn.sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"3\r\nabc\r\n")
            wait_for(lambda: client_has_abc.is_set(), 5, what="client got the first chunk")
            return b"0\r\n\r\n"
        return b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"

    client_has_abc = threading.Event()
    with RawUpstream(respond) as up, \
            start_sidecar(up.port, threads=1) as sc:
        with RawClient(sc.port) as c:
            c.send(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
            wait_for(lambda: c._fill() and b"abc" in c.buf, 5, what="first chunk at the client")
            client_has_abc.set()
            r = c.read_response()
            assert (r.status, r.body) == (200, b"abc")
            c.send(b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n")
            r = c.read_response()  # a stray "0\r\n\r\n" before it would be a bad status line
            assert (r.status, r.body) == (200, b"next")
