// The fast payload scanner against the nlohmann-document readers: on every body, crafted or
// mutated, the public reader (scanner first, document reader when it declines) must give exactly
// what the document reader gives; and the scanner must actually answer for the usual bodies.
#include <catch2/catch.hpp>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "metrics/drift/json_pull_reader.h"
#include "metrics/drift/json_values.h"
#include "metrics/drift/payload.h"
#include "metrics/drift/payload_scan.h"

using namespace mlsidecar::drift;

namespace {

const std::vector<std::string> kColumns = {"age", "income", ""};
const std::map<std::string, std::vector<std::string>> kTensorColumns = {
    {"x", {"a", "b"}}, {"input-0", {"f0", "f1", "f2"}}};

enum class Reader { v1, v2, tf };

ReadResult read_public(Reader reader, std::string_view body, Direction d, const FeatureNaming& n,
                       std::vector<FeatureValue>& out) {
  switch (reader) {
    case Reader::v1:
      return read_kserve_v1(body, d, n, out);
    case Reader::v2:
      return read_open_inference_v2(body, d, n, out);
    case Reader::tf:
      break;
  }
  return read_tf_serving(body, d, n, out);
}

ReadResult read_document(Reader reader, std::string_view body, Direction d, const FeatureNaming& n,
                         std::vector<FeatureValue>& out) {
  switch (reader) {
    case Reader::v1:
      return detail::read_kserve_v1_document(body, d, n, out);
    case Reader::v2:
      return detail::read_open_inference_v2_document(body, d, n, out);
    case Reader::tf:
      break;
  }
  return detail::read_tf_serving_document(body, d, n, out);
}

bool same_value(const FeatureValue& a, const FeatureValue& b) {
  if (a.name != b.name || a.type != b.type || a.text != b.text) return false;
  // Bit for bit: -0.0 and +0.0 differ here on purpose.
  return std::bit_cast<std::uint64_t>(a.number) == std::bit_cast<std::uint64_t>(b.number) ||
         (std::isnan(a.number) && std::isnan(b.number));
}

// Compares both paths on every direction and naming; returns how many reads the scanner
// answered itself.
int check_same(Reader reader, const std::string& body) {
  int answered = 0;
  const FeatureNaming named{&kColumns, &kTensorColumns};
  for (Direction d : {Direction::input, Direction::output}) {
    for (const FeatureNaming& naming : {FeatureNaming{}, named}) {
      std::vector<FeatureValue> fast, full, scanned;
      const ReadResult a = read_public(reader, body, d, naming, fast);
      const ReadResult b = read_document(reader, body, d, naming, full);
      INFO("body: " << body << " direction " << static_cast<int>(d));
      REQUIRE(a.status == b.status);
      REQUIRE(a.rows == b.rows);
      REQUIRE(fast.size() == full.size());
      for (std::size_t i = 0; i < fast.size(); ++i) {
        INFO("value " << i << ": " << fast[i].name << " vs " << full[i].name);
        REQUIRE(same_value(fast[i], full[i]));
      }
      const auto r = reader == Reader::v2 ? detail::scan_open_inference_v2(body, d, naming, scanned)
                                          : detail::scan_rows_document(body, d, naming, scanned);
      if (r) {
        ++answered;
        REQUIRE(r->status == ReadStatus::ok);
      } else {
        REQUIRE(scanned.empty());  // a declined body leaves nothing behind
      }
    }
  }
  return answered;
}

const char* const kV2Bodies[] = {
    R"({"id":"bench","inputs":[{"name":"x","shape":[1,32],"datatype":"FP32","data":[0.1,-1.25,3,4e2,-5E-3,0,-0,-0.0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24]}]})",
    R"({"inputs": [{"data": [[1, 2], [3, 4], [5, 6]], "datatype": "FP64", "shape": [3, 2], "name": "x"}]})",
    R"({"inputs":[{"name":"input-0","shape":[2,3],"data":[1,2,3,4,5,6]},{"name":"c","shape":[2],"datatype":"BYTES","data":["a","b"]}]})",
    R"({"inputs":[{"name":"t","shape":[1,1],"data":[[true]]},{"name":"n","shape":[2],"data":[null,false]}]})",
    R"({"inputs":[{"name":"img","shape":[1,2,2],"data":[1,2,3,4]},{"name":"e","shape":[0,4294967296],"data":[]}]})",
    R"({"inputs":[{"name":"s","shape":[],"data":7}], "parameters": {"a": [1, {"b": "c\"d\\n"}]}})",
    R"( {"outputs":[{"name":"score","shape":[1,1],"datatype":"FP32","data":[0.73105857]}],"model_name":"m"} )",
    R"({"inputs":[{"name":"big","shape":[4],"data":[18446744073709551615,18446744073709551616,-9223372036854775808,-9223372036854775809]}]})",
    R"({"inputs":[{"name":"tiny","shape":[3],"data":[1e-320,1e-400,1e400]}]})",
    R"({"inputs":[{"name":"x","shape":[2],"data":[1,2]}],"inputs":[{"name":"y","shape":[1],"data":[3]}]})",
    R"({"inputs":[{"name":"x","shape":[2],"data":[1,2],"data":[3,4]}]})",
    R"({"inputs":[{"name":"\u0078","shape":[1],"data":["caf\u00e9"]}]})",
    R"({"inputs":[{"name":"x","shape":[1],"data":["café"]}]})",
    R"({"inputs":[{"name":"x","shape":[2],"data":[1,2]},5]})",
    R"({"inputs":[{"name":"x","shape":[3],"data":[1,2]}]})",
    R"({"inputs":[{"name":"x","shape":[1.0],"data":[1]}]})",
    R"({"inputs":[{"name":"x","shape":[-1],"data":[1]}]})",
    R"({"inputs":[{"name":"x","shape":[9223372036854775808],"data":[1]}]})",
    R"({"inputs":[{"name":"x","shape":[1],"data":[{"a":1}]}]})",
    R"({"inputs":[{"name":"x","shape":[1],"data":[[[[[[[[[[1]]]]]]]]]]}]})",
    R"({"inputs":[{"name":"x","shape":[1],"data":[[[[[[[[1]]]]]]]]}]})",
    R"({"inputs":[{"name":"x","shape":[1],"data":[01]}]})",
    R"({"inputs":[{"name":"x","shape":[1],"data":[1,]}]})",
    R"({"inputs":[{"name":"x","shape":[1],"data":[1]}]} x)",
    R"({"inputs":[{"name":"x","shape":[1],"data":[.5]}]})",
    R"({"inputs":[]})",
    "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"data\":[\"a\tb\"]}]}",
    R"([1,2])",
    "",
};

