// The injection core on in-memory pod templates: what the sidecar gets, what the model keeps, and
// that uninject undoes inject exactly.
#include "sidecar/inject/injector.h"
#include "sidecar/inject/manifest.h"
#include "sidecar/inject/pod_template.h"
#include "sidecar/inject/yaml_bridge.h"

#include <catch2/catch.hpp>

using namespace mlsidecar::inject;

namespace {

Json pod(const char* yaml) { return parse_yaml_stream(yaml).at(0).value; }

const Json& container_named(const Json& list, const std::string& name) {
  for (const auto& c : list) {
    if (c["name"] == name) return c;
  }
  FAIL("no container " << name);
  static Json none;
  return none;
}

std::string arg_after(const Json& container, const std::string& flag) {
  const Json& args = container["args"];
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == flag) return args[i + 1];
  }
  return "<absent>";
}

constexpr const char* kTriton = R"(metadata:
  labels: {app: triton}
  annotations:
    mlsidecar.io/model: resnet
spec:
  containers:
  - name: triton
    image: nvcr.io/nvidia/tritonserver:24.08-py3
    ports:
    - {name: http, containerPort: 8000}
    - {name: grpc, containerPort: 8001}
    - {name: metrics, containerPort: 8002}
    readinessProbe:
      httpGet: {path: /v2/health/ready, port: http}
)";

}  // namespace

TEST_CASE("native sidecar: init container with restartPolicy Always, wired to the model") {
  const Json in = pod(kTriton);
  const InjectionResult r = inject(in, InjectionSettings{});
  REQUIRE(r.report.outcome == Outcome::injected);
  const Json& out = r.pod_template;
  const Json& side = container_named(out["spec"]["initContainers"], "mlsidecar");
  CHECK(side["restartPolicy"] == "Always");
  CHECK(side.contains("startupProbe"));
  CHECK(side["startupProbe"]["httpGet"]["path"] == "/healthz");
  CHECK(side["readinessProbe"]["httpGet"]["path"] == "/readyz");
  CHECK(side["livenessProbe"]["httpGet"]["path"] == "/healthz");
  CHECK(arg_after(side, "--upstream") == "127.0.0.1:8000");
  CHECK(arg_after(side, "--ready-path") == "/v2/health/ready");
  CHECK(arg_after(side, "--model") == "resnet");
  CHECK(arg_after(side, "--model-version") == "24.08-py3");
  CHECK(arg_after(side, "--listen") == "0.0.0.0:8080");
  CHECK(arg_after(side, "--admin") == "0.0.0.0:9090");
  CHECK(side["securityContext"]["runAsNonRoot"] == true);
  CHECK(side["securityContext"]["readOnlyRootFilesystem"] == true);
  CHECK(side["securityContext"]["allowPrivilegeEscalation"] == false);
  CHECK(side["securityContext"]["capabilities"]["drop"] == Json::array({"ALL"}));
  // The model container is as it was, except for the preStop pause.
  Json model = out["spec"]["containers"][0];
  CHECK(model["lifecycle"]["preStop"]["sleep"]["seconds"] == 5);
  model.erase("lifecycle");
  CHECK(model == in["spec"]["containers"][0]);
  CHECK(out["spec"]["containers"].size() == 1);
  const Json& ann = out["metadata"]["annotations"];
  CHECK(ann["prometheus.io/port"] == "9090");
  CHECK(ann["kubectl.kubernetes.io/default-container"] == "triton");
  CHECK(out["spec"]["terminationGracePeriodSeconds"].get<int>() >= 5 + 30);
}

