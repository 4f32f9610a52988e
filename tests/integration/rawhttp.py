"""Raw-socket HTTP/1.1 tools for the sidecar's conformance and fault tests.

`RawUpstream` is a model stand-in that records the exact bytes it receives on every connection,
splits them into requests with a deliberately strict reader (so a test can count what reached the
model), and answers each complete request with bytes a test scripts (valid or not).

`RawClient` is a client socket that sends exactly the bytes given and reads responses with a small
reader that knows HEAD, 1xx, 204/304, Content-Length, chunked and read-to-close framing.

Standard library only; 127.0.0.1 only; every blocking call has a timeout.
"""

import re
import socket
import threading
import time

OK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class Request:
    """One request as the raw upstream's strict reader split it: head bytes, body bytes."""

    def __init__(self, head, body):
        self.head = head
        self.body = body
        lines = head.split(b"\r\n")
        self.request_line = lines[0]
        self.method, self.target, self.version = (lines[0].split(b" ") + [b"", b""])[:3]
        self.headers = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(b":")
                self.headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))

    def header(self, name):
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        return values[0] if len(values) == 1 else (values or None)

    def names(self):
        return [n.lower() for n, _ in self.headers]


class Connection:
    """What the raw upstream saw on one accepted connection."""

    def __init__(self, sock):
        self.sock = sock
        self.received = bytearray()
        self.requests = []
        self.closed_by_peer = threading.Event()  # recv returned b"" or an error
        self.closed_at = None
        self.accepted_at = time.monotonic()
        self.leftover = b""  # bytes that did not (yet) form a complete request


def _split_request(data):
    """A strict reader: (Request, rest) for the first complete request in `data`, or None.

    It accepts only what an RFC 9112 server without leniency accepts: CRLF line ends, one
    Content-Length of digits or chunked alone; anything else is returned as ("bad", reason).
    """
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(data[:end])
    rest = bytes(data[end + 4:])
    if re.search(rb"(?<!\r)\n|\r(?!\n)", head):
        return ("bad", "bare CR or LF in the head")
    req = Request(head, b"")
    if not re.fullmatch(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+ [\x21-\x7e]+ HTTP/1\.[01]", req.request_line):
        return ("bad", "request line %r" % req.request_line[:100])
    te = [v for n, v in req.headers if n.lower() == "transfer-encoding"]
    cl = [v for n, v in req.headers if n.lower() == "content-length"]
    if any(n != n.strip() or not n for n, _ in req.headers):
        return ("bad", "whitespace in a field name")
    if te and cl:
        return ("bad", "both Transfer-Encoding and Content-Length")
    if te:
        if [t.strip().lower() for t in ",".join(te).split(",")] != ["chunked"]:
            return ("bad", "Transfer-Encoding other than chunked")
        body = bytearray()
        pos = 0
        while True:
            eol = rest.find(b"\r\n", pos)
            if eol < 0:
                return None
            size_text = rest[pos:eol].split(b";")[0]
            if not re.fullmatch(rb"[0-9a-fA-F]{1,15}", size_text):
                return ("bad", "chunk size %r" % size_text)
            size = int(size_text, 16)
            pos = eol + 2
            if size == 0:
                # No trailers expected from the sidecar: the last chunk is followed by CRLF.
                if len(rest) < pos + 2:
                    return None
                if rest[pos:pos + 2] != b"\r\n":
                    return ("bad", "trailer or junk after the last chunk")
                req.body = bytes(body)
                return req, rest[pos + 2:]
            if len(rest) < pos + size + 2:
                return None
            body += rest[pos:pos + size]
            if rest[pos + size:pos + size + 2] != b"\r\n":
                return ("bad", "no CRLF after chunk data")
            pos += size + 2
    if cl:
        if len(cl) != 1 or not re.fullmatch(r"[0-9]{1,18}", cl[0]):
            return ("bad", "Content-Length %r" % cl)
        n = int(cl[0])
        if len(rest) < n:
            return None
        req.body = rest[:n]
        return req, rest[n:]
    return req, rest


class RawUpstream:
    """A TCP server on 127.0.0.1 that records bytes and answers with scripted bytes.

    respond(request, conn) -> bytes to send (or None to send nothing and keep reading);
    `close_after_response` closes the connection after each answer. `bad` collects the reasons
    for anything the strict reader refused (a test expects it empty).
    """

    def __init__(self, respond=None, close_after_response=False):
        self.respond = respond or (lambda req, conn: OK_RESPONSE)
        self.close_after_response = close_after_response
        self.connections = []
        self.bad = []
        self.lock = threading.Lock()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(512)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    # -- what tests read ---------------------------------------------------------------------
    def reset(self, respond=None, close_after_response=False):
        """Forgets what was recorded so far (connections stay open) and sets the script."""
        with self.lock:
            for c in self.connections:
                c.requests = []
                c.received = bytearray()
                c.leftover = b""
            self.bad = []
            self.respond = respond or (lambda req, conn: OK_RESPONSE)
            self.close_after_response = close_after_response

    def requests(self):
        with self.lock:
            return [r for c in self.connections for r in c.requests]

    def received(self):
        with self.lock:
            return [bytes(c.received) for c in self.connections]

    def connection_count(self):
        with self.lock:
            return len(self.connections)

    # -- server ------------------------------------------------------------------------------
    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(sock)
            with self.lock:
                self.connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        sock = conn.sock
        sock.settimeout(0.2)
        try:
            while not self._stop.is_set():
                try:
                    data = sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not data:
                    break
                with self.lock:
                    conn.received += data
                    conn.leftover += data
                while True:
                    with self.lock:
                        split = _split_request(conn.leftover)
                        if split is None:
                            break
                        if split[0] == "bad":
                            self.bad.append(split[1])
                            conn.leftover = b""
                            break
                        req, conn.leftover = split
                        conn.requests.append(req)
                    answer = self.respond(req, conn)
                    if answer:
                        sock.sendall(answer)
                        if self.close_after_response:
                            raise ConnectionAbortedError
        except (ConnectionAbortedError, BrokenPipeError, ConnectionResetError):
            pass
        finally:
            conn.closed_at = time.monotonic()
            conn.closed_by_peer.set()
            try:
                sock.close()
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self.listener.close()
        self._thread.join(2)
        with self.lock:
            conns = list(self.connections)
        for c in conns:
            try:
                c.sock.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Response:
    def __init__(self, version, status, reason, headers, body, complete=True):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)] in order
        self.body = body
        self.complete = complete  # False: the connection ended before the framing said it would

    def header(self, name):
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        return values[0] if len(values) == 1 else (values or None)

    def __repr__(self):
        return "Response(%s %d %r, %r, %r%s)" % (self.version, self.status, self.reason,
                                                 self.headers, self.body[:200],
                                                 "" if self.complete else ", incomplete")


