#include "metrics/drift/payload.h"

namespace mlsidecar::drift {

std::string_view payload_format_name(PayloadFormat format) {
  switch (format) {
    case PayloadFormat::automatic:
      return "auto";
    case PayloadFormat::kserve_v1:
      return "kserve-v1";
    case PayloadFormat::open_inference_v2:
      return "v2";
    case PayloadFormat::tf_serving:
      return "tf-serving";
    case PayloadFormat::openai:
      return "openai";
    case PayloadFormat::open_inference_v2_grpc:
      return "v2-grpc";
  }
  return "auto";
}

std::span<const PayloadFormatSpelling> payload_format_spellings() {
  static constexpr PayloadFormatSpelling kSpellings[] = {
      {"auto", PayloadFormat::automatic},
      {"kserve-v1", PayloadFormat::kserve_v1},
      {"v2", PayloadFormat::open_inference_v2},
      {"tf-serving", PayloadFormat::tf_serving},
      {"openai", PayloadFormat::openai},
      {"automatic", PayloadFormat::automatic},
      {"v1", PayloadFormat::kserve_v1},
      {"open-inference-v2", PayloadFormat::open_inference_v2},
      {"oip", PayloadFormat::open_inference_v2},
      {"tfserving", PayloadFormat::tf_serving},
  };
  return kSpellings;
}

bool parse_payload_format(std::string_view text, PayloadFormat& out) {
  for (const PayloadFormatSpelling& spelling : payload_format_spellings()) {
    if (spelling.text == text) {
      out = spelling.format;
      return true;
    }
  }
  return false;
}

std::string_view read_status_name(ReadStatus status) {
  switch (status) {
    case ReadStatus::ok:
      return "ok";
    case ReadStatus::invalid_json:
      return "invalid_json";
    case ReadStatus::unexpected_shape:
      return "unexpected_shape";
    case ReadStatus::unsupported_route:
      return "unsupported_route";
    case ReadStatus::too_large:
      return "too_large";
    case ReadStatus::invalid_protobuf:
      return "invalid_protobuf";
    case ReadStatus::compressed:
      return "compressed";
  }
  return "ok";
}

PayloadFormat format_for_route(PayloadFormat configured, Route route) {
  if (configured != PayloadFormat::automatic) return configured;
  switch (route) {
    case Route::predict:
      return PayloadFormat::tf_serving;  // reads V1 rows and TF columnar
    case Route::infer:
      return PayloadFormat::open_inference_v2;
    case Route::generate:
      return PayloadFormat::openai;
    case Route::health:
    case Route::other:
      break;
  }
  return PayloadFormat::automatic;
}

ReadResult read_payload(PayloadFormat format, Route route, std::string_view body,
                        Direction direction, const FeatureNaming& naming,
                        std::vector<FeatureValue>& out) {
  switch (format_for_route(format, route)) {
    case PayloadFormat::kserve_v1:
      return read_kserve_v1(body, direction, naming, out);
    case PayloadFormat::open_inference_v2:
      return read_open_inference_v2(body, direction, naming, out);
    case PayloadFormat::tf_serving:
      return read_tf_serving(body, direction, naming, out);
    case PayloadFormat::openai:
      return read_openai(body, direction, out);
    case PayloadFormat::open_inference_v2_grpc:
      return read_open_inference_v2_grpc(body, direction, naming, out);
    case PayloadFormat::automatic:
      break;
  }
  return {ReadStatus::unsupported_route, 0};
}

}  // namespace mlsidecar::drift
