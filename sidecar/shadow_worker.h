// ShadowWorker: the one thread that sends shadow copies, at nice 10 so that it yields to the
// I/O threads on a core they share. It has its own io_context and its own keep-alive connections
// to --shadow-upstream, so nothing it does touches an I/O thread: the I/O threads push copies
// into their ShadowQueue and wake it; 10 ms after a wake-up (so that the copies of a busy moment
// are taken together, with one post for all of them) it takes copies from the queues (round
// robin) while fewer
// than `max_in_flight` exchanges are open, repeats each request to the shadow with the header
// `x-mlsidecar-shadow: 1`, reads the answer up to `max_body` (a longer or streamed answer is cut
// there and its connection closed), and hands the pair to ShadowAnalysis::record_pair(). A copy
// waits in its queue while every exchange is busy; a full queue drops the next copies
// (ShadowTraffic counts them), so a slow or hung shadow costs `max_in_flight` connections and the
// queues' bounds, nothing more.
//
// Each exchange has one deadline, `timeout`, for connect, send and answer together; past it, the
// connection is closed and the pair recorded with status 0 (no answer), as for a refused or reset
// connection.
//
// Idle connections: at most `max_in_flight`, each checked before reuse when idle 100 ms or more
// (a peek: the shadow may have closed it) and closed after 2 s idle, by a sweep every 0.5 s
// while any is idle. A pooled
// connection that still fails before any answer is resent once on a new connection, and the
// rest of the idle pool is closed (as old, likely as dead).
//
// Thread safety: wake() from any thread (one atomic exchange, one post when the worker was not
// already woken in the last 10 ms); start() and stop() from the thread that owns the worker, stop()
// after the producers have stopped. Everything else runs on the worker's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sidecar/config.h"
#include "sidecar/shadow_queue.h"

namespace mlsidecar {

namespace shadow {
class ShadowAnalysis;
}

class ShadowWorker {
 public:
  struct Params {
    Endpoint upstream;
    std::size_t max_body = 1024 * 1024;
    std::chrono::milliseconds timeout{10000};
    std::size_t max_in_flight = 8;
    std::size_t producer = 0;  // the worker's row in ShadowAnalysis::record_dropped
  };

  // `queues` (one per I/O thread) and `analysis` outlive the worker.
  ShadowWorker(Params params, std::vector<ShadowQueue*> queues, shadow::ShadowAnalysis& analysis);
  ~ShadowWorker();
  ShadowWorker(const ShadowWorker&) = delete;
  ShadowWorker& operator=(const ShadowWorker&) = delete;

  void start();
  // Cuts the exchanges in flight and counts them and every queued copy as dropped (shutdown);
  // joins the thread. Idempotent.
  void stop();
  // A copy was pushed: makes the worker look at the queues.
  void wake();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace mlsidecar
