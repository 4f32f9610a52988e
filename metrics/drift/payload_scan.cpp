#include "metrics/drift/payload_scan.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "metrics/drift/json_pull_reader.h"
#include "metrics/drift/json_values.h"

namespace mlsidecar::drift::detail {
namespace {

using Scalar = JsonPullReader::Scalar;

// As scalar_value(): number, text, "true"/"false", missing for null and for arrays/objects.
void fill(FeatureValue& v, const Scalar& s) {
  switch (s.kind) {
    case Scalar::Kind::number:
      v.type = FeatureValue::Type::number;
      v.number = s.number;
      break;
    case Scalar::Kind::text:
      v.type = FeatureValue::Type::text;
      v.text.assign(s.text);
      break;
    case Scalar::Kind::boolean:
      v.type = FeatureValue::Type::text;
      v.text.assign(s.boolean ? "true" : "false");
      break;
    case Scalar::Kind::null:
    case Scalar::Kind::composite:
      v.type = FeatureValue::Type::missing;
      break;
  }
}

bool push_value(JsonPullReader& s, std::string_view name, int depth,
                std::vector<FeatureValue>& out) {
  Scalar scalar;
  if (!s.value(scalar, depth)) return false;
  FeatureValue& v = out.emplace_back();
  if (!name.empty()) v.name.assign(name);
  fill(v, scalar);
  return true;
}

// A list under an object row's key: its values, appended and named key[i] (or the profile's
// names), recorded in `lists`.
struct RowList {
  std::string key;
  std::size_t first = 0, count = 0;  // its values in `out`
};

bool scan_row_list(JsonPullReader& s, std::string_view key, const FeatureNaming& naming,
                   std::vector<FeatureValue>& out, std::vector<RowList>& lists) {
  if (!s.begin_array()) return false;
  RowList& list = lists.emplace_back();
  list.key.assign(key);
  list.first = out.size();
  const std::vector<std::string>* names = tensor_column_names(naming, list.key);
  Scalar scalar;
  for (std::size_t i = 0; s.next_element(); ++i) {
    if (!s.value(scalar, 4)) return false;
    FeatureValue& v = out.emplace_back();
    assign_column_name(v.name, names, list.key, i);
    fill(v, scalar);
  }
  list.count = out.size() - list.first;
  return s.ok();
}

// Puts the values of an object row (from `row_first` on) in the order of nlohmann's object, by
// key; false on a duplicate key (nlohmann keeps the last one: the full reader decides).
bool order_row(std::vector<FeatureValue>& out, std::size_t row_first,
               const std::vector<RowList>& lists) {
  const auto begin = out.begin() + static_cast<std::ptrdiff_t>(row_first);
  if (lists.empty()) {  // scalars only, one value per key: the usual row
    std::sort(begin, out.end(),
              [](const FeatureValue& a, const FeatureValue& b) { return a.name < b.name; });
    return std::adjacent_find(begin, out.end(), [](const FeatureValue& a, const FeatureValue& b) {
             return a.name == b.name;
           }) == out.end();
  }
  // With lists, keys are sorted as whole runs of values, each list's kept in index order.
  struct Run {
    std::string_view key;
    std::size_t first, count;
  };
  std::vector<Run> runs;
  std::size_t next_list = 0;
  for (std::size_t i = row_first; i < out.size() || next_list < lists.size();) {
    if (next_list < lists.size() && lists[next_list].first == i) {
      const RowList& l = lists[next_list++];
      runs.push_back({l.key, l.first, l.count});
      i += l.count;
    } else {
      runs.push_back({out[i].name, i, 1});
      ++i;
    }
  }
  std::stable_sort(runs.begin(), runs.end(),
                   [](const Run& a, const Run& b) { return a.key < b.key; });
  if (std::adjacent_find(runs.begin(), runs.end(),
                         [](const Run& a, const Run& b) { return a.key == b.key; }) != runs.end()) {
    return false;
  }
  std::vector<FeatureValue> ordered;
  ordered.reserve(out.size() - row_first);
  for (const Run& r : runs) {
    for (std::size_t i = r.first; i < r.first + r.count; ++i) ordered.push_back(std::move(out[i]));
  }
  std::move(ordered.begin(), ordered.end(), begin);
  return true;
}

// The rows array (read_rows() in json_values.cpp): object rows in key order (a list under a key
// as that vector's columns), list rows by column, scalar rows as the feature `base`.
bool scan_rows(JsonPullReader& s, const std::string& base, const FeatureNaming& naming,
               std::vector<FeatureValue>& out, std::size_t& rows) {
  if (!s.peek_is('[') || !s.begin_array()) return false;
  std::vector<std::string> column_names;  // cache: the name of column i, built once per body
  std::vector<RowList> lists;
  std::string_view key;
  while (s.next_element()) {
    ++rows;
    if (s.peek_is('{')) {
      s.begin_object();
      const std::size_t row_first = out.size();
      lists.clear();
      while (s.next_key(key)) {
        if (s.peek_is('[') ? !scan_row_list(s, key, naming, out, lists)
                           : !push_value(s, key, 3, out)) {
          return false;
        }
      }
      if (!s.ok() || !order_row(out, row_first, lists)) return false;
    } else if (s.peek_is('[')) {
      s.begin_array();
      std::size_t i = 0;
      while (s.next_element()) {
        if (i == column_names.size()) {
          assign_column_name(column_names.emplace_back(), naming.columns, base, i);
        }
        if (!push_value(s, column_names[i], 3, out)) return false;
        ++i;
      }
      if (!s.ok()) return false;
    } else if (!push_value(s, base, 2, out)) {
      return false;
    }
  }
  return s.ok();
}

// Tensor data, flat or nested, as flatten() in open_inference_v2_reader.cpp (at most 8 levels
// deep, no objects). The values are appended unnamed.
bool scan_data(JsonPullReader& s, std::vector<FeatureValue>& out, int depth) {
  if (depth > 8) return false;
  if (s.peek_is('{')) return false;
  if (!s.peek_is('[')) return push_value(s, {}, depth + 3, out);
  s.begin_array();
  // The scalars of this array are read here rather than one call deeper (the usual flat tensor
  // is nothing but numbers, read by the scanner's own loop); they are at depth + 1, within the
  // same limit.
  if (depth + 1 <= 8) {
    bool closed = false;
    const bool read = s.numbers(
        [&out](double x) {
          FeatureValue& v = out.emplace_back();
          v.type = FeatureValue::Type::number;
          v.number = x;
        },
        closed);
    if (!read) return false;
    if (closed) return true;
  }
  Scalar scalar;
  while (s.next_element()) {
    if (depth + 1 > 8) return false;  // an element deeper than flatten() reads
    if (s.peek_is('[')) {
      if (!scan_data(s, out, depth + 1)) return false;
    } else if (s.peek_is('{') || !s.value(scalar, depth + 4)) {
      return false;
    } else {
      fill(out.emplace_back(), scalar);
    }
  }
  return s.ok();
}

struct Shape {
  std::size_t rank = 0;
  std::uint64_t dims[2] = {0, 0};  // the first two
  std::uint64_t total = 1;
  bool overflow = false;
};

bool scan_shape(JsonPullReader& s, Shape& shape) {
  if (!s.peek_is('[') || !s.begin_array()) return false;
  while (s.next_element()) {
    std::uint64_t d = 0;
    if (!s.dimension(d)) return false;
    if (shape.rank < 2) shape.dims[shape.rank] = d;
    ++shape.rank;
    shape.overflow = shape.overflow || (d != 0 && shape.total > UINT64_MAX / d);
    shape.total *= d;
  }
  return s.ok();
}

// One tensor object; appends its named values (none for an empty or higher-rank tensor).
bool scan_tensor(JsonPullReader& s, const FeatureNaming& naming, std::vector<FeatureValue>& out,
                 std::size_t& rows) {
  if (!s.peek_is('{') || !s.begin_object()) return false;
  std::string_view name;
  Shape shape;
  bool has_name = false, has_shape = false, has_data = false;
  std::size_t data_first = out.size();
  std::string_view key;
  while (s.next_key(key)) {
    if (key == "name") {
      Scalar v;
      if (has_name || !s.value(v, 3) || v.kind != Scalar::Kind::text) return false;
      name = v.text;
      has_name = true;
    } else if (key == "shape") {
      if (has_shape || !scan_shape(s, shape)) return false;
      has_shape = true;
    } else if (key == "data") {
      if (has_data) return false;
      data_first = out.size();
      if (!scan_data(s, out, 0)) return false;
      has_data = true;
    } else if (!s.skip(3)) {
      return false;
    }
  }
  if (!s.ok() || !has_name || !has_shape || !has_data || shape.overflow) return false;
  const std::size_t count = out.size() - data_first;
  if (count != shape.total) return false;
  // Empty tensors and ranks above 2 (images, sequences) give no features.
  if (shape.total == 0 || shape.rank > 2) {
    out.resize(data_first);
    return true;
  }
  const std::uint64_t batch = shape.rank == 0 ? 1 : shape.dims[0];
  const std::uint64_t k = shape.rank == 2 ? shape.dims[1] : 1;
  rows = std::max<std::size_t>(rows, batch);
  const std::string base(name);
  if (k == 1) {
    for (std::size_t i = data_first; i < out.size(); ++i) out[i].name = base;
    return true;
  }
  const std::vector<std::string>* names = tensor_column_names(naming, base);
  // One look-up of the generated names per tensor, not per value.
  const std::vector<std::string>& generated = generated_column_names(
      base, static_cast<std::size_t>(std::min<std::uint64_t>(k, kCachedColumns)));
  for (std::size_t i = 0, column = 0; i < count; ++i) {
    assign_column_name(out[data_first + i].name, names, base, column, generated);
    if (++column == k) column = 0;
  }
  return true;
}

// The document's top level: finds `wanted` exactly once and reads it with `read`, validating the
// rest. Declines (restoring `out`) on anything else.
template <typename Read>
std::optional<ReadResult> scan_document(std::string_view body, std::string_view wanted,
                                        std::vector<FeatureValue>& out, Read&& read) {
  const std::size_t first = out.size();
  JsonPullReader s(body);
  ReadResult result{ReadStatus::ok, 0};
  bool found = false;
  bool good = s.peek_is('{') && s.begin_object();
  std::string_view key;
  while (good && s.next_key(key)) {
    if (key == wanted) {
      good = !found && read(s, result.rows);
      found = true;
    } else {
      good = s.skip(1);
    }
  }
  if (good && s.ok() && found && s.at_end()) return result;
  out.resize(first);
  return std::nullopt;
}

}  // namespace

std::optional<ReadResult> scan_rows_document(std::string_view body, Direction direction,
                                             const FeatureNaming& naming,
                                             std::vector<FeatureValue>& out) {
  static const std::string kInstances = "instances", kPredictions = "predictions";
  const std::string& key = direction == Direction::input ? kInstances : kPredictions;
  return scan_document(body, key, out, [&](JsonPullReader& s, std::size_t& rows) {
    return scan_rows(s, key, naming, out, rows);
  });
}

std::optional<ReadResult> scan_open_inference_v2(std::string_view body, Direction direction,
                                                 const FeatureNaming& naming,
                                                 std::vector<FeatureValue>& out) {
  const std::string_view key = direction == Direction::input ? "inputs" : "outputs";
  return scan_document(body, key, out, [&](JsonPullReader& s, std::size_t& rows) {
    if (!s.peek_is('[') || !s.begin_array()) return false;
    while (s.next_element()) {
      if (!scan_tensor(s, naming, out, rows)) return false;
    }
    return s.ok();
  });
}

}  // namespace mlsidecar::drift::detail
