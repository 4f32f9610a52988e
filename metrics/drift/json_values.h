// Helpers shared by the payload readers: turning one JSON scalar into a FeatureValue, and naming
// positional columns, and the nlohmann-document readers. Internal to metrics/drift.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "metrics/drift/payload.h"

namespace mlsidecar::drift::detail {

// Number -> number; string -> text; bool -> text "true"/"false"; null -> missing; an array or
// object (not a scalar) -> missing as well, since it cannot be a feature value.
FeatureValue scalar_value(std::string name, const nlohmann::json& v);

// Text of a number used as a category: integers without a decimal point, others in the
// shortest form that reads back the same (as JSON writes them).
std::string number_text(double x);

// Name of column `i`: the profile's name when it has one, else "<base>[i]".
std::string column_name(const std::vector<std::string>* names, const std::string& base,
                        std::size_t i);
// The same name assigned to `out` (whose buffer is reused): the "<base>[i]" names of the first
// kCachedColumns columns are built once per thread and base, not once per body (32 string builds
// per V2 body).
void assign_column_name(std::string& out, const std::vector<std::string>* names,
                        const std::string& base, std::size_t i);
// The same, with the generated names already at hand (a reader naming many values of one base
// looks them up once): generated[i] when there, else built.
void assign_column_name(std::string& out, const std::vector<std::string>* names,
                        const std::string& base, std::size_t i,
                        const std::vector<std::string>& generated);
inline constexpr std::size_t kCachedColumns = 1024;
// The names "<base>[0]".."<base>[k-1]" (k <= kCachedColumns), kept per thread until the next call
// with another base; the reference is valid until then.
const std::vector<std::string>& generated_column_names(const std::string& base, std::size_t k);

// The profile's names for the columns of the vector `name` (a V2 tensor, a list under an object
// row's key, a TF columnar input), or nullptr.
const std::vector<std::string>* tensor_column_names(const FeatureNaming& naming,
                                                    const std::string& name);

// Reads rows in the KServe V1 / TF Serving row format: each row an object (keys are features; a
// list under a key is a vector: `key[0]`..`key[k-1]` or the profile's tensor_columns names for
// `key`, as a V2 tensor's columns), a list (positional columns) or a scalar (the feature `base`).
ReadResult read_rows(const nlohmann::json& rows, const std::string& base,
                     const FeatureNaming& naming, std::vector<FeatureValue>& out);

// The readers through a full nlohmann document: what the public readers fall back to when the
// scanner (payload_scan.h) declines, and the reference it is tested against.
ReadResult read_kserve_v1_document(std::string_view body, Direction direction,
                                   const FeatureNaming& naming, std::vector<FeatureValue>& out);
ReadResult read_open_inference_v2_document(std::string_view body, Direction direction,
                                           const FeatureNaming& naming,
                                           std::vector<FeatureValue>& out);
ReadResult read_tf_serving_document(std::string_view body, Direction direction,
                                    const FeatureNaming& naming, std::vector<FeatureValue>& out);

}  // namespace mlsidecar::drift::detail