TEST_CASE("monitoring: the label the PodMonitor selects and the app name it relabels") {
  const InjectionResult r = inject(pod(kTriton), InjectionSettings{});
  REQUIRE(r.report.outcome == Outcome::injected);
  const Json& meta = r.pod_template["metadata"];
  CHECK(meta["labels"]["mlsidecar.io/injected"] == "true");
  CHECK(meta["labels"]["app"] == "triton");  // the pod's own labels stay
  CHECK(meta["annotations"]["mlsidecar.io/app"] == "triton");
  const Json& side = container_named(r.pod_template["spec"]["initContainers"], "mlsidecar");
  bool admin_named = false;
  for (const auto& port : side["ports"]) admin_named |= port.value("name", "") == "mlsidecar-admin";
  CHECK(admin_named);
  // A template without labels gets a labels map, and uninject removes it again.
  const Json bare = pod(R"(spec:
  containers: [{name: m, image: "m:1", ports: [{containerPort: 8000}]}]
)");
  const InjectionResult b = inject(bare, InjectionSettings{}, "scorer");
  REQUIRE(b.report.outcome == Outcome::injected);
  CHECK(b.pod_template["metadata"]["labels"]["mlsidecar.io/injected"] == "true");
  CHECK(b.pod_template["metadata"]["annotations"]["mlsidecar.io/app"] == "scorer");
  CHECK(uninject(b.pod_template).pod_template == bare);
}

TEST_CASE("sidecar ports never collide with any container's port") {
  Json in = pod(kTriton);
  in["spec"]["containers"][0]["ports"].push_back(Json{{"containerPort", 8080}});
  in["spec"]["containers"][0]["ports"].push_back(Json{{"containerPort", 9090}});
  in["spec"]["containers"][0]["ports"].push_back(Json{{"containerPort", 8081}});
  const InjectionResult r = inject(in, InjectionSettings{});
  REQUIRE(r.report.outcome == Outcome::injected);
  CHECK(r.report.data_port == 8082);
  CHECK(r.report.admin_port == 9091);
}

TEST_CASE("non-native mode by annotation: ordinary first container, no startup probe") {
  Json in = pod(kTriton);
  in["metadata"]["annotations"]["mlsidecar.io/native"] = "false";
  const InjectionResult r = inject(in, InjectionSettings{});
  REQUIRE(r.report.outcome == Outcome::injected);
  const Json& containers = r.pod_template["spec"]["containers"];
  CHECK(containers[0]["name"] == "mlsidecar");
  CHECK_FALSE(containers[0].contains("restartPolicy"));
  CHECK_FALSE(containers[0].contains("startupProbe"));
  // Only the capture's init container, which runs to completion first.
  REQUIRE(r.pod_template["spec"]["initContainers"].size() == 1);
  CHECK(r.pod_template["spec"]["initContainers"][0]["name"] == "mlsidecar-capture");
  CHECK(r.pod_template["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"] ==
        "triton");
}

TEST_CASE("skips: opt-out by label or annotation, hostNetwork, already injected") {
  Json optout = pod(kTriton);
  optout["metadata"]["labels"]["mlsidecar.io/inject"] = "false";
  CHECK(inject(optout, {}).report.outcome == Outcome::skipped);
  Json host = pod(kTriton);
  host["spec"]["hostNetwork"] = true;
  const auto r = inject(host, {});
  CHECK(r.report.outcome == Outcome::skipped);
  CHECK(r.report.reason.find("hostNetwork") != std::string::npos);
  CHECK(r.pod_template == host);
  const Json once = inject(pod(kTriton), {}).pod_template;
  const auto twice = inject(once, {});
  CHECK(twice.report.outcome == Outcome::skipped);
  CHECK(twice.pod_template.dump() == once.dump());
}

TEST_CASE("unusable annotations fail with a message naming them") {
  Json in = pod(kTriton);
  in["metadata"]["annotations"]["mlsidecar.io/model-container"] = "nope";
  auto r = inject(in, {});
  CHECK(r.report.outcome == Outcome::failed);
  CHECK(r.report.reason.find("model-container") != std::string::npos);
  in = pod(kTriton);
  in["metadata"]["annotations"]["mlsidecar.io/container-concurrency"] = "-3";
  CHECK(inject(in, {}).report.outcome == Outcome::failed);
}

