// TensorFlow Serving REST: the row format ("instances" / "predictions", as KServe V1) and the
// columnar format ("inputs" / "outputs": one named list per input, or a single unnamed value).
// The scanner (payload_scan.h) reads well-formed row bodies; the rest go through nlohmann.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "metrics/drift/json_values.h"
#include "metrics/drift/payload.h"
#include "metrics/drift/payload_scan.h"

namespace mlsidecar::drift {
namespace {

// One columnar input: a list over the batch, each element a scalar (feature `name`) or a list
// (features name[i], or the profile's tensor_columns names). A scalar is a batch of one.
std::size_t read_column(const nlohmann::json& v, const std::string& name,
                        const FeatureNaming& naming, std::vector<FeatureValue>& out) {
  if (!v.is_array()) {
    out.push_back(detail::scalar_value(name, v));
    return 1;
  }
  const std::vector<std::string>* names = detail::tensor_column_names(naming, name);
  for (const auto& row : v) {
    if (row.is_array()) {
      for (std::size_t i = 0; i < row.size(); ++i) {
        out.push_back(detail::scalar_value(detail::column_name(names, name, i), row[i]));
      }
    } else {
      out.push_back(detail::scalar_value(name, row));
    }
  }
  return v.size();
}

}  // namespace

ReadResult read_tf_serving(std::string_view body, Direction direction, const FeatureNaming& naming,
                           std::vector<FeatureValue>& out) {
  if (auto r = detail::scan_rows_document(body, direction, naming, out)) return *r;
  return detail::read_tf_serving_document(body, direction, naming, out);
}

ReadResult detail::read_tf_serving_document(std::string_view body, Direction direction,
                                            const FeatureNaming& naming,
                                            std::vector<FeatureValue>& out) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded()) return {ReadStatus::invalid_json, 0};
  if (!doc.is_object()) return {ReadStatus::unexpected_shape, 0};
  const std::string row_key = direction == Direction::input ? "instances" : "predictions";
  if (auto it = doc.find(row_key); it != doc.end()) {
    return detail::read_rows(*it, row_key, naming, out);
  }
  const std::string col_key = direction == Direction::input ? "inputs" : "outputs";
  auto it = doc.find(col_key);
  if (it == doc.end()) return {ReadStatus::unexpected_shape, 0};
  if (!it->is_object()) return {ReadStatus::ok, read_column(*it, col_key, naming, out)};
  std::size_t rows = 0;
  for (auto col = it->begin(); col != it->end(); ++col) {
    rows = std::max(rows, read_column(*col, col.key(), naming, out));
  }
  return {ReadStatus::ok, rows};
}

}  // namespace mlsidecar::drift
