#include "sidecar/h2/header_block.h"

namespace mlsidecar::h2 {

void HeaderBlock::add(std::string_view name, std::string_view value) {
  text_.append(name);
  ends_.push_back(static_cast<std::uint32_t>(text_.size()));
  text_.append(value);
  ends_.push_back(static_cast<std::uint32_t>(text_.size()));
}

void HeaderBlock::clear() {
  text_.clear();
  ends_.clear();
}

HeaderField HeaderBlock::field(std::size_t i) const {
  const std::uint32_t begin = i == 0 ? 0 : ends_[2 * i - 1];
  const std::uint32_t name_end = ends_[2 * i];
  const std::uint32_t value_end = ends_[2 * i + 1];
  const std::string_view text = text_;
  return {text.substr(begin, name_end - begin), text.substr(name_end, value_end - name_end)};
}

std::string_view HeaderBlock::find(std::string_view name) const {
  for (std::size_t i = 0; i < size(); ++i) {
    const HeaderField f = field(i);
    if (f.name == name) return f.value;
  }
  return {};
}

}  // namespace mlsidecar::h2
