// Finding the model's port and identity in pod templates shaped like the serving projects' own
// examples.
#include "sidecar/inject/model_target.h"
#include "sidecar/inject/pod_template.h"
#include "sidecar/inject/service_rewrite.h"
#include "sidecar/inject/yaml_bridge.h"

#include <catch2/catch.hpp>

using namespace mlsidecar::inject;

namespace {
Json tpl(const char* yaml) { return parse_yaml_stream(yaml).at(0).value; }

ModelTarget found(const Json& t) {
  auto result = find_model_target(t);
  REQUIRE(std::holds_alternative<ModelTarget>(result));
  return std::get<ModelTarget>(result);
}
}  // namespace

TEST_CASE("a container that declares no port serves on the port its args name") {
  // Shaped like GKE's vLLM example: no containerPort, no probe, the port only in the args.
  const Json t = tpl(R"y(
metadata:
  labels: {app: gemma-server}
spec:
  containers:
  - name: inference-server
    image: us-docker.pkg.dev/vertex-ai/vllm-serve:20250312_0916_RC01
    command: ["python3", "-m", "vllm.entrypoints.openai.api_server"]
    args: ["--model=$(MODEL_ID)", "--tensor-parallel-size=1", "--port=8000"]
)y");
  const ModelTarget m = found(t);
  CHECK(m.port == 8000);
  CHECK(m.port_source == "args");
  CHECK(m.model == "gemma-server");  // the app label, not the container's name
  CHECK(m.version == "20250312_0916_RC01");
}

TEST_CASE("the args' port forms, and ambiguity") {
  CHECK(port_from_args(tpl(R"y({args: ["--port", "8080"]})y")) == 8080);
  CHECK(port_from_args(tpl(R"y({command: ["tritonserver", "--http-port=8000"]})y")) == 8000);
  CHECK(port_from_args(tpl(R"y({args: ["--port=8000", "--port", "8000"]})y")) == 8000);
  CHECK_FALSE(port_from_args(tpl(R"y({args: ["--port=8000", "--http-port=9000"]})y")));
  CHECK_FALSE(port_from_args(tpl(R"y({args: ["--port=http", "--portable=1"]})y")));
  CHECK_FALSE(port_from_args(tpl(R"y({args: ["--port"]})y")));
  CHECK_FALSE(port_from_args(tpl(R"y({name: x})y")));
}

