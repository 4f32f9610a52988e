#include "sidecar/request_hooks.h"

namespace mlsidecar {

struct RequestHooks::Impl {};

RequestHooks::RequestHooks() = default;
RequestHooks::~RequestHooks() = default;

void RequestHooks::request_started(SidecarState&, std::size_t, const RouteInfo&,
                                   const boost::beast::http::request_header<>&, Clock::time_point) {}
void RequestHooks::request_body(std::string_view) {}
void RequestHooks::response_started(const boost::beast::http::response_header<>&, Clock::time_point) {}
void RequestHooks::response_body(std::string_view, Clock::time_point) {}
void RequestHooks::response_aborted() {}
void RequestHooks::request_finished(SidecarState&, std::size_t, const metrics::RequestSample&, bool,
                                    Clock::time_point) {}

bool RequestHooks::sample_access_log(double rate) {
  // xorshift64: a cheap draw, no shared state.
  rng_state_ ^= rng_state_ << 13;
  rng_state_ ^= rng_state_ >> 7;
  rng_state_ ^= rng_state_ << 17;
  return static_cast<double>(rng_state_ >> 11) * 0x1.0p-53 < rate;
}

}  // namespace mlsidecar
