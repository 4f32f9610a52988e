#include <catch2/catch.hpp>

#include "sidecar/capture/capture_rules.h"

using namespace mlsidecar::capture;

TEST_CASE("the capture redirects each serving port to the data port, inbound only") {
  const auto commands = capture_commands({{8000, 8001}, 8081});
  const std::string text = describe(commands, "iptables");
  CHECK(text ==
        "iptables -t nat -N MLSIDECAR_INBOUND || true\n"
        "iptables -t nat -F MLSIDECAR_INBOUND\n"
        "iptables -t nat -A MLSIDECAR_INBOUND -p tcp --dport 8000 -j REDIRECT --to-ports 8081\n"
        "iptables -t nat -A MLSIDECAR_INBOUND -p tcp --dport 8001 -j REDIRECT --to-ports 8081\n"
        "iptables -t nat -C PREROUTING -p tcp -j MLSIDECAR_INBOUND ||\n"
        "iptables -t nat -A PREROUTING -p tcp -j MLSIDECAR_INBOUND\n");
  for (const auto& c : commands) {
    // Never OUTPUT: the sidecar's own connection to the model must not be redirected back.
    for (const auto& a : c.args) CHECK(a != "OUTPUT");
  }
}
