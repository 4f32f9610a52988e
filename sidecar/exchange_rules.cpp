#include "sidecar/exchange_rules.h"

namespace mlsidecar {

DeadlineAction on_deadline(Phase phase) {
  const bool client_awaits_answer = phase == Phase::connect || phase == Phase::upstream_wait;
  return {true, !client_awaits_answer};
}

bool watches_client(Phase phase) { return phase == Phase::upstream_wait || phase == Phase::queued; }

ResponseFraming frame_response(const ResponseFacts& f) {
  ResponseFraming out;
  out.bodyless = f.head_request || f.status == 204 || f.status == 304 || f.status / 100 == 1;
  bool keep_alive = f.client_keep_alive && !f.draining;
  if (!out.bodyless && !f.has_content_length) {
    if (f.client_version == 11) {
      out.chunked = true;
    } else {
      keep_alive = false;  // an HTTP/1.0 client reads a body of unknown length to the close
    }
  }
  out.keep_alive = keep_alive && f.request_done;
  return out;
}

bool may_replay(const ReplayFacts& f) {
  return f.attempt == 0 && f.pooled && !f.has_body && f.idempotent &&
         f.failure == Failure::upstream_reset && !f.timed_out && !f.client_gone;
}

FailureOutcome after_failure(Failure failure, bool keep_alive, bool request_done,
                             bool response_started) {
  FailureOutcome out;
  if (failure == Failure::none) return out;
  // A response already under way cannot be replaced by an error; a client that left gets none.
  out.write_answer = failure != Failure::client && !response_started;
  out.keep_alive = out.write_answer && keep_alive && request_done;
  out.linger = out.write_answer && !out.keep_alive && !request_done;
  return out;
}

}  // namespace mlsidecar
