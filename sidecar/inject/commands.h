// Entry points of the injection subcommands, called by sidecar/main.cpp. Each takes the arguments
// from the subcommand name on (argv[0] is "inject", "uninject" or "webhook") and returns the
// process exit code: 0 on success, 1 when the input cannot be processed, 2 for bad usage.
#pragma once

namespace mlsidecar::inject {

// mlsidecar inject -f FILE|- [settings flags]: YAML to stdout, one report line per object to
// stderr.
int run_inject_command(int argc, char** argv);

// mlsidecar uninject -f FILE|-: the manifest as it was before `inject`.
int run_uninject_command(int argc, char** argv);

// mlsidecar webhook --listen ADDR:PORT --tls-cert FILE --tls-key FILE [settings flags]: serves
// POST /mutate (admission.k8s.io/v1 AdmissionReview) and GET /healthz over HTTPS until SIGTERM.
int run_webhook_command(int argc, char** argv);

}  // namespace mlsidecar::inject
