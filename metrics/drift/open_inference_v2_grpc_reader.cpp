// Open Inference Protocol V2 over gRPC: ModelInferRequest (input) and ModelInferResponse (output)
// of tests/support/grpc/grpc_predict_v2.proto, read from the protobuf wire format
// (protobuf_wire.h), with the features read_open_inference_v2 gives for the same tensors as JSON.
//
// Field numbers used (the rest is skipped, as protobuf skips unknown fields):
//   ModelInferRequest   1 model_name, 2 model_version, 5 inputs, 7 raw_input_contents
//   ModelInferResponse  1 model_name, 2 model_version, 5 outputs, 6 raw_output_contents
//   tensor              1 name, 2 datatype, 3 shape (int64, packed or not), 5 contents
//   InferTensorContents 1 bool, 2 int (int32), 3 int64, 4 uint (uint32), 5 uint64, 6 fp32, 7 fp64,
//                       8 bytes; repeated numbers packed or not
//
// Each tensor is read in two passes over its bytes: the first finds its name, datatype, shape and
// how many elements its contents hold (a later name wins and repeated fields in several pieces
// join, as protobuf merges them); the second appends the values, named. raw_*_contents[i]
// belongs to tensor i, found by a second cursor over the message, so nothing is collected first.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "metrics/drift/json_values.h"
#include "metrics/drift/open_inference_v2_grpc.h"
#include "metrics/drift/payload.h"
#include "metrics/drift/protobuf_wire.h"
#include "metrics/utf8.h"

namespace mlsidecar::drift {
namespace {

using detail::WireField;
using detail::WireReader;
using detail::WireType;

constexpr std::uint32_t kTensorsField = 5;  // inputs / outputs, in both messages
constexpr std::uint32_t kRawInputField = 7;
constexpr std::uint32_t kRawOutputField = 6;

// InferTensorContents fields, by number.
enum class Kind : std::uint8_t {
  none = 0,
  boolean = 1,
  int32 = 2,
  int64 = 3,
  uint32 = 4,
  uint64 = 5,
  fp32 = 6,
  fp64 = 7,
  bytes = 8,
};

WireType element_wire_type(std::uint32_t field) {
  switch (field) {
    case 6:
      return WireType::fixed32;
    case 7:
      return WireType::fixed64;
    case 8:
      return WireType::length;
    default:
      return WireType::varint;
  }
}

enum class Walk : std::uint8_t { ok, unknown, malformed };

// Calls fn(bits, bytes) for each element of one record of contents field f.number (1..8),
// packed (one length-delimited run) or not. `unknown` for a wire type the field cannot have
// (protobuf keeps such a record as an unknown field), `malformed` for a packed run that does not
// divide into elements.
template <typename Fn>
Walk for_each_element(const WireField& f, Fn&& fn) {
  const WireType element = element_wire_type(f.number);
  if (f.type == element) {
    fn(f.value, f.bytes);
    return Walk::ok;
  }
  if (f.type != WireType::length || element == WireType::length) return Walk::unknown;
  const char* p = f.bytes.data();
  const char* end = p + f.bytes.size();
  if (element == WireType::varint) {
    while (p < end) {
      std::uint64_t v = 0;
      if (!detail::read_varint(p, end, v)) return Walk::malformed;
      fn(v, std::string_view{});
    }
    return Walk::ok;
  }
  const std::size_t size = element == WireType::fixed32 ? 4 : 8;
  if (f.bytes.size() % size != 0) return Walk::malformed;
  for (; p < end; p += size) {
    fn(size == 4 ? detail::load_le32(p) : detail::load_le64(p), std::string_view{});
  }
  return Walk::ok;
}

void set_number(FeatureValue& v, double x) {
  v.type = FeatureValue::Type::number;
  v.number = x;
}

void set_text(FeatureValue& v, std::string_view text) {
  v.type = FeatureValue::Type::text;
  v.text.assign(text);
}

// One typed element as the JSON reader reads the same value: numbers as doubles (integers
// converted as nlohmann converts int64/uint64), booleans as the text "true"/"false", bytes as
// text. int32 and uint32 keep the low 32 bits of the varint, as protobuf does.
void set_typed(FeatureValue& v, Kind kind, std::uint64_t bits, std::string_view bytes) {
  switch (kind) {
    case Kind::boolean:
      set_text(v, bits != 0 ? "true" : "false");
      break;
    case Kind::int32:
      set_number(v, static_cast<double>(static_cast<std::int32_t>(bits)));
      break;
    case Kind::int64:
      set_number(v, static_cast<double>(static_cast<std::int64_t>(bits)));
      break;
    case Kind::uint32:
      set_number(v, static_cast<double>(static_cast<std::uint32_t>(bits)));
      break;
    case Kind::uint64:
      set_number(v, static_cast<double>(bits));
      break;
    case Kind::fp32:
      set_number(v, static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(bits))));
      break;
    case Kind::fp64:
      set_number(v, std::bit_cast<double>(bits));
      break;
    case Kind::bytes:
      set_text(v, bytes);
      break;
    case Kind::none:
      break;
  }
}

