// The reference profile: what each feature looked like in the training data, written by
// `mlsidecar profile` and read by the drift engine at start-up. Versioned JSON (format
// "mlsidecar-drift-profile", version 1; docs/drift.md describes every field).
//
// Numeric features carry unique quantile bin edges with open outer bins, so with edges
// e_0 < ... < e_{B-2} bin i holds [e_{i-1}, e_i) (bin 0 is (-inf, e_0), the last [e_{B-2}, inf)),
// the reference share of each bin, summary statistics and a sorted sample of reference values
// (up to a cap) for the exact KS and Wasserstein statistics. Categorical features carry the
// top-K category shares plus the share of every other category (`__other__`).
//
// Thread safety: a plain value; const use from many threads is safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/drift/direction.h"

namespace mlsidecar::drift {

inline constexpr std::string_view kProfileFormat = "mlsidecar-drift-profile";
inline constexpr int kProfileVersion = 1;
inline constexpr std::string_view kOtherCategory = "__other__";

enum class FeatureKind : std::uint8_t { numeric, categorical };
std::string_view feature_kind_name(FeatureKind kind);

struct CategoryShare {
  std::string value;
  double ratio = 0.0;
};

struct FeatureProfile {
  std::string name;
  Direction direction = Direction::input;
  FeatureKind kind = FeatureKind::numeric;
  std::uint64_t count = 0;    // values seen (not missing)
  std::uint64_t missing = 0;  // rows without a usable value
  // numeric only
  double mean = 0.0, std = 0.0, min = 0.0, max = 0.0;  // std is the population std (ddof 0)
  std::vector<double> edges;                           // strictly increasing, finite
  std::vector<double> ratios;                          // edges.size() + 1 shares summing to 1
  std::vector<double> sample;                          // sorted ascending
  // categorical only
  std::vector<CategoryShare> categories;  // by descending share
  double other_ratio = 0.0;               // share of categories outside `categories`

  // Bin of a numeric value: the number of edges <= x.
  std::size_t bin_of(double x) const;
  // Number of distribution cells: bins for numeric, categories + 1 (`__other__`) for categorical.
  std::size_t cell_count() const;
  // Reference shares of the cells in the order of cell_count().
  std::vector<double> cell_ratios() const;
  // Label of a cell: the bin index ("0", "1", ...) or the category value / "__other__".
  std::string cell_label(std::size_t cell) const;
  // Cell of a category value; the last cell (`__other__`) when it is not a known category.
  std::size_t category_cell(std::string_view value) const;
};

struct ReferenceProfile {
  std::string source;  // what it was built from, for humans
  std::vector<FeatureProfile> features;
  // Feature names in column order per direction: names the positions of list rows (KServe V1,
  // TF Serving). May be empty.
  std::vector<std::string> input_columns, output_columns;
  // Optional names for the columns of [batch, k] V2 tensors, by tensor name.
  std::map<std::string, std::vector<std::string>> tensor_columns;

  const FeatureProfile* find(std::string_view name, Direction direction) const;
  const std::vector<std::string>& columns(Direction d) const {
    return d == Direction::input ? input_columns : output_columns;
  }
};

// Parses and validates a profile document. Throws std::runtime_error with one line
// "<origin>: <reason>" on any problem.
ReferenceProfile parse_profile(std::string_view json_text, std::string_view origin);
// Reads and parses a profile file; the error line starts with the path.
ReferenceProfile load_profile(const std::string& path);
// Serialises a profile (the inverse of parse_profile).
std::string profile_to_json(const ReferenceProfile& profile);
// Writes the profile; throws std::runtime_error "<path>: <reason>" when it cannot.
void save_profile(const ReferenceProfile& profile, const std::string& path);

}  // namespace mlsidecar::drift
