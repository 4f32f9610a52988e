// The incremental scanner against nlohmann::json as the reference: same accept/reject decision and
// the same scalar leaves (path and value) for every document, whole and split at every byte.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "metrics/llm/json_stream_parser.h"

using mlsidecar::llm::JsonKind;
using mlsidecar::llm::JsonPath;
using mlsidecar::llm::JsonStreamParser;
using mlsidecar::llm::JsonValue;
using mlsidecar::llm::JsonVisitor;

namespace {

struct Leaves : JsonVisitor {
  std::vector<std::string> seen;
  void on_value(const JsonPath& path, const JsonValue& v) override {
    std::string p;
    for (std::size_t i = 0; i < path.depth(); ++i) {
      // Two appends: `"/" + std::string` trips GCC 12's false -Wrestrict at -O3 (GCC PR 105651).
      p += '/';
      p += path[i].in_array ? std::to_string(path[i].index)
                            : std::string(path[i].key.data(), path[i].key_len);
    }
    switch (v.kind) {
      case JsonKind::object:
      case JsonKind::array:
        return;
      case JsonKind::string:
        seen.push_back(p + "=s:" + std::string(v.text));
        break;
      case JsonKind::number:
        seen.push_back(p + "=n:" + std::to_string(std::stod(std::string(v.text))));
        break;
      case JsonKind::boolean:
        seen.push_back(p + (v.boolean ? "=true" : "=false"));
        break;
      case JsonKind::null:
        seen.push_back(p + "=null");
        break;
    }
  }
};

void reference_leaves(const nlohmann::json& j, const std::string& p,
                      std::vector<std::string>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it)
      reference_leaves(it.value(), p + "/" + it.key(), out);
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i)
      reference_leaves(j[i], p + "/" + std::to_string(i), out);
  } else if (j.is_string()) {
    out.push_back(p + "=s:" + j.get<std::string>());
  } else if (j.is_number()) {
    out.push_back(p + "=n:" + std::to_string(j.get<double>()));
  } else if (j.is_boolean()) {
    out.push_back(p + (j.get<bool>() ? "=true" : "=false"));
  } else {
    out.push_back(p + "=null");
  }
}

bool scan(const std::string& doc, std::vector<std::size_t> cuts, Leaves* leaves = nullptr) {
  JsonStreamParser s;
  s.reset(leaves);
  std::size_t from = 0;
  cuts.push_back(doc.size());
  for (std::size_t cut : cuts) {
    s.feed(std::string_view(doc).substr(from, cut - from));
    from = cut;
  }
  return s.finish() == JsonStreamParser::Status::complete;
}

nlohmann::json random_json(std::mt19937& rng, int depth) {
  std::uniform_int_distribution<int> kind(0, depth > 0 ? 7 : 4);
  switch (kind(rng)) {
    case 0:
      return nullptr;
    case 1:
      return rng() % 2 == 0;
    case 2:
      return static_cast<std::int64_t>(rng() % 100000) - 500;
    case 3:
      return static_cast<double>(rng() % 100000) / 64.0 - 3.0;
    case 4: {
      static const std::string alphabet = "ab c\"\\/\n\t{}[],:x0";
      std::string s(rng() % 6, 'a');
      for (auto& c : s) c = alphabet[rng() % alphabet.size()];
      return s;
    }
    case 5:
    case 6: {
      nlohmann::json o = nlohmann::json::object();
      for (unsigned i = rng() % 4; i > 0; --i)
        o["k" + std::to_string(rng() % 9)] = random_json(rng, depth - 1);
      return o;
    }
    default: {
      nlohmann::json a = nlohmann::json::array();
      for (unsigned i = rng() % 4; i > 0; --i) a.push_back(random_json(rng, depth - 1));
      return a;
    }
  }
}

}  // namespace

TEST_CASE("scanner reports the leaves nlohmann finds, for any split") {
  std::mt19937 rng(7);
  for (int n = 0; n < 300; ++n) {
    nlohmann::json j = random_json(rng, 4);
    std::string doc = n % 2 ? j.dump() : j.dump(2);
    std::vector<std::string> expected;
    reference_leaves(j, "", expected);
    Leaves whole;
    REQUIRE(scan(doc, {}, &whole));
    REQUIRE(whole.seen == expected);
    for (std::size_t cut = 0; cut <= doc.size(); ++cut) {
      Leaves split;
      REQUIRE(scan(doc, {cut}, &split));
      REQUIRE(split.seen == expected);
    }
  }
}

