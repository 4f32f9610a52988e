#include "sidecar/request_failure.h"

namespace mlsidecar {

FailureAnswer answer_for(Failure failure, std::string_view detail) {
  using metrics::Refusal;
  using metrics::UpstreamError;
  FailureAnswer a;
  switch (failure) {
    case Failure::header_too_large:
      a.status = 431, a.code = "header_too_large", a.refusal = Refusal::header_too_large;
      a.message = "request head is larger than --max-header-bytes";
      break;
    case Failure::header_timeout:
      a.status = 408, a.silent = true, a.refusal = Refusal::header_timeout;
      break;
    case Failure::bad_head:
      a.status = 400, a.code = "bad_request", a.refusal = Refusal::bad_request;
      a.message = "malformed HTTP request: " + std::string(detail);
      break;
    case Failure::client:
      a.status = 499, a.silent = true;
      a.refusal = Refusal::client_aborted;
      break;
    case Failure::queue_full:
      a.status = 503, a.code = "queue_full", a.shed = true;
      a.message = "the model is at --container-concurrency and the queue is full";
      break;
    case Failure::queue_timeout:
      a.status = 503, a.code = "queue_timeout", a.shed = true;
      a.message = "no slot at the model within --queue-timeout";
      break;
    case Failure::body_too_large:
      a.status = 413, a.code = "body_too_large", a.refusal = Refusal::body_too_large;
      a.message = "request body is larger than --max-body-bytes";
      break;
    case Failure::bad_body:
      a.status = 400, a.code = "bad_request", a.refusal = Refusal::bad_request;
      a.message = "malformed request body";
      break;
    case Failure::connect_failed:
      a.upstream_error = UpstreamError::connect_failed;
      a.message = "cannot connect to the model at " + std::string(detail);
      break;
    case Failure::connect_timeout:
      a.status = 504, a.code = "upstream_connect_timeout";
      a.upstream_error = UpstreamError::connect_timeout;
      a.message = "connecting to the model timed out";
      break;
    case Failure::upstream_reset:
      a.code = "upstream_reset", a.upstream_error = UpstreamError::reset;
      a.message = "the model closed the connection before a full response";
      break;
    case Failure::upstream_timeout:
      a.status = 504, a.code = "upstream_timeout", a.upstream_error = UpstreamError::timeout;
      a.message = "the model did not answer within --upstream-timeout";
      break;
    case Failure::upstream_invalid:
      a.code = "upstream_invalid_response", a.upstream_error = UpstreamError::invalid_response;
      a.message = "the model sent an invalid HTTP response";
      break;
    case Failure::none:
      break;
  }
  return a;
}

}  // namespace mlsidecar
