// OutputComparison: what two answers to the same inference request say differently, output by
// output. Both bodies go through the drift payload readers (metrics/drift/payload.h, output
// direction, the profile's column names), so an output here has the name drift gives it.
//
// Rows line up by order: the i-th value of a feature in the primary's body is compared with the
// i-th value of that feature in the shadow's. Per output present in both answers:
//   label   (the profile declares it categorical, it is a class output, or a value is text):
//           per row, compared when either side has a value, a match when both texts are equal
//           (numbers as the drift engine writes categories: 1 and 1.0 are both "1");
//   argmax  (a vector named among the argmax outputs: V2 tensor `probs` [batch, k] read as
//           probs[0]..probs[k-1], as is a list under `probs` in KServe V1 object rows;
//           KServe V1 list rows as predictions[0]..; or the profile's names for those
//           columns): per row, the index of the largest value (the first of equal ones, as
//           numpy.argmax), compared and matched as a label under the vector's name; its
//           columns are not compared one by one;
//   number  (everything else): per row where both are finite numbers, |s - p| and
//           |s - p| / max(|p|, 1e-12).
// The pair's outputs are all compared or none: none when a body is not readable, when the row
// counts differ, or when an output present in both has a different number of values or vector
// width on each side (the shadow answers another schema: shape_mismatch).
//
// Example: primary {"predictions": [[0.1, 0.9], [0.8, 0.2]]}, shadow {"predictions": [[0.3,
// 0.7], [0.4, 0.6]]}, argmax output "predictions": 2 rows compared, 1 match (row 1: 0 vs 1).
//
// Thread safety: none; one per shadow worker (it keeps scratch buffers between pairs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/drift/payload.h"
#include "metrics/drift/reference_profile.h"
#include "metrics/route.h"

namespace mlsidecar::shadow {

enum class OutputKind : std::uint8_t { label, argmax, number };

// Why a pair's outputs were not compared: the `reason` of mlsidecar_shadow_output_skipped_total.
enum class SkipReason : std::uint8_t {
  not_2xx,         // either answer is not 2xx (or the shadow gave none)
  truncated,       // either body was longer than --shadow-max-body
  unreadable,      // a payload reader could not read either body
  shape_mismatch,  // rows, values or vector widths differ
  encoded,         // either body has a Content-Encoding (gzip, ...): not copied, not read
};
inline constexpr std::size_t kSkipReasonCount = 5;
std::string_view skip_reason_name(SkipReason reason);

struct NumberDifference {
  double absolute = 0;
  double relative = 0;
};

struct OutputOutcome {
  std::string name;  // the feature, or the vector for argmax
  OutputKind kind = OutputKind::number;
  std::uint64_t compared = 0;                 // label, argmax: rows compared
  std::uint64_t matches = 0;                  // ... that agree
  std::vector<NumberDifference> differences;  // number: one per row with two finite numbers
  // label, argmax: the first row that disagrees and the two values there (the label texts, "null"
  // for none, or the argmax indices); none when every row compared agreed.
  std::optional<std::size_t> first_mismatch;
  std::string primary_value, shadow_value;
};

struct ComparisonOutcome {
  std::optional<SkipReason> skipped;
  std::vector<OutputOutcome> outputs;  // in the order the primary's body names them
};

struct ComparisonSettings {
  drift::PayloadFormat format = drift::PayloadFormat::automatic;
  std::vector<std::string> class_outputs;
  std::vector<std::string> argmax_outputs;
};

inline constexpr double kRelativeEpsilon = 1e-12;

class OutputComparison {
 public:
  // `profile` may be null (no categorical hints, positional names); it must outlive this.
  OutputComparison(ComparisonSettings settings, const drift::ReferenceProfile* profile);

  // Reads and compares two 2xx bodies of `route` (truncation and status are the caller's).
  ComparisonOutcome compare(Route route, std::string_view primary, std::string_view shadow);

  // Whether `feature` is a column of an argmax vector (compared only through the argmax).
  bool is_argmax_column(std::string_view feature) const;
  // Whether `feature` is compared as a label whatever its values (class output, categorical).
  bool declared_label(std::string_view feature) const;

 private:
  // The profile's names for the columns of vector `name`, or null (positional names).
  const std::vector<std::string>* column_names(const std::string& name) const;

  ComparisonSettings settings_;
  const drift::ReferenceProfile* profile_;
  drift::FeatureNaming naming_;
  std::set<std::string, std::less<>> labels_;  // class outputs and categorical output features
  std::vector<drift::FeatureValue> primary_values_, shadow_values_;  // scratch
};

}  // namespace mlsidecar::shadow