TEST_CASE("model port: annotation by name, else first containerPort, else readiness probe") {
  Json in = pod(kTriton);
  in["metadata"]["annotations"]["mlsidecar.io/model-port"] = "metrics";
  CHECK(inject(in, {}).report.model_port == 8002);
  Json probe_only = pod(kTriton);
  probe_only["spec"]["containers"][0].erase("ports");
  probe_only["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = 7000;
  CHECK(inject(probe_only, {}).report.model_port == 7000);
  probe_only["spec"]["containers"][0].erase("readinessProbe");
  CHECK(inject(probe_only, {}).report.outcome == Outcome::skipped);
}

TEST_CASE("drift profile ConfigMap is mounted read-only and passed to the sidecar") {
  Json in = pod(kTriton);
  in["metadata"]["annotations"]["mlsidecar.io/drift-profile"] = "resnet-profile/ref.json";
  const auto r = inject(in, {});
  REQUIRE(r.report.outcome == Outcome::injected);
  const Json& side = container_named(r.pod_template["spec"]["initContainers"], "mlsidecar");
  CHECK(arg_after(side, "--drift-profile") == "/etc/mlsidecar/drift/ref.json");
  CHECK(side["volumeMounts"][0]["readOnly"] == true);
  CHECK(r.pod_template["spec"]["volumes"][0]["configMap"]["name"] == "resnet-profile");
}

TEST_CASE("uninject restores the template exactly, key order included") {
  for (const char* native : {"true", "false"}) {
    Json in = pod(kTriton);
    in["metadata"]["annotations"]["mlsidecar.io/native"] = native;
    in["metadata"]["annotations"]["prometheus.io/port"] = "8002";
    in["metadata"]["annotations"]["mlsidecar.io/drift-profile"] = "p";
    in["spec"]["terminationGracePeriodSeconds"] = 10;
    in["spec"]["volumes"] = Json::array({Json{{"name", "cache"}, {"emptyDir", Json::object()}}});
    const auto injected = inject(in, {});
    REQUIRE(injected.report.outcome == Outcome::injected);
    const auto back = uninject(injected.pod_template);
    CHECK(back.report.outcome == Outcome::uninjected);
    CHECK(back.pod_template.dump() == in.dump());
  }
  const Json bare =
      pod("spec:\n  containers:\n  - name: m\n    image: m\n    ports:\n"
          "    - containerPort: 80\n");
  CHECK(uninject(inject(bare, {}).pod_template).pod_template.dump() == bare.dump());
}

TEST_CASE("fields of the wrong type fail the template with a message, never an exception") {
  // Found by fuzz_inject_yaml: `metadata: "x"` made inject() throw from deep inside the edit.
  const char* bad[] = {
      "metadata: nam:p e\nspec:\n  containers:\n  - {name: m, ports: [{containerPort: 9000}]}\n",
      // One element over two lines: parenthesized, the concatenation is visibly meant.
      ("metadata:\n  annotations: [a]\nspec:\n  containers:\n  - {name: m, ports: [{containerPort: "
       "9000}]}\n"),
      "spec:\n  containers: {name: m}\n",
      "spec:\n  volumes: 3\n  containers:\n  - {name: m, ports: [{containerPort: 9000}]}\n",
      "spec:\n  containers:\n  - {name: m, lifecycle: x, ports: [{containerPort: 9000}]}\n",
  };
  for (const char* text : bad) {
    const Json in = pod(text);
    InjectionResult r;
    REQUIRE_NOTHROW(r = inject(in, InjectionSettings{}));
    CHECK(r.report.outcome == Outcome::failed);
    CHECK_FALSE(r.report.reason.empty());
    CHECK(r.pod_template == in);
    REQUIRE_NOTHROW(r = uninject(in));
    CHECK(r.pod_template == in);
  }
  // Null metadata and annotations are only empty: injection goes ahead.
  const Json empty =
      pod("metadata:\n  annotations:\nspec:\n  containers:\n  - {name: m, ports: "
          "[{containerPort: 9000}]}\n");
  CHECK(inject(empty, InjectionSettings{}).report.outcome == Outcome::injected);
}

TEST_CASE("capture redirect: an init container with NET_ADMIN runs first, and only it") {
  const auto r = inject(pod(kTriton), {});
  REQUIRE(r.report.outcome == Outcome::injected);
  CHECK(r.report.capture == "redirect");
  const Json& init = r.pod_template["spec"]["initContainers"];
  REQUIRE(init.size() == 2);
  const Json& capture = init[0];
  CHECK(capture["name"] == "mlsidecar-capture");
  // Triton's HTTP and gRPC ports, not its metrics port.
  CHECK(capture["args"] ==
        Json::array({"capture-init", "--model-port", "8000", "--model-port", "8001", "--data-port",
                     std::to_string(r.report.data_port)}));
  CHECK(capture["securityContext"]["capabilities"]["add"] == Json::array({"NET_ADMIN", "NET_RAW"}));
  CHECK(capture["securityContext"]["capabilities"]["drop"] == Json::array({"ALL"}));
  CHECK_FALSE(capture.contains("restartPolicy"));  // runs to completion
  CHECK(init[1]["name"] == "mlsidecar");
  const Json& side = init[1];
  CHECK_FALSE(side["securityContext"]["capabilities"].contains("add"));
  // The model's ports keep their names.
  CHECK(r.pod_template["spec"]["containers"][0]["ports"][0]["name"] == "http");
}

TEST_CASE("capture port-name: the sidecar takes over the model port's name, probes follow") {
  Json in = pod(kTriton);
  in["metadata"]["annotations"]["mlsidecar.io/capture"] = "port-name";
  in["spec"]["containers"][0]["readinessProbe"] =
      Json{{"httpGet", {{"path", "/v2/health/ready"}, {"port", "http"}}}};
  const auto r = inject(in, {});
  REQUIRE(r.report.outcome == Outcome::injected);
  CHECK(r.report.warnings.empty());
  const Json& model = r.pod_template["spec"]["containers"][0];
  CHECK(model["ports"][0]["name"] == "mlsidecar-model");
  CHECK(model["readinessProbe"]["httpGet"]["port"] == "mlsidecar-model");
  const Json& init = r.pod_template["spec"]["initContainers"];
  REQUIRE(init.size() == 1);  // no privileged init container
  CHECK(init[0]["ports"][0]["name"] == "http");
  CHECK(init[0]["ports"][0]["containerPort"] == r.report.data_port);
  const auto back = uninject(r.pod_template);
  CHECK(back.pod_template.dump() == in.dump());
}

TEST_CASE("capture port-name on an unnamed port injects and warns") {
  Json in = pod(kTriton);
  in["metadata"]["annotations"]["mlsidecar.io/capture"] = "port-name";
  in["spec"]["containers"][0]["ports"][0].erase("name");
  const auto r = inject(in, {});
  REQUIRE(r.report.outcome == Outcome::injected);
  REQUIRE(r.report.warnings.size() == 1);
  CHECK(r.report.warnings[0].find("has no name") != std::string::npos);
}

TEST_CASE("capture service leaves the pod's networking alone; a bad mode fails naming it") {
  InjectionSettings service;
  service.capture = "service";
  const auto r = inject(pod(kTriton), service);
  REQUIRE(r.report.outcome == Outcome::injected);
  CHECK(r.pod_template["spec"]["initContainers"].size() == 1);
  Json bad = pod(kTriton);
  bad["metadata"]["annotations"]["mlsidecar.io/capture"] = "tproxy";
  const auto failed = inject(bad, {});
  CHECK(failed.report.outcome == Outcome::failed);
  CHECK(failed.report.reason.find("mlsidecar.io/capture") != std::string::npos);
}

namespace {

// A model that serves only gRPC: TF Serving with REST off, probed by the gRPC health service.
constexpr const char* kGrpcOnly = R"(metadata:
  labels: {app: tfs}
spec:
  containers:
  - name: tfs
    image: tensorflow/serving:2.14.1
    args: ["--port=8500", "--rest_api_port=0", "--model_name=half"]
    ports:
    - {name: grpc, containerPort: 8500}
    readinessProbe:
      grpc: {port: 8500}
    livenessProbe:
      grpc: {port: 8500}
)";

Json with_capture(const char* yaml, const char* mode) {
  Json in = pod(yaml);
  in["metadata"]["annotations"]["mlsidecar.io/capture"] = mode;
  return in;
}

// Inject, check that a second injection changes nothing and that uninject gives `in` back.
InjectionResult inject_round_trip(const Json& in) {
  InjectionResult r = inject(in, {});
  REQUIRE(r.report.outcome == Outcome::injected);
  const auto twice = inject(r.pod_template, {});
  CHECK(twice.report.outcome == Outcome::skipped);
  CHECK(twice.pod_template.dump() == r.pod_template.dump());
  CHECK(uninject(r.pod_template).pod_template.dump() == in.dump());
  return r;
}

}  // namespace

