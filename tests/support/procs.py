"""Helpers for mlsidecar's integration tests: real processes on loopback, cleaned up always.

Plain functions and classes (no pytest fixtures needed). Everything binds 127.0.0.1.

    sys.path.insert(0, os.path.join(REPO, "tests", "support"))
    from procs import Upstream, Sidecar, http_request, metric_sum

    with Upstream("--close-after", "100") as up, \\
         Sidecar(upstream_port=up.port, extra_args=["--threads", "1"]) as sc:
        status, headers, body = http_request(sc.port, "POST", "/echo", b"hello")
        metrics = sc.scrape()            # == scrape(sc.admin_port)
        assert metric_sum(metrics, "mlsidecar_requests_total", route="other", code="2xx") == 1

Readiness is always polled (a line on stdout or an HTTP 200), never waited for with a fixed sleep.
Every process started here is stopped at interpreter exit if the test did not stop it.
"""

import atexit
import collections
import http.client
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
UPSTREAM_SCRIPT = os.path.join(HERE, "upstream.py")
MODEL_SERVER_SCRIPT = os.path.join(REPO_ROOT, "examples", "model_server", "server.py")
GRPC_MODEL_SCRIPT = os.path.join(HERE, "grpc", "model.py")
VERSIONED_MODEL_SCRIPT = os.path.join(HERE, "versioned_model.py")
DEFAULT_SIDECAR_BIN = os.path.join(REPO_ROOT, "build", "sidecar", "mlsidecar")
LISTENING_RE = r"listening on [^\s:]+:(?P<port>\d+)"

