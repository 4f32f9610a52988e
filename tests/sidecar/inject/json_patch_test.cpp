// JSON Patch generation, checked by applying the patch with nlohmann's own RFC 6902 implementation.
#include "sidecar/inject/json_patch.h"

#include <catch2/catch.hpp>

using namespace mlsidecar::inject;

namespace {
void check_patch(const Json& from, const Json& to) {
  const nlohmann::json a = nlohmann::json::parse(from.dump());
  const nlohmann::json b = nlohmann::json::parse(to.dump());
  const nlohmann::json patch = nlohmann::json::parse(json_patch_diff(from, to).dump());
  CHECK(a.patch(patch) == b);
}
}  // namespace

TEST_CASE("patches turn the source into the target") {
  const Json from = {
      {"metadata", {{"name", "x"}}},
      {"spec",
       {{"containers", Json::array({Json{{"name", "m"}}})}, {"volumes", Json::array({1, 2})}}}};
  Json to = from;
  to["metadata"]["annotations"]["a/b~c"] = "1";
  to["spec"]["containers"].insert(to["spec"]["containers"].begin(), Json{{"name", "s"}});
  to["spec"]["volumes"].push_back(3);
  to["spec"].erase("unused");
  check_patch(from, to);
  const Json ops = json_patch_diff(from, to);
  CHECK(ops.dump().find("/metadata/annotations") != std::string::npos);
  CHECK(ops.dump().find("\"/spec/containers/0\"") != std::string::npos);  // an add, not a replace

  Json shuffled = from;
  shuffled["spec"]["volumes"] = Json::array({2, 1, 4});
  check_patch(from, shuffled);
  Json removed = from;
  removed.erase("metadata");
  check_patch(from, removed);
  CHECK(json_patch_diff(from, from).empty());
}

TEST_CASE("base64 matches RFC 4648 test vectors") {
  CHECK(base64_encode("").empty());
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
}