TEST_CASE("gRPC port: the sidecar relays gRPC to it, and the report says where it was found") {
  const auto r = inject_round_trip(pod(kTriton));
  const Json& side = container_named(r.pod_template["spec"]["initContainers"], "mlsidecar");
  CHECK(arg_after(side, "--upstream") == "127.0.0.1:8000");
  CHECK(arg_after(side, "--grpc-upstream") == "127.0.0.1:8001");
  CHECK(arg_after(side, "--grpc-listen") == "<absent>");  // redirect: one data port serves both
  CHECK(arg_after(side, "--ready-grpc") == "<absent>");   // the HTTP probe's path is enough
  CHECK(arg_after(side, "--ready-path") == "/v2/health/ready");
  CHECK(arg_after(side, "--merge-metrics") == "http://127.0.0.1:8002/metrics");
  CHECK(r.report.grpc_port == 8001);
  CHECK(r.report.reason.find("port 8000 (from containerPort), grpc port 8001 (from containerPort "
                             "name), capture redirect") != std::string::npos);
  // Opted out: nothing about gRPC, the capture as before.
  Json none = pod(kTriton);
  none["metadata"]["annotations"]["mlsidecar.io/grpc-port"] = "none";
  const auto plain = inject_round_trip(none);
  const Json& init = plain.pod_template["spec"]["initContainers"];
  CHECK(arg_after(init[1], "--grpc-upstream") == "<absent>");
  CHECK(init[0]["args"] == Json::array({"capture-init", "--model-port", "8000", "--data-port",
                                        std::to_string(plain.report.data_port)}));
  CHECK(plain.report.reason.find("grpc") == std::string::npos);
}

