// One gRPC call through the data port: a stream of the client's HTTP/2 connection relayed to a
// stream on one of the thread's connections to the model's gRPC port. See h2_stream.h and
// docs/http2.md ("A gRPC call through the sidecar").
#include <memory>
#include <optional>
#include <string>

#include "metrics/drift/direction.h"
#include "metrics/drift/open_inference_v2_grpc.h"
#include "metrics/drift/protobuf_wire.h"
#include "metrics/grpc_metrics.h"
#include "policies/admission_controller.h"
#include "sidecar/admission_wait.h"
#include "sidecar/config.h"
#include "sidecar/grpc_upstream.h"
#include "sidecar/h2/grpc.h"
#include "sidecar/h2_stream.h"
#include "sidecar/io_thread.h"
#include "sidecar/request_chain.h"

namespace mlsidecar {

using Clock = std::chrono::steady_clock;
using h2::GrpcStatus;

namespace {

constexpr std::uint32_t kCancel = 8;
constexpr std::uint32_t kInternalError = 2;
// Request bytes kept for a replay on another connection when the model refuses a stream
// unprocessed; a call that sent more is not replayed.
constexpr std::size_t kReplayLimit = 64 * 1024;
// What the first request message is read for its model_name and model_version (fields 1 and 2,
// which serializers write first).
constexpr std::size_t kNameBytes = 512;

// The HTTP status a gRPC status stands for in the request families (mlsidecar_requests_total
// and the latency histograms count every call by HTTP status class), as gRPC-gateway maps them:
// a model's INTERNAL is a 5xx in the SLO rules, a client's bad argument a 4xx.
unsigned http_status_of(GrpcStatus s) {
  switch (s) {
    case GrpcStatus::ok:
      return 200;
    case GrpcStatus::cancelled:
      return 499;
    case GrpcStatus::invalid_argument:
    case GrpcStatus::failed_precondition:
    case GrpcStatus::out_of_range:
      return 400;
    case GrpcStatus::deadline_exceeded:
      return 504;
    case GrpcStatus::not_found:
      return 404;
    case GrpcStatus::already_exists:
    case GrpcStatus::aborted:
      return 409;
    case GrpcStatus::permission_denied:
      return 403;
    case GrpcStatus::resource_exhausted:
      return 429;
    case GrpcStatus::unimplemented:
      return 501;
    case GrpcStatus::unavailable:
      return 503;
    case GrpcStatus::unauthenticated:
      return 401;
    default:
      return 500;
  }
}

std::optional<GrpcStatus> grpc_status_in(std::span<const h2::HeaderField> fields) {
  for (const auto& f : fields) {
    if (f.name == "grpc-status") return h2::parse_grpc_status(f.value);
  }
  return std::nullopt;
}

// The bytes of the first length-delimited field `number` at the top level of a protobuf
// message; empty when there is none or the message is malformed.
std::string_view length_delimited_field(std::string_view message, std::uint32_t number) {
  drift::detail::WireReader reader(message);
  drift::detail::WireField field;
  while (reader.next(field)) {
    if (field.number == number && field.type == drift::detail::WireType::length) return field.bytes;
  }
  return {};
}

// One sampled message to the drift worker. A compressed one (grpc-encoding other than identity)
// is not read: it is counted as skipped.
void hand_over(const DriftTap& drift, std::size_t thread, drift::Direction direction,
               std::string_view message, bool compressed, bool overflow) {
  if (compressed) {
    drift.count_compressed(thread);
    return;
  }
  drift.hand_over_v2_grpc(thread, direction, Route::infer, overflow, message);
}

}  // namespace

// One gRPC call: a stream of the client's connection and, once admitted, a stream to the model.
class GrpcCall final : public H2Stream, public UpstreamCall {
 public:
  GrpcCall(H2StreamHost& host, h2::StreamId id, const h2::RequestHead& head, Clock::time_point now);
  ~GrpcCall() override;

  h2::RequestLine request_line() const override {
    return {.method = method_, .scheme = "http", .authority = authority_, .path = path_};
  }
  std::span<const h2::HeaderField> request_headers() const override { return headers_.fields(); }
  void upstream_opened() override;
  void upstream_failed(bool timeout) override;
  void upstream_head(const h2::ResponseHead& head) override;
  void upstream_data(std::string_view data) override;
  void upstream_trailers(std::span<const h2::HeaderField> trailers) override;
  void upstream_request_data_sent(std::size_t bytes) override;
  void upstream_closed(std::uint32_t error_code, bool retryable) override;

  // Admission, then the model.
  void start();

