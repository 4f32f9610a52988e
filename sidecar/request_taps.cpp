#include "sidecar/request_taps.h"

#include <algorithm>
#include <random>

#include "metrics/llm/llm_metrics.h"
#include "metrics/llm/stream_format.h"
#include "policies/autoscale_signals.h"

namespace mlsidecar {

namespace {
// Requests of a generation route keep this much of their body for the LLM tap (model, stream).
constexpr std::size_t kLlmRequestPrefix = 64 * 1024;

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::uint64_t next_thread_seed() {
  thread_local std::uint64_t sequence = [] {
    std::random_device device;
    return (std::uint64_t{device()} << 32) ^ device();
  }();
  return splitmix64(sequence);
}
}  // namespace

AccessLogSampler::AccessLogSampler() : AccessLogSampler(next_thread_seed()) {}

// xorshift64 must not start at 0.
AccessLogSampler::AccessLogSampler(std::uint64_t seed) : state_(seed ? seed : 1) {}

bool AccessLogSampler::draw(double rate) {
  state_ ^= state_ << 13;
  state_ ^= state_ >> 7;
  state_ ^= state_ << 17;
  return static_cast<double>(state_ >> 11) * 0x1.0p-53 < rate;
}

RequestTaps::RequestTaps(const RequestChain& chain, std::size_t thread)
    : chain_(chain), thread_(thread) {}

void RequestTaps::append(std::string& to, std::string_view bytes, std::size_t cap, bool& overflow) {
  if (overflow) return;
  if (to.size() + bytes.size() > cap) {
    overflow = true;
    return;
  }
  to.append(bytes);
}

void RequestTaps::request_started(const RouteInfo& route, Clock::time_point now) {
  start_ = now;
  route_ = route.route;
  request_body_.clear();
  response_body_.clear();
  request_overflow_ = response_overflow_ = model_aborted_ = false;
  drift_ = chain_.drift().pick(thread_, route.route);
  llm_ = route.route == Route::generate;
  const std::size_t drift_cap = chain_.config().drift_max_body;
  request_cap_ = drift_.input ? drift_cap : 0;
  if (llm_) request_cap_ = std::max(request_cap_, kLlmRequestPrefix);
  response_cap_ = drift_.output ? drift_cap : 0;
}

void RequestTaps::request_body(std::string_view bytes) {
  if (request_cap_ == 0) return;
  if (llm_ && !drift_.input) {
    // The LLM tap reads a prefix; a cut body still names the model.
    std::size_t room = request_cap_ - std::min(request_cap_, request_body_.size());
    request_body_.append(bytes.substr(0, room));
    return;
  }
  append(request_body_, bytes, request_cap_, request_overflow_);
}

void RequestTaps::response_started(const boost::beast::http::response_header<>& head) {
  namespace http = boost::beast::http;
  tap_active_ = false;
  if (!llm_ || head.result_int() / 100 != 2 ||
      head.find(http::field::content_encoding) != head.end()) {
    return;
  }
  auto format = llm::choose_format(head[http::field::content_type], route_);
  if (format != llm::StreamFormat::none) {
    tap_.begin(start_, request_body_, format);
    tap_active_ = true;
  }
}

void RequestTaps::response_body(std::string_view bytes, Clock::time_point now) {
  if (tap_active_) tap_.on_body(bytes, now);
  if (drift_.output) append(response_body_, bytes, response_cap_, response_overflow_);
}

void RequestTaps::response_aborted() { model_aborted_ = true; }

void RequestTaps::request_finished(const metrics::RequestSample& sample, bool client_aborted,
                                   Clock::time_point now) {
  if (tap_active_) {
    tap_active_ = false;
    auto how = client_aborted   ? llm::GenerationTap::End::client_aborted
               : model_aborted_ ? llm::GenerationTap::End::model_aborted
                                : llm::GenerationTap::End::complete;
    const llm::GenerationSummary& summary = tap_.finish(how, now);
    chain_.llm().record(thread_, sample.series, summary);
    if (summary.output_tokens > 0) chain_.signals().on_output_tokens(summary.output_tokens, now);
  }
  // Only complete exchanges the model accepted: a 4xx body says nothing about the data it sees.
  if (sample.status / 100 != 2 || client_aborted || model_aborted_) return;
  const DriftTap& drift = chain_.drift();
  if (drift_.input) {
    drift.hand_over(thread_, drift::Direction::input, route_, request_overflow_, request_body_);
  }
  if (drift_.output) {
    drift.hand_over(thread_, drift::Direction::output, route_, response_overflow_, response_body_);
  }
}

}  // namespace mlsidecar
