// The Open Inference V2 gRPC reader: ModelInferRequest / ModelInferResponse in protobuf wire
// format, encoded here by hand (a few lines of encoder), against the V2 JSON reader on the same
// tensors; malformed messages; the model look-up; the engine taking protobuf bodies.
// (test_grpc_v2_agreement.py checks the same against messages the real protobuf library encodes.)
#include <catch2/catch.hpp>

#include <bit>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <prometheus/metric_family.h>

#include "metrics/drift/drift_engine.h"
#include "metrics/drift/open_inference_v2_grpc.h"
#include "metrics/drift/payload.h"

using namespace mlsidecar::drift;
using mlsidecar::Route;
using Type = FeatureValue::Type;

namespace {

// A minimal protobuf encoder.
std::string varint(std::uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string tag(std::uint32_t field, std::uint32_t wire) {
  return varint(std::uint64_t{field} << 3 | wire);
}
std::string len_field(std::uint32_t field, const std::string& bytes) {
  return tag(field, 2) + varint(bytes.size()) + bytes;
}
std::string varint_field(std::uint32_t field, std::uint64_t v) { return tag(field, 0) + varint(v); }
template <typename T>
std::string le(T v) {
  std::string out(sizeof v, '\0');
  std::memcpy(out.data(), &v, sizeof v);  // x86-64 and arm64 are little-endian
  return out;
}
std::string packed_varints(std::uint32_t field, const std::vector<std::uint64_t>& vs) {
  std::string run;
  for (std::uint64_t v : vs) run += varint(v);
  return len_field(field, run);
}
std::string shape(const std::vector<std::int64_t>& dims) {
  std::vector<std::uint64_t> bits;
  for (std::int64_t d : dims) bits.push_back(static_cast<std::uint64_t>(d));
  return packed_varints(3, bits);
}
std::string tensor(const std::string& name, const std::string& datatype,
                   const std::vector<std::int64_t>& dims, const std::string& contents = {}) {
  std::string t = len_field(1, name) + len_field(2, datatype) + shape(dims);
  if (!contents.empty()) t += len_field(5, contents);
  return t;
}
std::string input(const std::string& t) { return len_field(5, t); }

std::string fp32_packed(const std::vector<float>& xs) {
  std::string run;
  for (float x : xs) run += le(x);
  return len_field(6, run);
}

bool same(const std::vector<FeatureValue>& a, const std::vector<FeatureValue>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].type != b[i].type || a[i].text != b[i].text ||
        std::bit_cast<std::uint64_t>(a[i].number) != std::bit_cast<std::uint64_t>(b[i].number)) {
      return false;
    }
  }
  return true;
}

std::vector<std::string> flat(const std::vector<FeatureValue>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    if (v.type == Type::number) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", v.number);
      out.push_back(v.name + "=" + buf);
    } else {
      out.push_back(v.name + "='" + v.text + "'");
    }
  }
  return out;
}

using Strings = std::vector<std::string>;

struct Read {
  ReadResult result;
  std::vector<FeatureValue> values;
};

Read grpc(const std::string& message, Direction direction = Direction::input,
          const FeatureNaming& naming = {}) {
  Read r;
  r.result = read_open_inference_v2_grpc(message, direction, naming, r.values);
  return r;
}

Read json(const std::string& body, Direction direction = Direction::input,
          const FeatureNaming& naming = {}) {
  Read r;
  r.result = read_open_inference_v2(body, direction, naming, r.values);
  return r;
}

}  // namespace

