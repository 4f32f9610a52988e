"""End to end: LLM serving signals through `mlsidecar serve`.

The example model server runs on a known schedule: the first token 300 ms after a request arrives
(--prefill-base-ms 300, no per-prompt-token prefill), then one token every 50 ms, 20 tokens per
answer (--answer-tokens 20; the requests allow more, so finish_reason is "stop"). The official
`openai` npm client (tests/e2e/node) talks to the sidecar as it would to OpenAI. It must receive
every token as it is produced, and the sidecar's histograms and counters must match the schedule:
exactly in counts and token numbers, within a generous margin in time.
"""
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import time

import pytest

from e2e_common import ROOT
from procs import ModelServer, Sidecar, metric_sum, wait_for

MODEL = "demo"
PREFILL, TOKEN, TOKENS = 0.300, 0.050, 20
PROMPT = "please count the words of this prompt"  # 7 prompt tokens for the example server
PROMPT_TOKENS = len(PROMPT.split())
NODE_DIR = os.path.join(ROOT, "tests", "e2e", "node")
CLIENT = os.path.join(NODE_DIR, "openai_client.mjs")

# Every series the tests compare before and after a request.
SERIES = {
    "ttft_count": ("mlsidecar_time_to_first_token_seconds_count", {}),
    "ttft_sum": ("mlsidecar_time_to_first_token_seconds_sum", {}),
    "ttft_le_0.3": ("mlsidecar_time_to_first_token_seconds_bucket", {"le": "0.3"}),
    "ttft_le_0.75": ("mlsidecar_time_to_first_token_seconds_bucket", {"le": "0.75"}),
    "tpot_count": ("mlsidecar_time_per_output_token_seconds_count", {}),
    "tpot_sum": ("mlsidecar_time_per_output_token_seconds_sum", {}),
    "tpot_le_0.03": ("mlsidecar_time_per_output_token_seconds_bucket", {"le": "0.03"}),
    "tpot_le_0.1": ("mlsidecar_time_per_output_token_seconds_bucket", {"le": "0.1"}),
    "requests": ("mlsidecar_request_output_tokens_count", {}),
    "request_tokens": ("mlsidecar_request_output_tokens_sum", {}),
    "usage_tokens": ("mlsidecar_output_tokens_total", {"source": "usage"}),
    "counted_tokens": ("mlsidecar_output_tokens_total", {"source": "counted"}),
    "prompt_tokens": ("mlsidecar_prompt_tokens_total", {}),
    "stop": ("mlsidecar_finish_reason_total", {"reason": "stop"}),
    "finished": ("mlsidecar_finish_reason_total", {}),
    "aborted_by_client": ("mlsidecar_stream_aborted_total", {"by": "client"}),
    "aborted_by_model": ("mlsidecar_stream_aborted_total", {"by": "model"}),
}


def read(sc):
    m = sc.scrape()
    return {k: metric_sum(m, name, model=MODEL, **labels) for k, (name, labels) in SERIES.items()}


class Delta:
    """What a block of requests added to the sidecar's LLM series (waits for `requests` more
    generations to be recorded: the sidecar records one once the response has ended)."""

    def __init__(self, sc):
        self.sc, self.before = sc, read(sc)

    def wait(self, requests, timeout=10):
        def done():
            now = read(self.sc)
            return now if now["requests"] - self.before["requests"] >= requests else None
        now = wait_for(done, timeout, what="%d generations recorded" % requests)
        return {k: now[k] - self.before[k] for k in now}


