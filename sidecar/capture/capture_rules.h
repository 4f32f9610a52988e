// Traffic capture for an injected pod (`mlsidecar capture-init`, run by an init container with
// NET_ADMIN): a nat rule that sends what clients send to the model's serving ports to the
// sidecar's data port instead, inbound only, as Istio's istio-init and Linkerd's proxy-init do.
//
// Only PREROUTING is touched: it sees connections that enter the pod from outside (clients,
// Services, the kubelet's probes), never the sidecar's own connection to the model on loopback
// (OUTPUT), so nothing loops. The rules live in a chain of their own, MLSIDECAR_INBOUND, which a
// rerun of the init container (a pod restart) flushes and fills again, and PREROUTING jumps to
// it once.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

namespace mlsidecar::capture {

inline constexpr const char* kChain = "MLSIDECAR_INBOUND";

struct CaptureSpec {
  std::vector<int> model_ports;  // the serving ports clients call (not a metrics port)
  int data_port = 0;             // the sidecar's data port
};

// One iptables (or ip6tables: the same arguments) invocation.
struct RuleCommand {
  std::vector<std::string> args;  // without the program name
  // How a failure is taken: `required` fails the capture; `may_exist` is fine (the chain is
  // there from an earlier run); `check` decides whether the next command runs (only on failure).
  enum class OnFailure { required, may_exist, check } on_failure = OnFailure::required;
};

// The commands that install the capture, in order.
std::vector<RuleCommand> capture_commands(const CaptureSpec& spec);

// One line per command, as a shell would run them (for --dry-run and the logs).
std::string describe(const std::vector<RuleCommand>& commands, const std::string& program);

}  // namespace mlsidecar::capture