TEST_CASE("V2 gRPC: typed contents give the features of the same tensors as V2 JSON") {
  const std::map<std::string, std::vector<std::string>> tensor_columns = {{"named", {"a", "b"}}};
  const FeatureNaming naming{nullptr, &tensor_columns};
  const std::string message =
      len_field(1, "model") + len_field(2, "3") +
      input(tensor("x", "FP32", {2, 2}, fp32_packed({1.5F, -2.25F, 0.1F, 4.0F}))) +
      input(tensor("n", "INT64", {3},
                   varint_field(3, static_cast<std::uint64_t>(-7)) + varint_field(3, 1ULL << 62) +
                       varint_field(3, 5))) +
      input(tensor("i", "INT32", {2, 1},
                   packed_varints(2, {static_cast<std::uint64_t>(-3), 0x1'0000'0007ULL}))) +
      input(tensor("u", "UINT64", {1}, packed_varints(5, {~0ULL}))) +
      input(tensor("u32", "UINT32", {1}, varint_field(4, 4000000000ULL))) +
      input(tensor("d", "FP64", {1}, tag(7, 1) + le(0.1))) +
      input(tensor("ok", "BOOL", {2}, packed_varints(1, {1, 0}))) +
      input(tensor("color", "BYTES", {2}, len_field(8, "red") + len_field(8, "blue"))) +
      input(tensor("named", "FP32", {1, 2}, fp32_packed({7.0F, 8.0F}))) +
      input(tensor("image", "FP32", {1, 1, 2}, fp32_packed({1.0F, 2.0F}))) +
      input(tensor("empty", "FP32", {0, 4})) +
      input(tensor("scalar", "INT32", {}, packed_varints(2, {9})));
  const std::string body = R"({"inputs": [
      {"name": "x", "datatype": "FP32", "shape": [2, 2], "data": [[1.5, -2.25], [0.10000000149011612, 4]]},
      {"name": "n", "datatype": "INT64", "shape": [3], "data": [-7, 4611686018427387904, 5]},
      {"name": "i", "datatype": "INT32", "shape": [2, 1], "data": [-3, 7]},
      {"name": "u", "datatype": "UINT64", "shape": [1], "data": [18446744073709551615]},
      {"name": "u32", "datatype": "UINT32", "shape": [1], "data": [4000000000]},
      {"name": "d", "datatype": "FP64", "shape": [1], "data": [0.1]},
      {"name": "ok", "datatype": "BOOL", "shape": [2], "data": [true, false]},
      {"name": "color", "datatype": "BYTES", "shape": [2], "data": ["red", "blue"]},
      {"name": "named", "datatype": "FP32", "shape": [1, 2], "data": [7, 8]},
      {"name": "image", "datatype": "FP32", "shape": [1, 1, 2], "data": [1, 2]},
      {"name": "empty", "datatype": "FP32", "shape": [0, 4], "data": []},
      {"name": "scalar", "datatype": "INT32", "shape": [], "data": [9]}]})";
  const Read g = grpc(message, Direction::input, naming);
  const Read j = json(body, Direction::input, naming);
  REQUIRE(g.result.status == ReadStatus::ok);
  REQUIRE(j.result.status == ReadStatus::ok);
  CHECK(g.result.rows == 3);
  CHECK(g.result.rows == j.result.rows);
  CHECK(flat(g.values) == flat(j.values));
  CHECK(same(g.values, j.values));
  CHECK(flat(g.values) == Strings{"x[0]=1.5", "x[1]=-2.25", "x[0]=0.10000000149011612", "x[1]=4",
                                  "n=-7", "n=4.6116860184273879e+18", "n=5", "i=-3", "i=7",
                                  "u=1.8446744073709552e+19", "u32=4000000000",
                                  "d=0.10000000000000001", "ok='true'", "ok='false'", "color='red'",
                                  "color='blue'", "a=7", "b=8", "scalar=9"});
}

