// The decisions a proxied exchange makes, as pure functions of what the session knows: how the
// response is framed and whether the connection stays open, whether a failed request is replayed,
// what a passed deadline closes, and how a failed request ends. The session (proxy_session.cpp)
// only gathers the facts and carries the decisions out; the tests check every rule on its own.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>

#include "sidecar/request_failure.h"

namespace mlsidecar {

// What a connection is waiting for; decides what a passed deadline closes.
enum class Phase {
  idle,           // between requests (keep-alive)
  header,         // reading a request head
  queued,         // waiting for an admission slot (the queue timer bounds it)
  request_body,   // reading the request body from the client
  connect,        // connecting to the model
  upstream_wait,  // the model has the request; waiting for its response head
  upstream_body,  // reading the response body from the model
  client_write,   // writing to the client
};

struct DeadlineAction {
  bool close_upstream = false;
  bool close_client = false;
};
// On the model's side of a request (connect, waiting for the head) the client still gets an
// answer (504), so only the model's connection closes; in every other phase the connection is
// beyond saving and both close.
DeadlineAction on_deadline(Phase phase);

// Whether a request the model (or the queue) holds should have its client watched, so that a
// client that leaves frees the model's connection.
bool watches_client(Phase phase);

// The facts that decide a response's framing towards the client.
struct ResponseFacts {
  unsigned client_version = 11;  // 10 or 11
  bool client_keep_alive = true;
  bool draining = false;      // SIGTERM seen: every response closes its connection
  bool head_request = false;  // HEAD: the response has no body whatever its head says
  unsigned status = 200;
  bool has_content_length = false;
  bool request_done = true;  // the whole request body was read
};
struct ResponseFraming {
  bool bodyless = false;    // no body: HEAD, 1xx, 204, 304
  bool chunked = false;     // re-framed chunked for the client (no length, HTTP/1.1)
  bool keep_alive = false;  // the client connection stays open after this response
};
// A body of unknown length is re-framed chunked for an HTTP/1.1 client; an HTTP/1.0 client reads
// it to the close. The connection stays open only when the client asked, the sidecar is not
// draining, the body's end is known to the client and the request was read to its end.
ResponseFraming frame_response(const ResponseFacts& facts);

// The facts that decide whether a failed forward is replayed on a fresh connection.
struct ReplayFacts {
  int attempt = 0;          // 0 for the first try
  bool pooled = false;      // the failed connection came from the pool
  bool has_body = false;    // the request has a body (read from the client as it came)
  bool idempotent = false;  // GET, HEAD, OPTIONS, PUT, DELETE, TRACE
  Failure failure = Failure::none;
  bool timed_out = false;
  bool client_gone = false;
};
// Only a request without a body, idempotent, that failed with a reset on a pooled connection (the
// model had closed it before reading the request) is replayed, once. Nothing else ever is: a body
// is gone once relayed, and a POST may have had effects.
bool may_replay(const ReplayFacts& facts);

// How a failed request ends towards its client.
struct FailureOutcome {
  bool write_answer = false;  // send the JSON error (nothing was sent yet, the client is there)
  bool keep_alive = false;    // the connection stays open after the answer
  bool linger = false;        // close gently: the request was not read to its end
};
// `keep_alive` is what the connection would have done had the request succeeded.
FailureOutcome after_failure(Failure failure, bool keep_alive, bool request_done,
                             bool response_started);

}  // namespace mlsidecar