// raw_*_contents element types, by datatype.
enum class Raw : std::uint8_t {
  boolean,
  i8,
  i16,
  i32,
  i64,
  u8,
  u16,
  u32,
  u64,
  f16,
  bf16,
  f32,
  f64,
  bytes
};

struct RawType {
  std::string_view datatype;
  Raw raw;
  std::size_t size;  // bytes per element; BYTES: 0 (each a 4-byte length and its bytes)
};

constexpr std::array<RawType, 14> kRawTypes = {{
    {"BOOL", Raw::boolean, 1},
    {"INT8", Raw::i8, 1},
    {"INT16", Raw::i16, 2},
    {"INT32", Raw::i32, 4},
    {"INT64", Raw::i64, 8},
    {"UINT8", Raw::u8, 1},
    {"UINT16", Raw::u16, 2},
    {"UINT32", Raw::u32, 4},
    {"UINT64", Raw::u64, 8},
    {"FP16", Raw::f16, 2},
    {"BF16", Raw::bf16, 2},
    {"FP32", Raw::f32, 4},
    {"FP64", Raw::f64, 8},
    {"BYTES", Raw::bytes, 0},
}};

const RawType* raw_type(std::string_view datatype) {
  for (const RawType& t : kRawTypes) {
    if (t.datatype == datatype) return &t;
  }
  return nullptr;
}

// IEEE 754 binary16, exactly (every half is a double).
double half_to_double(std::uint16_t h) {
  const double sign = (h & 0x8000) != 0 ? -1.0 : 1.0;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  if (exponent == 31) {
    return mantissa != 0 ? std::numeric_limits<double>::quiet_NaN()
                         : sign * std::numeric_limits<double>::infinity();
  }
  return sign * std::ldexp(mantissa + 1024, exponent - 25);
}

std::uint16_t load_le16(const char* p) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(p[0]) |
                                    static_cast<unsigned char>(p[1]) << 8);
}

// One raw element at p (size bytes of type t), as the JSON reader reads the same value.
void set_raw(FeatureValue& v, Raw t, const char* p) {
  switch (t) {
    case Raw::boolean:
      set_text(v, *p != 0 ? "true" : "false");
      break;
    case Raw::i8:
      set_number(v, static_cast<std::int8_t>(*p));
      break;
    case Raw::i16:
      set_number(v, static_cast<std::int16_t>(load_le16(p)));
      break;
    case Raw::i32:
      set_number(v, static_cast<std::int32_t>(detail::load_le32(p)));
      break;
    case Raw::i64:
      set_number(v, static_cast<double>(static_cast<std::int64_t>(detail::load_le64(p))));
      break;
    case Raw::u8:
      set_number(v, static_cast<unsigned char>(*p));
      break;
    case Raw::u16:
      set_number(v, load_le16(p));
      break;
    case Raw::u32:
      set_number(v, detail::load_le32(p));
      break;
    case Raw::u64:
      set_number(v, static_cast<double>(detail::load_le64(p)));
      break;
    case Raw::f16:
      set_number(v, half_to_double(load_le16(p)));
      break;
    case Raw::bf16:
      set_number(v, std::bit_cast<float>(std::uint32_t{load_le16(p)} << 16));
      break;
    case Raw::f32:
      set_number(v, std::bit_cast<float>(detail::load_le32(p)));
      break;
    case Raw::f64:
      set_number(v, std::bit_cast<double>(detail::load_le64(p)));
      break;
    case Raw::bytes:
      break;  // read by for_each_raw_string
  }
}