TEST_CASE("V2 gRPC: raw contents by datatype, little-endian, FP16, BF16 and BYTES") {
  const std::string raw_bytes = le(std::uint32_t{3}) + "red" + le(std::uint32_t{0});
  std::string message;
  std::string raws;
  auto add = [&](const std::string& name, const std::string& datatype,
                 const std::vector<std::int64_t>& dims, const std::string& raw) {
    message += input(tensor(name, datatype, dims));
    raws += len_field(7, raw);
  };
  add("b", "BOOL", {2}, std::string("\x01\x00", 2));
  add("i8", "INT8", {1}, "\xfe");
  add("i16", "INT16", {1}, le(std::int16_t{-300}));
  add("i32", "INT32", {1}, le(std::int32_t{-70000}));
  add("i64", "INT64", {1}, le(std::int64_t{-(1LL << 60)}));
  add("u8", "UINT8", {1}, "\xfe");
  add("u16", "UINT16", {1}, le(std::uint16_t{65000}));
  add("u32", "UINT32", {1}, le(std::uint32_t{4000000000U}));
  add("u64", "UINT64", {1}, le(~std::uint64_t{0}));
  // FP16: 1.0 (0x3c00), -2.5 (0xc100), the smallest subnormal 2^-24 (0x0001), 65504 (0x7bff)
  add("h", "FP16", {4},
      le(std::uint16_t{0x3c00}) + le(std::uint16_t{0xc100}) + le(std::uint16_t{0x0001}) +
          le(std::uint16_t{0x7bff}));
  // BF16: 1.0 (0x3f80), -0.15625 (0xbe20)
  add("bf", "BF16", {2, 1}, le(std::uint16_t{0x3f80}) + le(std::uint16_t{0xbe20}));
  add("f", "FP32", {1, 2}, le(0.5F) + le(-1.25F));
  add("d", "FP64", {1}, le(1e300));
  add("s", "BYTES", {2}, raw_bytes);
  const Read g = grpc(message + raws);
  REQUIRE(g.result.status == ReadStatus::ok);
  CHECK(g.result.rows == 4);
  CHECK(flat(g.values) == Strings{"b='true'",
                                  "b='false'",
                                  "i8=-2",
                                  "i16=-300",
                                  "i32=-70000",
                                  "i64=-1.152921504606847e+18",
                                  "u8=254",
                                  "u16=65000",
                                  "u32=4000000000",
                                  "u64=1.8446744073709552e+19",
                                  "h=1",
                                  "h=-2.5",
                                  "h=5.9604644775390625e-08",
                                  "h=65504",
                                  "bf=1",
                                  "bf=-0.15625",
                                  "f[0]=0.5",
                                  "f[1]=-1.25",
                                  "d=1.0000000000000001e+300",
                                  "s='red'",
                                  "s=''"});
  // The raw runs may come before the tensors: they pair by order.
  CHECK(same(grpc(raws + message).values, g.values));
}

TEST_CASE("V2 gRPC: a response's outputs and raw_output_contents") {
  const std::string message =
      len_field(1, "m") + input(tensor("p", "FP32", {2})) + len_field(6, le(0.25F) + le(0.75F));
  const Read g = grpc(message, Direction::output);
  REQUIRE(g.result.status == ReadStatus::ok);
  CHECK(flat(g.values) == Strings{"p=0.25", "p=0.75"});
  // Field 6 of a request is its requested outputs, not raw contents: a request read the same way
  // has a tensor without contents.
  CHECK(grpc(message, Direction::input).result.status == ReadStatus::unexpected_shape);
}

TEST_CASE("V2 gRPC: fields in any order and in pieces, unknown fields skipped, as protobuf") {
  // name after the contents; the name given twice (the last wins); fp32 contents in two
  // InferTensorContents pieces and a packed run split in two; unknown fields of every wire type,
  // a group, and a known field with the wrong wire type (protobuf keeps it as unknown).
  const std::string group = tag(9, 3) + varint_field(1, 5) + tag(2, 3) + tag(2, 4) + tag(9, 4);
  const std::string t =
      len_field(5, fp32_packed({1.0F}) + tag(6, 5) + le(2.0F)) + shape({3}) +
      len_field(1, "first") + varint_field(1, 4) + group + tag(15, 1) + le(std::uint64_t{1}) +
      tag(16, 5) + le(std::uint32_t{1}) +
      len_field(5, fp32_packed({3.0F}) + varint_field(6, 9) + len_field(99, "x")) +
      len_field(1, "x") + len_field(4, len_field(1, "key"));
  const std::string message = varint_field(3, 1) + group + input(t) + len_field(6, "requested");
  const Read g = grpc(message);
  REQUIRE(g.result.status == ReadStatus::ok);
  CHECK(flat(g.values) == Strings{"x=1", "x=2", "x=3"});
  // The limits protobuf has: field number 2^29 - 1 (a 5-byte tag), a 10-byte varint.
  const std::string edge = varint_field((1U << 29) - 1, ~0ULL);
  CHECK(edge.size() == 15);
  CHECK(grpc(edge + message).values.size() == 3);
  CHECK(grpc(varint_field(1U << 29, 1) + message).result.status == ReadStatus::invalid_protobuf);
  // Nothing but unknown fields, or nothing at all: no tensors, no rows.
  CHECK(grpc(varint_field(20, 1)).result.status == ReadStatus::ok);
  CHECK(grpc("").result.rows == 0);
}

