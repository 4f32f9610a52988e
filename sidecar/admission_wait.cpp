#include "sidecar/admission_wait.h"

#include <boost/asio/post.hpp>

#include "policies/admission_controller.h"
#include "policies/autoscale_signals.h"

namespace mlsidecar {

struct AdmissionWait::State {
  explicit State(const net::Executor& executor) : timer(executor) {}
  net::Timer timer;
  std::uint64_t seq = 0;  // the current wait's number
  bool granted = false;
  bool cancelled = false;
};

AdmissionWait::AdmissionWait(const net::Executor& executor)
    : state_(std::make_shared<State>(executor)) {}

void AdmissionWait::cancel() {
  state_->cancelled = true;
  state_->timer.cancel();
}

net::Awaitable<Failure> AdmissionWait::admit(policies::AdmissionController& controller,
                                             policies::AutoscaleSignals& signals,
                                             std::chrono::milliseconds timeout,
                                             policies::AdmissionPermit& permit) {
  State& s = *state_;
  const std::uint64_t seq = ++s.seq;
  s.granted = s.cancelled = false;
  auto result = controller.try_acquire([state = state_, seq] {
    boost::asio::post(state->timer.get_executor(), [state, seq] {
      if (state->seq != seq) return;
      state->granted = true;
      state->timer.cancel();
    });
  });
  if (result.decision == policies::Decision::admit) {
    permit = policies::AdmissionPermit::adopt(controller);
    co_return Failure::none;
  }
  if (result.decision == policies::Decision::reject) co_return Failure::queue_full;

  signals.on_queue_enter(std::chrono::steady_clock::now());
  s.timer.expires_after(timeout);
  boost::system::error_code ec;
  co_await s.timer.async_wait(net::redirect(ec));
  ++s.seq;  // a grant still in flight for this wait is decided below, not by the next wait
  signals.on_queue_leave(std::chrono::steady_clock::now());
  const Failure gone_or = s.cancelled ? Failure::client : Failure::none;
  if (s.granted) {
    permit = policies::AdmissionPermit::adopt(controller);
    co_return gone_or;
  }
  if (!(s.cancelled ? controller.cancel(result.ticket) : controller.expire(result.ticket))) {
    // The slot was handed over while the timer fired: it is this request's.
    permit = policies::AdmissionPermit::adopt(controller);
    co_return gone_or;
  }
  co_return s.cancelled ? Failure::client : Failure::queue_timeout;
}

}  // namespace mlsidecar
