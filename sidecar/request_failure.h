// Why forwarding one request failed, and what that means for the client and the metrics: the
// status and JSON error the client gets, and the refusal or upstream error that is counted.
//
// Thread-safety: plain values and a pure function.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "metrics/request_metrics.h"

namespace mlsidecar {

enum class Failure {
  none,
  header_too_large,  // 431: the head is over --max-header-bytes
  header_timeout,    // the head did not arrive within --header-timeout: counted, nothing is sent
  bad_head,          // 400: a malformed head
  client,            // the client went away, stalled or sent a broken body
  queue_full,        // 503: admission control shed it at once
  queue_timeout,     // 503: it waited --queue-timeout for a slot
  body_too_large,    // 413
  bad_body,          // 400: chunked framing error in the body
  connect_failed,    // 502
  connect_timeout,   // 504
  upstream_reset,    // 502: the model closed or reset the connection
  upstream_timeout,  // 504
  upstream_invalid,  // 502
};

struct FailureAnswer {
  unsigned status = 502;  // 499 (nginx's convention) for `client`, 408 for header_timeout
  bool silent = false;    // counted, nothing is sent (client, header_timeout)
  std::string_view code = "upstream_unavailable";  // the JSON body's "code"
  std::string message;
  bool shed = false;  // answered with Retry-After
  std::optional<metrics::Refusal> refusal;
  std::optional<metrics::UpstreamError> upstream_error;
};

// The answer to a request that failed with `failure` (not Failure::none); `detail` completes the
// message: the model's address for a failed connect, the parser's complaint for a bad head.
FailureAnswer answer_for(Failure failure, std::string_view detail);

}  // namespace mlsidecar
