#include "sidecar/request_taps.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <charconv>
#include <random>

#include "metrics/llm/llm_metrics.h"
#include "metrics/llm/stream_format.h"
#include "metrics/shadow/shadow_analysis.h"
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
  sent_ = model_done_ = Clock::time_point{};
  route_ = route.route;
  request_body_.clear();
  response_body_.clear();
  request_overflow_ = response_overflow_ = model_aborted_ = request_complete_ = false;
  if (shadow_ == ShadowDecision::copy) drop_shadow_copy(shadow::DropReason::abandoned);
  primary_answered_ = false;
  if (chain_.shadow().on()) start_shadow_copy(route, head, now);
  drift_ = chain_.drift().pick(thread_, route.route);
  llm_ = route.route == Route::generate;
  const std::size_t drift_cap = chain_.config().drift_max_body;
  request_cap_ = drift_.input ? drift_cap : 0;
  if (llm_) request_cap_ = std::max(request_cap_, kLlmRequestPrefix);
  response_cap_ = drift_.output ? drift_cap : 0;
}

void RequestTaps::request_body(std::string_view bytes) {
  if (shadow_ == ShadowDecision::copy) {
    if (shadow_copy_.request_body.size() + bytes.size() > chain_.shadow().max_body()) {
      drop_shadow_copy(shadow::DropReason::too_large);  // a chunked body that grew past the cap
    } else {
      gather_shadow(shadow_copy_.request_body, bytes);
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
  if (!shadow_draw_.draw(shadow.fraction())) return;  // most requests: nothing more to look at
  std::optional<std::uint64_t> length;
  if (head.find(http::field::transfer_encoding) == head.end()) {
    // The proxy has refused a malformed Content-Length already (framing_problem); none is 0.
    const std::string_view text = head[http::field::content_length];
    std::uint64_t n = 0;
    std::from_chars(text.data(), text.data() + text.size(), n);
    length = n;
  }
  if (shadow.decide(thread_, route.route, true, length, now) != ShadowDecision::copy) return;
  shadow_ = ShadowDecision::copy;
  shadow_copy_.route = route.route;
  std::string out;
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
  if (!gather_shadow(shadow_copy_.head, out)) return;
  if (length) grow_shadow(shadow_copy_.request_body, *length);
}

// The budget counts what the copy's strings hold (their capacity), not only what they use: a
// declared length is allocated once, a body of unknown length grows by doubling, up to the cap.
bool RequestTaps::grow_shadow(std::string& to, std::size_t capacity) {
  if (capacity <= to.capacity()) return true;
  const std::size_t more = capacity - to.capacity();
  if (!chain_.shadow().reserve(thread_, more)) {
    drop_shadow_copy(shadow::DropReason::memory);
    return false;
  }
  shadow_reserved_ += more;
  to.reserve(capacity);
  return true;
}

bool RequestTaps::gather_shadow(std::string& to, std::string_view bytes) {
  const std::size_t need = to.size() + bytes.size();
  if (need > to.capacity()) {
    const std::size_t doubled = std::min(2 * to.capacity(), chain_.shadow().max_body());
    if (!grow_shadow(to, std::max(need, doubled))) return false;
  }
  to.append(bytes);
  return true;
}

// The copy is not sent: counted, its token and its budget given back, its memory freed.
void RequestTaps::drop_shadow_copy(shadow::DropReason reason) {
  const ShadowTap& shadow = chain_.shadow();
  shadow.count_dropped(thread_, reason);
  shadow.refund(thread_);
  shadow.release(thread_, shadow_reserved_);
  shadow_reserved_ = 0;
  shadow_copy_.release();
  shadow_ = ShadowDecision::skip;
}

void RequestTaps::response_started(const boost::beast::http::response_header<>& head,
                                   Clock::time_point now) {
  namespace http = boost::beast::http;
  model_done_ = now;
  if (shadow_ == ShadowDecision::copy) {
    primary_answered_ = true;
    shadow_copy_.primary_status = static_cast<int>(head.result_int());
    const std::string_view encoding = head[http::field::content_encoding];
    shadow_copy_.primary_encoded =
        !encoding.empty() && !boost::beast::iequals(encoding, "identity");
    if (gather_shadow(shadow_copy_.primary_content_type, head[http::field::content_type]) &&
        !shadow_copy_.primary_encoded) {
      // A declared length is allocated once (no doubling and copying as it arrives).
      const std::string_view text = head[http::field::content_length];
      std::uint64_t n = 0;
      if (!text.empty() &&
          std::from_chars(text.data(), text.data() + text.size(), n).ec == std::errc{}) {
        grow_shadow(shadow_copy_.primary_body, static_cast<std::size_t>(std::min<std::uint64_t>(
                                                   n, chain_.shadow().max_body())));
      }
    }
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
  model_done_ = now;
  // An encoded body (gzip, ...) is not copied: the shadow's would not be encoded alike.
  if (shadow_ == ShadowDecision::copy && !shadow_copy_.primary_truncated &&
      !shadow_copy_.primary_encoded) {
    std::string& body = shadow_copy_.primary_body;
    const std::size_t room = chain_.shadow().max_body() - body.size();
    if (bytes.size() > room) shadow_copy_.primary_truncated = true;
    gather_shadow(body, bytes.substr(0, room));
  }
}

void RequestTaps::response_aborted() { model_aborted_ = true; }

// A request the client left, or whose body never arrived whole, is not repeated; nor one the
// primary model never answered (shed, refused, timed out, reset before its head): the sidecar's
// own 502/503/504 says nothing about the model, so there is nothing to compare.
void RequestTaps::finish_shadow_copy(bool client_aborted) {
  const bool body_cut = sent_ != Clock::time_point{} && !request_complete_;  // sent in part
  if (client_aborted || body_cut) return drop_shadow_copy(shadow::DropReason::abandoned);
  if (!primary_answered_) return drop_shadow_copy(shadow::DropReason::primary_failed);
  if (!request_complete_) return drop_shadow_copy(shadow::DropReason::abandoned);
  shadow_copy_.primary_seconds = sent_ != Clock::time_point{} && model_done_ > sent_
                                     ? std::chrono::duration<double>(model_done_ - sent_).count()
                                     : 0;
  if (model_aborted_) shadow_copy_.primary_truncated = true;
  chain_.shadow().release(thread_, shadow_reserved_);
  shadow_reserved_ = 0;
  shadow_ = ShadowDecision::skip;
  chain_.shadow().hand_over(thread_, shadow_copy_);  // counts and refunds a full queue itself
  shadow_copy_.release();
}

void RequestTaps::request_finished(const metrics::RequestSample& sample, bool client_aborted,
                                   Clock::time_point now) {
  if (shadow_ == ShadowDecision::copy) finish_shadow_copy(client_aborted);
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