def openai_client(sc, **opts):
    """Runs the official client; returns the events it printed."""
    opts.setdefault("baseURL", sc.url + "/v1")
    opts.setdefault("model", MODEL)
    opts.setdefault("maxTokens", 100)
    if opts.get("endpoint", "chat") == "chat":
        opts.setdefault("messages", [{"role": "user", "content": PROMPT}])
    else:
        opts.setdefault("prompt", PROMPT)
    out = subprocess.run(["node", CLIENT, json.dumps(opts)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def content_times(events):
    """(arrival ms, text) of each chunk that carries generated text."""
    return [(e["t"], e["content"]) for e in events if e["event"] == "chunk" and e["content"]]


def assert_spaced(times_ms):
    """Tokens arrived one by one as produced, not in a lump at the end."""
    gaps = [b - a for a, b in zip(times_ms, times_ms[1:])]
    span = (times_ms[-1] - times_ms[0]) / 1000.0
    assert (TOKENS - 1) * TOKEN * 0.8 <= span <= (TOKENS - 1) * TOKEN * 1.6, span
    assert 0.6 * TOKEN * 1000 <= statistics.median(gaps) <= 1.6 * TOKEN * 1000, gaps
    assert sum(1 for g in gaps if g < 5) <= 2, gaps  # hardly any two tokens together


def assert_schedule(d, streams):
    """TTFT and TPOT of `streams` full streams on the schedule."""
    assert d["ttft_count"] == streams and d["tpot_count"] == streams
    # Never before the model sent the first token; generous above (a loaded machine).
    assert d["ttft_le_0.3"] == 0
    assert d["ttft_le_0.75"] == streams
    assert PREFILL * streams <= d["ttft_sum"] <= (PREFILL + 0.25) * streams
    assert d["tpot_le_0.03"] == 0 and d["tpot_le_0.1"] == streams
    assert TOKEN * 0.8 * streams <= d["tpot_sum"] <= TOKEN * 1.5 * streams


@pytest.fixture(scope="module")
def stack():
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "openai")):
        pytest.fail("the openai npm client is not installed: (cd tests/e2e/node && npm ci)")
    assert shutil.which("node"), "node is not installed"
    with ModelServer("--model-name", MODEL, "--prefill-base-ms", str(PREFILL * 1000),
                     "--prefill-ms-per-token", "0", "--token-ms", str(TOKEN * 1000),
                     "--answer-tokens", str(TOKENS)) as model, \
            Sidecar(upstream_port=model.port, extra_args=["--threads", "2", "--model", MODEL]) as sc:
        yield {"model": model, "sc": sc}


def test_openai_client_streams_every_token_with_usage(stack):
    sc = stack["sc"]
    d = Delta(sc)
    events = openai_client(sc, stream=True, includeUsage=True)
    tokens = content_times(events)
    assert len(tokens) == TOKENS
    assert_spaced([t for t, _ in tokens])
    chunks = [e for e in events if e["event"] == "chunk"]
    assert [c["finish_reason"] for c in chunks if c["finish_reason"]] == ["stop"]
    assert chunks[-1]["usage"] == {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": TOKENS,
                                   "total_tokens": PROMPT_TOKENS + TOKENS}
    d = d.wait(1)
    assert_schedule(d, 1)
    assert d["requests"] == 1 and d["request_tokens"] == TOKENS
    assert d["usage_tokens"] == TOKENS and d["counted_tokens"] == 0
    assert d["prompt_tokens"] == PROMPT_TOKENS
    assert d["stop"] == 1 and d["finished"] == 1
    assert d["aborted_by_client"] == 0 and d["aborted_by_model"] == 0


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_openai_client_streams_without_usage_and_tokens_are_counted(stack, endpoint):
    sc = stack["sc"]
    d = Delta(sc)
    events = openai_client(sc, endpoint=endpoint, stream=True)
    tokens = content_times(events)
    assert len(tokens) == TOKENS
    assert_spaced([t for t, _ in tokens])
    assert all(e.get("usage") is None for e in events if e["event"] == "chunk")
    d = d.wait(1)
    assert_schedule(d, 1)
    # No usage: one token per content event, and no prompt count to report.
    assert d["counted_tokens"] == TOKENS and d["usage_tokens"] == 0
    assert d["request_tokens"] == TOKENS
    assert d["prompt_tokens"] == 0
    assert d["stop"] == 1 and d["finished"] == 1


def test_non_streaming_completion_takes_tokens_from_usage(stack):
    sc = stack["sc"]
    d = Delta(sc)
    events = openai_client(sc, stream=False)
    body = events[-1]["body"]
    assert body["usage"]["completion_tokens"] == TOKENS
    assert len(body["choices"][0]["message"]["content"].split()) == TOKENS
    d = d.wait(1)
    assert d["usage_tokens"] == TOKENS and d["counted_tokens"] == 0
    assert d["prompt_tokens"] == PROMPT_TOKENS
    assert d["request_tokens"] == TOKENS
    assert d["stop"] == 1
    # Not a stream: no time to first token, no time per output token.
    assert d["ttft_count"] == 0 and d["tpot_count"] == 0


