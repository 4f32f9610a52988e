#include "metrics/shadow/output_comparison.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "metrics/drift/json_values.h"

namespace mlsidecar::shadow {
namespace {

using drift::FeatureValue;
using Values = std::vector<const FeatureValue*>;

// The values of each feature in body order, and the features in the order they first appear.
struct Columns {
  std::vector<std::string_view> order;
  std::map<std::string_view, Values, std::less<>> by_name;

  explicit Columns(const std::vector<FeatureValue>& values) {
    for (const FeatureValue& v : values) {
      auto [it, added] = by_name.try_emplace(v.name);
      if (added) order.push_back(it->first);
      it->second.push_back(&v);
    }
  }
  const Values* find(std::string_view name) const {
    auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : &it->second;
  }
};

// A vector wider than this is not a class distribution; it stops the column probe.
constexpr std::size_t kMaxVectorWidth = 4096;

bool is_number(const FeatureValue* v) {
  return v->type == FeatureValue::Type::number && std::isfinite(v->number);
}

std::optional<std::string> label_text(const FeatureValue* v) {
  switch (v->type) {
    case FeatureValue::Type::number:
      return drift::detail::number_text(v->number);
    case FeatureValue::Type::text:
      return v->text;
    case FeatureValue::Type::missing:
      break;
  }
  return std::nullopt;
}

// The argmax of row `row` over `columns`; nullopt when a column holds no finite number there.
std::optional<std::size_t> argmax(const std::vector<const Values*>& columns, std::size_t row) {
  std::optional<std::size_t> best;
  double best_value = 0;
  for (std::size_t j = 0; j < columns.size(); ++j) {
    const FeatureValue* v = (*columns[j])[row];
    if (!is_number(v)) return std::nullopt;
    if (!best || v->number > best_value) {
      best = j;
      best_value = v->number;
    }
  }
  return best;
}

void compare_labels(const Values& p, const Values& s, OutputOutcome& out) {
  for (std::size_t row = 0; row < p.size(); ++row) {
    const auto a = label_text(p[row]);
    const auto b = label_text(s[row]);
    if (!a && !b) continue;
    ++out.compared;
    if (a == b) {
      ++out.matches;
    } else if (!out.first_mismatch) {
      out.first_mismatch = row;
      out.primary_value = a.value_or("null");
      out.shadow_value = b.value_or("null");
    }
  }
}

void compare_numbers(const Values& p, const Values& s, OutputOutcome& out) {
  for (std::size_t row = 0; row < p.size(); ++row) {
    if (!is_number(p[row]) || !is_number(s[row])) continue;
    const double primary = p[row]->number;
    const double absolute = std::abs(s[row]->number - primary);
    out.differences.push_back({absolute, absolute / std::max(std::abs(primary), kRelativeEpsilon)});
  }
}

bool has_text(const Values& values) {
  return std::any_of(values.begin(), values.end(),
                     [](const FeatureValue* v) { return v->type == FeatureValue::Type::text; });
}

}  // namespace

std::string_view skip_reason_name(SkipReason reason) {
  switch (reason) {
    case SkipReason::not_2xx:
      return "not_2xx";
    case SkipReason::truncated:
      return "truncated";
    case SkipReason::unreadable:
      return "unreadable";
    case SkipReason::encoded:
      return "encoded";
    case SkipReason::shape_mismatch:
      break;
  }
  return "shape_mismatch";
}

OutputComparison::OutputComparison(ComparisonSettings settings,
                                   const drift::ReferenceProfile* profile)
    : settings_(std::move(settings)), profile_(profile) {
  labels_.insert(settings_.class_outputs.begin(), settings_.class_outputs.end());
  if (profile_ != nullptr) {
    naming_.columns = &profile_->columns(drift::Direction::output);
    naming_.tensor_columns = &profile_->tensor_columns;
    for (const drift::FeatureProfile& f : profile_->features) {
      if (f.direction == drift::Direction::output && f.kind == drift::FeatureKind::categorical) {
        labels_.insert(f.name);
      }
    }
  }
}

const std::vector<std::string>* OutputComparison::column_names(const std::string& name) const {
  if (profile_ == nullptr) return nullptr;
  if (auto it = profile_->tensor_columns.find(name); it != profile_->tensor_columns.end()) {
    return &it->second;
  }
  // KServe V1 / TF Serving list rows are named by the profile's output columns.
  if (name == "predictions" && !profile_->output_columns.empty()) return &profile_->output_columns;
  return nullptr;
}

bool OutputComparison::declared_label(std::string_view feature) const {
  return labels_.find(feature) != labels_.end();
}

bool OutputComparison::is_argmax_column(std::string_view feature) const {
  for (const std::string& v : settings_.argmax_outputs) {
    if (const auto* names = column_names(v)) {
      if (std::find(names->begin(), names->end(), feature) != names->end()) return true;
    }
    // v[<digits>]
    if (feature.size() > v.size() + 2 && feature.starts_with(v) && feature[v.size()] == '[' &&
        feature.back() == ']' &&
        std::all_of(feature.begin() + static_cast<std::ptrdiff_t>(v.size()) + 1, feature.end() - 1,
                    [](char c) { return c >= '0' && c <= '9'; })) {
      return true;
    }
  }
  return false;
}

ComparisonOutcome OutputComparison::compare(Route route, std::string_view primary,
                                            std::string_view shadow) {
  ComparisonOutcome out;
  primary_values_.clear();
  shadow_values_.clear();
  const auto rp = drift::read_payload(settings_.format, route, primary, drift::Direction::output,
                                      naming_, primary_values_);
  const auto rs = drift::read_payload(settings_.format, route, shadow, drift::Direction::output,
                                      naming_, shadow_values_);
  if (rp.status != drift::ReadStatus::ok || rs.status != drift::ReadStatus::ok) {
    out.skipped = SkipReason::unreadable;
    return out;
  }
  auto mismatch = [&out] {
    out.outputs.clear();
    out.skipped = SkipReason::shape_mismatch;
    return out;
  };
  if (rp.rows != rs.rows) return mismatch();
  const Columns p(primary_values_), s(shadow_values_);

  // Argmax vectors first: their columns are compared only through them.
  std::set<std::string_view, std::less<>> consumed;
  for (const std::string& v : settings_.argmax_outputs) {
    const std::vector<std::string>* names = column_names(v);
    std::vector<const Values*> pc, sc;
    for (std::size_t j = 0; j < kMaxVectorWidth; ++j) {
      const std::string column = drift::detail::column_name(names, v, j);
      const Values* a = p.find(column);
      const Values* b = s.find(column);
      if (a == nullptr && b == nullptr) break;
      if (a != nullptr) {
        pc.push_back(a);
        consumed.insert(p.by_name.find(column)->first);
      }
      if (b != nullptr) sc.push_back(b);
      if (a == nullptr || b == nullptr) break;
    }
    if (pc.empty() || sc.empty()) continue;  // not in both answers
    if (pc.size() != sc.size()) return mismatch();
    const std::size_t rows = pc[0]->size();
    for (std::size_t j = 0; j < pc.size(); ++j) {
      if (pc[j]->size() != rows || sc[j]->size() != rows) return mismatch();
    }
    OutputOutcome o{v, OutputKind::argmax, 0, 0, {}, {}, {}, {}};
    for (std::size_t row = 0; row < rows; ++row) {
      const auto a = argmax(pc, row);
      const auto b = argmax(sc, row);
      if (!a || !b) continue;
      ++o.compared;
      if (*a == *b) {
        ++o.matches;
      } else if (!o.first_mismatch) {
        o.first_mismatch = row;
        o.primary_value = std::to_string(*a);
        o.shadow_value = std::to_string(*b);
      }
    }
    out.outputs.push_back(std::move(o));
  }

  for (std::string_view name : p.order) {
    if (consumed.contains(name)) continue;
    const Values* b = s.find(name);
    if (b == nullptr) continue;  // only in the primary's answer
    const Values& a = *p.find(name);
    if (a.size() != b->size()) return mismatch();
    OutputOutcome o{std::string(name), OutputKind::number, 0, 0, {}, {}, {}, {}};
    if (declared_label(name) || has_text(a) || has_text(*b)) {
      o.kind = OutputKind::label;
      compare_labels(a, *b, o);
    } else {
      compare_numbers(a, *b, o);
    }
    out.outputs.push_back(std::move(o));
  }
  return out;
}

}  // namespace mlsidecar::shadow
