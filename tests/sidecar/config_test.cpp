#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "metrics/drift/payload.h"
#include "sidecar/config.h"

using namespace mlsidecar;

namespace {
Config parse(const std::vector<std::string>& args,
             const std::map<std::string, std::string>& env = {}) {
  return parse_config(args, env).config;
}
}  // namespace

TEST_CASE("defaults follow the architecture sketch") {
  Config c = parse({});
  CHECK(c.listen.to_string() == "0.0.0.0:8080");
  CHECK(c.upstream.to_string() == "127.0.0.1:8081");
  CHECK(c.admin.to_string() == "0.0.0.0:9090");
  CHECK(c.upstream_timeout >= std::chrono::minutes(5));  // models may take minutes
}

TEST_CASE("flags win over the environment, which wins over the file") {
  std::string path = "/tmp/mlsidecar_config_test.json";
  {
    std::ofstream f(path);
    f << R"({"model": "from-file", "threads": 3, "upstream-timeout": "90s", "drain-seconds": 7})";
  }
  Config c = parse({"--config", path, "--model=from-flag"},
                   {{"MLSIDECAR_THREADS", "5"}, {"MLSIDECAR_MODEL", "from-env"}});
  CHECK(c.model == "from-flag");
  CHECK(c.threads == 5);
  CHECK(c.upstream_timeout == std::chrono::seconds(90));
  CHECK(c.drain == std::chrono::seconds(7));
  std::remove(path.c_str());
}

TEST_CASE("durations, endpoints and numbers parse in their usual forms") {
  Config c =
      parse({"--header-timeout", "250ms", "--idle-timeout", "2m", "--connect-timeout", "1.5",
             "--listen", "[::1]:80", "--upstream", "model:9000", "--drift-sample-rate", "0.25"});
  CHECK(c.header_timeout == std::chrono::milliseconds(250));
  CHECK(c.idle_timeout == std::chrono::minutes(2));
  CHECK(c.connect_timeout == std::chrono::milliseconds(1500));
  CHECK(c.listen.host == "::1");
  CHECK(c.listen.port == 80);
  CHECK(c.upstream.host == "model");
  CHECK(c.drift_sample_rate == 0.25);
}