// Calls fn(string) for each element of Triton's BYTES encoding (a 4-byte little-endian length,
// then that many bytes); false when the last one does not fit.
template <typename Fn>
bool for_each_raw_string(std::string_view raw, Fn&& fn) {
  const char* p = raw.data();
  const char* end = p + raw.size();
  while (p < end) {
    if (end - p < 4) return false;
    const std::uint32_t n = detail::load_le32(p);
    p += 4;
    if (n > static_cast<std::uint64_t>(end - p)) return false;
    fn(std::string_view(p, n));
    p += n;
  }
  return true;
}

// What the first pass over a tensor finds.
struct Tensor {
  std::string_view name;
  std::string_view datatype;
  std::size_t rank = 0;
  std::uint64_t dims[2] = {0, 0};  // the first two
  std::uint64_t total = 1;         // elements the shape holds
  bool overflow = false;           // the product wrapped
  bool negative = false;           // a dimension below 0
  std::uint32_t kinds = 0;         // bit n: contents field n holds elements
  std::uint64_t count = 0;         // elements of the typed contents
};

void add_dimension(Tensor& t, std::uint64_t bits) {
  if (static_cast<std::int64_t>(bits) < 0) t.negative = true;
  if (t.rank < 2) t.dims[t.rank] = bits;
  ++t.rank;
  t.overflow = t.overflow || (bits != 0 && t.total > UINT64_MAX / bits);
  t.total *= bits;
}

// First pass: false on malformed bytes.
bool scan_tensor(std::string_view message, Tensor& t) {
  WireReader r(message);
  WireField f;
  while (r.next(f)) {
    if (f.number == 1 && f.type == WireType::length) {
      t.name = f.bytes;
    } else if (f.number == 2 && f.type == WireType::length) {
      t.datatype = f.bytes;
    } else if (f.number == 3) {
      // repeated int64 shape: one varint, or a packed run of them
      if (f.type == WireType::varint) {
        add_dimension(t, f.value);
      } else if (f.type == WireType::length) {
        const char* p = f.bytes.data();
        const char* end = p + f.bytes.size();
        while (p < end) {
          std::uint64_t d = 0;
          if (!detail::read_varint(p, end, d)) return false;
          add_dimension(t, d);
        }
      }
    } else if (f.number == 5 && f.type == WireType::length) {
      WireReader contents(f.bytes);
      WireField c;
      while (contents.next(c)) {
        if (c.number < 1 || c.number > 8) continue;
        std::uint64_t n = 0;
        if (for_each_element(c, [&n](std::uint64_t, std::string_view) { ++n; }) ==
            Walk::malformed) {
          return false;
        }
        if (n > 0) t.kinds |= 1u << c.number;
        t.count += n;
      }
      if (contents.failed()) return false;
    }
  }
  return !r.failed();
}

// Names the values out[first..] of tensor `name` by the V2 rules: k == 1 all `name`, else column
// i % k by the profile's tensor_columns or "name[i]".
void name_values(std::vector<FeatureValue>& out, std::size_t first, std::string_view name,
                 std::uint64_t k, const FeatureNaming& naming) {
  thread_local std::string base;  // the maps below are keyed by std::string
  base.assign(name);
  if (k == 1) {
    for (std::size_t i = first; i < out.size(); ++i) out[i].name.assign(base);
    return;
  }
  const std::vector<std::string>* names = detail::tensor_column_names(naming, base);
  const std::vector<std::string>& generated = detail::generated_column_names(
      base, static_cast<std::size_t>(std::min<std::uint64_t>(k, detail::kCachedColumns)));
  std::uint64_t column = 0;
  for (std::size_t i = first; i < out.size(); ++i) {
    detail::assign_column_name(out[i].name, names, base, column, generated);
    if (++column == k) column = 0;
  }
}

// Counts the elements of a raw run of type t; false when it does not divide into elements.
bool count_raw(std::string_view raw, const RawType& t, std::uint64_t& n) {
  if (t.size == 0) {
    n = 0;
    return for_each_raw_string(raw, [&n](std::string_view) { ++n; });
  }
  if (raw.size() % t.size != 0) return false;
  n = raw.size() / t.size;
  return true;
}

// Appends the values of one raw run (already checked by count_raw).
void append_raw(std::string_view raw, const RawType& t, std::vector<FeatureValue>& out) {
  if (t.size == 0) {
    for_each_raw_string(raw, [&out](std::string_view s) { set_text(out.emplace_back(), s); });
    return;
  }
  for (std::size_t at = 0; at < raw.size(); at += t.size) {
    set_raw(out.emplace_back(), t.raw, raw.data() + at);
  }
}

