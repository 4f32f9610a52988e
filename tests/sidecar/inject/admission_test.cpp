// Admission logic without the network: the answer's patch, applied with nlohmann's JSON Patch,
// gives the pod that inject() gives; bad bodies get 400.
#include "sidecar/inject/admission.h"
#include "sidecar/inject/injector.h"

#include <catch2/catch.hpp>

using namespace mlsidecar::inject;

namespace {

std::string base64_decode(const std::string& in) {
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    buffer = (buffer << 6) | static_cast<unsigned>(alphabet.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

const Json kPod = Json::parse(R"({"apiVersion":"v1","kind":"Pod",
  "metadata":{"generateName":"m-","labels":{"app":"m"}},
  "spec":{"containers":[{"name":"m","image":"m:1","ports":[{"containerPort":8080}]}]}})");

std::string review(const Json& pod, const char* uid = "abc-123") {
  return Json{{"apiVersion", "admission.k8s.io/v1"},
              {"kind", "AdmissionReview"},
              {"request",
               {{"uid", uid},
                {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                {"operation", "CREATE"},
                {"namespace", "models"},
                {"object", pod}}}}
      .dump();
}

}  // namespace

TEST_CASE("an injectable pod gets its uid back and a JSONPatch equal to inject()") {
  const AdmissionAnswer a = review_admission(review(kPod), InjectionSettings{});
  REQUIRE(a.status == 200);
  const Json body = Json::parse(a.body);
  CHECK(body["apiVersion"] == "admission.k8s.io/v1");
  CHECK(body["response"]["uid"] == "abc-123");
  CHECK(body["response"]["allowed"] == true);
  CHECK(body["response"]["patchType"] == "JSONPatch");
  const auto patch = nlohmann::json::parse(base64_decode(body["response"]["patch"]));
  const auto patched = nlohmann::json::parse(kPod.dump()).patch(patch);
  const auto expected = nlohmann::json::parse(inject(kPod, {}).pod_template.dump());
  CHECK(patched == expected);
}

TEST_CASE("a skipped pod is allowed with a warning and no patch") {
  Json pod = kPod;
  pod["spec"]["hostNetwork"] = true;
  const Json body = Json::parse(review_admission(review(pod), {}).body);
  CHECK(body["response"]["allowed"] == true);
  CHECK_FALSE(body["response"].contains("patch"));
  REQUIRE(body["response"]["warnings"].size() == 1);
  CHECK(body["response"]["warnings"][0].get<std::string>().find("hostNetwork") !=
        std::string::npos);
}

TEST_CASE("bodies that are not AdmissionReviews get 400 with a JSON error") {
  for (const char* bad : {"", "garbage", "{}", "[1]", R"({"kind":"AdmissionReview"})",
                          R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})",
                          R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
                              "request":{"object":{}}})"}) {
    const AdmissionAnswer a = review_admission(bad, {});
    CHECK(a.status == 400);
    CHECK(Json::parse(a.body)["code"] == "bad_admission_review");
  }
}

TEST_CASE("a gRPC port: the log says where it was found, the warnings name it") {
  Json pod = kPod;
  pod["spec"]["containers"][0]["args"] = Json::array({"--grpc-port=9000"});
  pod["metadata"]["annotations"]["mlsidecar.io/capture"] = "port-name";
  const AdmissionAnswer a = review_admission(review(pod), {});
  CHECK(a.log.find("grpc port 9000 (from args)") != std::string::npos);
  const Json answer = Json::parse(a.body);
  const Json& warnings = answer["response"]["warnings"];
  REQUIRE(warnings.size() == 2);  // neither port has a name to take over
  CHECK(warnings[1].get<std::string>().find("gRPC port 9000 has no name") != std::string::npos);
  InjectionSettings service;
  service.capture = "service";
  pod["metadata"]["annotations"].erase("mlsidecar.io/capture");
  const Json body = Json::parse(review_admission(review(pod), service).body);
  REQUIRE(body["response"]["warnings"].size() == 1);
  CHECK(body["response"]["warnings"][0].get<std::string>().find("ports 8080 and 9000") !=
        std::string::npos);
}

TEST_CASE("a pod of an Argo Rollout: the patch gives the sidecar its pod-template hash") {
  Json pod = kPod;
  pod["metadata"]["labels"]["rollouts-pod-template-hash"] = "6d4f8b9c7";
  const Json body = Json::parse(review_admission(review(pod), {}).body);
  const auto patch = nlohmann::json::parse(base64_decode(body["response"]["patch"]));
  const auto patched = nlohmann::json::parse(pod.dump()).patch(patch);
  CHECK(patched == nlohmann::json::parse(inject(pod, {}).pod_template.dump()));
  nlohmann::json sidecar;
  for (const auto& c : patched["spec"]["initContainers"]) {
    if (c["name"] == "mlsidecar") sidecar = c;
  }
  REQUIRE(sidecar.contains("env"));
  CHECK(sidecar["env"][0]["name"] == "MLSIDECAR_MODEL_VERSION");
  CHECK(sidecar["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] ==
        "metadata.labels['rollouts-pod-template-hash']");
  for (const auto& arg : sidecar["args"]) CHECK(arg != "--model-version");
}
