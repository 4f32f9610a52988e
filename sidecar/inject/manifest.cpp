// Multi-document manifest transformation. See manifest.h.
#include "sidecar/inject/manifest.h"

#include "sidecar/inject/annotations.h"
#include "sidecar/inject/injector.h"
#include "sidecar/inject/pod_template.h"
#include "sidecar/inject/service_rewrite.h"
#include "sidecar/inject/yaml_bridge.h"

namespace mlsidecar::inject {
namespace {

// One Kubernetes object of the input: a document, or an item of a `kind: List` document.
struct ObjectRef {
  Json* object;
  std::string where;  // "document 3" or "document 3, item 2"
  std::string report;
};

std::string kind_of(const Json& object) {
  if (object.is_object() && object.contains("kind") && object["kind"].is_string()) {
    return object["kind"];
  }
  return {};
}

std::string namespace_of(const Json& object) {
  if (object.contains("metadata") && object["metadata"].is_object() &&
      object["metadata"].contains("namespace") && object["metadata"]["namespace"].is_string()) {
    return object["metadata"]["namespace"];
  }
  return {};
}

}  // namespace

ManifestResult transform_manifest(std::string_view text, Direction direction,
                                  const InjectionSettings& settings) {
  ManifestResult result;
  std::vector<YamlDocument> docs;
  try {
    docs = parse_yaml_stream(text);
  } catch (const YamlError& e) {
    result.error = std::string("malformed YAML in ") + e.what();
    return result;
  }

  std::vector<ObjectRef> objects;
  for (std::size_t d = 0; d < docs.size(); ++d) {
    Json& doc = docs[d].value;
    const std::string where =
        "document " + std::to_string(d + 1) + " (line " + std::to_string(docs[d].first_line) + ")";
    if (kind_of(doc) == "List" && doc.contains("items") && doc["items"].is_array()) {
      for (std::size_t i = 0; i < doc["items"].size(); ++i) {
        objects.push_back({&doc["items"][i], where + ", item " + std::to_string(i + 1), {}});
      }
    } else {
      objects.push_back({&doc, where, {}});
    }
  }

  std::vector<const Json*> all;
  all.reserve(objects.size());
  for (const ObjectRef& ref : objects) all.push_back(ref.object);

  std::vector<InjectedPods> injected;
  bool captured_in_pod = false;  // some pod was injected with the redirect or port-name capture
  for (ObjectRef& ref : objects) {
    Json& object = *ref.object;
    const auto pointer = pod_template_pointer(kind_of(object));
    if (!pointer) continue;
    const std::string name = describe_object(object);
    if (!object.contains(*pointer) || !object.at(*pointer).is_object()) {
      result.error = ref.where + " (" + name + "): no pod template at " + pointer->to_string();
      return result;
    }
    Json& tpl = object.at(*pointer);
    const Json labels_before = tpl.contains("metadata") && tpl["metadata"].is_object()
                                   ? tpl["metadata"].value("labels", Json::object())
                                   : Json::object();
    InjectionResult r =
        direction == Direction::inject
            ? inject(tpl, settings, workload_name(object),
                     service_hints(all, namespace_of(object), labels_before), kind_of(object))
            : uninject(tpl);
    if (r.report.outcome == Outcome::failed) {
      result.error = ref.where + " (" + name + "): " + r.report.reason;
      return result;
    }
    ref.report =
        name + ": " + std::string(outcome_name(r.report.outcome)) + " (" + r.report.reason + ")";
    for (const std::string& warning : r.report.warnings)
      ref.report.append("\n").append(name).append(": warning: ").append(warning);
    // Only the service capture repoints Services; redirect and port-name leave them as they are.
    if (r.report.outcome == Outcome::injected) captured_in_pod |= r.report.capture != "service";
    if (r.report.outcome == Outcome::injected && r.report.capture == "service") {
      Json labels = Json::object();
      if (r.pod_template.contains("metadata") && r.pod_template["metadata"].is_object()) {
        labels = r.pod_template["metadata"].value("labels", Json::object());
      }
      injected.push_back({namespace_of(object), labels, r.report.model_port,
                          r.report.model_port_name, r.report.grpc_port, r.report.grpc_port_name});
    }
    tpl = std::move(r.pod_template);
  }

  for (ObjectRef& ref : objects) {
    Json& object = *ref.object;
    if (!ref.report.empty()) continue;
    const std::string name = describe_object(object);
    if (kind_of(object) == "Service") {
      if (direction == Direction::inject) {
        const bool already = annotation_of(object, annotation::kStatus).has_value();
        const int changed = repoint_service(object, injected);
        ref.report = name + ": " +
                     (changed > 0 ? "repointed " + std::to_string(changed) +
                                        " port(s) at the sidecar's data port"
                      : already ? std::string("unchanged (already repointed)")
                      : injected.empty() && captured_in_pod
                          ? std::string("unchanged (the injected pods capture their own traffic)")
                          : std::string("unchanged (selects no injected model port)"));
      } else {
        ref.report =
            name + ": " +
            (restore_service(object) ? "restored target ports" : "unchanged (not repointed)");
      }
    } else {
      ref.report = name + ": passed through (kind not injected)";
    }
  }

  std::vector<Json> out;
  out.reserve(docs.size());
  for (auto& doc : docs) out.push_back(std::move(doc.value));
  result.yaml = emit_yaml_stream(out);
  for (auto& ref : objects) result.reports.push_back(std::move(ref.report));
  result.ok = true;
  return result;
}

}  // namespace mlsidecar::inject