TEST_CASE("V2 gRPC: malformed wire format is invalid_protobuf, leaving nothing behind") {
  const std::string good = input(tensor("x", "FP32", {1}, fp32_packed({1.0F})));
  const std::vector<std::string> bad = {
      good + "\x0a",  // a tag without its length
      good +
          "\x0a\x05"
          "abc",                                               // a length past the end
      good + "\x80",                                           // a truncated varint tag
      good + std::string(11, '\xff'),                          // a varint over 10 bytes
      good + "\x0f",                                           // wire type 7
      good + "\x06",                                           // wire type 6
      good + std::string("\x00\x01", 2),                       // field number 0
      good + "\x0c",                                           // an end group without its start
      good + tag(9, 3) + varint_field(1, 1),                   // a group without its end
      good + tag(9, 3) + tag(8, 4),                            // a group ended by another number
      good + "\x0d\x01\x02",                                   // a truncated fixed32
      good + "\x09\x01\x02\x03",                               // a truncated fixed64
      input(tensor("x", "FP32", {1}, len_field(6, "abcde"))),  // packed fp32, 5 bytes
      input(tensor("x", "FP64", {1}, len_field(7, "abcd"))),   // packed fp64, 4 bytes
      input(tensor("x", "INT64", {1}, len_field(3, "\x80"))),  // packed varint cut off
      input(len_field(1, "x") + len_field(3, "\x80")),         // packed shape cut off
      input(len_field(1, "x") + len_field(5, "\x0a\x09")),     // contents cut off
  };
  for (const std::string& message : bad) {
    std::vector<FeatureValue> out;
    const ReadResult r = read_open_inference_v2_grpc(message, Direction::input, {}, out);
    CHECK(r.status == ReadStatus::invalid_protobuf);
    CHECK(out.empty());
  }
  std::string nested;  // groups nested past 64 levels
  for (int i = 0; i < 70; ++i) nested += tag(9, 3);
  CHECK(grpc(nested).result.status == ReadStatus::invalid_protobuf);
  CHECK(read_status_name(ReadStatus::invalid_protobuf) == "invalid_protobuf");
}

TEST_CASE("V2 gRPC: tensors that do not hold what they say are unexpected_shape") {
  const std::string good = input(tensor("x", "FP32", {1}, fp32_packed({1.0F})));
  const std::vector<std::string> bad = {
      good + input(tensor("y", "FP32", {-1}, fp32_packed({1.0F}))),       // negative dimension
      good + input(tensor("y", "FP32", {3}, fp32_packed({1.0F, 2.0F}))),  // 2 values for 3
      good + input(tensor("y", "FP32", {2})),                             // no contents
      good + input(tensor("y", "FP32", {2}, fp32_packed({1.0F}) + packed_varints(2, {1}))),
      good + input(tensor("y", "FP32", {1LL << 62, 8})),  // the count wraps
      // raw contents: not one run per tensor, or beside typed contents, or not the datatype's
      good + len_field(7, le(1.0F)) + len_field(7, le(1.0F)),
      input(tensor("x", "FP32", {1})) + len_field(7, le(1.0F)) + len_field(7, le(1.0F)),
      input(tensor("x", "FP32", {1}, fp32_packed({1.0F}))) + len_field(7, le(1.0F)),
      input(tensor("x", "FP32", {2})) + len_field(7, le(1.0F)),
      input(tensor("x", "FP32", {1})) + len_field(7, "abc"),
      input(tensor("x", "FP17", {1})) + len_field(7, le(1.0F)),
      input(tensor("x", "BYTES", {1})) + len_field(7, le(std::uint32_t{4}) + "abc"),
      input(tensor("x", "BYTES", {2})) + len_field(7, le(std::uint32_t{1}) + "a"),
      input(tensor("x", "BYTES", {1})) + len_field(7, "ab"),
  };
  for (const std::string& message : bad) {
    std::vector<FeatureValue> out;
    const ReadResult r = read_open_inference_v2_grpc(message, Direction::input, {}, out);
    CHECK(r.status == ReadStatus::unexpected_shape);
    CHECK(out.empty());
  }
}

