// UTF-8 decoding as RFC 3629 defines it: overlong forms, surrogates and code points above
// U+10FFFF are invalid. Shared by the gRPC drift reader (model names must be valid) and the
// status page's message escaping (invalid bytes are shown as \xNN).
//
// Thread safety: stateless functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mlsidecar::utf8 {

// Length (1..4) of the valid sequence at text[i], with its code point in `cp`; 0 when the bytes
// there are not one (i < text.size()).
inline std::size_t sequence_at(std::string_view text, std::size_t i, std::uint32_t& cp) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  std::size_t n = 0;
  std::uint32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

inline bool valid(std::string_view text) {
  std::uint32_t cp = 0;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = sequence_at(text, i, cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace mlsidecar::utf8