  // H2Stream: the client's side.
  void request_data(std::string_view data) override {
    request_bytes_ += data.size();
    unconsumed_ += data.size();
    if (reads_messages_) read_request(data);
    forward(data);
  }
  void request_end() override;
  void response_data_sent(std::size_t bytes) override;
  void refused(h2::Refusal reason) override;
  void closed(std::uint32_t error_code) override;
  void check_deadline(Clock::time_point now) override;
  void admitted(Failure failure, policies::AdmissionPermit permit) override;

 private:
  void go_upstream();
  // The messages of a V2 inference call, as they pass: the first request's model_name and
  // model_version label the call; sampled ones go to the drift worker (issue 19).
  void read_request(std::string_view data);
  void read_response(std::string_view data);
  void forward(std::string_view data);
  // Ends the call with an error the sidecar produces: trailers-only when no response head went
  // out, else trailers after what was relayed (or a reset, when that cannot be well-formed).
  void fail(GrpcStatus status, std::string_view message);
  void finish(Clock::time_point now);

  GrpcUpstream* upstream() { return host_.grpc_upstream(); }
  h2::ServerConnection& conn() { return host_.conn(); }
  const Config& config() { return host_.thread().state().config; }
  const RequestChain& chain() { return host_.thread().chain(); }
  metrics::RequestMetrics::Shard& metrics() { return host_.thread().metrics(); }

