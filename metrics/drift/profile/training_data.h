// Readers of training data for `mlsidecar profile`: CSV with a header row, JSON Lines of objects,
// and files of recorded request (or response) bodies, one JSON document per line, in any format a
// payload reader understands. Each feeds a ProfileBuilder row by row.
//
// Thread safety: stateless functions.
#pragma once

#include <istream>
#include <string>

#include "metrics/drift/payload.h"
#include "metrics/drift/profile/profile_builder.h"

namespace mlsidecar::drift {

enum class TrainingFormat { csv, jsonl, bodies };

// CSV (RFC 4180 quoting, comma separated, header first). Empty fields and NA/NaN/null are
// missing; fields that parse fully as finite numbers are numbers, others text. Throws
// std::runtime_error "line N: reason" for ragged rows or a missing header.
void read_csv(std::istream& in, ProfileBuilder& builder);

// One JSON object per line (blank lines skipped). Throws "line N: reason" on a bad line.
void read_jsonl(std::istream& in, ProfileBuilder& builder);

// One recorded body per line, read by the payload reader of `format` (an explicit format, not
// automatic). Throws "line N: <reason>" when a body cannot be read.
void read_bodies(std::istream& in, PayloadFormat format, Direction direction,
                 const FeatureNaming& naming, ProfileBuilder& builder);

}  // namespace mlsidecar::drift
