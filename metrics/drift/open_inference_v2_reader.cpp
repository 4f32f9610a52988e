// Open Inference Protocol V2 (KServe V2, Triton): "inputs" / "outputs" tensors with a name, a
// shape and row-major data (flat or nested). The scanner (payload_scan.h) reads well-formed
// bodies; the rest go through nlohmann.
#include <algorithm>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "metrics/drift/json_values.h"
#include "metrics/drift/payload.h"
#include "metrics/drift/payload_scan.h"

namespace mlsidecar::drift {
namespace {

// Appends the scalars of `data` in row-major order; false when a value is neither a scalar nor
// an array.
bool flatten(const nlohmann::json& data, std::vector<const nlohmann::json*>& out, int depth = 0) {
  if (depth > 8) return false;
  if (!data.is_array()) {
    if (data.is_object()) return false;
    out.push_back(&data);
    return true;
  }
  for (const auto& v : data) {
    if (!flatten(v, out, depth + 1)) return false;
  }
  return true;
}

}  // namespace

ReadResult read_open_inference_v2(std::string_view body, Direction direction,
                                  const FeatureNaming& naming, std::vector<FeatureValue>& out) {
  if (auto r = detail::scan_open_inference_v2(body, direction, naming, out)) return *r;
  return detail::read_open_inference_v2_document(body, direction, naming, out);
}

ReadResult detail::read_open_inference_v2_document(std::string_view body, Direction direction,
                                                   const FeatureNaming& naming,
                                                   std::vector<FeatureValue>& out) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded()) return {ReadStatus::invalid_json, 0};
  if (!doc.is_object()) return {ReadStatus::unexpected_shape, 0};
  auto tensors = doc.find(direction == Direction::input ? "inputs" : "outputs");
  if (tensors == doc.end() || !tensors->is_array()) return {ReadStatus::unexpected_shape, 0};

  std::size_t rows = 0;
  std::vector<const nlohmann::json*> flat;
  const std::size_t first = out.size();
  for (const auto& t : *tensors) {
    if (!t.is_object()) {
      out.resize(first);  // a bad tensor after good ones leaves nothing behind
      return {ReadStatus::unexpected_shape, 0};
    }
    auto name = t.find("name");
    auto shape = t.find("shape");
    auto data = t.find("data");
    if (name == t.end() || !name->is_string() || shape == t.end() || !shape->is_array() ||
        data == t.end()) {
      out.resize(first);
      return {ReadStatus::unexpected_shape, 0};
    }
    // The element count must not wrap: [2^63 + 1, 2] would otherwise pass for 2 elements.
    std::uint64_t total = 1;
    bool overflow = false;
    std::vector<std::uint64_t> dims;
    for (const auto& d : *shape) {
      if (!d.is_number_integer() || d.get<std::int64_t>() < 0) {
        out.resize(first);
        return {ReadStatus::unexpected_shape, 0};
      }
      dims.push_back(d.get<std::uint64_t>());
      overflow = overflow || (dims.back() != 0 && total > UINT64_MAX / dims.back());
      total *= dims.back();
    }
    flat.clear();
    if (overflow || !flatten(*data, flat) || flat.size() != total) {
      out.resize(first);
      return {ReadStatus::unexpected_shape, 0};
    }
    // An empty tensor has no rows and no columns to name ([0, 4294967296] would otherwise name
    // four billion columns).
    if (total == 0) continue;
    // A feature tensor is [batch], [batch, 1] or [batch, k]; higher ranks (images, sequences)
    // are not tabular features and are left out.
    if (dims.size() > 2) continue;
    const std::uint64_t batch = dims.empty() ? 1 : dims[0];
    const std::uint64_t k = dims.size() == 2 ? dims[1] : 1;
    const std::string base = name->get<std::string>();
    rows = std::max<std::size_t>(rows, batch);
    if (k == 1) {
      for (const auto* v : flat) out.push_back(detail::scalar_value(base, *v));
      continue;
    }
    const std::vector<std::string>* names = detail::tensor_column_names(naming, base);
    std::vector<std::string> column_names;
    for (std::uint64_t j = 0; j < k; ++j)
      column_names.push_back(detail::column_name(names, base, j));
    for (std::uint64_t i = 0; i < flat.size(); ++i) {
      out.push_back(detail::scalar_value(column_names[i % k], *flat[i]));
    }
  }
  return {ReadStatus::ok, rows};
}

}  // namespace mlsidecar::drift
