// The flags of InjectionSettings. See settings.h.
#include "sidecar/inject/settings.h"

namespace mlsidecar::inject {

const std::vector<cli::Flag<InjectionSettings>>& settings_flags() {
  using S = InjectionSettings;
  static const std::vector<cli::Flag<S>> flags = {
      cli::string_flag("image", &S::image, "sidecar image").value_name("IMAGE"),
      cli::string_flag("image-pull-policy", &S::image_pull_policy, "sidecar imagePullPolicy")
          .value_name("POLICY"),
      cli::bool_flag("native", &S::native,
                     "true: native sidecar (init container, restartPolicy Always); false: first "
                     "ordinary container"),
      cli::uint_flag("data-port", &S::data_port, 65535,
                     "preferred sidecar data port (the next free one on collision)")
          .at_least(1),
      cli::uint_flag("admin-port", &S::admin_port, 65535,
                     "preferred sidecar admin port (the next free one on collision)")
          .at_least(1),
      cli::string_flag("cpu-request", &S::cpu_request, "sidecar CPU request").value_name("QTY"),
      cli::string_flag("cpu-limit", &S::cpu_limit, "sidecar CPU limit (empty for none)")
          .value_name("QTY"),
      cli::string_flag("memory-request", &S::memory_request, "sidecar memory request")
          .value_name("QTY"),
      cli::string_flag("memory-limit", &S::memory_limit, "sidecar memory limit (empty for none)")
          .value_name("QTY"),
      cli::duration_flag("drain-seconds", &S::drain, "the sidecar's --drain-seconds"),
      cli::duration_flag("shutdown-timeout", &S::shutdown_timeout,
                         "the sidecar's --shutdown-timeout"),
      cli::choice_flag("capture", &S::capture, capture_modes(),
                       "how clients' traffic to the model's port reaches the sidecar: redirect "
                       "(an init container with NET_ADMIN), port-name (no privileges: named "
                       "targetPorts only), service (repoint Services in the input)"),
      cli::duration_flag("model-prestop-sleep", &S::model_prestop_sleep,
                         "preStop sleep added to the model container, in whole seconds (0 leaves "
                         "the model container untouched)"),
  };
  return flags;
}

int needed_grace_seconds(const InjectionSettings& settings) {
  const auto total = settings.model_prestop_sleep + settings.drain + settings.shutdown_timeout;
  return static_cast<int>(std::chrono::ceil<std::chrono::seconds>(total).count());
}

std::string duration_argument(std::chrono::milliseconds d) {
  if (d % std::chrono::seconds(1) == std::chrono::milliseconds(0)) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count());
  }
  return std::to_string(d.count()) + "ms";
}

}  // namespace mlsidecar::inject
