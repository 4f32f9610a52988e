// KServe V1 ("instances" in the request, "predictions" in the response), rows as objects, lists or
// scalars. The scanner (payload_scan.h) reads well-formed bodies; the rest go through nlohmann.
#include <nlohmann/json.hpp>

#include "metrics/drift/json_values.h"
#include "metrics/drift/payload.h"
#include "metrics/drift/payload_scan.h"

namespace mlsidecar::drift {

ReadResult read_kserve_v1(std::string_view body, Direction direction, const FeatureNaming& naming,
                          std::vector<FeatureValue>& out) {
  if (auto r = detail::scan_rows_document(body, direction, naming, out)) return *r;
  return detail::read_kserve_v1_document(body, direction, naming, out);
}

ReadResult detail::read_kserve_v1_document(std::string_view body, Direction direction,
                                           const FeatureNaming& naming,
                                           std::vector<FeatureValue>& out) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded()) return {ReadStatus::invalid_json, 0};
  const std::string key = direction == Direction::input ? "instances" : "predictions";
  if (!doc.is_object()) return {ReadStatus::unexpected_shape, 0};
  auto it = doc.find(key);
  if (it == doc.end()) return {ReadStatus::unexpected_shape, 0};
  return detail::read_rows(*it, key, naming, out);
}

}  // namespace mlsidecar::drift