const char* const kRowBodies[] = {
    R"({"instances": [[31, 5.5, 7], [40, null, "x"]]})",
    R"({"instances": [{"b": 1, "a": "red", "ok": true, "n": null, "arr": [1, 2]}], "id": "q"})",
    R"({"predictions": [0.25, 0.75], "instances": [1]})",
    R"({"instances": [{"a": 1, "a": 2}]})",
    R"({"instances": [{"a": 1}], "instances": [{"a": 2}]})",
    R"({"instances": 3})",
    R"({"inputs": {"a": [1, 2], "b": [[1, 2]]}})",
    R"({"inputs": [1, 2], "instances": [[1]]})",
    R"({"signature_name": "s\/t", "instances": [{"zz": 1, "Z": 2, "a b": 3, "": 4}]})",
    R"({"instances": [[1e999]]})",
    R"({"instances": [[-0, -0.0, 0e0, 1E+2, 2.5e-3]]})",
    R"({"instances": [[1, 2], {"a": 3}, 4, [[5]]]})",
    R"({"instances": [{"p": [0.1, 0.9, 0, 0, 0, 0, 0, 0, 0, 0, 0.5], "label": 1, "x": [3, 4, 5]}]})",
    R"({"instances": [{"p": [], "q": [[1], {"a": 2}, "s", null, true], "p[0]": 2, "o": 1}]})",
    R"({"instances": [{"p": [1], "p": 2}]})",
    R"({"instances": [{"p": 2, "p": []}]})",
    R"({"instances": [{"p": [1, 2], "a": 3}, {"a": 4, "p": [5]}, [6, 7]]})",
    R"({"instances": [1, 2)",
    R"({"instances": [tru]})",
    R"({"instances": [nul, 1]})",
};