TEST_CASE("capture port-name of a gRPC port: a second sidecar port takes its name") {
  Json in = with_capture(kTriton, "port-name");
  in["spec"]["containers"][0]["livenessProbe"] = Json{{"grpc", {{"port", 8001}}}};
  in["spec"]["containers"][0]["startupProbe"] = Json{{"tcpSocket", {{"port", "grpc"}}}};
  const auto r = inject_round_trip(in);
  CHECK(r.report.warnings.empty());
  const Json& model = r.pod_template["spec"]["containers"][0];
  CHECK(model["ports"][0]["name"] == "mlsidecar-model");
  CHECK(model["ports"][1]["name"] == "mlsidecar-mgrpc");
  CHECK(model["ports"][2]["name"] == "metrics");  // never captured
  CHECK(model["startupProbe"]["tcpSocket"]["port"] == "mlsidecar-mgrpc");
  CHECK(model["livenessProbe"]["grpc"]["port"] == 8001);  // by number: unchanged
  const Json& side = container_named(r.pod_template["spec"]["initContainers"], "mlsidecar");
  REQUIRE(side["ports"].size() == 3);
  CHECK(side["ports"][0]["name"] == "http");
  CHECK(side["ports"][1]["name"] == "grpc");
  const int grpc_listen = side["ports"][1]["containerPort"].get<int>();
  CHECK(grpc_listen == 8081);  // the next free port above the data port
  CHECK(arg_after(side, "--grpc-listen") == "0.0.0.0:8081");
  CHECK(arg_after(side, "--grpc-upstream") == "127.0.0.1:8001");
  CHECK(side["ports"][2]["name"] == "mlsidecar-admin");
  // An unnamed gRPC port cannot be taken over: injected with a warning, no second port.
  Json unnamed = with_capture(kTriton, "port-name");
  unnamed["metadata"]["annotations"]["mlsidecar.io/grpc-port"] = "8001";
  unnamed["spec"]["containers"][0]["ports"][1].erase("name");
  const auto w = inject_round_trip(unnamed);
  REQUIRE(w.report.warnings.size() == 1);
  CHECK(w.report.warnings[0].find("gRPC port 8001 has no name") != std::string::npos);
  const Json& plain = container_named(w.pod_template["spec"]["initContainers"], "mlsidecar");
  CHECK(plain["ports"].size() == 2);
  CHECK(arg_after(plain, "--grpc-listen") == "<absent>");
}

