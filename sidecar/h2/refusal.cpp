#include "sidecar/h2/types.h"

namespace mlsidecar::h2 {

std::string_view refusal_name(Refusal reason) {
  switch (reason) {
    case Refusal::none:
      return "none";
    case Refusal::protocol_error:
      return "protocol_error";
    case Refusal::rapid_reset:
      return "rapid_reset";
    case Refusal::continuation_flood:
      return "continuation_flood";
    case Refusal::settings_flood:
      return "settings_flood";
    case Refusal::ping_flood:
      return "ping_flood";
    case Refusal::empty_data_flood:
      return "empty_data_flood";
    case Refusal::ack_flood:
      return "ack_flood";
    case Refusal::too_many_glitches:
      return "too_many_glitches";
    case Refusal::header_list_too_large:
      return "header_list_too_large";
    case Refusal::message_too_large:
      return "message_too_large";
    case Refusal::request_too_large:
      return "request_too_large";
    case Refusal::malformed_message:
      return "malformed_message";
  }
  return "unknown";
}

}  // namespace mlsidecar::h2