TEST_CASE("scanner accepts exactly what nlohmann accepts") {
  const std::vector<std::string> fixed = {"{}",
                                          "[]",
                                          "0",
                                          "-0",
                                          "-",
                                          "01",
                                          "1.",
                                          ".5",
                                          "1e",
                                          "1e+",
                                          "1e+5",
                                          "1.5E-3",
                                          "-12.25e2",
                                          "\"a\\u00e9b\"",
                                          "\"\\x\"",
                                          "\"\\u12g4\"",
                                          "\"tab\tinside\"",
                                          "tru",
                                          "true",
                                          "nul",
                                          "null ",
                                          "falsey",
                                          "{\"a\":1,}",
                                          "[1,]",
                                          "[,1]",
                                          "{\"a\" 1}",
                                          "{\"a\":}",
                                          "{1:2}",
                                          "[1 2]",
                                          "{\"a\":[1,{\"b\":null}]}",
                                          "  {\"a\" : \"b\" }  ",
                                          "{\"a\":1}}",
                                          "[1]]",
                                          "[}",
                                          "{]",
                                          "",
                                          "   ",
                                          "\"unterminated",
                                          "{\"a\":\"b\"",
                                          "[[[[]]]]",
                                          "1 2"};
  std::vector<std::string> docs = fixed;
  std::mt19937 rng(11);
  const std::string noise = "{}[]\",:0-1e.a \\tnu";
  for (int n = 0; n < 400; ++n) {
    std::string doc = random_json(rng, 3).dump();
    std::size_t at = rng() % (doc.size() + 1);
    switch (rng() % 3) {
      case 0:
        doc.insert(at, 1, noise[rng() % noise.size()]);
        break;
      case 1:
        if (at < doc.size()) doc.erase(at, 1);
        break;
      default:
        if (at < doc.size()) doc[at] = noise[rng() % noise.size()];
        break;
    }
    docs.push_back(doc);
  }
  for (const auto& doc : docs) {
    INFO(doc);
    const bool expected = nlohmann::json::accept(doc);
    REQUIRE(scan(doc, {}) == expected);
    for (std::size_t cut = 0; cut <= doc.size(); ++cut) REQUIRE(scan(doc, {cut}) == expected);
  }
}

TEST_CASE("scanner refuses nesting past its limit and keeps memory fixed for long strings") {
  std::string deep(JsonStreamParser::kMaxDepth + 1, '[');
  JsonStreamParser s;
  s.reset(nullptr);
  CHECK(s.feed(deep) == JsonStreamParser::Status::too_deep);
  CHECK(s.feed("]") == JsonStreamParser::Status::too_deep);  // sticky

  std::string ok(JsonStreamParser::kMaxDepth, '[');
  ok += std::string(JsonStreamParser::kMaxDepth, ']');
  s.reset(nullptr);
  s.feed(ok);
  CHECK(s.finish() == JsonStreamParser::Status::complete);

  struct Capture : JsonVisitor {
    JsonValue last;
    std::string text;
    void on_value(const JsonPath&, const JsonValue& v) override {
      last = v;
      text = v.text;
    }
  } cap;
  const std::string big(100000, 'x');
  s.reset(&cap);
  s.feed("\"" + big + "\"");
  CHECK(s.finish() == JsonStreamParser::Status::complete);
  CHECK(cap.last.length == big.size());
  CHECK(cap.last.truncated);
  CHECK(cap.text == big.substr(0, JsonStreamParser::kCaptureBytes));
}

TEST_CASE("as_uint reads non-negative integers only") {
  struct Capture : JsonVisitor {
    std::vector<std::optional<std::uint64_t>> got;
    void on_value(const JsonPath& p, const JsonValue& v) override {
      if (p.depth() == 1) got.push_back(v.as_uint());
    }
  } cap;
  JsonStreamParser s;
  s.reset(&cap);
  s.feed("[0, 17, 18446744073709551615, 18446744073709551616, -3, 2.5, 1e3, \"7\"]");
  REQUIRE(s.finish() == JsonStreamParser::Status::complete);
  using O = std::optional<std::uint64_t>;
  CHECK(cap.got == std::vector<O>{0, 17, 18446744073709551615ull, {}, {}, {}, {}, {}});
}