TEST_CASE("capture service: Services that target the gRPC port are repointed too") {
  Json deployment = pod("{apiVersion: apps/v1, kind: Deployment, metadata: {name: triton}}");
  deployment["spec"]["template"] = pod(kTriton);
  const Json service_object = pod(R"(apiVersion: v1
kind: Service
metadata: {name: triton}
spec:
  selector: {app: triton}
  ports:
  - {name: http, port: 8000, targetPort: http}
  - {name: grpc, port: 8001, targetPort: 8001}
  - {name: metrics, port: 8002, targetPort: metrics}
)");
  const std::string manifest = emit_yaml_stream({deployment, service_object});
  InjectionSettings service;
  service.capture = "service";
  const auto out = transform_manifest(manifest, Direction::inject, service);
  REQUIRE(out.ok);
  const auto docs = parse_yaml_stream(out.yaml);
  const Json& ports = docs.at(1).value["spec"]["ports"];
  CHECK(ports[0]["targetPort"] == "mlsidecar-http");
  CHECK(ports[1]["targetPort"] == "mlsidecar-http");  // the data port speaks gRPC as well
  CHECK(ports[2]["targetPort"] == "metrics");
  CHECK(out.reports.at(1).find("repointed 2 port(s)") != std::string::npos);
  const auto back = transform_manifest(out.yaml, Direction::uninject, service);
  REQUIRE(back.ok);
  CHECK(back.yaml == manifest);
}

TEST_CASE("a gRPC-only model: upstream and readiness on its gRPC port") {
  const auto r = inject_round_trip(pod(kGrpcOnly));
  CHECK(r.report.model_port == 8500);
  CHECK(r.report.grpc_port == 8500);
  CHECK(r.report.reason.find("model container tfs grpc port 8500 (from containerPort name) "
                             "only, capture redirect") != std::string::npos);
  const Json& init = r.pod_template["spec"]["initContainers"];
  CHECK(init[0]["args"] == Json::array({"capture-init", "--model-port", "8500", "--data-port",
                                        std::to_string(r.report.data_port)}));
  const Json& side = init[1];
  CHECK(arg_after(side, "--upstream") == "127.0.0.1:8500");
  CHECK(arg_after(side, "--grpc-upstream") == "127.0.0.1:8500");
  CHECK(arg_after(side, "--ready-grpc") == "health");
  CHECK(arg_after(side, "--ready-grpc-service") == "<absent>");  // the whole server
  CHECK(arg_after(side, "--ready-path") == "<absent>");
  CHECK(arg_after(side, "--merge-metrics") == "<absent>");  // its one port has no /metrics
  // port-name: the one port is the data port's; the model's gRPC probes follow only by name.
  Json named = with_capture(kGrpcOnly, "port-name");
  named["spec"]["containers"][0]["readinessProbe"] =
      Json{{"grpc", {{"port", 8500}, {"service", "tensorflow.serving.ModelService"}}}};
  named["spec"]["containers"][0]["livenessProbe"] = Json{{"tcpSocket", {{"port", "grpc"}}}};
  const auto p = inject_round_trip(named);
  const Json& model = p.pod_template["spec"]["containers"][0];
  CHECK(model["ports"][0]["name"] == "mlsidecar-model");
  CHECK(model["livenessProbe"]["tcpSocket"]["port"] == "mlsidecar-model");
  const Json& ps = container_named(p.pod_template["spec"]["initContainers"], "mlsidecar");
  CHECK(ps["ports"].size() == 2);
  CHECK(ps["ports"][0]["name"] == "grpc");
  CHECK(arg_after(ps, "--grpc-listen") == "<absent>");
  CHECK(arg_after(ps, "--ready-grpc-service") == "tensorflow.serving.ModelService");
}

