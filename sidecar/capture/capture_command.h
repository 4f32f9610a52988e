// `mlsidecar capture-init`: installs the inbound capture (capture_rules.h) in the pod's network
// namespace and exits; run by an init container that alone has NET_ADMIN.
#pragma once

#include <string>
#include <vector>

#include "sidecar/cli/flags.h"

namespace mlsidecar::capture {

int run_capture_init_command(const std::vector<std::string>& args, const cli::Environment& env);

}  // namespace mlsidecar::capture
