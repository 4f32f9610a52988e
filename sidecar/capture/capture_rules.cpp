#include "sidecar/capture/capture_rules.h"

namespace mlsidecar::capture {

std::vector<RuleCommand> capture_commands(const CaptureSpec& spec) {
  using F = RuleCommand::OnFailure;
  std::vector<RuleCommand> out;
  out.push_back({{"-t", "nat", "-N", kChain}, F::may_exist});
  out.push_back({{"-t", "nat", "-F", kChain}, F::required});
  for (int port : spec.model_ports) {
    out.push_back({{"-t", "nat", "-A", kChain, "-p", "tcp", "--dport", std::to_string(port), "-j",
                    "REDIRECT", "--to-ports", std::to_string(spec.data_port)},
                   F::required});
  }
  out.push_back({{"-t", "nat", "-C", "PREROUTING", "-p", "tcp", "-j", kChain}, F::check});
  out.push_back({{"-t", "nat", "-A", "PREROUTING", "-p", "tcp", "-j", kChain}, F::required});
  return out;
}

std::string describe(const std::vector<RuleCommand>& commands, const std::string& program) {
  std::string out;
  for (const RuleCommand& c : commands) {
    out += program;
    for (const std::string& a : c.args) out += " " + a;
    if (c.on_failure == RuleCommand::OnFailure::may_exist) out += " || true";
    if (c.on_failure == RuleCommand::OnFailure::check) out += " ||";
    out += '\n';
  }
  return out;
}

}  // namespace mlsidecar::capture
