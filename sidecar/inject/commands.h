// Entry points of the injection subcommands, called by sidecar/subcommands.cpp. Each takes the
// arguments after the subcommand's name and the MLSIDECAR_* environment, and returns the process
// exit code: 0 on success, 1 when the input cannot be processed, 2 for bad usage.
#pragma once

#include <string>
#include <vector>

#include "sidecar/cli/flags.h"

namespace mlsidecar::inject {

// mlsidecar inject -f FILE|DIR|- [-f ...] [settings flags]: YAML to stdout, one report line per
// object to stderr.
int run_inject_command(const std::vector<std::string>& args, const cli::Environment& env);

// mlsidecar uninject -f FILE|DIR|- [-f ...]: the manifests as they were before `inject`.
int run_uninject_command(const std::vector<std::string>& args, const cli::Environment& env);

// mlsidecar webhook --listen HOST:PORT --tls-cert FILE --tls-key FILE [settings flags]: serves
// POST /mutate (admission.k8s.io/v1 AdmissionReview) and GET /healthz over HTTPS until SIGTERM.
int run_webhook_command(const std::vector<std::string>& args, const cli::Environment& env);

// mlsidecar autoscale -f FILE|DIR|- --via keda|hpa-adapter [flags]: a KEDA ScaledObject or an HPA
// per workload to stdout, one report line per workload to stderr.
int run_autoscale_command(const std::vector<std::string>& args, const cli::Environment& env);

}  // namespace mlsidecar::inject