TEST_CASE("a declared port wins over the args, and the report says which was used") {
  const ModelTarget m = found(tpl(R"y(
spec:
  containers:
  - name: triton
    image: nvcr.io/nvidia/tritonserver:24.08-py3
    args: ["tritonserver", "--http-port=8000"]
    ports: [{containerPort: 8000, name: http}, {containerPort: 8002, name: metrics}]
)y"));
  CHECK(m.port == 8000);
  CHECK(m.port_source == "containerPort");
}

TEST_CASE("identity: annotation, then recommended labels, then the image") {
  const Json labelled = tpl(R"y(
metadata:
  labels: {app.kubernetes.io/name: fraud, app.kubernetes.io/version: "7", app: other}
spec:
  containers: [{name: server, image: "reg/fraud:1.2", ports: [{containerPort: 8080}]}]
)y");
  CHECK(found(labelled).model == "fraud");
  CHECK(found(labelled).version == "7");
  const Json annotated = tpl(R"y(
metadata:
  labels: {app.kubernetes.io/name: fraud}
  annotations: {mlsidecar.io/model: scorer, mlsidecar.io/model-version: "2024-06"}
spec:
  containers: [{name: server, image: "reg/fraud:1.2", ports: [{containerPort: 8080}]}]
)y");
  CHECK(found(annotated).model == "scorer");
  CHECK(found(annotated).version == "2024-06");
  // The app name, which monitoring groups by, ignores the model annotation.
  CHECK(found(labelled).app == "fraud");
  CHECK(found(annotated).app == "fraud");
  const Json app_only = tpl(R"y(
metadata: {labels: {app: gemma-server}}
spec:
  containers: [{name: inference-server, image: "reg/vllm:1", ports: [{containerPort: 8000}]}]
)y");
  CHECK(found(app_only).app == "gemma-server");
  CHECK(found(app_only).model == "gemma-server");
}

TEST_CASE("an image pinned by digest is versioned by the digest, never latest") {
  CHECK(image_tag("reg.io:5000/team/model@sha256:0123456789abcdef0123456789abcdef") ==
        "0123456789ab");
  CHECK(image_tag("reg.io/model:1.2@sha256:0123456789abcdef") == "1.2");
  CHECK(image_tag("reg.io:5000/model") == "latest");
  CHECK(image_tag("model:3") == "3");
}

TEST_CASE("the owning workload names the model when no annotation or label does") {
  // A Deployment's pod as the webhook sees it: owned by a ReplicaSet whose name carries the
  // pod-template-hash, which changes on every rollout.
  const Json pod = tpl(R"y(
metadata:
  generateName: llama-7d9f8c6b5-
  labels: {pod-template-hash: 7d9f8c6b5}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: llama-7d9f8c6b5, controller: true}
spec:
  containers: [{name: inference-server, image: "vllm/vllm-openai:v0.6.3", ports: [{containerPort: 8000}]}]
)y");
  CHECK(workload_name(pod) == "llama");
  auto found_with = [](const Json& t, std::string_view workload) {
    auto r = find_model_target(t, workload);
    REQUIRE(std::holds_alternative<ModelTarget>(r));
    return std::get<ModelTarget>(r).model;
  };
  CHECK(found_with(pod, workload_name(pod)) == "llama");
  CHECK(std::get<ModelTarget>(find_model_target(pod, workload_name(pod))).app == "llama");
  CHECK(found_with(pod, "") == "inference-server");  // nothing known: the container's name
  // A StatefulSet's pod keeps its owner's name; a bare pod its generateName or name.
  CHECK(
      workload_name(tpl(
          R"y({metadata: {name: triton-0, ownerReferences: [{kind: StatefulSet, name: triton, controller: true}]}})y")) ==
      "triton");
  CHECK(workload_name(tpl(R"y({metadata: {generateName: scorer-}})y")) == "scorer");
  CHECK(workload_name(tpl(R"y({metadata: {name: debug}})y")) == "debug");
  CHECK(workload_name(tpl(R"y({kind: Deployment, metadata: {name: fraud}})y")) == "fraud");
  CHECK(workload_name(tpl(R"y({spec: {}})y")).empty());
  // A malformed owner entry (controller not a boolean) names nothing wrong and throws nothing.
  CHECK(
      workload_name(tpl(
          R"y({metadata: {ownerReferences: [{kind: Job, name: nightly, controller: "yes"}]}})y")) ==
      "nightly");
}

TEST_CASE("a Service of the same input tells the port only when it is unambiguous") {
  const Json labels = tpl(R"y({app: gemma-server})y");
  const Json one = tpl(
      R"y({kind: Service, spec: {selector: {app: gemma-server}, ports: [{port: 80, targetPort: 8000}]}})y");
  const Json other_ns = tpl(
      R"y({kind: Service, metadata: {namespace: b}, spec: {selector: {app: gemma-server}, ports: [{port: 9000}]}})y");
  const Json by_name = tpl(
      R"y({kind: Service, spec: {selector: {app: gemma-server}, ports: [{port: 80, targetPort: http}]}})y");
  const Json second =
      tpl(R"y({kind: Service, spec: {selector: {app: gemma-server}, ports: [{port: 9000}]}})y");
  const Json unrelated =
      tpl(R"y({kind: Service, spec: {selector: {app: other}, ports: [{port: 7000}]}})y");
  CHECK(service_target_port({&one, &other_ns, &by_name, &unrelated}, "", labels) == 8000);
  CHECK(service_target_port({&one, &second}, "", labels) == 0);  // two ports: which one?
  CHECK(service_target_port({&by_name, &unrelated}, "", labels) == 0);
}
