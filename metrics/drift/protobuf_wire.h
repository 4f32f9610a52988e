// Protobuf wire format, read without libprotobuf: the tag/value records of one message, each
// length checked against the bytes that are there. Enough for the drift readers of gRPC messages
// (open_inference_v2_grpc_reader.cpp) and the model look-up on the I/O thread; nothing allocates.
//
// It accepts what libprotobuf's parser accepts: varints of at most 10 bytes (tags of at most 5,
// field numbers 1..2^29-1), groups (skipped whole, nested up to kMaxGroupDepth), and it fails
// where that parser fails: a truncated record, wire type 6 or 7, field number 0, an end-group
// tag without its start. Interpreting a field (wire type as declared or as unknown, packed or
// not) is the caller's business.
//
// Thread safety: a WireReader is a cursor over caller-owned bytes, used by one thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace mlsidecar::drift::detail {

enum class WireType : std::uint8_t {
  varint = 0,
  fixed64 = 1,
  length = 2,  // strings, bytes, embedded messages, packed repeated fields
  group = 3,   // start group; the reader reports a whole group as one record
  fixed32 = 5,
};

struct WireField {
  std::uint32_t number = 0;
  WireType type = WireType::varint;
  std::uint64_t value = 0;  // varint, fixed32 and fixed64 values
  std::string_view bytes;   // length-delimited payload, or a group's contents
};

// Reads one varint at p (< end); false when it runs past end or beyond 10 bytes.
inline bool read_varint(const char*& p, const char* end, std::uint64_t& out) noexcept {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 70 && p < end; shift += 7) {
    const auto byte = static_cast<unsigned char>(*p++);
    v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if (byte < 0x80) {
      out = v;
      return true;
    }
  }
  return false;
}

inline std::uint32_t load_le32(const char* p) noexcept {
  unsigned char b[4];
  std::memcpy(b, p, 4);
  return std::uint32_t{b[0]} | std::uint32_t{b[1]} << 8 | std::uint32_t{b[2]} << 16 |
         std::uint32_t{b[3]} << 24;
}

inline std::uint64_t load_le64(const char* p) noexcept {
  return std::uint64_t{load_le32(p)} | std::uint64_t{load_le32(p + 4)} << 32;
}

class WireReader {
 public:
  static constexpr int kMaxGroupDepth = 64;

  explicit WireReader(std::string_view message) noexcept
      : p_(message.data()), end_(message.data() + message.size()) {}

  // The next record; false at the end of the message or on malformed bytes (then failed()).
  bool next(WireField& f) noexcept {
    if (p_ == end_) return false;
    if (!read_field(f, 0)) {
      failed_ = true;
      p_ = end_;
      return false;
    }
    return true;
  }
  bool failed() const noexcept { return failed_; }

 private:
  // A record at p_; an end-group tag (allowed only inside a group of `depth` > 0) comes back as
  // number with type 4 through `end_group`.
  bool read_tag(std::uint32_t& number, std::uint32_t& type) noexcept {
    std::uint64_t tag = 0;
    const char* start = p_;
    if (!read_varint(p_, end_, tag) || p_ - start > 5 || tag > 0xffffffffu) return false;
    number = static_cast<std::uint32_t>(tag >> 3);
    type = static_cast<std::uint32_t>(tag & 7);
    return number != 0;
  }

  bool read_field(WireField& f, int depth) noexcept {
    std::uint32_t type = 0;
    if (!read_tag(f.number, type)) return false;
    return read_value(f, type, depth);
  }

  bool read_value(WireField& f, std::uint32_t type, int depth) noexcept {
    switch (type) {
      case 0:
        f.type = WireType::varint;
        return read_varint(p_, end_, f.value);
      case 1:
        return read_fixed(f, WireType::fixed64);
      case 2: {
        std::uint64_t n = 0;
        if (!read_varint(p_, end_, n) || n > static_cast<std::uint64_t>(end_ - p_)) return false;
        f.type = WireType::length;
        f.bytes = {p_, static_cast<std::size_t>(n)};
        p_ += n;
        return true;
      }
      case 3:
        f.type = WireType::group;
        return skip_group(f, depth + 1);
      case 5:
        return read_fixed(f, WireType::fixed32);
      default:  // 4 (an end group with no start), 6, 7
        return false;
    }
  }

  bool read_fixed(WireField& f, WireType type) noexcept {
    const std::ptrdiff_t size = type == WireType::fixed64 ? 8 : 4;
    if (end_ - p_ < size) return false;
    f.type = type;
    f.value = size == 8 ? load_le64(p_) : load_le32(p_);
    p_ += size;
    return true;
  }

  // Skips the records of the group f.number up to its end-group tag; f.bytes is what it held.
  bool skip_group(WireField& f, int depth) noexcept {
    if (depth > kMaxGroupDepth) return false;
    const char* start = p_;
    const std::uint32_t number = f.number;
    for (;;) {
      if (p_ == end_) return false;
      const char* record = p_;
      std::uint32_t inner_number = 0, type = 0;
      if (!read_tag(inner_number, type)) return false;
      if (type == 4) {
        if (inner_number != number) return false;
        f.number = number;
        f.bytes = {start, static_cast<std::size_t>(record - start)};
        return true;
      }
      WireField inner;
      inner.number = inner_number;
      if (!read_value(inner, type, depth)) return false;
    }
  }

  const char* p_;
  const char* end_;
  bool failed_ = false;
};

}  // namespace mlsidecar::drift::detail
