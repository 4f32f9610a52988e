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

TEST_CASE("a Service port with a gRPC appProtocol tells the gRPC port, not the HTTP one") {
  const Json labels = tpl(R"y({app: triton})y");
  const Json service = tpl(R"y(
kind: Service
spec:
  selector: {app: triton}
  ports:
  - {name: http, port: 80, targetPort: 8000}
  - {name: infer, port: 8001, appProtocol: kubernetes.io/h2c}
)y");
  CHECK(service_target_port({&service}, "", labels) == 8000);  // no longer ambiguous
  CHECK(service_grpc_target({&service}, "", labels) == 8001);
  const Json by_name = tpl(
      R"y({kind: Service, spec: {selector: {app: triton}, ports: [{port: 9000, targetPort: grpc-api, appProtocol: grpc}]}})y");
  CHECK(service_grpc_target({&by_name}, "", labels) == "grpc-api");
  CHECK(service_grpc_target({&service, &by_name}, "", labels).is_null());  // which one?
  CHECK(service_grpc_target({&service}, "other-ns", labels).is_null());
  // The pod's container declares no port: both come from the Service.
  const Json pod = tpl(R"y(
metadata: {labels: {app: triton}}
spec:
  containers: [{name: triton, image: "nvcr.io/nvidia/tritonserver:24.08-py3"}]
)y");
  auto r = find_model_target(pod, "", service_hints({&service}, "", labels));
  REQUIRE(std::holds_alternative<ModelTarget>(r));
  const ModelTarget m = std::get<ModelTarget>(r);
  CHECK(m.port == 8000);
  CHECK(m.port_source == "Service");
  CHECK(m.grpc_port == 8001);
  CHECK(m.grpc_port_source == "Service appProtocol");
  // By name, the container's port of that name; a name it does not declare is no hint.
  Json named = pod;
  named["spec"]["containers"][0]["ports"] =
      Json::array({Json{{"name", "grpc-api"}, {"containerPort", 9001}}});
  r = find_model_target(named, "", service_hints({&by_name}, "", labels));
  CHECK(std::get<ModelTarget>(r).grpc_port == 9001);
  r = find_model_target(pod, "", service_hints({&by_name}, "", labels));
  REQUIRE(std::holds_alternative<ModelTargetProblem>(r));  // no port at all
  CHECK(std::get<ModelTargetProblem>(r).kind == ModelTargetProblem::Kind::not_serving);
}

