"""Drift and identity on gRPC traffic, end to end (issue 19).

Two sidecars with the same reference profile: one relays gRPC ModelInfer calls to the gRPC model
stand-in (tests/support/grpc/model.py), the other relays the same tensors as V2 JSON to an HTTP
model. The tensors use both ways V2 gRPC carries numbers: typed contents (FP32, INT64, FP64) and
raw_input_contents (FP32, INT64, FP64 and FP16 little-endian), alternately. Checked:
  - the drift statistics of the two sidecars are equal, exactly (same values in the windows);
  - each call is labelled with the model_name and model_version its message names;
  - a compressed message (grpc-encoding gzip) is relayed and counted as skipped, not read;
  - a message over --drift-max-body is relayed and counted as too large.
"""
import json
import os
import subprocess
import sys

import grpc
import numpy as np
import pytest

from e2e_common import ROOT, EchoModel, drift_json, wait_drift_computation, wait_metric

sys.path.insert(0, os.path.join(ROOT, "tests", "support", "grpc"))
from procs import GrpcModel, Sidecar, http_request, metric_sum, sidecar_binary  # noqa: E402
import model as standin  # noqa: E402

v2, v2_grpc, _, _ = standin.load_stubs()

FEATURES = ["a", "b", "c", "d"]  # FP32 typed, INT64 typed, FP64 raw, FP16 raw
REQUESTS, BATCH = 40, 25


def batches(seed, shift):
    rng = np.random.default_rng(seed)
    for _ in range(REQUESTS):
        yield {"a": rng.normal(0 + shift, 1, BATCH).astype(np.float32),
               "b": rng.integers(0, 50, BATCH).astype(np.int64),
               "c": rng.normal(10, 2, BATCH).astype(np.float64),
               "d": rng.normal(5 + shift, 1, BATCH).astype(np.float16)}


def grpc_request(batch, model="resnet", version="7", raw=True):
    """All tensors in raw_input_contents (little-endian, as Triton's clients send them), or all in
    typed contents (V2 allows no mix); the FP16 tensor typed goes as FP32 of the same values."""
    req = v2.ModelInferRequest(model_name=model, model_version=version)
    if raw:
        for name, datatype, dtype in (("a", "FP32", "<f4"), ("b", "INT64", "<i8"),
                                      ("c", "FP64", "<f8"), ("d", "FP16", "<f2")):
            req.inputs.add(name=name, datatype=datatype, shape=[BATCH, 1])
            req.raw_input_contents.append(batch[name].astype(dtype).tobytes())
        return req
    req.inputs.add(name="a", datatype="FP32", shape=[BATCH, 1]).contents.fp32_contents.extend(
        batch["a"].tolist())
    req.inputs.add(name="b", datatype="INT64", shape=[BATCH, 1]).contents.int64_contents.extend(
        batch["b"].tolist())
    req.inputs.add(name="c", datatype="FP64", shape=[BATCH, 1]).contents.fp64_contents.extend(
        batch["c"].tolist())
    req.inputs.add(name="d", datatype="FP32", shape=[BATCH, 1]).contents.fp32_contents.extend(
        [float(x) for x in batch["d"]])
    return req


def json_request(batch):
    def tensor(name, datatype, values):
        return {"name": name, "datatype": datatype, "shape": [BATCH, 1], "data": values}
    # float(np.float16) is the exact value of the half; JSON carries it as a double.
    return json.dumps({"inputs": [
        tensor("a", "FP32", [float(x) for x in batch["a"]]),
        tensor("b", "INT64", [int(x) for x in batch["b"]]),
        tensor("c", "FP64", [float(x) for x in batch["c"]]),
        tensor("d", "FP16", [float(x) for x in batch["d"]]),
    ]}).encode()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("grpc-drift")
    rng = np.random.default_rng(1)
    csv = work / "reference.csv"
    rows = ["a,b,c,d"] + ["%r,%d,%r,%r" % (float(np.float32(rng.normal(0, 1))), rng.integers(0, 50),
                                           rng.normal(10, 2), float(np.float16(rng.normal(5, 1))))
                          for _ in range(3000)]
    csv.write_text("\n".join(rows) + "\n")
    profile = work / "profile.json"
    subprocess.run([sidecar_binary(), "profile", "--input", str(csv), "--output", str(profile)],
                   check=True, capture_output=True)
    flags = ["--threads", "1", "--drift-profile", str(profile), "--drift-window", "100000",
             "--drift-interval", "1s", "--drift-sample-rate", "1", "--model", "fallback"]
    json_model = EchoModel()
    with GrpcModel() as grpc_model:
        grpc_side = Sidecar(upstream_port=json_model.port,
                            extra_args=flags + ["--grpc-upstream", f"127.0.0.1:{grpc_model.port}"])
        json_side = Sidecar(upstream_port=json_model.port, extra_args=flags)
        try:
            yield {"grpc": grpc_side, "json": json_side, "grpc_model": grpc_model, "work": work}
        finally:
            grpc_side.stop()
            json_side.stop()
            json_model.close()


