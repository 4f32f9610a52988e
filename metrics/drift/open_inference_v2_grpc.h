// The model a gRPC message of the Open Inference Protocol V2 names, for labelling its metrics on
// the I/O thread. (Its tensors are read by read_open_inference_v2_grpc, payload.h, on the drift
// worker.)
//
// Thread safety: a stateless function.
#pragma once

#include <optional>
#include <string_view>
#include <utility>

namespace mlsidecar::drift {

// model_name and model_version (fields 1 and 2) of a ModelInferRequest or ModelInferResponse in
// protobuf wire format, the gRPC message prefix stripped: views into `message`, empty when the
// field is absent. Reads only the records up to the first one numbered above 2 (serializers
// write fields in number order, so these come first; a message that repeats field 1 after later
// fields, which protobuf would read as the last value, gives the first). nullopt when those
// records are malformed or a name is not valid UTF-8 (protobuf refuses such a proto3 string, and
// it could not be a Prometheus label). No allocation; a few nanoseconds for the usual message.
std::optional<std::pair<std::string_view, std::string_view>> v2_grpc_model(
    std::string_view message) noexcept;

}  // namespace mlsidecar::drift
