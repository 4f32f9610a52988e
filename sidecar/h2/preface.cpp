#include "sidecar/h2/preface.h"

namespace mlsidecar::h2 {

Protocol classify_preface(std::string_view first_bytes) {
  if (first_bytes.empty()) return Protocol::need_more;
  const std::size_t n =
      first_bytes.size() < kClientPreface.size() ? first_bytes.size() : kClientPreface.size();
  if (first_bytes.substr(0, n) != kClientPreface.substr(0, n)) return Protocol::http1;
  return n == kClientPreface.size() ? Protocol::h2 : Protocol::need_more;
}

}  // namespace mlsidecar::h2