TEST_CASE("mistakes are one clear line naming the flag") {
  auto message = [](const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& env = {}) {
    try {
      parse_config(args, env);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message({"--threads", "many"}) == "--threads 'many': expected a whole number");
  CHECK(message({"--listen", "8080"}) == "--listen '8080': expected HOST:PORT");
  CHECK(message({"--nope", "1"}) == "unknown flag --nope (see --help)");
  CHECK(message({"--model"}) == "--model needs a value");
  CHECK(message({"--drift-sample-rate", "2"}).find("between 0 and 1") != std::string::npos);
  CHECK(message({"--queue-depth", "5"}).find("--container-concurrency") != std::string::npos);
  CHECK(message({"--idle-timeout", "5 minutes"}).find("duration") != std::string::npos);
  CHECK(message({}, {{"MLSIDECAR_ADMIN", "x"}}).rfind("MLSIDECAR_ADMIN:", 0) == 0);
  CHECK(message({"--config", "/nonexistent.json"}).find("cannot read") != std::string::npos);
  for (const std::string& m : {message({"--threads", "x"}), message({"--log-level", "loud"})}) {
    CHECK(m.find('\n') == std::string::npos);
  }
}

TEST_CASE("--help documents every flag with its environment variable") {
  std::string help = config_help();
  for (const char* name : {"--listen", "--upstream", "--admin", "--threads", "--ready-path",
                           "--drain-seconds", "--container-concurrency", "--drift-profile"}) {
    CHECK(help.find(name) != std::string::npos);
  }
  CHECK(help.find("MLSIDECAR_READY_PATH") != std::string::npos);
  CHECK(parse_config({"--help"}, {}).help);
}

TEST_CASE("--drift-format takes every spelling the payload readers accept, and only those") {
  // The choices come from drift::payload_format_spellings(): "v1" and "tfserving" were refused.
  for (const auto& spelling : drift::payload_format_spellings()) {
    Config c = parse({"--drift-format", std::string(spelling.text)});
    drift::PayloadFormat format{};
    CHECK(drift::parse_payload_format(c.drift_format, format));
    CHECK(format == spelling.format);
  }
  CHECK(parse({"--drift-format", "v1"}).drift_format == "v1");
  CHECK(parse({"--drift-format", "tfserving"}).drift_format == "tfserving");
  CHECK_THROWS_AS(parse({"--drift-format", "xml"}), ConfigError);
  CHECK(config_help().find("tfserving") != std::string::npos);
}

TEST_CASE("one serve flag can be applied by name, as a pod annotation would be") {
  Config c;
  apply_serve_flag(c, "drain-seconds", "15s");
  apply_serve_flag(c, "container-concurrency", "8");
  CHECK(c.drain == std::chrono::seconds(15));
  CHECK(c.container_concurrency == 8);
  CHECK_THROWS_WITH(apply_serve_flag(c, "container-concurrency", "lots"),
                    "--container-concurrency 'lots': expected a whole number");
  CHECK_THROWS_WITH(apply_serve_flag(c, "no-such-flag", "1"), "unknown flag --no-such-flag");
  c.queue_depth = 4;
  c.container_concurrency = 0;
  CHECK_THROWS_AS(validate_config(c), ConfigError);
}

TEST_CASE("/config shows the effective settings as JSON") {
  std::string json = config_to_json(parse({"--model", "iris"}));
  CHECK(json.find("\"model\": \"iris\"") != std::string::npos);
  CHECK(json.find("\"upstream\": \"127.0.0.1:8081\"") != std::string::npos);
}

TEST_CASE("the CPU count honours the affinity mask and is at least one") {
  unsigned cpus = available_cpus();
  CHECK(cpus >= 1);
  CHECK(cpus <= 4096);
}

TEST_CASE("the shadow flags parse from flags, the environment and annotations") {
  Config off = parse({});
  CHECK(off.shadow_upstream.empty());
  CHECK(off.shadow_fraction == 0.1);
  CHECK(off.shadow_version == "shadow");
  CHECK(off.shadow_max_body == 1024 * 1024);
  CHECK(off.shadow_timeout == std::chrono::seconds(10));

  Config c = parse({"--shadow-upstream", "iris-v2.models:8080", "--shadow-fraction", "0.25",
                    "--shadow-version", "v2", "--shadow-max-rps", "0", "--shadow-timeout", "2s",
                    "--shadow-class-outputs", "label,kind", "--shadow-class-outputs", "third"},
                   {{"MLSIDECAR_SHADOW_ARGMAX_OUTPUTS", "probs,scores"}});
  CHECK(shadow_upstream_of(c)->to_string() == "iris-v2.models:8080");
  CHECK(c.shadow_fraction == 0.25);
  CHECK(c.shadow_version == "v2");
  CHECK(c.shadow_max_rps == 0);
  CHECK(c.shadow_timeout == std::chrono::seconds(2));
  CHECK(c.shadow_class_outputs == std::vector<std::string>{"label", "kind", "third"});
  CHECK(c.shadow_argmax_outputs == std::vector<std::string>{"probs", "scores"});

  // An annotation carries one value: mlsidecar.io/shadow-class-outputs: "a,b".
  Config pod;
  apply_serve_flag(pod, "shadow-class-outputs", "a,,b");
  CHECK(pod.shadow_class_outputs == std::vector<std::string>{"a", "b"});
  const auto& per_pod = per_pod_flags();
  for (const char* name :
       {"shadow-upstream", "shadow-fraction", "shadow-version", "shadow-max-body", "shadow-max-rps",
        "shadow-timeout", "shadow-class-outputs", "shadow-argmax-outputs"}) {
    CHECK(std::find(per_pod.begin(), per_pod.end(), name) != per_pod.end());
    CHECK(config_help().find(std::string("--") + name) != std::string::npos);
  }
}

TEST_CASE("bad shadow settings are one line naming the flag") {
  CHECK_THROWS_WITH(parse({"--shadow-upstream", "nohost"}),
                    "--shadow-upstream 'nohost': expected HOST:PORT");
  CHECK_THROWS_WITH(parse({"--shadow-upstream", "h:0"}),
                    "--shadow-upstream 'h:0': expected HOST:PORT");
  CHECK_THROWS_AS(parse({"--shadow-fraction", "1.5"}), ConfigError);
  CHECK_THROWS_AS(parse({"--shadow-max-body", "0"}), ConfigError);
  CHECK_THROWS_AS(parse({"--shadow-max-rps", "-1"}), ConfigError);
  CHECK_THROWS_AS(parse({"--shadow-timeout", "soon"}), ConfigError);
  CHECK_THROWS_WITH(parse({"--shadow-version", ""}),
                    "--shadow-version '': expected a name without spaces or control characters");
  CHECK_THROWS_AS(parse({"--shadow-version", "v 2"}), ConfigError);
  CHECK_THROWS_WITH(parse({"--shadow-class-outputs", "label,bad name"}),
                    "--shadow-class-outputs 'label,bad name': expected names without spaces or "
                    "control characters");
  std::string many;
  for (int i = 0; i < 65; ++i) {
    many += 'o';
    many += std::to_string(i);
    many += ',';
  }
  CHECK_THROWS_WITH(parse({"--shadow-argmax-outputs", many}),
                    "--shadow-argmax-outputs: 65 outputs, at most 64");
}