TEST_CASE("V2 gRPC: the model's name and version from the first fields") {
  const std::string tail = input(tensor("x", "FP32", {1}, fp32_packed({1.0F})));
  // The views point into the message: each is kept while they are read.
  const std::string full = len_field(1, "resnet") + len_field(2, "7") + len_field(3, "id") + tail;
  auto m = v2_grpc_model(full);
  REQUIRE(m);
  CHECK(m->first == "resnet");
  CHECK(m->second == "7");
  const std::string name_only = len_field(1, "only-name") + tail;
  m = v2_grpc_model(name_only);
  REQUIRE(m);
  CHECK(m->first == "only-name");
  CHECK(m->second.empty());
  m = v2_grpc_model("");
  REQUIRE(m);
  CHECK(m->first.empty());
  // Read up to the first field past 2: a later model_name is not looked for.
  const std::string late = len_field(2, "v") + tail + len_field(1, "late");
  m = v2_grpc_model(late);
  REQUIRE(m);
  CHECK(m->first.empty());
  CHECK(m->second == "v");
  CHECK(v2_grpc_model(len_field(1, "m") + "\x12\x09"
                                          "abc") == std::nullopt);     // cut off
  CHECK(v2_grpc_model(len_field(1, "\xff\xfe")) == std::nullopt);      // not UTF-8
  CHECK(v2_grpc_model(len_field(1, "\xed\xa0\x80")) == std::nullopt);  // a surrogate
  CHECK(v2_grpc_model(len_field(1, "\xc0\xaf")) == std::nullopt);      // overlong
  const std::string utf8 = len_field(1, "mod\xc3\xa8le-\xf0\x9f\x98\x80");
  m = v2_grpc_model(utf8);
  REQUIRE(m);
  CHECK(m->first == "mod\xc3\xa8le-\xf0\x9f\x98\x80");
}

TEST_CASE("engine: a body offered as V2 gRPC is read as protobuf whatever --drift-format says") {
  ReferenceProfile p;
  FeatureProfile x;
  x.name = "x";
  x.kind = FeatureKind::numeric;
  x.count = 4;
  x.std = 1;
  x.edges = {0.0};
  x.ratios = {0.5, 0.5};
  x.sample = {-1.0, -0.5, 0.5, 1.0};
  p.features = {x};
  DriftSettings s;
  s.window = 100;
  s.format = PayloadFormat::kserve_v1;
  DriftEngine e(s, 1, p);
  const std::string message = input(tensor("x", "FP32", {2}, fp32_packed({1.0F, -1.0F})));
  CHECK(e.offer(0, Direction::input, Route::infer, message, PayloadFormat::open_inference_v2_grpc));
  CHECK(e.offer(0, Direction::input, Route::infer, "\x0a\x05",
                PayloadFormat::open_inference_v2_grpc));
  CHECK(e.offer(0, Direction::input, Route::predict, R"({"instances": [{"x": 3}]})"));
  e.compute_now();
  double window = -1, invalid = -1, read = -1;
  for (const auto& fam : e.Collect()) {
    for (const auto& m : fam.metric) {
      if (fam.name == "mlsidecar_drift_window_samples") window = m.gauge.value;
      if (fam.name == "mlsidecar_drift_samples_total" && m.label[0].value == "input") {
        read = m.counter.value;
      }
      if (fam.name == "mlsidecar_drift_skipped_total" && m.label[0].value == "invalid_protobuf") {
        invalid = m.counter.value;
      }
    }
  }
  CHECK(window == 3);
  CHECK(read == 2);
  CHECK(invalid == 1);
}
