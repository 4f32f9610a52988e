#include "sidecar/capture/capture_command.h"

#include <spawn.h>
#include <sys/wait.h>

#include <charconv>
#include <cstdio>
#include <fstream>

#include "sidecar/capture/capture_rules.h"

extern char** environ;

namespace mlsidecar::capture {
namespace {

struct CaptureFlags {
  std::vector<std::string> model_ports;
  std::uint64_t data_port = 0;
  std::string ipv6 = "auto";
  bool dry_run = false;
};

const cli::FlagSet<CaptureFlags>& capture_flags() {
  using C = CaptureFlags;
  static const cli::FlagSet<CaptureFlags> flags(
      cli::CommandInfo{
          .name = "capture-init",
          .usage = "usage: mlsidecar capture-init --model-port PORT [--model-port PORT]... "
                   "--data-port PORT",
          .description =
              "Redirects what clients send to the model's ports to the sidecar's data port, in\n"
              "this network namespace, inbound only (nat PREROUTING), with iptables and, where "
              "the\n"
              "pod has IPv6, ip6tables; then exits. Needs NET_ADMIN; run by the injected init\n"
              "container. The sidecar's own connection to the model (loopback) is left alone.",
          .env_prefix = ""},
      {
          cli::list_flag("model-port", &C::model_ports, "a serving port of the model (repeatable)")
              .value_name("PORT")
              .required(),
          cli::uint_flag("data-port", &C::data_port, 65535, "the sidecar's data port")
              .at_least(1)
              .required(),
          cli::choice_flag("ipv6", &C::ipv6, {"auto", "on", "off"},
                           "ip6tables too: auto (when the pod has IPv6), on, off"),
          cli::bool_flag("dry-run", &C::dry_run, "print the commands instead of running them"),
      });
  return flags;
}

int run_program(const std::string& program, const std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, program.c_str(), nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Runs the commands with `program`; false (with a message) at the first required failure.
bool install(const std::string& program, const std::vector<RuleCommand>& commands) {
  bool skip_next = false;
  for (const RuleCommand& c : commands) {
    if (skip_next) {
      skip_next = false;
      continue;
    }
    const int code = run_program(program, c.args);
    if (c.on_failure == RuleCommand::OnFailure::check) {
      skip_next = code == 0;  // the jump is there already
    } else if (code != 0 && c.on_failure == RuleCommand::OnFailure::required) {
      std::fprintf(stderr, "mlsidecar capture-init: %s failed (exit %d)\n",
                   describe({c}, program).c_str(), code);
      return false;
    }
  }
  return true;
}

bool pod_has_ipv6() {
  std::ifstream in("/proc/net/if_inet6");
  std::string line;
  return static_cast<bool>(std::getline(in, line));
}

int run(const CaptureFlags& flags) {
  CaptureSpec spec;
  spec.data_port = static_cast<int>(flags.data_port);
  for (const std::string& text : flags.model_ports) {
    int port = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
    if (ec != std::errc{} || end != text.data() + text.size() || port < 1 || port > 65535) {
      throw cli::UsageError("--model-port '" + text + "': expected a port number");
    }
    if (port == spec.data_port) {
      throw cli::UsageError("--model-port " + text + " is the data port: that would loop");
    }
    spec.model_ports.push_back(port);
  }
  const auto commands = capture_commands(spec);
  const bool v6 = flags.ipv6 == "on" || (flags.ipv6 == "auto" && pod_has_ipv6());
  if (flags.dry_run) {
    std::fputs(describe(commands, "iptables").c_str(), stdout);
    if (v6) std::fputs(describe(commands, "ip6tables").c_str(), stdout);
    return 0;
  }
  if (!install("iptables", commands)) return 1;
  if (v6 && !install("ip6tables", commands)) {
    if (flags.ipv6 == "on") return 1;
    std::fprintf(stderr, "mlsidecar capture-init: IPv6 left uncaptured (ip6tables failed)\n");
  }
  std::string ports;
  for (int p : spec.model_ports) {
    if (!ports.empty()) ports += ',';
    ports += std::to_string(p);
  }
  std::fprintf(stderr, "mlsidecar capture-init: tcp %s -> %d (inbound%s)\n", ports.c_str(),
               spec.data_port, v6 ? ", IPv4 and IPv6" : ", IPv4");
  return 0;
}

}  // namespace

int run_capture_init_command(const std::vector<std::string>& args, const cli::Environment& env) {
  return cli::run_command(capture_flags(), args, env,
                          [](const CaptureFlags& flags) { return run(flags); });
}

}  // namespace mlsidecar::capture
