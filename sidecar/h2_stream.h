// The streams of the data port's HTTP/2 connections (h2_session.h), as one interface with two
// kinds: a gRPC call relayed to --grpc-upstream (grpc_call.cpp), and any other request relayed to
// --upstream as HTTP/1.1 (h1_bridge.cpp). The session owns its streams, feeds them the client's
// side of each exchange, and gives them what they need through H2StreamHost.
//
// Thread safety: none; everything here lives on one I/O thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/h2/server_connection.h"
#include "sidecar/request_failure.h"

namespace mlsidecar {

class AdmissionWait;
class GrpcUpstream;
class IoThread;
namespace policies {
class AdmissionPermit;
}

class H2Stream;

// What a stream may ask of its session.
class H2StreamHost {
 public:
  virtual h2::ServerConnection& conn() = 0;
  virtual IoThread& thread() = 0;
  // Null without --grpc-upstream.
  virtual GrpcUpstream* grpc_upstream() = 0;
  // The stream of `id`, or null once it has closed: what a coroutine looks up after each wait.
  virtual H2Stream* find(h2::StreamId id) = 0;
  // Keeps the session alive in a coroutine that outlives the event that started it.
  virtual std::shared_ptr<H2StreamHost> keep_alive() = 0;
  // Something is ready to write.
  virtual void kick() = 0;

 protected:
  ~H2StreamHost() = default;
};

class H2Stream {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~H2Stream() = default;

  // The client's side, as the session's events bring it.
  virtual void request_data(std::string_view data) = 0;
  virtual void request_end() = 0;
  virtual void response_data_sent(std::size_t bytes) = 0;
  virtual void refused(h2::Refusal reason) = 0;
  // The client's stream is gone (error_code != 0: the client reset it). The session destroys the
  // stream right after.
  virtual void closed(std::uint32_t error_code) = 0;
  virtual void check_deadline(Clock::time_point now) = 0;
  // The end of an admission wait (admit_stream): a slot in `permit`, or why not.
  virtual void admitted(Failure failure, policies::AdmissionPermit permit) = 0;
};

// A gRPC call (head.grpc), started: admission, then the model's gRPC port.
std::unique_ptr<H2Stream> start_grpc_call(H2StreamHost& host, h2::StreamId id,
                                          const h2::RequestHead& head,
                                          H2Stream::Clock::time_point now);
// Any other request, started: admission, then --upstream over HTTP/1.1.
std::unique_ptr<H2Stream> start_h1_bridge(H2StreamHost& host, h2::StreamId id,
                                          const h2::RequestHead& head,
                                          H2Stream::Clock::time_point now);

// Waits for an admission slot for stream `id` (--container-concurrency, --queue-timeout) and
// hands the result to the stream if it is still there. The stream keeps the returned wait and
// cancels it when its client leaves, so that a gone call stops holding a place in the queue.
std::shared_ptr<AdmissionWait> admit_stream(H2StreamHost& host, h2::StreamId id);

// Header fields copied out of an event (whose views die with it) into one buffer, with views into
// it. Hop-by-hop fields are left out (RFC 9113 8.2.2 forbids them in HTTP/2; HTTP/1.1's are not
// relayed either).
class OwnedFields {
 public:
  void assign(std::span<const h2::HeaderField> fields);
  std::span<const h2::HeaderField> fields() const { return views_; }

 private:
  std::string storage_;
  std::vector<h2::HeaderField> views_;
};

bool is_hop_by_hop(std::string_view lowercase_name);

}  // namespace mlsidecar