def test_ollama_ndjson_stream(stack):
    sc = stack["sc"]
    d = Delta(sc)
    conn = http.client.HTTPConnection("127.0.0.1", sc.port, timeout=30)
    body = json.dumps({"model": MODEL, "prompt": PROMPT, "options": {"num_predict": 100}})
    t0 = time.monotonic()
    conn.request("POST", "/api/generate", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Type", "").startswith("application/x-ndjson")
    lines = []
    while True:
        line = resp.readline()
        if not line:
            break
        if line.strip():
            lines.append((time.monotonic() - t0, json.loads(line)))
    conn.close()
    tokens = [(t * 1000, o["response"]) for t, o in lines if not o["done"] and o["response"]]
    assert len(tokens) == TOKENS
    assert tokens[0][0] >= PREFILL * 1000
    assert_spaced([t for t, _ in tokens])
    last = lines[-1][1]
    assert last["done"] and last["eval_count"] == TOKENS
    assert last["prompt_eval_count"] == PROMPT_TOKENS
    d = d.wait(1)
    assert_schedule(d, 1)
    assert d["usage_tokens"] == TOKENS and d["counted_tokens"] == 0
    assert d["prompt_tokens"] == PROMPT_TOKENS
    assert d["stop"] == 1 and d["finished"] == 1


def test_client_that_disconnects_frees_the_model_connection(stack):
    sc, model = stack["sc"], stack["model"]
    before_model = model.stats()
    d = Delta(sc)
    started = time.monotonic()
    events = openai_client(sc, stream=True, abortAfter=5)
    assert events[-2]["event"] == "aborted"
    assert len(content_times(events)) == 5

    # The model notices the closed connection at its next token and stops generating; the
    # connection the sidecar used for the stream is closed, not kept. (The /debug/stats request
    # itself is one connection and one request in flight.)
    def freed():
        s = model.stats()
        return s if (s["streams_aborted"] == before_model["streams_aborted"] + 1
                     and s["inflight"] == 1 and s["open_connections"] <= before_model["open_connections"]) else None
    s = wait_for(freed, 5, what="the model to see the stream aborted and its connection closed")
    assert s["streams_completed"] == before_model["streams_completed"]
    assert s["streams_started"] == before_model["streams_started"] + 1
    d = d.wait(1)
    assert d["aborted_by_client"] == 1 and d["aborted_by_model"] == 0
    assert d["finished"] == 0  # it never finished
    assert 5 <= d["counted_tokens"] < TOKENS
    assert d["ttft_count"] == 1
    # Once the whole answer would have been sent, the model still has not completed it.
    due = started + PREFILL + TOKENS * TOKEN + 0.3
    wait_for(lambda: time.monotonic() >= due, 5, interval=0.05, what="the end of the schedule")
    assert model.stats()["streams_completed"] == before_model["streams_completed"]


def test_stream_cut_short_by_the_model_is_counted_as_aborted_by_the_model():
    # Its own model and sidecar: the model is killed in the middle of an answer.
    with ModelServer("--model-name", MODEL, "--prefill-base-ms", "50", "--prefill-ms-per-token", "0",
                     "--token-ms", "100", "--answer-tokens", "50") as model, \
            Sidecar(upstream_port=model.port, extra_args=["--model", MODEL]) as sc:
        d = Delta(sc)
        conn = http.client.HTTPConnection("127.0.0.1", sc.port, timeout=10)
        conn.request("POST", "/v1/completions", json.dumps(
            {"model": MODEL, "prompt": PROMPT, "max_tokens": 50, "stream": True}),
            {"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200
        events = 0
        while events < 3:
            line = resp.fp.readline()
            assert line, "the stream ended before the model was killed"
            events += line.startswith(b"data: {")
        model.stop(signal.SIGKILL)
        # The client sees the stream end without its last chunk: a cut, never a clean end.
        with pytest.raises(http.client.IncompleteRead):
            resp.read()
        conn.close()
        d = d.wait(1)
        assert d["aborted_by_model"] == 1 and d["aborted_by_client"] == 0
        assert d["finished"] == 0
        assert 3 <= d["counted_tokens"] < 50
        assert d["ttft_count"] == 1