_live = set()
_live_lock = threading.Lock()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (prefer --port 0 where possible)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls `predicate()` until it returns a truthy value, which is returned; raises on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def http_request(port, method, path, body=None, headers=None, timeout=10.0, host="127.0.0.1"):
    """One request on a fresh connection; returns (status, [(name, value), ...], body bytes)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.getheaders(), data
    finally:
        conn.close()


def http_json(port, method, path, obj=None, timeout=10.0):
    """Sends `obj` as JSON (if given); returns (status, decoded JSON body or None)."""
    body = None if obj is None else json.dumps(obj).encode()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    status, _, data = http_request(port, method, path, body, headers, timeout)
    try:
        return status, json.loads(data) if data else None
    except ValueError:
        return status, None


def expected_bytes(n, offset=0):
    """The bytes upstream.py's /bytes sends: byte i = (i*31 + 7) mod 256."""
    pattern = bytes((i * 31 + 7) & 0xFF for i in range(256))
    start = offset % 256
    return (pattern * ((start + n + 255) // 256))[start:start + n]


class Process:
    """A child process whose stdout and stderr are drained by threads (never a full pipe).

    `lines` holds stdout lines (without newline), `err_lines` the last stderr lines.
    `port` is set from the ready line's `port` group (or first group) when there is one.
    """

    def __init__(self, args, env=None, cwd=None):
        self.args = [str(a) for a in args]
        self.port = None
        self.lines = []
        self.err_lines = collections.deque(maxlen=2000)
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, cwd=cwd)
        with _live_lock:
            _live.add(self)
        self._threads = [threading.Thread(target=self._drain, args=(self.proc.stdout, self.lines),
                                          daemon=True),
                         threading.Thread(target=self._drain,
                                          args=(self.proc.stderr, self.err_lines), daemon=True)]
        for t in self._threads:
            t.start()

    def _drain(self, stream, sink):
        for raw in iter(stream.readline, b""):
            with self._cond:
                sink.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def output(self):
        with self._cond:
            return "\n".join(self.lines)

    def errors(self):
        with self._cond:
            return "\n".join(self.err_lines)

    def describe(self):
        return "%s (exit %s)\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(self.args), self.proc.poll(), self.output()[-4000:], self.errors()[-4000:])

    def wait_line(self, regex, timeout=10.0, start=0):
        """Waits for a stdout line matching `regex`; returns the match. Fails fast on exit."""
        pattern = re.compile(regex)
        deadline = time.monotonic() + timeout
        seen = start
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    m = pattern.search(line)
                    if m:
                        return m
                seen = len(self.lines)
                if self.proc.poll() is not None and not any(t.is_alive() for t in self._threads):
                    raise RuntimeError("process exited before printing /%s/: %s"
                                       % (regex, self.describe()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no line matching /%s/ within %.1fs: %s"
                                       % (regex, timeout, self.describe()))
                self._cond.wait(min(left, 0.1))

    def wait_url(self, url, timeout=10.0):
        """Polls GET `url` (http://host:port/path) until it answers 200."""
        m = re.match(r"http://([^/:]+):(\d+)(/.*)?$", url)
        if not m:
            raise ValueError("bad url %r" % url)
        host, port, path = m.group(1), int(m.group(2)), m.group(3) or "/"

        def ok():
            if self.proc.poll() is not None:
                raise RuntimeError("process exited before %s answered: %s"
                                   % (url, self.describe()))
            try:
                return http_request(port, "GET", path, timeout=1.0, host=host)[0] == 200
            except OSError:
                return False
        wait_for(ok, timeout, what="%s to answer 200 (%s)" % (url, " ".join(self.args)))

    def alive(self):
        return self.proc.poll() is None

    def send_signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait_exit(self, timeout=10.0):
        """Waits for the process to exit by itself; returns its exit code."""
        return self.proc.wait(timeout)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends `sig`, waits up to `timeout`, then SIGKILL; returns the exit code."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            for t in self._threads:
                t.join(2)
            return self.proc.returncode
        finally:
            with _live_lock:
                _live.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start_process(args, ready_line_regex=None, ready_url=None, timeout=10.0, env=None, cwd=None):
    """Starts `args` and waits until it is ready: a stdout line matching `ready_line_regex`
    (its `port` group, else its first group, becomes `.port`), then `ready_url` answering 200.
    With neither, returns at once. On failure the process is killed and the error says why."""
    p = Process(args, env=env, cwd=cwd)
    try:
        if ready_line_regex:
            m = p.wait_line(ready_line_regex, timeout)
            if "port" in m.re.groupindex:
                p.port = int(m.group("port"))
            elif m.re.groups:
                p.port = int(m.group(1))
        if ready_url:
            p.wait_url(ready_url, timeout)
    except BaseException:
        p.stop(signal.SIGKILL)
        raise
    return p


class _Server(Process):
    """Base for the Python servers: started with --port 0, port read from `listening on`."""

    script = None

    def __init__(self, *flags, timeout=10.0):
        super().__init__([sys.executable, self.script, "--host", "127.0.0.1", "--port", "0"]
                         + [str(f) for f in flags])
        try:
            self.port = int(self.wait_line(LISTENING_RE, timeout).group("port"))
        except BaseException:
            self.stop(signal.SIGKILL)
            raise

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def get_json(self, path):
        status, obj = http_json(self.port, "GET", path)
        assert status == 200, (path, status, obj)
        return obj


class Upstream(_Server):
    """tests/support/upstream.py with `flags` (e.g. "--close-after", "3")."""

    script = UPSTREAM_SCRIPT

    def stats(self):
        return self.get_json("/stats")

    def reset_stats(self):
        assert http_json(self.port, "POST", "/stats/reset")[0] == 200

    def set_ready(self, ready):
        assert http_json(self.port, "POST", "/ready?value=%d" % int(bool(ready)))[0] == 200


class ModelServer(_Server):
    """examples/model_server/server.py with `flags` (e.g. "--token-ms", "50")."""

    script = MODEL_SERVER_SCRIPT

    def stats(self):
        return self.get_json("/debug/stats")

    def set_ready(self, ready):
        assert http_json(self.port, "POST", "/debug/ready?value=%d" % int(bool(ready)))[0] == 200


class VersionedModel(_Server):
    """tests/support/versioned_model.py: one version of a V2 classifier whose answer is a pure
    function of the request (--disagree-every N makes exactly 1/N of ids disagree)."""

    script = VERSIONED_MODEL_SCRIPT

    def stats(self):
        return self.get_json("/stats")


class GrpcModel(_Server):
    """tests/support/grpc/model.py: the V2 gRPC inference service and mlsidecar.test.Shapes."""

    script = GRPC_MODEL_SCRIPT


def sidecar_binary():
    return os.environ.get("MLSIDECAR_BIN") or DEFAULT_SIDECAR_BIN


class Sidecar(Process):
    """`mlsidecar serve` on 127.0.0.1, ready when GET /healthz on the admin port answers 200.

    binary: path, default $MLSIDECAR_BIN or build/sidecar/mlsidecar; ports default to free ones.
    """

    def __init__(self, binary=None, listen_port=None, admin_port=None, upstream_port=8081,
                 extra_args=(), timeout=10.0, env=None):
        self.binary = binary or sidecar_binary()
        if not os.access(self.binary, os.X_OK):
            raise FileNotFoundError("mlsidecar binary not found or not executable: %s "
                                    "(build it or set MLSIDECAR_BIN)" % self.binary)
        listen_port = listen_port or free_port()
        admin_port = admin_port or free_port()
        super().__init__([self.binary, "serve",
                          "--listen", "127.0.0.1:%d" % listen_port,
                          "--admin", "127.0.0.1:%d" % admin_port,
                          "--upstream", "127.0.0.1:%d" % upstream_port] + list(extra_args),
                         env=env)
        self.port = listen_port
        self.admin_port = admin_port
        self.upstream_port = upstream_port
        try:
            self.wait_url("http://127.0.0.1:%d/healthz" % admin_port, timeout)
        except BaseException:
            self.stop(signal.SIGKILL)
            raise

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def scrape(self):
        return scrape(self.admin_port)

    def scrape_settled(self, timeout=10.0):
        """A scrape taken once no request is in flight. A client has its whole response a moment
        before the sidecar's coroutine resumes to count it (the write completes, then the count),
        so a test that asserts exact counts right after its last response waits for that moment
        instead of racing it (seen on a loaded 2-core machine under ASan)."""
        wait_for(lambda: metric_value(self.scrape(), "mlsidecar_inflight_requests") == 0,
                 timeout, what="no request in flight")
        return self.scrape()


@atexit.register
def _stop_all():
    with _live_lock:
        live = list(_live)
    for p in live:
        try:
            p.stop(signal.SIGKILL, timeout=5)
        except Exception:
            pass


# --- Prometheus text format (0.0.4): a small, strict, independent reader -------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_SAMPLE_RE = re.compile(r"^(%s)(\{.*\})?[ \t]+(\S+)(?:[ \t]+(-?\d+))?$" % _NAME)
_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class MetricsFormatError(ValueError):
    pass


def _parse_labels(text, lineno):
    """Parses `{a="x",b="y\\"z"}` into a dict; raises on anything off the grammar."""
    labels = {}
    i, n = 1, len(text) - 1  # inside the braces
    while i < n:
        m = re.compile(_LABEL).match(text, i)
        if not m or text[m.end():m.end() + 2] != '="':
            raise MetricsFormatError("line %d: bad label at %r" % (lineno, text[i:]))
        name = m.group(0)
        i = m.end() + 2
        value = []
        while True:
            if i >= n:
                raise MetricsFormatError("line %d: unterminated label value" % lineno)
            c = text[i]
            if c == "\\":
                nxt = text[i + 1] if i + 1 < n else ""
                if nxt not in ("\\", '"', "n"):
                    raise MetricsFormatError("line %d: bad escape \\%s" % (lineno, nxt))
                value.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise MetricsFormatError("line %d: newline in label value" % lineno)
            else:
                value.append(c)
                i += 1
        if name in labels:
            raise MetricsFormatError("line %d: duplicate label %s" % (lineno, name))
        labels[name] = "".join(value)
        if i < n:
            if text[i] != ",":
                raise MetricsFormatError("line %d: expected ',' at %r" % (lineno, text[i:]))
            i += 1
    return labels


def _parse_value(text, lineno):
    special = {"+Inf": math.inf, "Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}
    if text in special:
        return special[text]
    if not re.match(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$", text):
        raise MetricsFormatError("line %d: bad value %r" % (lineno, text))
    return float(text)


def parse_metrics(text):
    """Parses Prometheus text exposition into {(name, frozenset(labels.items())): value}.

    Strict: malformed lines, duplicate series, duplicate or late TYPE lines, samples whose name
    does not fit their family's TYPE, and histograms whose buckets are not cumulative or whose
    +Inf bucket differs from _count raise MetricsFormatError.
    """
    samples = {}
    types = {}
    seen_families = set()
    current_family = None
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 3 or not re.match("^%s$" % _NAME, parts[2]):
                    raise MetricsFormatError("line %d: bad %s line" % (lineno, parts[1]))
                if parts[1] == "TYPE":
                    name = parts[2]
                    kind = parts[3].strip() if len(parts) > 3 else ""
                    if kind not in _TYPES:
                        raise MetricsFormatError("line %d: bad type %r" % (lineno, kind))
                    if name in types:
                        raise MetricsFormatError("line %d: second TYPE for %s" % (lineno, name))
                    if name in seen_families:
                        raise MetricsFormatError("line %d: TYPE for %s after its samples"
                                                 % (lineno, name))
                    types[name] = kind
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            raise MetricsFormatError("line %d: not a sample: %r" % (lineno, line))
        name = m.group(1)
        labels = _parse_labels(m.group(2), lineno) if m.group(2) else {}
        value = _parse_value(m.group(3), lineno)
        family = _family_of(name, types)
        kind = types.get(family, "untyped")
        if family != current_family:
            if family in seen_families:
                raise MetricsFormatError("line %d: samples of %s are not grouped together"
                                         % (lineno, family))
            current_family = family
        if kind == "histogram" and name == family:
            raise MetricsFormatError("line %d: histogram %s needs a suffix" % (lineno, name))
        if kind == "histogram" and name.endswith("_bucket") and "le" not in labels:
            raise MetricsFormatError("line %d: bucket without le" % lineno)
        if kind == "counter" and not value >= 0:
            raise MetricsFormatError("line %d: counter %s is %r" % (lineno, name, value))
        seen_families.add(family)
        key = (name, frozenset(labels.items()))
        if key in samples:
            raise MetricsFormatError("line %d: duplicate series %s%s" % (lineno, name, labels))
        samples[key] = value
    _check_histograms(samples, types)
    return samples


def _family_of(name, types):
    if name in types:
        return name
    for suffix in ("_bucket", "_sum", "_count", "_total", "_created"):
        if name.endswith(suffix) and name[:-len(suffix)] in types:
            base = name[:-len(suffix)]
            if suffix == "_bucket" and types[base] != "histogram":
                continue
            return base
    return name


def _check_histograms(samples, types):
    series = collections.defaultdict(list)
    for (name, labels), value in samples.items():
        base = name[:-len("_bucket")]
        if name.endswith("_bucket") and types.get(base) == "histogram":
            d = dict(labels)
            le = _parse_value(d.pop("le"), 0)
            series[(base, frozenset(d.items()))].append((le, value))
    for (base, labels), buckets in series.items():
        buckets.sort()
        if buckets[-1][0] != math.inf:
            raise MetricsFormatError("histogram %s%s has no +Inf bucket" % (base, dict(labels)))
        counts = [c for _, c in buckets]
        if any(b < a for a, b in zip(counts, counts[1:])):
            raise MetricsFormatError("histogram %s%s buckets not cumulative" % (base, dict(labels)))
        count = samples.get((base + "_count", labels))
        if count is None or count != counts[-1]:
            raise MetricsFormatError("histogram %s%s: +Inf bucket %r != _count %r"
                                     % (base, dict(labels), counts[-1], count))
        if (base + "_sum", labels) not in samples:
            raise MetricsFormatError("histogram %s%s has no _sum" % (base, dict(labels)))


def scrape_text(admin_port, path="/metrics"):
    status, headers, body = http_request(admin_port, "GET", path)
    if status != 200:
        raise AssertionError("GET %s answered %d: %r" % (path, status, body[:200]))
    ctype = dict((k.lower(), v) for k, v in headers).get("content-type", "")
    if not ctype.startswith("text/plain"):
        raise AssertionError("GET %s Content-Type is %r" % (path, ctype))
    return body.decode("utf-8")


def scrape(admin_port, path="/metrics"):
    """GET /metrics on the admin port, parsed by `parse_metrics`."""
    return parse_metrics(scrape_text(admin_port, path))


def metric_value(metrics, name, default=None, **labels):
    """The value of the one series `name` whose labels are exactly `labels`."""
    return metrics.get((name, frozenset(labels.items())), default)


def metric_sum(metrics, name, **labels):
    """Sum over the series named `name` whose labels include `labels` (others free)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in metrics.items() if n == name and want <= ls)


def histogram_buckets(metrics, name, **labels):
    """[(le, cumulative count), ...] sorted by le for the histogram series with exactly `labels`."""
    want = frozenset(labels.items())
    out = []
    for (n, ls), v in metrics.items():
        if n == name + "_bucket":
            d = dict(ls)
            le = d.pop("le")
            if frozenset(d.items()) == want:
                out.append((_parse_value(le, 0), v))
    return sorted(out)


# --- OpenAI-style stream reading (used by tests of the model server and the proxy) ---------

def read_sse_events(resp):
    """Yields (arrival monotonic time, data string) per server-sent event from an
    http.client response, as the events arrive (multi-line data joined by '\\n')."""
    data = []
    while True:
        line = resp.readline()
        if not line:
            if data:
                yield time.monotonic(), "\n".join(data)
            return
        line = line.decode("utf-8").rstrip("\r\n")
        if line == "":
            if data:
                yield time.monotonic(), "\n".join(data)
                data = []
        elif line.startswith(":"):
            continue
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