  H2StreamHost& host_;
  h2::StreamId id_;
  std::string method_, authority_, path_;
  OwnedFields headers_;
  h2::GrpcMethod grpc_;
  std::string service_, method_name_;
  std::size_t series_;
  Clock::time_point start_;
  Clock::time_point deadline_ = Clock::time_point::max();
  std::optional<InFlight> in_flight_;
  policies::AdmissionPermit permit_;
  std::shared_ptr<AdmissionWait> wait_;
  std::string pending_;  // request body received before the model's stream opened (unconsumed)
  std::string replay_;   // body sent to the model, kept until its response starts
  bool replayable_ = true;
  bool retried_ = false;
  bool upstream_open_ = false;
  bool upstream_done_ = false;
  bool client_ended_ = false;
  bool response_started_ = false;
  bool answered_ = false;       // the client's response is complete (or reset)
  std::size_t unconsumed_ = 0;  // request bytes received and not yet returned to the client
  std::uint64_t request_bytes_ = 0, response_bytes_ = 0;
  Clock::time_point sent_at_{}, head_at_{};
  std::optional<GrpcStatus> status_;
  h2::GrpcMessageReader response_messages_;
  h2::GrpcMessageCopier request_copier_, response_copier_;
  bool reads_messages_ = false;     // a ModelInfer or ModelStreamInfer call
  bool streamed_response_ = false;  // ModelStreamInfer: each response wraps a ModelInferResponse
  bool named_ = false;              // the first request message has been read for its model
  bool drift_request_ = false, drift_response_ = false;  // the message being copied is sampled
};

GrpcCall::GrpcCall(H2StreamHost& host, h2::StreamId id, const h2::RequestHead& head,
                   Clock::time_point now)
    : host_(host),
      id_(id),
      method_(head.method),
      authority_(head.authority),
      path_(head.path),
      grpc_(h2::classify_grpc_path(path_)),
      service_(grpc_.service),
      method_name_(grpc_.method),
      series_(chain().metrics().model_index({}, {})),
      start_(now),
      client_ended_(head.end_stream) {
  headers_.assign(head.headers);
  reads_messages_ = grpc_.route == Route::infer && service_ == "inference.GRPCInferenceService";
  streamed_response_ = method_name_ == "ModelStreamInfer";
  if (authority_.empty()) authority_ = config().grpc_upstream;
  if (!head.grpc_timeout.empty()) {
    if (const auto timeout = h2::parse_grpc_timeout(head.grpc_timeout)) {
      if (*timeout < Clock::time_point::max() - now) deadline_ = now + *timeout;
    }
  }
  in_flight_.emplace(metrics(), chain().signals(), now, grpc_.route != Route::health);
}

GrpcCall::~GrpcCall() {
  if (GrpcUpstream* up = upstream()) up->forget(*this, kCancel);
}

void GrpcCall::start() {
  if (!upstream()) {
    fail(GrpcStatus::unavailable, "mlsidecar has no --grpc-upstream for gRPC calls");
    return;
  }
  if (!chain().admission_limited() || grpc_.route == Route::health) {
    go_upstream();
    return;
  }
  // A long-lived stream is admitted once and holds its slot for its life, as an SSE request does.
  wait_ = admit_stream(host_, id_);
}

void GrpcCall::admitted(Failure failure, policies::AdmissionPermit permit) {
  wait_.reset();
  if (failure != Failure::none) {
    fail(GrpcStatus::unavailable, failure == Failure::queue_timeout
                                      ? "the model's queue timed out (shed)"
                                      : "the model is at its concurrency limit (shed)");
    return;
  }
  permit_ = std::move(permit);
  go_upstream();
}

void GrpcCall::read_request(std::string_view data) {
  const DriftTap& drift = chain().drift();
  const std::size_t thread = host_.thread().index();
  request_copier_.feed(
      data,
      [&] {
        drift_request_ = drift.pick(thread, grpc_.route).input;
        if (drift_request_) return config().drift_max_body;
        return named_ ? std::size_t{0} : kNameBytes;
      },
      [&](std::string_view message, bool compressed, bool overflow) {
        if (!named_) {
          named_ = true;
          const auto name = compressed ? std::nullopt : drift::v2_grpc_model(message);
          if (name) series_ = chain().metrics().model_index(name->first, name->second);
        }
        if (drift_request_) {
          hand_over(drift, thread, drift::Direction::input, message, compressed, overflow);
        }
      });
}

void GrpcCall::read_response(std::string_view data) {
  const DriftTap& drift = chain().drift();
  const std::size_t thread = host_.thread().index();
  response_copier_.feed(
      data,
      [&] {
        drift_response_ = drift.pick(thread, grpc_.route).output;
        return drift_response_ ? config().drift_max_body : std::size_t{0};
      },
      [&](std::string_view message, bool compressed, bool overflow) {
        // A ModelStreamInferResponse carries its ModelInferResponse as field 2.
        if (streamed_response_ && !compressed) message = length_delimited_field(message, 2);
        hand_over(drift, thread, drift::Direction::output, message, compressed, overflow);
      });
}

void GrpcCall::go_upstream() {
  if (answered_) return;
  sent_at_ = Clock::now();
  upstream()->open(*this);
}

void GrpcCall::upstream_opened() {
  upstream_open_ = true;
  if (!pending_.empty()) {
    std::string body = std::move(pending_);
    pending_.clear();
    if (!replay_.empty()) body.insert(0, replay_);  // a replay: what the first try sent, first
    replay_.clear();
    forward(body);
  } else if (!replay_.empty()) {
    std::string body = std::move(replay_);
    replay_.clear();
    forward(body);
  }
  if (client_ended_) upstream()->end_request(*this);
}

void GrpcCall::upstream_failed(bool timeout) {
  metrics().upstream_error(timeout ? metrics::UpstreamError::connect_timeout
                                   : metrics::UpstreamError::connect_failed);
  fail(GrpcStatus::unavailable, timeout ? "the model's gRPC port did not answer in time"
                                        : "the model's gRPC port is unreachable");
}

void GrpcCall::forward(std::string_view data) {
  if (answered_) return;
  if (!upstream_open_) {
    // Held, not consumed: the client's window stays shut for it until the model's stream opens.
    pending_.append(data);
    return;
  }
  if (replayable_ && !response_started_) {
    if (replay_.size() + data.size() <= kReplayLimit) {
      replay_.append(data);
    } else {
      replayable_ = false;
      replay_.clear();
      replay_.shrink_to_fit();
    }
  }
  upstream()->send_data(*this, data);
}

void GrpcCall::request_end() {
  client_ended_ = true;
  if (upstream_open_) upstream()->end_request(*this);
}

void GrpcCall::upstream_request_data_sent(std::size_t bytes) {
  const std::size_t n = std::min(bytes, unconsumed_);
  unconsumed_ -= n;
  if (n > 0) {
    conn().consume(id_, n);
    host_.kick();
  }
}

void GrpcCall::upstream_head(const h2::ResponseHead& head) {
  if (answered_) return;
  head_at_ = Clock::now();
  response_started_ = true;
  replay_.clear();
  replay_.shrink_to_fit();
  if (!head.grpc_status.empty()) status_ = h2::parse_grpc_status(head.grpc_status);
  if (!status_ && head.status != 200) status_ = h2::grpc_status_from_http(head.status);
  conn().submit_response(id_, head.status, head.headers, head.end_stream);
  if (head.end_stream) answered_ = true;
  host_.kick();
}

void GrpcCall::upstream_data(std::string_view data) {
  if (answered_) {
    upstream()->consume(*this, data.size());
    return;
  }
  response_bytes_ += data.size();
  std::string_view rest = data;
  while (response_messages_.next(rest)) {
  }
  if (reads_messages_) read_response(data);
  conn().send_data(id_, data);
  host_.kick();
}

void GrpcCall::response_data_sent(std::size_t bytes) {
  if (upstream_open_) upstream()->consume(*this, bytes);
}

void GrpcCall::upstream_trailers(std::span<const h2::HeaderField> trailers) {
  if (answered_) return;
  if (const auto status = grpc_status_in(trailers)) status_ = status;
  answered_ = true;
  conn().end_response(id_, trailers);
  host_.kick();
}

void GrpcCall::upstream_closed(std::uint32_t error_code, bool retryable) {
  upstream_open_ = false;
  upstream_done_ = true;
  if (answered_) return;
  if (retryable && !retried_ && replayable_ && !response_started_) {
    // The model never processed it: once more, on another connection, with what was sent.
    retried_ = true;
    upstream_done_ = false;
    metrics().upstream_error(metrics::UpstreamError::retried);
    upstream()->open(*this);
    return;
  }
  if (error_code == 0 && response_started_) {
    // The model ended the body without trailers: close the body as it is.
    answered_ = true;
    if (!status_) status_ = GrpcStatus::unknown;
    conn().end_response(id_);
    host_.kick();
    return;
  }
  metrics().upstream_error(metrics::UpstreamError::reset);
  fail(GrpcStatus::unavailable, "the model reset the call");
}

void GrpcCall::refused(h2::Refusal reason) {
  if (reason == h2::Refusal::message_too_large) {
    fail(GrpcStatus::resource_exhausted, "request message larger than --grpc-max-message-bytes (" +
                                             std::to_string(config().grpc_max_message_bytes) + ")");
  } else if (reason == h2::Refusal::malformed_message) {
    fail(GrpcStatus::internal, "malformed gRPC message framing");
  } else {
    fail(GrpcStatus::resource_exhausted, std::string(h2::refusal_name(reason)));
  }
}

void GrpcCall::fail(GrpcStatus status, std::string_view message) {
  if (answered_) return;
  answered_ = true;
  status_ = status;
  if (GrpcUpstream* up = upstream()) up->forget(*this, kCancel);
  upstream_open_ = false;
  if (!response_started_) {
    conn().submit_grpc_error(id_, status, message);
  } else if (response_messages_.at_boundary()) {
    const std::string code = std::to_string(static_cast<int>(status));
    const std::string encoded = h2::percent_encode_message(message);
    const h2::HeaderField trailers[] = {{"grpc-status", code}, {"grpc-message", encoded}};
    conn().end_response(id_, trailers);
  } else {
    // Half a message went out: no trailer can make it whole.
    conn().reset_stream(id_, kInternalError);
  }
  host_.kick();
}

void GrpcCall::check_deadline(Clock::time_point now) {
  if (now < deadline_ || answered_) return;
  deadline_ = Clock::time_point::max();
  fail(GrpcStatus::deadline_exceeded, "grpc-timeout reached");
}

void GrpcCall::closed(std::uint32_t error_code) {
  if (error_code != 0 && !answered_) {
    // The client reset the stream: the model's stream is cancelled too.
    answered_ = true;
    status_ = GrpcStatus::cancelled;
    metrics().refused(metrics::Refusal::client_aborted);
  }
  if (wait_) wait_->cancel();
  if (GrpcUpstream* up = upstream()) up->forget(*this, kCancel);
  finish(Clock::now());
}

void GrpcCall::finish(Clock::time_point now) {
  const GrpcStatus status = status_.value_or(answered_ ? GrpcStatus::ok : GrpcStatus::cancelled);
  metrics::RequestSample sample;
  sample.series = series_;
  sample.route = grpc_.route;
  sample.status = http_status_of(status);
  sample.duration_seconds = std::chrono::duration<double>(now - start_).count();
  if (sent_at_ != Clock::time_point{}) {
    sample.upstream_seconds = std::chrono::duration<double>(now - sent_at_).count();
  }
  if (head_at_ != Clock::time_point{}) {
    sample.first_byte_seconds = std::chrono::duration<double>(head_at_ - start_).count();
  }
  sample.request_bytes = request_bytes_;
  sample.response_bytes = response_bytes_;
  in_flight_->finish(sample, now);
  const std::size_t method = service_.empty() ? chain().grpc().method_index("other", "other")
                                              : chain().grpc().method_index(service_, method_name_);
  chain()
      .grpc()
      .shard(host_.thread().index())
      .call_finished(series_, method, static_cast<std::size_t>(status));
  permit_.reset();
}

std::unique_ptr<H2Stream> start_grpc_call(H2StreamHost& host, h2::StreamId id,
                                          const h2::RequestHead& head, Clock::time_point now) {
  auto call = std::make_unique<GrpcCall>(host, id, head, now);
  call->start();
  return call;
}

}  // namespace mlsidecar
