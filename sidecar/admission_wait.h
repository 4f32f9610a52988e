// A request's turn at the model (step 5 of the request chain): a slot at once, after a FIFO wait
// of at most --queue-timeout, or none. A grant arrives on the thread that freed the slot and is
// posted back to the waiting connection's thread; each wait has a sequence number, so a late
// grant meant for an earlier wait is told apart from one for this wait.
//
// Thread safety: one per connection, used on its I/O thread; the grant callback may run on any
// thread and only posts to the connection's executor.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "sidecar/net.h"
#include "sidecar/request_failure.h"

namespace mlsidecar {

namespace policies {
class AdmissionController;
class AdmissionPermit;
class AutoscaleSignals;
}  // namespace policies

class AdmissionWait {
 public:
  explicit AdmissionWait(const net::Executor& executor);

  // Failure::none with `permit` holding the slot; queue_full (shed at once), queue_timeout, or
  // client (cancel() was called while waiting). A queued wait enters and leaves the autoscaler's
  // queue signal.
  net::Awaitable<Failure> admit(policies::AdmissionController& controller,
                                policies::AutoscaleSignals& signals,
                                std::chrono::milliseconds timeout,
                                policies::AdmissionPermit& permit);
  // The client went away: a wait in progress ends (with Failure::client).
  void cancel();

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with grants in flight
};

}  // namespace mlsidecar
