#include "metrics/drift/json_values.h"

#include <algorithm>

#include <cmath>

#include <nlohmann/json.hpp>

namespace mlsidecar::drift::detail {

FeatureValue scalar_value(std::string name, const nlohmann::json& v) {
  FeatureValue out;
  out.name = std::move(name);
  if (v.is_number()) {
    out.type = FeatureValue::Type::number;
    out.number = v.get<double>();
  } else if (v.is_string()) {
    out.type = FeatureValue::Type::text;
    out.text = v.get<std::string>();
  } else if (v.is_boolean()) {
    out.type = FeatureValue::Type::text;
    out.text = v.get<bool>() ? "true" : "false";
  } else {
    out.type = FeatureValue::Type::missing;
  }
  return out;
}

std::string number_text(double x) {
  if (std::trunc(x) == x && std::abs(x) < 9007199254740992.0) {
    return std::to_string(static_cast<long long>(x));
  }
  return nlohmann::json(x).dump();
}

std::string column_name(const std::vector<std::string>* names, const std::string& base,
                        std::size_t i) {
  if (names != nullptr && i < names->size() && !(*names)[i].empty()) return (*names)[i];
  return base + "[" + std::to_string(i) + "]";
}

const std::vector<std::string>& generated_column_names(const std::string& base, std::size_t k) {
  thread_local std::string cached_base;
  thread_local std::vector<std::string> cached;
  if (cached_base != base) {
    cached_base = base;
    cached.clear();
  }
  while (cached.size() < k) cached.push_back(column_name(nullptr, base, cached.size()));
  return cached;
}

void assign_column_name(std::string& out, const std::vector<std::string>* names,
                        const std::string& base, std::size_t i,
                        const std::vector<std::string>& generated) {
  if (names != nullptr && i < names->size() && !(*names)[i].empty()) {
    out = (*names)[i];
  } else if (i < generated.size()) {
    out = generated[i];
  } else {
    out = column_name(nullptr, base, i);
  }
}

void assign_column_name(std::string& out, const std::vector<std::string>* names,
                        const std::string& base, std::size_t i) {
  assign_column_name(out, names, base, i,
                     generated_column_names(base, std::min(i + 1, kCachedColumns)));
}

const std::vector<std::string>* tensor_column_names(const FeatureNaming& naming,
                                                    const std::string& name) {
  if (naming.tensor_columns == nullptr) return nullptr;
  auto it = naming.tensor_columns->find(name);
  return it == naming.tensor_columns->end() ? nullptr : &it->second;
}

ReadResult read_rows(const nlohmann::json& rows, const std::string& base,
                     const FeatureNaming& naming, std::vector<FeatureValue>& out) {
  if (!rows.is_array()) return {ReadStatus::unexpected_shape, 0};
  for (const auto& row : rows) {
    if (row.is_object()) {
      for (auto it = row.begin(); it != row.end(); ++it) {
        if (!it->is_array()) {
          out.push_back(scalar_value(it.key(), *it));
          continue;
        }
        // A list under a key is a vector, named as a V2 tensor's columns.
        const std::vector<std::string>* names = tensor_column_names(naming, it.key());
        for (std::size_t i = 0; i < it->size(); ++i) {
          out.push_back(scalar_value(column_name(names, it.key(), i), (*it)[i]));
        }
      }
    } else if (row.is_array()) {
      for (std::size_t i = 0; i < row.size(); ++i) {
        out.push_back(scalar_value(column_name(naming.columns, base, i), row[i]));
      }
    } else {
      out.push_back(scalar_value(base, row));
    }
  }
  return {ReadStatus::ok, rows.size()};
}

}  // namespace mlsidecar::drift::detail
