// AdmissionReview handling. See admission.h.
#include "sidecar/inject/admission.h"

#include "sidecar/inject/injector.h"
#include "sidecar/inject/json_patch.h"
#include "sidecar/inject/pod_template.h"

namespace mlsidecar::inject {
namespace {

AdmissionAnswer bad_request(const std::string& message) {
  return {400, Json{{"error", message}, {"code", "bad_admission_review"}}.dump(),
          "rejected request: " + message};
}

AdmissionAnswer review_admission_unchecked(std::string_view body,
                                           const InjectionSettings& settings);

}  // namespace

// Whatever the body holds, the webhook answers: a field of an unexpected JSON type (a `kind` that
// is an object, `metadata` that is a string) throws inside the checks, and becomes a 400 here.
AdmissionAnswer review_admission(std::string_view body, const InjectionSettings& settings) {
  try {
    return review_admission_unchecked(body, settings);
  } catch (const std::exception& e) {
    return bad_request(std::string("malformed AdmissionReview: ") + e.what());
  }
}

namespace {

AdmissionAnswer review_admission_unchecked(std::string_view body,
                                           const InjectionSettings& settings) {
  const Json review = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (review.is_discarded()) return bad_request("body is not JSON");
  if (!review.is_object() || review.value("kind", "") != "AdmissionReview") {
    return bad_request("body is not an AdmissionReview");
  }
  if (review.value("apiVersion", "") != "admission.k8s.io/v1") {
    return bad_request("unsupported apiVersion (want admission.k8s.io/v1)");
  }
  if (!review.contains("request") || !review["request"].is_object()) {
    return bad_request("AdmissionReview has no request");
  }
  const Json& request = review["request"];
  if (!request.contains("uid") || !request["uid"].is_string() ||
      request["uid"].get_ref<const std::string&>().empty()) {
    return bad_request("AdmissionReview request has no uid");
  }

  Json response = {{"uid", request["uid"]}, {"allowed", true}};
  std::string log;
  const Json& object = request.contains("object") ? request["object"] : Json();
  const bool is_pod = request.contains("kind") && request["kind"].is_object() &&
                      request["kind"].value("kind", "") == "Pod";
  if (!is_pod || !object.is_object() || request.value("operation", "CREATE") != "CREATE") {
    log = "allowed without changes (not a pod creation)";
  } else {
    Json pod = object;
    // Pods made by controllers have no namespace in the object yet; the request carries it.
    const std::string name = describe_object(pod);
    InjectionResult result = inject(pod, settings, workload_name(pod));
    if (result.report.outcome == Outcome::injected) {
      const Json patch = json_patch_diff(pod, result.pod_template);
      response["patchType"] = "JSONPatch";
      response["patch"] = base64_encode(patch.dump());
      log = name + ": injected (" + result.report.reason + ")";
      std::vector<std::string> warnings = result.report.warnings;
      if (result.report.capture == "service") {
        const Report& r = result.report;
        const std::string ports =
            r.grpc_port != 0 && r.grpc_port != r.model_port
                ? "ports " + std::to_string(r.model_port) + " and " + std::to_string(r.grpc_port)
                : "port " + std::to_string(r.model_port);
        warnings.push_back(
            "capture service: the webhook cannot repoint Services, so traffic to the model's " +
            ports + " goes around the sidecar unless the Service targets port " +
            std::to_string(r.data_port) + " (use capture redirect or port-name)");
      }
      if (!warnings.empty()) {
        Json list = Json::array();
        for (const std::string& w : warnings) list.push_back("mlsidecar " + w);
        response["warnings"] = std::move(list);
      }
    } else {
      const std::string what =
          std::string(outcome_name(result.report.outcome)) + ": " + result.report.reason;
      response["warnings"] = Json::array({"mlsidecar " + what});
      log = name + ": " + what;
    }
    if (request.contains("namespace") && request["namespace"].is_string()) {
      log = request["namespace"].get<std::string>() + " " + log;
    }
  }
  Json answer = {{"apiVersion", "admission.k8s.io/v1"},
                 {"kind", "AdmissionReview"},
                 {"response", std::move(response)}};
  return {200, answer.dump(), log};
}

}  // namespace
}  // namespace mlsidecar::inject
