#include "metrics/drift/profile/profile_builder.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "metrics/drift/json_values.h"

namespace mlsidecar::drift {
using detail::number_text;

double quantile_linear(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0.0;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  if (lo + 1 >= sorted.size()) return sorted.back();
  const double frac = pos - static_cast<double>(lo);
  return sorted[lo] + (sorted[lo + 1] - sorted[lo]) * frac;
}

ProfileBuilder::ProfileBuilder(ProfileOptions options)
    : options_(std::move(options)), rng_(options_.seed) {
  if (options_.bins < 1) options_.bins = 1;
}

void ProfileBuilder::add(const FeatureValue& value) {
  auto it = columns_.find(value.name);
  if (it == columns_.end()) {
    if (order_.size() >= options_.max_features) {
      ignored_.insert(value.name);
      return;
    }
    it = columns_.emplace(value.name, Column{}).first;
    it->second.first_row = rows_;
    order_.push_back(value.name);
  }
  Column& c = it->second;
  switch (value.type) {
    case FeatureValue::Type::number: {
      if (!std::isfinite(value.number)) {
        ++c.explicit_missing;
        break;
      }
      c.numbers.push_back(value.number);
      ++c.numbers_seen;
      if (c.reservoir.size() < options_.sample_cap) {
        c.reservoir.push_back(value.number);
      } else if (options_.sample_cap > 0) {
        std::uniform_int_distribution<std::uint64_t> pick(0, c.numbers_seen - 1);
        const std::uint64_t slot = pick(rng_);
        if (slot < options_.sample_cap) c.reservoir[slot] = value.number;
      }
      break;
    }
    case FeatureValue::Type::text:
      ++c.texts[value.text];
      ++c.text_count;
      break;
    case FeatureValue::Type::missing:
      ++c.explicit_missing;
      break;
  }
}

void ProfileBuilder::end_rows(std::size_t rows) { rows_ += rows; }

FeatureProfile ProfileBuilder::build_numeric(const std::string& name, const Column& c) const {
  FeatureProfile f;
  f.name = name;
  f.kind = FeatureKind::numeric;
  std::vector<double> sorted = c.numbers;
  std::sort(sorted.begin(), sorted.end());
  f.count = sorted.size();
  const std::uint64_t present = c.numbers_seen + c.text_count + c.explicit_missing;
  f.missing = (rows_ - c.first_row > present ? rows_ - c.first_row - present : 0) + c.first_row +
              c.explicit_missing + c.text_count;
  if (sorted.empty()) return f;
  double mean = 0.0, m2 = 0.0, n = 0.0;
  for (double x : c.numbers) {  // Welford, in arrival order
    n += 1;
    const double delta = x - mean;
    mean += delta / n;
    m2 += delta * (x - mean);
  }
  f.mean = mean;
  f.std = std::sqrt(m2 / n);
  f.min = sorted.front();
  f.max = sorted.back();
  for (std::size_t k = 1; k < options_.bins; ++k) {
    const double e =
        quantile_linear(sorted, static_cast<double>(k) / static_cast<double>(options_.bins));
    if (e > f.min && (f.edges.empty() || e > f.edges.back())) f.edges.push_back(e);
  }
  std::vector<std::uint64_t> counts(f.edges.size() + 1, 0);
  for (double x : sorted) ++counts[f.bin_of(x)];
  for (std::uint64_t k : counts) {
    f.ratios.push_back(static_cast<double>(k) / static_cast<double>(sorted.size()));
  }
  f.sample = c.reservoir;
  std::sort(f.sample.begin(), f.sample.end());
  return f;
}

FeatureProfile ProfileBuilder::build_categorical(const std::string& name, const Column& c) const {
  FeatureProfile f;
  f.name = name;
  f.kind = FeatureKind::categorical;
  std::map<std::string, std::uint64_t> counts = c.texts;
  for (double x : c.numbers) ++counts[number_text(x)];
  std::vector<std::pair<std::string, std::uint64_t>> ranked(counts.begin(), counts.end());
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::uint64_t total = 0;
  for (const auto& [_, k] : ranked) total += k;
  f.count = total;
  const std::uint64_t present = c.numbers_seen + c.text_count + c.explicit_missing;
  f.missing = (rows_ - c.first_row > present ? rows_ - c.first_row - present : 0) + c.first_row +
              c.explicit_missing;
  if (total == 0) return f;
  std::uint64_t kept = 0;
  for (std::size_t i = 0; i < ranked.size() && i < options_.top_k; ++i) {
    f.categories.push_back(
        {ranked[i].first, static_cast<double>(ranked[i].second) / static_cast<double>(total)});
    kept += ranked[i].second;
  }
  f.other_ratio = static_cast<double>(total - kept) / static_cast<double>(total);
  return f;
}

std::vector<FeatureProfile> ProfileBuilder::build(Direction direction) const {
  if (rows_ == 0) throw std::runtime_error("no data rows");
  std::vector<FeatureProfile> out;
  bool any_numeric = false;
  for (const std::string& name : order_) {
    const Column& c = columns_.at(name);
    bool numeric = c.numbers_seen > 0 && c.text_count == 0;
    if (options_.categorical.count(name)) numeric = false;
    if (options_.numeric.count(name)) numeric = true;
    FeatureProfile f = numeric ? build_numeric(name, c) : build_categorical(name, c);
    f.direction = direction;
    if (f.count == 0) continue;  // nothing usable: no reference to compare with
    any_numeric = any_numeric || numeric;
    out.push_back(std::move(f));
  }
  if (!any_numeric) throw std::runtime_error("no numeric column in the data");
  return out;
}

}  // namespace mlsidecar::drift
