// The fields of one header block, stored flat: one string for every name and value and one
// offset vector. A stream keeps one for the block being received and one for trailers waiting
// behind its data; streams are pooled, so after warm-up a block costs no allocation.
//
// Thread safety: none; owned by one stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/h2/types.h"

namespace mlsidecar::h2 {

class HeaderBlock {
 public:
  void add(std::string_view name, std::string_view value);
  void clear();
  bool empty() const { return ends_.empty(); }
  std::size_t size() const { return ends_.size() / 2; }
  HeaderField field(std::size_t i) const;
  // The value of the first field named `name` (lower case, as HTTP/2 requires), or empty.
  std::string_view find(std::string_view name) const;

 private:
  std::string text_;
  std::vector<std::uint32_t> ends_;  // name end, value end, per field
};

}  // namespace mlsidecar::h2