def test_drift_from_grpc_equals_drift_from_the_same_tensors_as_json(stack):
    with grpc.insecure_channel(f"127.0.0.1:{stack['grpc'].port}") as ch:
        stub = v2_grpc.GRPCInferenceServiceStub(ch)
        for i, batch in enumerate(batches(seed=2, shift=0.5)):
            stub.ModelInfer(grpc_request(batch, raw=i % 2 == 0), timeout=10)
    for batch in batches(seed=2, shift=0.5):
        status, _, body = http_request(stack["json"].port, "POST", "/v2/models/resnet/versions/7/infer",
                                       json_request(batch), {"Content-Type": "application/json"})
        assert status == 200, body
    docs = {}
    for side in ("grpc", "json"):
        wait_metric(stack[side], "mlsidecar_drift_samples_total", lambda v: v >= REQUESTS,
                    direction="input")
        wait_drift_computation(stack[side])
        docs[side] = {f["name"]: f for f in drift_json(stack[side])["features"] if f["direction"] == "input"}
    assert set(docs["grpc"]) == set(FEATURES)
    for name in FEATURES:
        g, j = docs["grpc"][name], docs["json"][name]
        assert g["window_samples"] == j["window_samples"] == REQUESTS * BATCH, name
        assert g["statistics"] == j["statistics"], name  # exact: the same values were read
        assert g["bins"] == j["bins"], name
    # The shift shows: a and d moved by half a standard deviation.
    assert docs["grpc"]["a"]["statistics"]["psi"] > 0.05


def test_calls_are_labelled_with_the_model_their_message_names(stack):
    before = stack["grpc"].scrape()
    with grpc.insecure_channel(f"127.0.0.1:{stack['grpc'].port}") as ch:
        stub = v2_grpc.GRPCInferenceServiceStub(ch)
        batch = next(batches(seed=3, shift=0))
        for _ in range(3):
            stub.ModelInfer(grpc_request(batch, model="bert", version="2"), timeout=10)
    after = stack["grpc"].scrape_settled()
    delta = lambda name, **l: metric_sum(after, name, **l) - metric_sum(before, name, **l)  # noqa: E731
    assert delta("mlsidecar_grpc_requests_total", model="bert", version="2", grpc_code="OK") == 3
    assert delta("mlsidecar_requests_total", model="bert", version="2", route="infer") == 3


def test_compressed_and_oversized_messages_are_relayed_and_counted(stack, tmp_path):
    side = stack["grpc"]
    before = side.scrape()
    batch = next(batches(seed=4, shift=0))
    with grpc.insecure_channel(f"127.0.0.1:{side.port}") as ch:
        stub = v2_grpc.GRPCInferenceServiceStub(ch)
        reply = stub.ModelInfer(grpc_request(batch), timeout=10, compression=grpc.Compression.Gzip)
        assert reply.model_name == "resnet"
    after = wait_metric(side, "mlsidecar_drift_skipped_total", lambda v: v >= 1, reason="compressed")
    assert metric_sum(after, "mlsidecar_drift_skipped_total", reason="compressed") - \
        metric_sum(before, "mlsidecar_drift_skipped_total", reason="compressed") == 1
    # Over --drift-max-body: a sidecar with a small cap relays it and counts it.
    with GrpcModel() as model:
        small = Sidecar(upstream_port=stack["grpc_model"].port, extra_args=[
            "--threads", "1", "--drift-profile", str(stack["work"] / "profile.json"),
            "--drift-max-body", "200", "--drift-sample-rate", "1",
            "--grpc-upstream", f"127.0.0.1:{model.port}"])
        try:
            with grpc.insecure_channel(f"127.0.0.1:{small.port}") as ch:
                reply = v2_grpc.GRPCInferenceServiceStub(ch).ModelInfer(grpc_request(batch), timeout=10)
            assert reply.model_name == "resnet"
            wait_metric(small, "mlsidecar_drift_skipped_total", lambda v: v >= 1, reason="too_large")
        finally:
            small.stop()
