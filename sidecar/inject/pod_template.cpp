// Pod template location and metadata reads. See pod_template.h.
#include "sidecar/inject/pod_template.h"

#include "sidecar/inject/annotations.h"

namespace mlsidecar::inject {
namespace {

std::optional<std::string> metadata_string(const Json& tpl, const char* map, std::string_view key) {
  if (!tpl.is_object()) return std::nullopt;
  const auto meta = tpl.find("metadata");
  if (meta == tpl.end() || !meta->is_object()) return std::nullopt;
  const auto entries = meta->find(map);
  if (entries == meta->end() || !entries->is_object()) return std::nullopt;
  const auto it = entries->find(std::string(key));
  if (it == entries->end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_primitive()) return it->dump();
  return std::nullopt;
}

}  // namespace

std::optional<Json::json_pointer> pod_template_pointer(std::string_view kind) {
  if (kind == "Pod") return Json::json_pointer("");
  // An Argo Rollout with its own template (one with spec.workloadRef has none: its Deployment
  // is injected instead, and its pods carry rollouts-pod-template-hash all the same).
  if (kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" ||
      kind == "ReplicaSet" || kind == "Job" || kind == "Rollout") {
    return Json::json_pointer("/spec/template");
  }
  if (kind == "CronJob") return Json::json_pointer("/spec/jobTemplate/spec/template");
  return std::nullopt;
}

std::optional<std::string> annotation_of(const Json& pod_template, std::string_view key) {
  return metadata_string(pod_template, "annotations", key);
}

std::optional<std::string> label_of(const Json& pod_template, std::string_view key) {
  return metadata_string(pod_template, "labels", key);
}

std::string describe_object(const Json& object) {
  std::string kind = "object", ns, name;
  if (object.is_object()) {
    if (auto k = object.find("kind"); k != object.end() && k->is_string()) kind = *k;
    if (auto m = object.find("metadata"); m != object.end() && m->is_object()) {
      if (auto n = m->find("namespace"); n != m->end() && n->is_string()) ns = *n;
      if (auto n = m->find("name"); n != m->end() && n->is_string()) name = *n;
      if (name.empty()) {
        if (auto n = m->find("generateName"); n != m->end() && n->is_string()) name = *n;
      }
    }
  }
  std::string out = kind;
  if (!ns.empty()) out += "/" + ns;
  if (!name.empty()) out += "/" + name;
  return out;
}

std::string workload_name(const Json& object) {
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) {
    return {};
  }
  const Json& meta = object["metadata"];
  if (const auto owners = meta.find("ownerReferences");
      owners != meta.end() && owners->is_array()) {
    const Json* owner = nullptr;
    for (const auto& o : *owners) {
      if (!o.is_object()) continue;
      const auto controller = o.find("controller");
      if (controller != o.end() && controller->is_boolean() && controller->get<bool>()) owner = &o;
    }
    if (!owner && !owners->empty() && (*owners)[0].is_object()) owner = &(*owners)[0];
    if (owner && owner->value("name", Json()).is_string()) {
      std::string name = (*owner)["name"].get<std::string>();
      // A Deployment's ReplicaSet is named NAME-<pod-template-hash>, a Rollout's
      // NAME-<rollouts-pod-template-hash>.
      auto hash = label_of(object, "pod-template-hash");
      if (!hash) hash = label_of(object, annotation::kRolloutsHashLabel);
      if (owner->value("kind", Json()) == "ReplicaSet" && hash && !hash->empty() &&
          name.size() > hash->size() + 1 && name.ends_with("-" + *hash)) {
        name.resize(name.size() - hash->size() - 1);
      }
      return name;
    }
  }
  if (const auto name = meta.find("name"); name != meta.end() && name->is_string()) {
    return name->get<std::string>();
  }
  if (const auto gen = meta.find("generateName"); gen != meta.end() && gen->is_string()) {
    std::string name = gen->get<std::string>();
    if (!name.empty() && name.back() == '-') name.pop_back();
    return name;
  }
  return {};
}

}  // namespace mlsidecar::inject
