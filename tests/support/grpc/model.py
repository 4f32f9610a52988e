#!/usr/bin/python3
"""A gRPC model stand-in: the V2 inference service (ServerLive, ServerReady, ModelReady, metadata,
ModelInfer, Triton's ModelStreamInfer), grpc.health.v1's Check, and the test service
`mlsidecar.test.Shapes` (SetReady flips what ServerReady and Check answer), on
127.0.0.1 (or --host) over HTTP/2 cleartext, with grpcio.

  model.py --port N [--host H] [--model NAME] [--version V]

Prints "listening on PORT" when ready. Behaviour the tests steer with request metadata:
  x-delay-ms: N        sleep before answering (deadlines)
  x-fail: CODE[:msg]   answer with that status (e.g. RESOURCE_EXHAUSTED:too big); x-fail-bin the
                       same in UTF-8 bytes (a message beyond ASCII)
  x-echo, x-echo-bin   sent back as initial metadata, and as trailing metadata x-trailer(-bin)
ModelInfer answers output "sum" (FP32) = the sum of every input's fp32_contents, and model_name /
model_version as asked (else --model/--version). ModelStreamInfer answers each request once.
Calls cancelled by their client are counted per method (Shapes.Stats)."""
import argparse
import collections
import concurrent.futures
import os
import subprocess
import sys
import tempfile
import threading
import time

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))


def load_stubs():
    """Generates the Python modules of the two .proto files (grpc_tools) into a temporary
    directory and imports them."""
    out = tempfile.mkdtemp(prefix="mlsidecar-grpc-")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", HERE, f"--python_out={out}",
                    f"--grpc_python_out={out}", "grpc_predict_v2.proto", "shapes.proto", "health.proto"],
                   check=True, cwd=HERE)
    sys.path.insert(0, out)
    import grpc_predict_v2_pb2 as v2  # noqa: E402
    import grpc_predict_v2_pb2_grpc as v2_grpc  # noqa: E402
    import shapes_pb2 as shapes  # noqa: E402
    import shapes_pb2_grpc as shapes_grpc  # noqa: E402
    return v2, v2_grpc, shapes, shapes_grpc


def load_health_stubs():
    """grpc.health.v1's modules (load_stubs() generates them too)."""
    load_stubs()
    import health_pb2  # noqa: E402
    import health_pb2_grpc  # noqa: E402
    return health_pb2, health_pb2_grpc


def steer(context):
    """Applies x-delay-ms, x-fail and x-echo; returns False when the call was failed."""
    md = dict(context.invocation_metadata())
    if "x-delay-ms" in md:
        time.sleep(int(md["x-delay-ms"]) / 1000)
    if "x-echo" in md or "x-echo-bin" in md:
        context.send_initial_metadata([(k, md[k]) for k in ("x-echo", "x-echo-bin") if k in md])
        trailers = []
        if "x-echo" in md:
            trailers.append(("x-trailer", md["x-echo"]))
        if "x-echo-bin" in md:
            trailers.append(("x-trailer-bin", md["x-echo-bin"]))
        context.set_trailing_metadata(trailers)
    fail = md["x-fail-bin"].decode() if "x-fail-bin" in md else md.get("x-fail")
    if fail:
        code, _, message = fail.partition(":")
        context.abort(getattr(grpc.StatusCode, code), message or code)
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model", default="demo")
    ap.add_argument("--version", default="1")
    args = ap.parse_args()
    v2, v2_grpc, shapes, shapes_grpc = load_stubs()
    health, health_grpc = load_health_stubs()
    ready = {"value": True}
    cancelled = collections.Counter()
    lock = threading.Lock()

    def cancelled_by_client(context, method):
        """Counts the call when its client has gone (cancelled or past its deadline)."""
        if context.is_active():
            return False
        with lock:
            cancelled[method] += 1
        return True

    class Inference(v2_grpc.GRPCInferenceServiceServicer):
        def ServerLive(self, request, context):
            return v2.ServerLiveResponse(live=True)

        def ServerReady(self, request, context):
            steer(context)
            return v2.ServerReadyResponse(ready=ready["value"])

        def ModelReady(self, request, context):
            return v2.ModelReadyResponse(ready=request.name in ("", args.model))

        def ServerMetadata(self, request, context):
            return v2.ServerMetadataResponse(name="mlsidecar-grpc-standin", version="1")

        def ModelMetadata(self, request, context):
            return v2.ModelMetadataResponse(name=args.model, versions=[args.version], platform="python")

        def _infer(self, request):
            total = sum(sum(t.contents.fp32_contents) for t in request.inputs)
            out = v2.ModelInferResponse(model_name=request.model_name or args.model,
                                        model_version=request.model_version or args.version,
                                        id=request.id)
            t = out.outputs.add(name="sum", datatype="FP32", shape=[1])
            t.contents.fp32_contents.append(total)
            return out

        def ModelInfer(self, request, context):
            steer(context)
            cancelled_by_client(context, "ModelInfer")
            return self._infer(request)

        def ModelStreamInfer(self, request_iterator, context):
            steer(context)
            for request in request_iterator:
                yield v2.ModelStreamInferResponse(infer_response=self._infer(request))
            cancelled_by_client(context, "ModelStreamInfer")

    class Shapes(shapes_grpc.ShapesServicer):
        def Unary(self, request, context):
            steer(context)
            cancelled_by_client(context, "Unary")
            return shapes.Chunk(seq=request.seq, data=request.data)

        def ServerStream(self, request, context):
            steer(context)
            for i in range(request.count):
                if cancelled_by_client(context, "ServerStream"):
                    return
                yield shapes.Chunk(seq=i, data=bytes([i % 251]) * request.size)
                if request.interval_ms:
                    time.sleep(request.interval_ms / 1000)

        def ClientStream(self, request_iterator, context):
            steer(context)
            count = size = 0
            for chunk in request_iterator:
                count += 1
                size += len(chunk.data)
            cancelled_by_client(context, "ClientStream")
            return shapes.Summary(count=count, bytes=size)

        def Bidi(self, request_iterator, context):
            steer(context)
            for chunk in request_iterator:
                yield shapes.Chunk(seq=chunk.seq, data=chunk.data)
            cancelled_by_client(context, "Bidi")

        def Stats(self, request, context):
            with lock:
                return shapes.StatsReply(cancelled=dict(cancelled))

        def SetReady(self, request, context):
            ready["value"] = request.ready
            return shapes.Empty()

    class Health(health_grpc.HealthServicer):
        def Check(self, request, context):
            if request.service not in ("", "inference"):
                context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
            status = (health.HealthCheckResponse.SERVING if ready["value"]
                      else health.HealthCheckResponse.NOT_SERVING)
            return health.HealthCheckResponse(status=status)

    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=64),
                         options=[("grpc.max_receive_message_length", 64 << 20),
                                  ("grpc.max_send_message_length", 64 << 20)])
    v2_grpc.add_GRPCInferenceServiceServicer_to_server(Inference(), server)
    shapes_grpc.add_ShapesServicer_to_server(Shapes(), server)
    health_grpc.add_HealthServicer_to_server(Health(), server)
    port = server.add_insecure_port(f"{args.host}:{args.port}")
    server.start()
    print(f"listening on {args.host}:{port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
