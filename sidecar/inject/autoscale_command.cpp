// `mlsidecar autoscale`: workloads in, autoscalers out. See autoscale.h and commands.h.
#include <cstdio>

#include "sidecar/inject/autoscale.h"
#include "sidecar/inject/commands.h"
#include "sidecar/inject/input_files.h"

namespace mlsidecar::inject {
namespace {

const cli::FlagSet<AutoscaleOptions>& autoscale_flags() {
  using O = AutoscaleOptions;
  static const cli::FlagSet<O> flags(
      cli::CommandInfo{
          .name = "autoscale",
          .usage = "usage: mlsidecar autoscale -f FILE|DIR|- --via keda|hpa-adapter [flags]",
          .description =
              "An offline tool: it reads no MLSIDECAR_* variable. Writes to stdout an autoscaler "
              "for each Deployment, StatefulSet and ReplicaSet of "
              "the manifests\n(injected or not), on the signals of its sidecars: a KEDA "
              "ScaledObject that asks Prometheus,\nor an HPA that prometheus-adapter serves "
              "(with the rules in\nmanifests/overlays/hpa-adapter/prometheus-adapter-rules.yaml)."
              " One report line per object\ngoes to stderr. The queries select the series the "
              "shipped PodMonitor labels with the\nworkload's namespace and app."},
      {
          filename_flag(&O::files),
          cli::choice_flag("via", &O::via, {"keda", "hpa-adapter"},
                           "keda: a ScaledObject; hpa-adapter: an autoscaling/v2 HPA on a pods "
                           "metric of prometheus-adapter")
              .required()
              .no_env(),
          cli::choice_flag("signal", &O::signal, {"load-ratio", "output-tokens"},
                           "load-ratio: the sidecars' load ratio (concurrency and the other "
                           "configured signals over their targets); output-tokens: generated "
                           "tokens/s")
              .no_env(),
          cli::number_flag("target", &O::target, 0, 1e9,
                           "per replica: the load ratio (default 1) or output tokens/s (default "
                           "the pod's mlsidecar.io/target-output-tokens-per-second)")
              .no_env(),
          cli::uint_flag("min-replicas", &O::min_replicas, 100000, "fewest replicas")
              .at_least(1)
              .no_env(),
          cli::uint_flag("max-replicas", &O::max_replicas, 100000, "most replicas")
              .at_least(1)
              .no_env(),
          cli::string_flag("namespace", &O::ns,
                           "namespace of workloads whose metadata names none (KEDA's query "
                           "needs one)")
              .short_name('n')
              .value_name("NS")
              .no_env(),
          cli::string_flag("prometheus", &O::prometheus, "Prometheus URL that KEDA asks")
              .value_name("URL")
              .no_env(),
      });
  return flags;
}

// Every object of a document: the document, or the items of a `kind: List`.
void collect_workloads(const Json& doc, std::vector<const Json*>& out) {
  if (doc.is_object() && doc.value("kind", "") == "List" && doc.contains("items") &&
      doc["items"].is_array()) {
    for (const auto& item : doc["items"]) collect_workloads(item, out);
    return;
  }
  if (is_scalable(doc)) out.push_back(&doc);
}

int run(const AutoscaleOptions& options) {
  if (options.min_replicas > options.max_replicas) {
    std::fprintf(stderr, "mlsidecar autoscale: --min-replicas %llu is above --max-replicas %llu\n",
                 static_cast<unsigned long long>(options.min_replicas),
                 static_cast<unsigned long long>(options.max_replicas));
    return 2;
  }
  std::vector<Json> objects;
  std::vector<std::string> reports;
  bool failed = false;
  try {
    for (const Input& input : read_inputs(options.files)) {
      std::vector<YamlDocument> docs;
      try {
        docs = parse_yaml_stream(input.text);
      } catch (const YamlError& e) {
        throw InputError(input.name + ": " + e.what());
      }
      std::vector<const Json*> workloads;
      for (const auto& doc : docs) collect_workloads(doc.value, workloads);
      for (const Json* workload : workloads) {
        AutoscaleResult r = make_autoscaler(*workload, options);
        reports.push_back(std::move(r.report));
        failed |= r.failed;
        if (r.object) objects.push_back(std::move(*r.object));
      }
    }
  } catch (const InputError& e) {
    std::fprintf(stderr, "mlsidecar autoscale: %s\n", e.what());
    return 1;
  }
  for (const auto& line : reports) std::fprintf(stderr, "%s\n", line.c_str());
  if (reports.empty()) {
    std::fprintf(stderr,
                 "mlsidecar autoscale: no Deployment, StatefulSet or ReplicaSet in the input\n");
    return 1;
  }
  if (failed) return 1;  // nothing written: a partial set of autoscalers is easy to miss
  const std::string output = emit_yaml_stream(objects);
  if (std::fwrite(output.data(), 1, output.size(), stdout) != output.size() ||
      std::fflush(stdout) != 0) {
    std::fprintf(stderr, "mlsidecar autoscale: cannot write stdout\n");
    return 1;
  }
  return 0;
}

}  // namespace

int run_autoscale_command(const std::vector<std::string>& args, const cli::Environment& env) {
  return cli::run_command(autoscale_flags(), args, env, run);
}

}  // namespace mlsidecar::inject
