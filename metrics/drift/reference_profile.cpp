#include "metrics/drift/reference_profile.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>

namespace mlsidecar::drift {
namespace {

using nlohmann::json;

[[noreturn]] void fail(std::string_view origin, const std::string& reason) {
  throw std::runtime_error(std::string(origin) + ": " + reason);
}

double number_field(const json& f, const char* key, std::string_view origin,
                    const std::string& where) {
  auto it = f.find(key);
  if (it == f.end() || !it->is_number()) fail(origin, where + ": '" + key + "' must be a number");
  return it->get<double>();
}

// A count: a whole number from 0 to 2^64 - 1 (a cast of -1 or 1e30 to uint64 is undefined).
std::uint64_t count_field(const json& f, const char* key, std::string_view origin,
                          const std::string& where) {
  const double x = number_field(f, key, origin, where);
  if (!(x >= 0 && x < 18446744073709551616.0) || std::trunc(x) != x) {
    fail(origin, where + ": '" + key + "' must be a whole number of at least 0");
  }
  return static_cast<std::uint64_t>(x);
}

std::vector<double> number_array(const json& f, const char* key, std::string_view origin,
                                 const std::string& where) {
  auto it = f.find(key);
  if (it == f.end()) return {};
  if (!it->is_array()) fail(origin, where + ": '" + key + "' must be an array of numbers");
  std::vector<double> out;
  out.reserve(it->size());
  for (const json& v : *it) {
    if (!v.is_number()) fail(origin, where + ": '" + key + "' must be an array of numbers");
    double x = v.get<double>();
    if (!std::isfinite(x)) fail(origin, where + ": '" + key + "' holds a non-finite number");
    out.push_back(x);
  }
  return out;
}

void check_shares(std::span<const double> shares, double extra, std::string_view origin,
                  const std::string& where) {
  double sum = extra;
  for (double r : shares) {
    if (r < 0 || r > 1) fail(origin, where + ": shares must lie in 0..1");
    sum += r;
  }
  if (std::abs(sum - 1.0) > 1e-6) fail(origin, where + ": shares sum to " + std::to_string(sum));
}

std::vector<std::string> string_array(const json& doc, const char* key, std::string_view origin) {
  std::vector<std::string> out;
  if (!doc.is_object() || !doc.contains(key)) return out;
  const json& a = doc.at(key);
  if (!a.is_array()) fail(origin, std::string("'") + key + "' must be an array of strings");
  for (const json& v : a) {
    if (!v.is_string()) fail(origin, std::string("'") + key + "' must be an array of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

FeatureProfile parse_feature(const json& f, std::size_t index, std::string_view origin) {
  std::string where = "features[" + std::to_string(index) + "]";
  if (!f.is_object()) fail(origin, where + " must be an object");
  FeatureProfile p;
  if (!f.contains("name") || !f["name"].is_string() || f["name"].get<std::string>().empty()) {
    fail(origin, where + ": 'name' must be a non-empty string");
  }
  p.name = f["name"].get<std::string>();
  where += " ('" + p.name + "')";
  std::string dir = f.value("direction", "input");
  auto d = parse_direction(dir);
  if (!d) fail(origin, where + ": 'direction' must be input or output");
  p.direction = *d;
  std::string kind = f.value("kind", "");
  if (kind == "numeric") {
    p.kind = FeatureKind::numeric;
  } else if (kind == "categorical") {
    p.kind = FeatureKind::categorical;
  } else {
    fail(origin, where + ": 'kind' must be numeric or categorical");
  }
  p.count = count_field(f, "count", origin, where);
  p.missing = f.contains("missing") ? count_field(f, "missing", origin, where) : 0;
  if (p.kind == FeatureKind::numeric) {
    p.mean = number_field(f, "mean", origin, where);
    p.std = number_field(f, "std", origin, where);
    p.min = number_field(f, "min", origin, where);
    p.max = number_field(f, "max", origin, where);
    p.edges = number_array(f, "bin_edges", origin, where);
    p.ratios = number_array(f, "bin_ratios", origin, where);
    p.sample = number_array(f, "sample", origin, where);
    if (!std::is_sorted(p.edges.begin(), p.edges.end()) ||
        std::adjacent_find(p.edges.begin(), p.edges.end()) != p.edges.end()) {
      fail(origin, where + ": 'bin_edges' must be strictly increasing");
    }
    if (p.ratios.size() != p.edges.size() + 1) {
      fail(origin, where + ": 'bin_ratios' must have one more entry than 'bin_edges'");
    }
    check_shares(p.ratios, 0.0, origin, where);
    if (p.sample.empty()) fail(origin, where + ": 'sample' must hold reference values");
    std::sort(p.sample.begin(), p.sample.end());
  } else {
    auto it = f.find("categories");
    if (it == f.end() || !it->is_array()) fail(origin, where + ": 'categories' must be an array");
    std::set<std::string> seen;
    for (const json& c : *it) {
      if (!c.is_object() || !c.contains("value") || !c["value"].is_string() ||
          !c.contains("ratio") || !c["ratio"].is_number()) {
        fail(origin, where + ": each category needs a string 'value' and a number 'ratio'");
      }
      CategoryShare share{c["value"].get<std::string>(), c["ratio"].get<double>()};
      if (share.value == kOtherCategory || !seen.insert(share.value).second) {
        fail(origin, where + ": duplicate or reserved category '" + share.value + "'");
      }
      p.categories.push_back(std::move(share));
    }
    p.other_ratio = f.contains("other_ratio") ? number_field(f, "other_ratio", origin, where) : 0;
    std::vector<double> shares;
    for (const auto& c : p.categories) shares.push_back(c.ratio);
    check_shares(shares, p.other_ratio, origin, where);
  }
  return p;
}

}  // namespace

std::string_view feature_kind_name(FeatureKind kind) {
  return kind == FeatureKind::numeric ? "numeric" : "categorical";
}

std::size_t FeatureProfile::bin_of(double x) const {
  return static_cast<std::size_t>(std::upper_bound(edges.begin(), edges.end(), x) - edges.begin());
}

std::size_t FeatureProfile::cell_count() const {
  return kind == FeatureKind::numeric ? edges.size() + 1 : categories.size() + 1;
}

std::vector<double> FeatureProfile::cell_ratios() const {
  if (kind == FeatureKind::numeric) return ratios;
  std::vector<double> out;
  out.reserve(categories.size() + 1);
  for (const auto& c : categories) out.push_back(c.ratio);
  out.push_back(other_ratio);
  return out;
}

std::string FeatureProfile::cell_label(std::size_t cell) const {
  if (kind == FeatureKind::numeric) return std::to_string(cell);
  return cell < categories.size() ? categories[cell].value : std::string(kOtherCategory);
}

std::size_t FeatureProfile::category_cell(std::string_view value) const {
  for (std::size_t i = 0; i < categories.size(); ++i) {
    if (categories[i].value == value) return i;
  }
  return categories.size();
}

const FeatureProfile* ReferenceProfile::find(std::string_view name, Direction direction) const {
  for (const auto& f : features) {
    if (f.direction == direction && f.name == name) return &f;
  }
  return nullptr;
}

static ReferenceProfile parse_document(std::string_view json_text, std::string_view origin) {
  json doc = json::parse(json_text, nullptr, false);
  if (doc.is_discarded()) fail(origin, "not valid JSON");
  if (!doc.is_object()) fail(origin, "a profile must be a JSON object");
  if (doc.value("format", "") != kProfileFormat) {
    fail(origin,
         "not a drift profile (expected \"format\": \"" + std::string(kProfileFormat) + "\")");
  }
  if (!doc.contains("version") || !doc["version"].is_number_integer() ||
      doc["version"].get<int>() != kProfileVersion) {
    fail(origin, "unsupported profile version (this build reads version " +
                     std::to_string(kProfileVersion) + ")");
  }
  ReferenceProfile profile;
  profile.source = doc.value("source", "");
  if (!doc.contains("features") || !doc["features"].is_array() || doc["features"].empty()) {
    fail(origin, "'features' must be a non-empty array");
  }
  std::set<std::pair<std::string, Direction>> names;
  for (std::size_t i = 0; i < doc["features"].size(); ++i) {
    FeatureProfile f = parse_feature(doc["features"][i], i, origin);
    if (!names.insert({f.name, f.direction}).second) {
      fail(origin, "feature '" + f.name + "' appears twice for direction " +
                       std::string(direction_name(f.direction)));
    }
    profile.features.push_back(std::move(f));
  }
  if (doc.contains("columns")) {
    const json& cols = doc["columns"];
    if (!cols.is_object()) fail(origin, "'columns' must be an object");
    profile.input_columns = string_array(cols, "input", origin);
    profile.output_columns = string_array(cols, "output", origin);
  }
  if (doc.contains("tensor_columns")) {
    const json& tc = doc["tensor_columns"];
    if (!tc.is_object()) fail(origin, "'tensor_columns' must be an object");
    for (auto it = tc.begin(); it != tc.end(); ++it) {
      profile.tensor_columns[it.key()] = string_array(tc, it.key().c_str(), origin);
    }
  }
  return profile;
}

ReferenceProfile parse_profile(std::string_view json_text, std::string_view origin) {
  // value("key", default) and friends throw json::type_error when a field has another type
  // ({"direction": 1}); the promise is one runtime_error line naming the file.
  try {
    return parse_document(json_text, origin);
  } catch (const nlohmann::json::exception& e) {
    fail(origin, std::string("a field has the wrong type (") + e.what() + ")");
  }
}

ReferenceProfile load_profile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open the drift profile");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail(path, "cannot read the drift profile");
  return parse_profile(text.str(), path);
}

std::string profile_to_json(const ReferenceProfile& profile) {
  json doc;
  doc["format"] = kProfileFormat;
  doc["version"] = kProfileVersion;
  doc["source"] = profile.source;
  doc["columns"] = {{"input", profile.input_columns}, {"output", profile.output_columns}};
  if (!profile.tensor_columns.empty()) doc["tensor_columns"] = profile.tensor_columns;
  json features = json::array();
  for (const auto& f : profile.features) {
    json j;
    j["name"] = f.name;
    j["direction"] = direction_name(f.direction);
    j["kind"] = feature_kind_name(f.kind);
    j["count"] = f.count;
    j["missing"] = f.missing;
    if (f.kind == FeatureKind::numeric) {
      j["mean"] = f.mean;
      j["std"] = f.std;
      j["min"] = f.min;
      j["max"] = f.max;
      j["bin_edges"] = f.edges;
      j["bin_ratios"] = f.ratios;
      j["sample"] = f.sample;
    } else {
      json cats = json::array();
      for (const auto& c : f.categories) cats.push_back({{"value", c.value}, {"ratio", c.ratio}});
      j["categories"] = std::move(cats);
      j["other_ratio"] = f.other_ratio;
    }
    features.push_back(std::move(j));
  }
  doc["features"] = std::move(features);
  return doc.dump(1) + "\n";
}

void save_profile(const ReferenceProfile& profile, const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail(path, "cannot open for writing");
  out << profile_to_json(profile);
  out.flush();
  if (!out) fail(path, "write failed");
}

}  // namespace mlsidecar::drift