class RawClient:
    """One client connection that writes raw bytes and reads responses one at a time."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _line(self):
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise EOFError("connection closed in a line: %r" % self.buf[:200])
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n:
            if not self._fill():
                return None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, head_request=False, skip_interim=True):
        """Reads one response. Raises EOFError if the connection closes before a status line."""
        while True:
            status_line = self._line()
            m = re.match(rb"^HTTP/(\d\.\d) (\d{3}) ?(.*)$", status_line)
            if not m:
                raise ValueError("bad status line %r" % status_line)
            headers = []
            while True:
                line = self._line()
                if not line:
                    break
                name, _, value = line.partition(b":")
                headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
            version, status = m.group(1).decode(), int(m.group(2))
            resp = Response(version, status, m.group(3).decode("latin-1"), headers, b"")
            if 100 <= status < 200:
                if skip_interim:
                    continue
                return resp
            break
        if head_request or status in (204, 304):
            return resp
        te = resp.header("Transfer-Encoding")
        cl = resp.header("Content-Length")
        if te is not None:
            assert te.lower() == "chunked", te
            body = b""
            while True:
                try:
                    size = int(self._line().split(b";")[0], 16)
                except EOFError:
                    resp.body, resp.complete = body, False
                    return resp
                if size == 0:
                    while self._line():
                        pass
                    break
                piece = self._take(size + 2)
                if piece is None:
                    resp.body, resp.complete = body + self.buf, False
                    return resp
                body += piece[:-2]
            resp.body = body
        elif cl is not None:
            piece = self._take(int(cl))
            if piece is None:
                resp.body, resp.complete = self.buf, False
                self.buf = b""
            else:
                resp.body = piece
        else:
            while self._fill():
                pass
            resp.body, self.buf = self.buf, b""
        return resp

    def closed_by_peer(self, timeout=5.0):
        """True once the server has closed the connection (EOF) within `timeout`."""
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                self._fill()
            except socket.timeout:
                break
            except OSError:
                self.eof = True
        return self.eof

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def exchange(port, data, timeout=5.0, head_request=False):
    """Sends `data` on a fresh connection and reads one response."""
    with RawClient(port, timeout) as c:
        c.send(data)
        return c.read_response(head_request=head_request)