// Appends the values of the typed contents of `kind` (second pass over the tensor).
void append_typed(std::string_view tensor, Kind kind, std::vector<FeatureValue>& out) {
  WireReader r(tensor);
  WireField f;
  while (r.next(f)) {
    if (f.number != 5 || f.type != WireType::length) continue;
    WireReader contents(f.bytes);
    WireField c;
    while (contents.next(c)) {
      if (c.number != static_cast<std::uint32_t>(kind)) continue;
      for_each_element(c, [&out, kind](std::uint64_t bits, std::string_view bytes) {
        set_typed(out.emplace_back(), kind, bits, bytes);
      });
    }
  }
}

// The next raw_*_contents record after the cursor; false when there is none.
bool next_raw(WireReader& raw_cursor, std::uint32_t raw_field, std::string_view& raw) {
  WireField f;
  while (raw_cursor.next(f)) {
    if (f.number == raw_field && f.type == WireType::length) {
      raw = f.bytes;
      return true;
    }
  }
  return false;
}

ReadStatus read_tensors(std::string_view message, Direction direction, const FeatureNaming& naming,
                        std::vector<FeatureValue>& out, std::size_t& rows) {
  const std::uint32_t raw_field = direction == Direction::input ? kRawInputField : kRawOutputField;
  // The message's records, checked once; tensors and raw runs counted.
  std::size_t tensors = 0, raws = 0;
  {
    WireReader r(message);
    WireField f;
    while (r.next(f)) {
      if (f.type != WireType::length) continue;
      if (f.number == kTensorsField) ++tensors;
      if (f.number == raw_field) ++raws;
    }
    if (r.failed()) return ReadStatus::invalid_protobuf;
  }
  // With raw contents, every tensor has its run and none has typed contents.
  if (raws != 0 && raws != tensors) return ReadStatus::unexpected_shape;
  WireReader r(message);
  WireReader raw_cursor(message);
  WireField f;
  while (r.next(f)) {
    if (f.number != kTensorsField || f.type != WireType::length) continue;
    Tensor t;
    if (!scan_tensor(f.bytes, t)) return ReadStatus::invalid_protobuf;
    if (t.negative || t.overflow) return ReadStatus::unexpected_shape;
    std::string_view raw;
    const RawType* type = nullptr;
    if (raws != 0) {
      if (t.kinds != 0 || !next_raw(raw_cursor, raw_field, raw)) {
        return ReadStatus::unexpected_shape;
      }
      type = raw_type(t.datatype);
      std::uint64_t n = 0;
      if (type == nullptr || !count_raw(raw, *type, n) || n != t.total) {
        return ReadStatus::unexpected_shape;
      }
    } else if (std::popcount(t.kinds) > 1 || t.count != t.total) {
      return ReadStatus::unexpected_shape;  // two kinds of contents, or not the shape's count
    }
    // Empty tensors and ranks above 2 (images, sequences) give no features.
    if (t.total == 0 || t.rank > 2) continue;
    rows = std::max<std::size_t>(rows, t.rank == 0 ? 1 : t.dims[0]);
    const std::size_t first = out.size();
    if (type != nullptr) {
      append_raw(raw, *type, out);
    } else {
      append_typed(f.bytes, static_cast<Kind>(std::countr_zero(t.kinds)), out);
    }
    name_values(out, first, t.name, t.rank == 2 ? t.dims[1] : 1, naming);
  }
  return ReadStatus::ok;
}

}  // namespace

ReadResult read_open_inference_v2_grpc(std::string_view message, Direction direction,
                                       const FeatureNaming& naming,
                                       std::vector<FeatureValue>& out) {
  const std::size_t first = out.size();
  std::size_t rows = 0;
  const ReadStatus status = read_tensors(message, direction, naming, out, rows);
  if (status != ReadStatus::ok) {
    out.resize(first);  // a bad tensor after good ones leaves nothing behind
    return {status, 0};
  }
  return {ReadStatus::ok, rows};
}

std::optional<std::pair<std::string_view, std::string_view>> v2_grpc_model(
    std::string_view message) noexcept {
  std::pair<std::string_view, std::string_view> model;
  WireReader r(message);
  WireField f;
  while (r.next(f) && f.number <= 2) {
    if (f.type != WireType::length) continue;
    (f.number == 1 ? model.first : model.second) = f.bytes;
  }
  if (r.failed() || !utf8::valid(model.first) || !utf8::valid(model.second)) return std::nullopt;
  return model;
}

}  // namespace mlsidecar::drift