TEST_CASE("the gRPC port: by containerPort name, beside the HTTP port") {
  // Triton's three ports: HTTP first, gRPC by name, metrics never a serving port.
  const ModelTarget triton = found(tpl(R"y(
spec:
  containers:
  - name: triton
    image: nvcr.io/nvidia/tritonserver:24.08-py3
    ports:
    - {name: grpc, containerPort: 8001}
    - {name: metrics, containerPort: 8002}
    - {name: http, containerPort: 8000}
)y"));
  CHECK(triton.port == 8000);  // the first port that is neither gRPC nor metrics
  CHECK(triton.port_source == "containerPort");
  CHECK(triton.grpc_port == 8001);
  CHECK(triton.grpc_port_name == "grpc");
  CHECK(triton.grpc_port_source == "containerPort name");
  CHECK(triton.separate_grpc_port());
  CHECK(triton.ready_grpc.empty());
  // KServe's names: grpc-port, and Knative's h2c.
  for (const char* name : {"grpc-port", "h2c", "grpc-inference"}) {
    CHECK(is_grpc_port_name(name));
  }
  for (const char* name : {"http", "metrics", "rpc", "h2", "my-grpc", "grpc-metrics"}) {
    CHECK_FALSE(is_grpc_port_name(name));
  }
  CHECK(is_metrics_port_name("http-metrics"));
  CHECK_FALSE(is_metrics_port_name("http"));
}

TEST_CASE("the gRPC port: from the args, Triton's and KServe's spellings") {
  CHECK(grpc_port_from_args(tpl(R"y({args: ["tritonserver", "--grpc-port=8001"]})y")) == 8001);
  CHECK(grpc_port_from_args(tpl(R"y({args: ["--grpc_port", "8081"]})y")) == 8081);
  CHECK_FALSE(grpc_port_from_args(tpl(R"y({args: ["--grpc-port=8001", "--grpc_port=9001"]})y")));
  CHECK_FALSE(grpc_port_from_args(tpl(R"y({args: ["--port=8500"]})y")));  // only HTTP
  CHECK(port_from_args(tpl(R"y({args: ["--http_port=8080", "--grpc_port=8081"]})y")) == 8080);
  const ModelTarget m = found(tpl(R"y(
spec:
  containers:
  - name: kserve-container
    image: kserve/sklearnserver:v0.13.0
    args: ["--model_name=iris", "--http_port=8080", "--grpc_port=8081"]
)y"));
  CHECK(m.port == 8080);
  CHECK(m.port_source == "args");
  CHECK(m.grpc_port == 8081);
  CHECK(m.grpc_port_source == "args");
  CHECK(m.grpc_port_name.empty());
}

TEST_CASE("TF Serving: with --rest_api_port, --port is the gRPC port") {
  const Json args = tpl(R"y({args: ["--port=8500", "--rest_api_port=8501", "--model_name=m"]})y");
  CHECK(port_from_args(args) == 8501);
  CHECK(grpc_port_from_args(args) == 8500);
  // REST off: --port is still the gRPC port, never the HTTP one.
  const Json rest_off = tpl(R"y({args: ["--port=8500", "--rest_api_port=0"]})y");
  CHECK_FALSE(port_from_args(rest_off));
  CHECK(grpc_port_from_args(rest_off) == 8500);
  // Unnamed ports, the gRPC one first (Kubeflow's TF Serving example): the HTTP port is the
  // first containerPort that is not the gRPC port.
  const ModelTarget m = found(tpl(R"y(
spec:
  containers:
  - name: tfserving
    image: tensorflow/serving:2.14.1
    command: [/usr/bin/tensorflow_model_server]
    args: ["--port=9000", "--rest_api_port=8500", "--model_name=mnist"]
    ports: [{containerPort: 9000}, {containerPort: 8500}]
)y"));
  CHECK(m.port == 8500);
  CHECK(m.port_source == "containerPort");
  CHECK(m.grpc_port == 9000);
  CHECK(m.grpc_port_source == "args");
}

TEST_CASE("the gRPC port of a readinessProbe.grpc, and the health readiness it asks for") {
  const ModelTarget m = found(tpl(R"y(
spec:
  containers:
  - name: model
    image: reg/model:1
    ports: [{name: http, containerPort: 8080}, {containerPort: 9000}]
    readinessProbe:
      grpc: {port: 9000, service: inference}
)y"));
  CHECK(m.port == 8080);
  CHECK(m.grpc_port == 9000);
  CHECK(m.grpc_port_source == "readinessProbe.grpc");
  CHECK(m.ready_grpc == "health");
  CHECK(m.ready_grpc_service == "inference");
  CHECK(m.ready_path.empty());
}

TEST_CASE("a gRPC-only model is served on its gRPC port") {
  const Json only = tpl(R"y(
spec:
  containers:
  - name: triton
    image: nvcr.io/nvidia/tritonserver:24.08-py3
    args: ["tritonserver", "--allow-http=false"]
    ports: [{name: grpc, containerPort: 8001}, {name: triton-metrics, containerPort: 8002}]
)y");
  const ModelTarget m = found(only);
  CHECK(m.grpc_only());
  CHECK(m.port == 8001);
  CHECK(m.port_name == "grpc");
  CHECK(m.port_source == "containerPort name");
  CHECK(m.ready_grpc == "v2");  // a V2 server without a probe: ServerReady
  // Not a V2 server: a TCP connect, as for an HTTP model without a probe.
  Json other = only;
  other["spec"]["containers"][0]["image"] = "tensorflow/serving:2.14.1";
  CHECK(found(other).ready_grpc.empty());
  // A probe of its own (here TCP) is what the model chose: no ServerReady.
  Json probed = only;
  probed["spec"]["containers"][0]["readinessProbe"] = Json{{"tcpSocket", {{"port", "grpc"}}}};
  CHECK(found(probed).ready_grpc.empty());
  for (const char* image : {"seldonio/mlserver:1.6.0", "kserve/xgbserver:v0.13.0",
                            "reg.io:5000/nvidia/tritonserver@sha256:0123"}) {
    other["spec"]["containers"][0]["image"] = image;
    CHECK(found(other).ready_grpc == "v2");
  }
}

TEST_CASE("the grpc-port annotation wins, by number or name, and \"none\" opts out") {
  Json t = tpl(R"y(
metadata:
  annotations: {mlsidecar.io/grpc-port: infer}
spec:
  containers:
  - name: model
    image: reg/model:1
    args: ["--grpc-port=9001"]
    ports: [{name: http, containerPort: 8080}, {name: infer, containerPort: 9000}]
)y");
  ModelTarget m = found(t);
  CHECK(m.grpc_port == 9000);
  CHECK(m.grpc_port_name == "infer");
  CHECK(m.grpc_port_source == "annotation");
  CHECK(m.port == 8080);
  t["metadata"]["annotations"]["mlsidecar.io/grpc-port"] = "7000";
  CHECK(found(t).grpc_port == 7000);
  CHECK(found(t).grpc_port_name.empty());
  t["metadata"]["annotations"]["mlsidecar.io/grpc-port"] = "none";
  CHECK(found(t).grpc_port == 0);
  CHECK(found(t).port == 8080);
  t["metadata"]["annotations"]["mlsidecar.io/grpc-port"] = "nope";
  auto r = find_model_target(t);
  REQUIRE(std::holds_alternative<ModelTargetProblem>(r));
  CHECK(std::get<ModelTargetProblem>(r).kind == ModelTargetProblem::Kind::unusable);
  CHECK(std::get<ModelTargetProblem>(r).message.find("mlsidecar.io/grpc-port") !=
        std::string::npos);
}