TEST_CASE("gRPC flags set by annotation win over what injection infers") {
  Json in = pod(kGrpcOnly);
  in["metadata"]["annotations"]["mlsidecar.io/ready-grpc"] = "off";
  in["metadata"]["annotations"]["mlsidecar.io/grpc-upstream"] = "127.0.0.1:9500";
  const auto r = inject_round_trip(in);
  const Json& side = container_named(r.pod_template["spec"]["initContainers"], "mlsidecar");
  int upstreams = 0, readies = 0;
  for (const auto& arg : side["args"]) {
    upstreams += arg == "--grpc-upstream";
    readies += arg == "--ready-grpc";
  }
  CHECK(upstreams == 1);
  CHECK(readies == 1);
  CHECK(arg_after(side, "--grpc-upstream") == "127.0.0.1:9500");
  CHECK(arg_after(side, "--ready-grpc") == "off");
  // --ready-grpc by annotation needs a gRPC upstream: the one injection adds counts.
  Json ready = pod(kTriton);
  ready["metadata"]["annotations"]["mlsidecar.io/ready-grpc"] = "v2";
  CHECK(inject(ready, {}).report.outcome == Outcome::injected);
  ready["metadata"]["annotations"]["mlsidecar.io/grpc-port"] = "none";
  const auto failed = inject(ready, {});
  CHECK(failed.report.outcome == Outcome::failed);
  CHECK(failed.report.reason.find("mlsidecar.io/ready-grpc") != std::string::npos);
}

// ---- the model version of an Argo Rollout's pods ------------------------------------------------

namespace {

constexpr const char* kRollout = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: fraud, namespace: ml}
spec:
  selector: {matchLabels: {app: fraud}}
  template:
    metadata:
      labels: {app: fraud}
    spec:
      containers:
      - name: model
        image: registry.example/fraud:2.1
        ports:
        - {name: http, containerPort: 8080}
)";

Json rollout_template() { return pod(kRollout)["spec"]["template"]; }

