// Fast path of the hot payload readers: a single-pass scanner over the body that fills the
// FeatureValues straight from the bytes, without building a JSON document. It reads KServe V1 /
// TF Serving rows ("instances" / "predictions") and Open Inference V2 tensors ("inputs" /
// "outputs"), and validates the whole body as JSON on the way.
//
// It is deliberately conservative: it answers only for bodies whose result it can give exactly
// as the nlohmann-based readers would, and declines (nullopt) for everything else, in which case
// the caller runs the full reader. It declines on: any malformed JSON; anything that is not an
// `ok` read (missing key, wrong types, ragged tensors; the full reader names the reason); a string
// with a \u escape or a byte outside ASCII (UTF-8 validation and surrogates are the full parser's
// job); a duplicate key the reader depends on; a number that does not convert to a finite double
// without overflow or underflow; nesting deeper than 64; the TF Serving columnar format.
// When it declines it leaves `out` as it found it.
//
// Why the same result: object keys are read in document order and a row's values are then put in
// key order (nlohmann keeps objects sorted by key); integers without a fraction or exponent are
// converted as nlohmann converts int64/uint64 values; other numbers go through std::from_chars,
// which rounds correctly as strtod does. tests/metrics/drift/payload_scan_test.cpp checks this
// against the full readers on crafted and mutated bodies.
//
// Thread safety: stateless functions.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "metrics/drift/payload.h"

namespace mlsidecar::drift::detail {

// Rows format: {"instances": [row, ...], ...} (or "predictions"), as KServe V1 and the TF
// Serving row format read it (both give the rows key precedence; a body without it is declined).
std::optional<ReadResult> scan_rows_document(std::string_view body, Direction direction,
                                             const FeatureNaming& naming,
                                             std::vector<FeatureValue>& out);

// Open Inference V2 tensors.
std::optional<ReadResult> scan_open_inference_v2(std::string_view body, Direction direction,
                                                 const FeatureNaming& naming,
                                                 std::vector<FeatureValue>& out);

}  // namespace mlsidecar::drift::detail
