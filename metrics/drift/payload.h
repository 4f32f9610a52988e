// Payload readers: each turns the body of one inference protocol (JSON; for Open Inference V2
// over gRPC a protobuf message) into (feature, value) pairs, one file per format. They run on the
// drift worker (or in `mlsidecar profile`), never on an I/O thread, and never throw: a body they
// cannot read is reported by a ReadStatus whose name is the `reason` label of
// mlsidecar_drift_skipped_total.
//
// Feature naming, per format:
//   KServe V1 / TF Serving rows: objects give their keys; lists are named by the profile's column
//     order for the direction, else "instances[i]" / "predictions[i]"; a scalar row is the feature
//     "instances" / "predictions".
//   TF Serving columnar: {"inputs": {name: [...]}} / {"outputs": ...}; an unnamed "inputs" list is
//     the feature "inputs" (or its columns "inputs[i]").
//   Open Inference V2: a tensor of shape [batch] or [batch, 1] is the feature `name`; [batch, k]
//     gives `name[0]`..`name[k-1]` unless the profile's tensor_columns names them; BYTES values are
//     categorical. Over gRPC (protobuf ModelInferRequest / ModelInferResponse) the same tensors
//     give the same features, from typed or raw contents.
//   OpenAI-style: input "prompt_chars" (characters of the prompt or of all chat message contents);
//     output "completion_chars", and "prompt_tokens" / "completion_tokens" from `usage`. A
//     text/event-stream body is read chunk by chunk.
//
// Thread safety: stateless functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/drift/direction.h"
#include "metrics/route.h"

namespace mlsidecar::drift {

enum class PayloadFormat : std::uint8_t {
  automatic,
  kserve_v1,
  open_inference_v2,
  tf_serving,
  openai,
  // A gRPC message of the Open Inference Protocol (ModelInferRequest / ModelInferResponse),
  // chosen by the gRPC relay for the bodies it hands over, never by --drift-format (not among
  // the spellings).
  open_inference_v2_grpc,
};
std::string_view payload_format_name(PayloadFormat format);
// Every spelling the readers accept, canonical names first ("auto", "kserve-v1", "v2",
// "tf-serving", "openai", then aliases such as "v1" and "tfserving"): the one list behind
// parse_payload_format, `serve --drift-format` and `profile --format`.
struct PayloadFormatSpelling {
  std::string_view text;
  PayloadFormat format;
};
std::span<const PayloadFormatSpelling> payload_format_spellings();
// Parses one of those spellings; false when unknown.
bool parse_payload_format(std::string_view text, PayloadFormat& out);

struct FeatureValue {
  enum class Type : std::uint8_t { number, text, missing };
  std::string name;
  Type type = Type::missing;
  double number = 0.0;
  std::string text;
};

enum class ReadStatus : std::uint8_t {
  ok,
  invalid_json,       // not JSON at all
  unexpected_shape,   // JSON, but not the protocol's document (missing key, ragged tensor, ...)
  unsupported_route,  // no reader for this route (health, other)
  too_large,          // over --drift-max-body (counted by the engine before reading)
  invalid_protobuf,   // a gRPC message whose protobuf wire format is malformed
  compressed,         // a gRPC message in a grpc-encoding not read (counted by the relay)
};
inline constexpr std::size_t kReadStatusCount = 7;
std::string_view read_status_name(ReadStatus status);

// What the reader found: the values, and the number of rows (instances) the body holds, so that
// the caller can count a feature absent from a row as missing.
struct ReadResult {
  ReadStatus status = ReadStatus::ok;
  std::size_t rows = 0;
};

// Names that the profile gives to positional data. Both pointers may be null.
struct FeatureNaming {
  const std::vector<std::string>* columns = nullptr;  // list-row positions, for this direction
  const std::map<std::string, std::vector<std::string>>* tensor_columns = nullptr;
};

ReadResult read_kserve_v1(std::string_view body, Direction direction, const FeatureNaming& naming,
                          std::vector<FeatureValue>& out);
ReadResult read_open_inference_v2(std::string_view body, Direction direction,
                                  const FeatureNaming& naming, std::vector<FeatureValue>& out);
ReadResult read_tf_serving(std::string_view body, Direction direction, const FeatureNaming& naming,
                           std::vector<FeatureValue>& out);
ReadResult read_openai(std::string_view body, Direction direction, std::vector<FeatureValue>& out);
// A ModelInferRequest (input) or ModelInferResponse (output) in protobuf wire format, the 5-byte
// gRPC prefix stripped and uncompressed: per tensor, typed contents (packed or not) or
// raw_input_contents / raw_output_contents (little-endian by datatype; BYTES as 4-byte length
// prefixed strings), the features read_open_inference_v2 gives for the same tensors as JSON.
// invalid_protobuf for malformed wire format; unexpected_shape for a negative dimension, a
// count of values other than the shape's, two kinds of typed contents in one tensor, raw
// contents that are not one run per tensor or do not fit the datatype (or an unknown one).
ReadResult read_open_inference_v2_grpc(std::string_view message, Direction direction,
                                       const FeatureNaming& naming, std::vector<FeatureValue>& out);

// The format used for a route when --drift-format is automatic: predict -> TF Serving reader
// (which reads KServe V1 rows and TF columnar), infer -> V2, generate -> OpenAI, else none.
PayloadFormat format_for_route(PayloadFormat configured, Route route);

// Dispatches to the reader of `format` (after format_for_route). Appends to `out`.
ReadResult read_payload(PayloadFormat format, Route route, std::string_view body,
                        Direction direction, const FeatureNaming& naming,
                        std::vector<FeatureValue>& out);

}  // namespace mlsidecar::drift
