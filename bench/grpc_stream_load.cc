// bench/grpc_stream_load.cc: the bidirectional-stream load of bench/grpc. Opens STREAMS
// ModelStreamInfer streams, spread over CONNS HTTP/2 connections (one gRPC channel each), and on
// each keeps WINDOW request messages in flight: a writer thread sends a small ModelInferRequest
// whenever fewer than WINDOW are unanswered, a reader thread reads the answers (the model answers
// each request with one message, in order). After SECONDS the writers half-close, the readers
// drain, and it prints one line:
//
//   messages=N seconds=S rate=R p50_ms=A p99_ms=B errors=E
//
// messages: answers received within SECONDS (the rate is messages / SECONDS); p50/p99: the time
// from writing a request to reading its answer; errors: streams that did not end OK.
//
//   grpc_stream_load --target HOST:PORT [--seconds 5] [--conns 4] [--streams 16] [--window 16]
//
// Built by bench/grpc with bench/grpc_upstream.cc (sync API: two threads per stream, simple and
// fast enough for the proxies measured here; the load shares a core with the model).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "grpc_predict_v2.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
using inference::GRPCInferenceService;
using inference::ModelInferRequest;
using inference::ModelStreamInferResponse;

struct StreamResult {
  unsigned long long in_time = 0;
  std::vector<float> latency_us;
  bool ok = false;
};

ModelInferRequest make_request() {
  ModelInferRequest req;
  req.set_model_name("bench");
  auto* t = req.add_inputs();
  t->set_name("x");
  t->set_datatype("FP32");
  t->add_shape(1);
  t->add_shape(4);
  for (float v : {1.0F, 2.0F, 3.0F, 4.0F}) t->mutable_contents()->add_fp32_contents(v);
  return req;
}

void run_stream(GRPCInferenceService::Stub* stub, const ModelInferRequest& req, unsigned window,
                Clock::time_point end, StreamResult* out) {
  grpc::ClientContext ctx;
  auto stream = stub->ModelStreamInfer(&ctx);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Clock::time_point> sent_at(window);
  unsigned long long sent = 0, received = 0;
  out->latency_us.reserve(1 << 16);

  std::thread reader([&] {
    ModelStreamInferResponse resp;
    while (stream->Read(&resp)) {
      const auto now = Clock::now();
      std::lock_guard<std::mutex> lock(mu);
      const auto t0 = sent_at[received % window];
      ++received;
      if (now <= end) {
        ++out->in_time;
        out->latency_us.push_back(std::chrono::duration<float, std::micro>(now - t0).count());
      }
      cv.notify_one();
    }
  });
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu);
      if (!cv.wait_until(lock, end, [&] { return sent - received < window; })) break;
      if (Clock::now() >= end) break;
      sent_at[sent % window] = Clock::now();
      ++sent;
    }
    if (!stream->Write(req)) break;
  }
  stream->WritesDone();
  reader.join();
  const grpc::Status st = stream->Finish();
  out->ok = st.ok();
  if (!st.ok())
    std::fprintf(stderr, "grpc_stream_load: stream ended %d %s\n", st.error_code(),
                 st.error_message().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string target;
  double seconds = 5;
  unsigned conns = 4, streams = 16, window = 16;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (!v) {
      std::fprintf(stderr, "grpc_stream_load: %s needs a value\n", a.c_str());
      return 2;
    }
    if (a == "--target")
      target = v;
    else if (a == "--seconds")
      seconds = std::atof(v);
    else if (a == "--conns")
      conns = static_cast<unsigned>(std::atoi(v));
    else if (a == "--streams")
      streams = static_cast<unsigned>(std::atoi(v));
    else if (a == "--window")
      window = static_cast<unsigned>(std::atoi(v));
    else {
      std::fprintf(stderr,
                   "usage: grpc_stream_load --target HOST:PORT [--seconds S] [--conns C] "
                   "[--streams N] [--window W]\n");
      return 2;
    }
    ++i;
  }
  if (target.empty() || seconds <= 0 || conns == 0 || streams == 0 || window == 0) {
    std::fprintf(stderr, "grpc_stream_load: --target is required; counts must be positive\n");
    return 2;
  }

  // One channel per connection: a distinct channel argument keeps gRPC from sharing one
  // subchannel (one TCP connection) between them.
  std::vector<std::unique_ptr<GRPCInferenceService::Stub>> stubs;
  for (unsigned c = 0; c < conns; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("bench.connection", static_cast<int>(c));
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto ch = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    if (!ch->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5))) {
      std::fprintf(stderr, "grpc_stream_load: cannot connect to %s\n", target.c_str());
      return 1;
    }
    stubs.push_back(GRPCInferenceService::NewStub(ch));
  }

  const ModelInferRequest req = make_request();
  std::vector<StreamResult> results(streams);
  std::vector<std::thread> threads;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
  for (unsigned s = 0; s < streams; ++s)
    threads.emplace_back(run_stream, stubs[s % conns].get(), std::cref(req), window, end,
                         &results[s]);
  for (auto& t : threads) t.join();

  unsigned long long messages = 0;
  unsigned errors = 0;
  std::vector<float> lat;
  for (auto& r : results) {
    messages += r.in_time;
    errors += r.ok ? 0 : 1;
    lat.insert(lat.end(), r.latency_us.begin(), r.latency_us.end());
  }
  auto pct = [&](double p) -> double {
    if (lat.empty()) return 0;
    auto k = static_cast<size_t>(p * static_cast<double>(lat.size() - 1));
    std::nth_element(lat.begin(), lat.begin() + static_cast<long>(k), lat.end());
    return lat[k] / 1000.0;
  };
  const double p50 = pct(0.50), p99 = pct(0.99);
  std::printf("messages=%llu seconds=%.3f rate=%.0f p50_ms=%.3f p99_ms=%.3f errors=%u\n", messages,
              seconds, static_cast<double>(messages) / seconds, p50, p99, errors);
  return errors ? 1 : 0;
}
