#include "sidecar/request_taps.h"

#include <algorithm>
#include <charconv>
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

FractionSampler::FractionSampler() : FractionSampler(next_thread_seed()) {}

// xorshift64 must not start at 0.
FractionSampler::FractionSampler(std::uint64_t seed) : state_(seed ? seed : 1) {}

bool FractionSampler::draw(double rate) {
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

void RequestTaps::request_started(const RouteInfo& route,
                                  const boost::beast::http::request_header<>& head,
                                  Clock::time_point now) {
  start_ = now;
  route_ = route.route;
  request_body_.clear();
  response_body_.clear();
  request_overflow_ = response_overflow_ = model_aborted_ = request_complete_ = false;
  shadow_ = ShadowDecision::skip;
  if (chain_.shadow().on()) start_shadow_copy(route, head, now);
  drift_ = chain_.drift().pick(thread_, route.route);
  llm_ = route.route == Route::generate;
  const std::size_t drift_cap = chain_.config().drift_max_body;
  request_cap_ = drift_.input ? drift_cap : 0;
  if (llm_) request_cap_ = std::max(request_cap_, kLlmRequestPrefix);
  response_cap_ = drift_.output ? drift_cap : 0;
}

void RequestTaps::request_body(std::string_view bytes) {
  if (shadow_ == ShadowDecision::copy && !shadow_too_large_) {
    std::string& body = shadow_copy_.request_body;
    if (body.size() + bytes.size() > chain_.shadow().max_body()) {
      shadow_too_large_ = true;  // a chunked body that grew past the cap
      std::string().swap(body);
    } else {
      body.append(bytes);
    }
  }
  if (request_cap_ == 0) return;
  if (llm_ && !drift_.input) {
    // The LLM tap reads a prefix; a cut body still names the model.
    std::size_t room = request_cap_ - std::min(request_cap_, request_body_.size());
    request_body_.append(bytes.substr(0, room));
    return;
  }
  append(request_body_, bytes, request_cap_, request_overflow_);
}

void RequestTaps::start_shadow_copy(const RouteInfo& route,
                                    const boost::beast::http::request_header<>& head,
                                    Clock::time_point now) {
  namespace http = boost::beast::http;
  if (!is_repeatable_model_call(route.route) || head.method() != http::verb::post) return;
  const ShadowTap& shadow = chain_.shadow();
  const bool drawn = shadow_draw_.draw(shadow.fraction());
  std::optional<std::uint64_t> length;
  if (head.find(http::field::transfer_encoding) == head.end()) {
    // The proxy has refused a malformed Content-Length already (framing_problem); none is 0.
    const std::string_view text = head[http::field::content_length];
    std::uint64_t n = 0;
    std::from_chars(text.data(), text.data() + text.size(), n);
    length = n;
  }
  shadow_ = shadow.decide(thread_, route.route, drawn, length, now);
  if (shadow_ != ShadowDecision::copy) return;
  shadow_too_large_ = false;
  shadow_copy_.release();  // already empty, unless a request ended without request_finished()
  shadow_copy_.route = route.route;
  std::string& out = shadow_copy_.head;
  out.append(head.method_string()).append(" ").append(head.target()).append(" HTTP/1.1\r\n");
  // What the shadow needs to read the body as the model did, and to match the copy to the
  // original in its logs; nothing else (no credentials) leaves for another host.
  for (const http::field name :
       {http::field::content_type, http::field::content_encoding, http::field::accept}) {
    if (const auto it = head.find(name); it != head.end()) {
      out.append(it->name_string()).append(": ").append(it->value()).append("\r\n");
    }
  }
  out.append("x-request-id: ").append(head["x-request-id"]).append("\r\n");
}

void RequestTaps::response_started(const boost::beast::http::response_header<>& head) {
  namespace http = boost::beast::http;
  if (shadow_ == ShadowDecision::copy) {
    shadow_copy_.primary_content_type.assign(head[http::field::content_type]);
  }
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
  if (shadow_ == ShadowDecision::copy && !shadow_copy_.primary_truncated) {
    std::string& body = shadow_copy_.primary_body;
    const std::size_t room = chain_.shadow().max_body() - body.size();
    if (bytes.size() > room) shadow_copy_.primary_truncated = true;
    body.append(bytes.substr(0, room));
  }
}

void RequestTaps::response_aborted() { model_aborted_ = true; }

void RequestTaps::finish_shadow_copy(const metrics::RequestSample& sample, bool client_aborted) {
  shadow_ = ShadowDecision::skip;
  if (shadow_too_large_) {
    chain_.shadow().count_too_large();
  } else if (request_complete_ && !client_aborted) {
    // A request the client left, or whose body never arrived whole, is not repeated.
    shadow_copy_.primary_status = static_cast<int>(sample.status);
    shadow_copy_.primary_seconds =
        sample.upstream_seconds > 0 ? sample.upstream_seconds : sample.duration_seconds;
    if (model_aborted_) shadow_copy_.primary_truncated = true;
    chain_.shadow().hand_over(thread_, shadow_copy_);
  }
  shadow_copy_.release();
}

void RequestTaps::request_finished(const metrics::RequestSample& sample, bool client_aborted,
                                   Clock::time_point now) {
  if (shadow_ == ShadowDecision::copy) finish_shadow_copy(sample, client_aborted);
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
