// bench/grpc_upstream.cc: the native gRPC model of bench/grpc, so that the model is not what limits
// a proxy benchmark (the Python stand-in in tests/support/grpc/ answers a few thousand calls a
// second). Built by bench/grpc, not by CMake, from the project's own proto
// (tests/support/grpc/grpc_predict_v2.proto) with protoc and grpc_cpp_plugin, linked with Debian's
// libgrpc++.
//
//   grpc_upstream --port PORT
//
// inference.GRPCInferenceService:
//   ModelInfer        answers one fixed small ModelInferResponse (one FP32 [1, 1] output).
//   ModelStreamInfer  answers each request of the stream with one ModelStreamInferResponse
//                     holding the same response, in order, as soon as it is read.
// The other methods answer UNIMPLEMENTED (gRPC's default).
// Callback API: no thread per call. On SIGTERM or SIGINT it shuts down and prints the number of
// calls and stream messages it answered on stderr.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>

#include "grpc_predict_v2.grpc.pb.h"

namespace {

using inference::GRPCInferenceService;
using inference::ModelInferRequest;
using inference::ModelInferResponse;
using inference::ModelStreamInferResponse;

std::atomic<unsigned long long> g_unary{0};
std::atomic<unsigned long long> g_messages{0};
std::atomic<bool> g_stop{false};

void fill_response(ModelInferResponse* r) {
  r->set_model_name("bench");
  r->set_model_version("1");
  auto* out = r->add_outputs();
  out->set_name("score");
  out->set_datatype("FP32");
  out->add_shape(1);
  out->add_shape(1);
  out->mutable_contents()->add_fp32_contents(0.7310586F);
}

// One bidirectional stream: reads a request, writes its response, reads the next. A read is
// started again only when the write of the previous answer is done, so at most one write is
// outstanding (the callback API's rule) and a client that stops reading stops this stream.
class StreamReactor final
    : public grpc::ServerBidiReactor<ModelInferRequest, ModelStreamInferResponse> {
 public:
  explicit StreamReactor(const ModelStreamInferResponse& answer) : answer_(answer) {
    StartRead(&request_);
  }

 private:
  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed (or went away)
      Finish(grpc::Status::OK);
      return;
    }
    g_messages.fetch_add(1, std::memory_order_relaxed);
    StartWrite(&answer_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
      return;
    }
    StartRead(&request_);
  }
  void OnDone() override { delete this; }

  ModelInferRequest request_;
  const ModelStreamInferResponse& answer_;
};

class Service final : public GRPCInferenceService::CallbackService {
 public:
  Service() {
    fill_response(&unary_answer_);
    fill_response(stream_answer_.mutable_infer_response());
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx,
                                       const ModelInferRequest* /*req*/,
                                       ModelInferResponse* resp) override {
    resp->CopyFrom(unary_answer_);
    g_unary.fetch_add(1, std::memory_order_relaxed);
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }

  grpc::ServerBidiReactor<ModelInferRequest, ModelStreamInferResponse>* ModelStreamInfer(
      grpc::CallbackServerContext* /*ctx*/) override {
    return new StreamReactor(stream_answer_);
  }

 private:
  ModelInferResponse unary_answer_;
  ModelStreamInferResponse stream_answer_;
};

void on_signal(int) { g_stop.store(true); }

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: grpc_upstream --port PORT\n");
      return 2;
    }
  }
  if (port <= 0) {
    std::fprintf(stderr, "grpc_upstream: --port is required\n");
    return 2;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);

  Service service;
  grpc::ServerBuilder builder;
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  builder.AddListeningPort(addr, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  // No HTTP/2 stream limit of our own (gRPC's default): a proxy may multiplex all its calls on one
  // connection, as the proxies measured here do.
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    std::fprintf(stderr, "grpc_upstream: cannot listen on %s\n", addr.c_str());
    return 1;
  }
  std::fprintf(stderr, "grpc_upstream: listening on %s\n", addr.c_str());
  while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  std::fprintf(stderr, "grpc_upstream: %llu unary calls, %llu stream messages answered\n",
               g_unary.load(), g_messages.load());
  return 0;
}
