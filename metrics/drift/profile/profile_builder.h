// Builds a ReferenceProfile from a stream of (feature, value) pairs read from training data.
//
// Per feature it keeps every numeric value (for exact quantile edges and summary statistics),
// a uniform reservoir sample of at most `sample_cap` values (Vitter's algorithm R with a seeded
// generator, so a profile is reproducible), and the count of every text value. At build() time a
// feature is numeric when it saw numbers and no text, categorical otherwise, unless the options
// force its kind. Edges are the k/bins quantiles (k = 1..bins-1, linear interpolation as numpy's
// default), de-duplicated, without edges at or below the minimum, so bins are never empty by
// construction (except where values repeat). Example: values 1..10, 4 bins -> quantiles
// 3.25, 5.5, 7.75; bins (-inf,3.25) [3.25,5.5) [5.5,7.75) [7.75,inf) hold 3, 2, 2, 3 values.
//
// Thread safety: none; one builder per thread.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "metrics/drift/payload.h"
#include "metrics/drift/reference_profile.h"

namespace mlsidecar::drift {

struct ProfileOptions {
  std::size_t bins = 10;
  std::size_t top_k = 20;
  std::size_t sample_cap = 10000;
  std::uint64_t seed = 1;
  std::size_t max_features = 256;
  std::set<std::string> categorical;  // force these features categorical
  std::set<std::string> numeric;      // force these features numeric (text values count as missing)
};

class ProfileBuilder {
 public:
  explicit ProfileBuilder(ProfileOptions options);

  // One value of the current row. A feature seen for the first time after max_features distinct
  // features is ignored (and counted in ignored_features()).
  void add(const FeatureValue& value);
  // Marks `rows` rows complete; a feature absent from a row counts as missing in it.
  void end_rows(std::size_t rows);

  std::size_t rows() const { return rows_; }
  std::size_t ignored_features() const { return ignored_.size(); }
  // Feature names in order of first appearance.
  const std::vector<std::string>& feature_order() const { return order_; }

  // The features for one direction. Throws std::runtime_error (a one-line reason) when there is
  // no row or no numeric feature.
  std::vector<FeatureProfile> build(Direction direction) const;

 private:
  struct Column {
    std::vector<double> numbers;
    std::vector<double> reservoir;
    std::uint64_t numbers_seen = 0;
    std::map<std::string, std::uint64_t> texts;
    std::uint64_t text_count = 0;
    std::uint64_t explicit_missing = 0;
    std::uint64_t first_row = 0;  // rows that ended before the feature first appeared
  };
  FeatureProfile build_numeric(const std::string& name, const Column& c) const;
  FeatureProfile build_categorical(const std::string& name, const Column& c) const;

  ProfileOptions options_;
  std::mt19937_64 rng_;
  std::map<std::string, Column> columns_;
  std::vector<std::string> order_;
  std::set<std::string> ignored_;
  std::size_t rows_ = 0;
};

// Quantile of sorted data at q in [0, 1] with numpy's default linear interpolation.
double quantile_linear(const std::vector<double>& sorted, double q);

}  // namespace mlsidecar::drift
