// YAML bridge: scalar types survive a read/write cycle, and the writer's output reads back to the
// same value.
#include "sidecar/inject/yaml_bridge.h"

#include <catch2/catch.hpp>

using mlsidecar::inject::emit_yaml;
using mlsidecar::inject::Json;
using mlsidecar::inject::parse_yaml_stream;
using mlsidecar::inject::resolve_plain_scalar;
using mlsidecar::inject::YamlError;

TEST_CASE("plain scalars resolve like Kubernetes reads them, quoted ones stay strings") {
  const auto docs = parse_yaml_stream(
      "a: 8080\nb: \"8080\"\nc: '1'\nd: true\ne: \"true\"\nf: ~\ng:\nh: 0.5\ni: 0644\n"
      "j: yes\nk: 0x1F\nl: -7\nm: 1e3\nn: v1.2\no: |\n  x\n  y\n");
  REQUIRE(docs.size() == 1);
  const Json& d = docs[0].value;
  CHECK(d["a"] == 8080);
  CHECK(d["b"] == "8080");
  CHECK(d["c"] == "1");
  CHECK(d["d"] == true);
  CHECK(d["e"] == "true");
  CHECK(d["f"].is_null());
  CHECK(d["g"].is_null());
  CHECK(d["h"] == 0.5);
  CHECK(d["i"] == 420);  // octal, as Kubernetes reads defaultMode: 0644
  CHECK(d["j"] == "yes");
  CHECK(d["k"] == 31);
  CHECK(d["l"] == -7);
  CHECK(d["m"] == 1000.0);
  CHECK(d["n"] == "v1.2");
  CHECK(d["o"] == "x\ny\n");
}

TEST_CASE("keys keep their input order") {
  const auto docs = parse_yaml_stream("z: 1\na: 2\nm: 3\n");
  std::string order;
  for (const auto& [k, v] : docs[0].value.items()) order += k;
  CHECK(order == "zam");
}

TEST_CASE("strings that look like other types are written quoted and read back as strings") {
  const Json value = {
      {"s", Json::array({"1",          "true",   "yes",      "off",          "~",
                         "null",       "",       "0644",     "1.10",         "12:30",
                         "2024-01-02", "- x",    "a: b",     "#x",           "*ref",
                         " lead",      "trail ", "tab\tin",  "multi\nline",  "multi\nline\n",
                         "x\n\n",      "plain",  "--listen", "0.0.0.0:8080", "=",
                         "{x}"})},
      {"n", 8080},
      {"f", 0.25},
      {"big", 1e20},
      {"b", false},
      {"z", nullptr},
      {"e", Json::object()},
      {"l", Json::array()},
      {"nested", Json::array({Json::array({1, 2}), Json{{"k", "v"}, {"k2", 2}}})}};
  const std::string text = emit_yaml(value);
  const auto back = parse_yaml_stream(text);
  REQUIRE(back.size() == 1);
  CHECK(back[0].value == value);
  CHECK(text.find("- plain\n") != std::string::npos);  // no gratuitous quotes
  CHECK(text.find("- \"1\"\n") != std::string::npos);
}

TEST_CASE("multi-document streams: empty documents dropped, line of each document recorded") {
  const auto docs = parse_yaml_stream("---\n# only a comment\n---\na: 1\n---\nb: 2\n...\n");
  REQUIRE(docs.size() == 2);
  CHECK(docs[0].value["a"] == 1);
  CHECK(docs[0].first_line == 3);  // its `---` line
  CHECK(docs[1].value["b"] == 2);
}

TEST_CASE("malformed YAML names the document and the line") {
  try {
    parse_yaml_stream("a: 1\n---\nb: [1, 2\nc: 3\n");
    FAIL("no error");
  } catch (const YamlError& e) {
    const std::string message = e.what();
    CHECK(message.find("document 2") != std::string::npos);
    CHECK(message.find("line") != std::string::npos);
  }
  CHECK_THROWS_AS(parse_yaml_stream("a: 1\na: 2\n"), YamlError);
}

TEST_CASE("resolve_plain_scalar keeps ordinary words as strings") {
  CHECK(resolve_plain_scalar("nginx") == "nginx");
  CHECK(resolve_plain_scalar("1.2.3") == "1.2.3");
  CHECK(resolve_plain_scalar("0") == 0);
  CHECK(resolve_plain_scalar("-0x10") == -16);
}

TEST_CASE("strings that begin like document markers are quoted, so nothing after them is lost") {
  // Found by fuzz_inject_yaml: written plain, `...` or a key `... x` at the start of a line ends
  // the document and every key after it disappeared on the way back.
  const Json value = {{"a", "---"},
                      {"b", "..."},
                      {"... key", "v"},
                      {"--- key", Json::array({"--- x", "...y", "----"})},
                      {"last", 1}};
  const std::string text = emit_yaml(value);
  const auto back = parse_yaml_stream(text);
  REQUIRE(back.size() == 1);
  CHECK(back[0].value == value);
  CHECK(emit_yaml(Json("...")) == "\"...\"\n");
  CHECK(parse_yaml_stream(emit_yaml(Json("---")))[0].value == "---");
}

TEST_CASE("input that is not UTF-8 is refused with its line, valid UTF-8 passes") {
  CHECK(parse_yaml_stream("name: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n")[0].value["name"] ==
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  for (const std::string bad : {"a: 1\nb: \xfe\xff\n", "a: 1\nb: \xc3\n", "a: 1\nb: \xc0\xaf\n",
                                "a: 1\nb: \xed\xa0\x80\n", "a: 1\nb: \xf4\x90\x80\x80\n"}) {
    try {
      parse_yaml_stream(bad);
      FAIL("accepted " << bad);
    } catch (const YamlError& e) {
      CHECK(std::string(e.what()) == "line 2: not UTF-8 (Kubernetes manifests are UTF-8)");
    }
  }
}

TEST_CASE("keys too long for an implicit key are written as explicit keys and read back") {
  // 300 NULs are 1200 characters once escaped: past YAML's 1024-character limit on implicit keys,
  // which yaml-cpp enforces ("illegal map value"). Found by fuzz_inject_yaml.
  const std::string nuls(300, '\0');
  const std::string long_plain(1500, 'k');
  Json value = Json::object();
  value["short"] = 1;
  value[nuls] = "scalar";
  value[long_plain] = Json{{"nested", Json::array({1, Json{{"a", "b"}}})}};
  value["list"] = Json::array({Json{{nuls, Json::array({"x", "y"})}}});
  value["text"] = Json{{long_plain, "two\nlines\n"}};
  const std::string text = emit_yaml(value);
  CHECK(text.find("? \"\\x00") != std::string::npos);
  const auto docs = parse_yaml_stream(text);
  REQUIRE(docs.size() == 1);
  CHECK(docs[0].value == value);
  CHECK(emit_yaml(Json{{"short", 1}}) == "short: 1\n");
}