std::vector<std::string> mutations(const std::string& seed, int count, std::uint32_t rng_seed) {
  static const char kBytes[] = "{}[],:\"\\-+.0123456789eEtrufalsn \t\xC3\xA9\x01";
  std::mt19937 rng(rng_seed);
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    std::string s = seed;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const std::size_t at = rng() % s.size();
      const char c = kBytes[rng() % (sizeof kBytes - 1)];
      switch (rng() % 3) {
        case 0:
          s[at] = c;
          break;
        case 1:
          s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        default:
          s.erase(at, 1);
          break;
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

TEST_CASE("scanner: the usual bodies take the fast path") {
  CHECK(check_same(Reader::v2, kV2Bodies[0]) == 2);  // input, both namings; output declined
  CHECK(check_same(Reader::v2, kV2Bodies[1]) == 2);
  CHECK(check_same(Reader::v2, kV2Bodies[6]) == 2);  // the response
  CHECK(check_same(Reader::v1, kRowBodies[0]) == 2);
  CHECK(check_same(Reader::tf, kRowBodies[1]) == 2);
  // Object rows holding vectors, with and without the profile's names for `x`.
  CHECK(check_same(Reader::v1, kRowBodies[12]) == 2);
  CHECK(check_same(Reader::v1, kRowBodies[13]) == 2);  // an empty list, a key like a column
  CHECK(check_same(Reader::v1, kRowBodies[16]) == 2);
  CHECK(check_same(Reader::v1, kRowBodies[14]) == 0);  // a key twice: nlohmann keeps the last
  CHECK(check_same(Reader::v1, kRowBodies[15]) == 0);
  // A BYTES value with a \u escape or UTF-8 is the full parser's.
  CHECK(check_same(Reader::v2, kV2Bodies[11]) == 0);
  CHECK(check_same(Reader::v2, kV2Bodies[12]) == 0);
}

TEST_CASE("scanner: the same values as the document readers on crafted bodies") {
  for (const char* body : kV2Bodies) check_same(Reader::v2, body);
  for (const char* body : kRowBodies) {
    check_same(Reader::v1, body);
    check_same(Reader::tf, body);
  }
}

TEST_CASE("scanner: the same values as the document readers on mutated bodies") {
  int answered = 0, reads = 0;
  std::uint32_t seed = 1;
  for (const char* body : kV2Bodies) {
    for (const std::string& m : mutations(body, 300, seed++)) {
      answered += check_same(Reader::v2, m);
      reads += 4;
    }
  }
  for (const char* body : kRowBodies) {
    for (const std::string& m : mutations(body, 300, seed++)) {
      answered += check_same(Reader::v1, m);
      answered += check_same(Reader::tf, m);
      reads += 8;
    }
  }
  // Some mutations stay well-formed (a digit for a digit), so the fast path is exercised too.
  CHECK(answered > 200);
  CHECK(answered < reads);
}

namespace {

// The double the scanner reads from `text` (a whole JSON number).
double scanned_number(const std::string& text) {
  detail::JsonPullReader s(text);
  detail::JsonPullReader::Scalar v;
  REQUIRE(s.value(v, 1));
  REQUIRE(v.kind == detail::JsonPullReader::Scalar::Kind::number);
  REQUIRE(s.at_end());
  return v.number;
}

bool same_bits(double a, double b) {
  return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

}  // namespace

TEST_CASE("scanner: numbers are the doubles strtod gives, bit for bit") {
  // The fast decimal path (digits up to 2^53, powers of ten up to 22) and the from_chars path
  // must both round as strtod does; the forms cover both sides of every limit of the fast path.
  std::mt19937_64 rng(20261203);
  std::vector<std::string> texts = {"0.1",
                                    "-0.0",
                                    "0.0",
                                    "1e22",
                                    "1e23",
                                    "1e-22",
                                    "1e-23",
                                    "9007199254740992.5",
                                    "9007199254740993.0",
                                    "0.30000000000000004",
                                    "123456789012345678.9",
                                    "1.7976931348623157e308",
                                    "2.2250738585072014e-308",
                                    "0.000000000000000000001",
                                    "-12.5E+3",
                                    "7e0",
                                    "1.000000000000000000001"};
  std::uniform_int_distribution<int> digit_count(1, 22), exp(-30, 30), coin(0, 3);
  for (int i = 0; i < 20000; ++i) {
    std::string t = coin(rng) == 0 ? "-" : "";
    const int n = digit_count(rng);
    const int point = std::uniform_int_distribution<int>(1, n)(rng);
    for (int d = 0; d < n; ++d) {
      if (d == point) t += '.';
      t += static_cast<char>('0' + (d == 0 && n > 1 && point > 1 ? 1 + rng() % 9 : rng() % 10));
    }
    if (point == n) t += ".5";
    if (coin(rng) == 0) {
      // Two appends: `"e" + std::string` trips GCC 12's false -Wrestrict at -O3 (GCC PR 105651).
      t += 'e';
      t += std::to_string(exp(rng));
    }
    texts.push_back(t);
  }
  for (const std::string& t : texts) {
    INFO(t);
    CHECK(same_bits(scanned_number(t), std::strtod(t.c_str(), nullptr)));
  }
}

TEST_CASE("scanner: integers convert as nlohmann converts them") {
  // Negative integers through int64, the others through uint64, then to double (so -0 is +0);
  // beyond their range, correctly rounded like any other number.
  std::mt19937_64 rng(31);
  std::vector<std::string> texts = {"0",
                                    "-0",
                                    "9007199254740993",
                                    "-9007199254740993",
                                    "999999999999999999",
                                    "-999999999999999999",
                                    "9223372036854775807",
                                    "-9223372036854775808",
                                    "-9223372036854775809",
                                    "18446744073709551615",
                                    "18446744073709551616",
                                    "123456789012345678901234"};
  for (int i = 0; i < 20000; ++i) {
    std::string t = rng() % 2 ? "-" : "";
    const int n = 1 + static_cast<int>(rng() % 21);
    t += static_cast<char>('1' + rng() % 9);
    for (int d = 1; d < n; ++d) t += static_cast<char>('0' + rng() % 10);
    texts.push_back(t);
  }
  for (const std::string& t : texts) {
    INFO(t);
    double expected = std::strtod(t.c_str(), nullptr);
    const char* end = t.data() + t.size();
    if (t[0] == '-') {
      std::int64_t x = 0;
      if (std::from_chars(t.data(), end, x).ec == std::errc()) expected = static_cast<double>(x);
    } else {
      std::uint64_t x = 0;
      if (std::from_chars(t.data(), end, x).ec == std::errc()) expected = static_cast<double>(x);
    }
    CHECK(same_bits(scanned_number(t), expected));
  }
}