const Json* env_named(const Json& container, std::string_view name) {
  if (!container.contains("env")) return nullptr;
  for (const auto& e : container["env"]) {
    if (e["name"] == name) return &e;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("an Argo Rollout's sidecar takes its version from rollouts-pod-template-hash") {
  const auto out = transform_manifest(kRollout, Direction::inject, InjectionSettings{});
  REQUIRE(out.ok);
  const Json rollout = parse_yaml_stream(out.yaml).at(0).value;
  const Json& side =
      container_named(rollout["spec"]["template"]["spec"]["initContainers"], "mlsidecar");
  // Not the image tag: the flag would win over the environment, and two revisions of a Rollout
  // may run the same image.
  CHECK(arg_after(side, "--model-version") == "<absent>");
  const Json* env = env_named(side, "MLSIDECAR_MODEL_VERSION");
  REQUIRE(env != nullptr);
  CHECK((*env)["valueFrom"]["fieldRef"]["fieldPath"] ==
        "metadata.labels['rollouts-pod-template-hash']");
  CHECK_FALSE(env->contains("value"));
  CHECK(out.reports.at(0).find("model version from the pod label rollouts-pod-template-hash") !=
        std::string::npos);
  // uninject takes the environment away with the container.
  const auto back = transform_manifest(out.yaml, Direction::uninject, InjectionSettings{});
  REQUIRE(back.ok);
  CHECK(parse_yaml_stream(back.yaml).at(0).value == parse_yaml_stream(kRollout).at(0).value);
}

TEST_CASE("a pod with rollouts-pod-template-hash (what the webhook sees) gets the same env") {
  // The pod Argo makes of the template: labelled with the hash, owned by that revision's
  // ReplicaSet.
  Json p = rollout_template();
  p["metadata"]["labels"]["rollouts-pod-template-hash"] = "6d4f8b9c7";
  p["metadata"]["ownerReferences"] = Json::array({Json{{"apiVersion", "apps/v1"},
                                                       {"kind", "ReplicaSet"},
                                                       {"name", "fraud-6d4f8b9c7"},
                                                       {"controller", true},
                                                       {"uid", "u"}}});
  CHECK(workload_name(p) == "fraud");  // the ReplicaSet's hash suffix removed, as for Deployments
  const InjectionResult r = inject(p, InjectionSettings{}, workload_name(p));
  REQUIRE(r.report.outcome == Outcome::injected);
  const Json& side = container_named(r.pod_template["spec"]["initContainers"], "mlsidecar");
  CHECK(arg_after(side, "--model-version") == "<absent>");
  REQUIRE(env_named(side, "MLSIDECAR_MODEL_VERSION") != nullptr);

  // The same pod from the Rollout's template, as the command line injects it: the same sidecar.
  Json tpl = rollout_template();
  const InjectionResult from_template = inject(tpl, InjectionSettings{}, "fraud", {}, "Rollout");
  REQUIRE(from_template.report.outcome == Outcome::injected);
  CHECK(container_named(from_template.pod_template["spec"]["initContainers"], "mlsidecar") == side);

  // An empty label (a pod made from the template outside Argo) is still a valid pod: the sidecar
  // reads "" and labels no version.
  p["metadata"]["labels"]["rollouts-pod-template-hash"] = "";
  CHECK(inject(p, InjectionSettings{}, "fraud").report.outcome == Outcome::injected);
}

TEST_CASE("a version named by annotation or label wins over the pod-template hash") {
  Json annotated = rollout_template();
  annotated["metadata"]["annotations"]["mlsidecar.io/model-version"] = "2024-06";
  auto r = inject(annotated, InjectionSettings{}, "fraud", {}, "Rollout");
  REQUIRE(r.report.outcome == Outcome::injected);
  const Json& side = container_named(r.pod_template["spec"]["initContainers"], "mlsidecar");
  CHECK(arg_after(side, "--model-version") == "2024-06");
  CHECK(env_named(side, "MLSIDECAR_MODEL_VERSION") == nullptr);

  Json labelled = rollout_template();
  labelled["metadata"]["labels"]["app.kubernetes.io/version"] = "7";
  r = inject(labelled, InjectionSettings{}, "fraud", {}, "Rollout");
  CHECK(arg_after(container_named(r.pod_template["spec"]["initContainers"], "mlsidecar"),
                  "--model-version") == "7");

  // Not a Rollout and no hash label: the image tag, as before.
  Json deployment_pod = rollout_template();
  r = inject(deployment_pod, InjectionSettings{}, "fraud", {}, "Deployment");
  const Json& plain = container_named(r.pod_template["spec"]["initContainers"], "mlsidecar");
  CHECK(arg_after(plain, "--model-version") == "2.1");
  CHECK(env_named(plain, "MLSIDECAR_MODEL_VERSION") == nullptr);
}
