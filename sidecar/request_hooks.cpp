#include "sidecar/request_hooks.h"

#include <string>

#include "metrics/drift/drift_engine.h"
#include "metrics/llm/generation_tap.h"
#include "metrics/llm/llm_metrics.h"
#include "metrics/llm/stream_format.h"
#include "policies/autoscale_signals.h"

namespace mlsidecar {

namespace {
// Requests of a generation route keep this much of their body for the LLM tap (model, stream).
constexpr std::size_t kLlmRequestPrefix = 64 * 1024;
}  // namespace

// Per-connection state of the body taps; its strings keep their capacity between requests.
struct RequestHooks::Taps {
  Route route = Route::other;
  // This exchange is a drift sample, and the profile watches its request / response body.
  bool drift_input = false, drift_output = false;
  bool llm = false;
  bool request_overflow = false, response_overflow = false;
  bool model_aborted = false;
  std::size_t request_cap = 0, response_cap = 0;
  std::string request_body, response_body;
  llm::GenerationTap tap;
  bool tap_active = false;

  static void append(std::string& to, std::string_view bytes, std::size_t cap, bool& overflow) {
    if (overflow) return;
    if (to.size() + bytes.size() > cap) {
      overflow = true;
      return;
    }
    to.append(bytes);
  }
};

RequestHooks::RequestHooks(SidecarState& state, std::size_t thread) : state_(state), thread_(thread) {
  if (state.drift || state.llm) taps_ = std::make_unique<Taps>();
}

RequestHooks::~RequestHooks() = default;

void RequestHooks::request_started(const RouteInfo& route, Clock::time_point now) {
  start_ = now;
  if (state_.signals) state_.signals->on_request_start(now);
  if (!taps_) return;
  Taps& t = *taps_;
  t.route = route.route;
  t.request_body.clear();
  t.response_body.clear();
  t.request_overflow = t.response_overflow = t.model_aborted = false;
  const bool drift_sampled = state_.drift &&
                             (route.route == Route::predict || route.route == Route::infer ||
                              route.route == Route::generate) &&
                             state_.drift->should_sample(thread_);
  t.drift_input = drift_sampled && state_.drift->watches(drift::Direction::input);
  t.drift_output = drift_sampled && state_.drift->watches(drift::Direction::output);
  t.llm = state_.llm && route.route == Route::generate;
  t.request_cap = t.drift_input ? state_.config.drift_max_body : t.llm ? kLlmRequestPrefix : 0;
  if (t.llm && t.request_cap < kLlmRequestPrefix) t.request_cap = kLlmRequestPrefix;
  t.response_cap = t.drift_output ? state_.config.drift_max_body : 0;
}

void RequestHooks::request_body(std::string_view bytes) {
  if (!taps_ || taps_->request_cap == 0) return;
  Taps& t = *taps_;
  if (t.llm && !t.drift_input) {
    // The LLM tap reads a prefix; a cut body still names the model.
    std::size_t room = t.request_cap - std::min(t.request_cap, t.request_body.size());
    t.request_body.append(bytes.substr(0, room));
    return;
  }
  Taps::append(t.request_body, bytes, t.request_cap, t.request_overflow);
}

void RequestHooks::response_started(const boost::beast::http::response_header<>& head,
                                    Clock::time_point now) {
  (void)head;
  (void)now;
  if (!taps_) return;
  Taps& t = *taps_;
  t.tap_active = false;
  if (t.llm && head.result_int() / 100 == 2 &&
      head.find(boost::beast::http::field::content_encoding) == head.end()) {
    auto format = llm::choose_format(head[boost::beast::http::field::content_type], t.route);
    if (format != llm::StreamFormat::none) {
      t.tap.begin(start_, t.request_body, format);
      t.tap_active = true;
    }
  }
}

void RequestHooks::response_body(std::string_view bytes, Clock::time_point now) {
  (void)now;
  if (!taps_) return;
  Taps& t = *taps_;
  if (t.tap_active) t.tap.on_body(bytes, now);
  if (t.drift_output) Taps::append(t.response_body, bytes, t.response_cap, t.response_overflow);
}

void RequestHooks::response_aborted() {
  if (taps_) taps_->model_aborted = true;
}

void RequestHooks::request_finished(const metrics::RequestSample& sample, bool client_aborted,
                                    Clock::time_point now) {
  (void)client_aborted;
  if (state_.signals) {
    state_.signals->on_request_end(now, std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                            std::chrono::duration<double>(sample.duration_seconds)));
  }
  if (!taps_) return;
  Taps& t = *taps_;
  if (t.tap_active) {
    t.tap_active = false;
    auto how = client_aborted ? llm::GenerationTap::End::client_aborted
               : t.model_aborted ? llm::GenerationTap::End::model_aborted
                                 : llm::GenerationTap::End::complete;
    const llm::GenerationSummary& summary = t.tap.finish(how, now);
    state_.llm->record(thread_, summary);
    if (state_.signals && summary.output_tokens > 0) {
      state_.signals->on_output_tokens(summary.output_tokens, now);
    }
  }
  // Only complete exchanges the model accepted: a 4xx body says nothing about the data it sees.
  if ((t.drift_input || t.drift_output) && sample.status / 100 == 2 && !client_aborted &&
      !t.model_aborted) {
    auto hand_over = [&](drift::Direction direction, bool overflow, const std::string& body) {
      if (overflow) {
        state_.drift->count_too_large(thread_);
      } else if (!body.empty()) {
        state_.drift->offer(thread_, direction, t.route, body);
      }
    };
    if (t.drift_input) hand_over(drift::Direction::input, t.request_overflow, t.request_body);
    if (t.drift_output) hand_over(drift::Direction::output, t.response_overflow, t.response_body);
  }
  (void)sample;
  (void)now;
}

bool RequestHooks::sample_access_log(double rate) {
  // xorshift64: a cheap draw, no shared state.
  rng_state_ ^= rng_state_ << 13;
  rng_state_ ^= rng_state_ >> 7;
  rng_state_ ^= rng_state_ << 17;
  return static_cast<double>(rng_state_ >> 11) * 0x1.0p-53 < rate;
}

}  // namespace mlsidecar
