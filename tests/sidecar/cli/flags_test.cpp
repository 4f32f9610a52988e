#include "sidecar/cli/flags.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

using namespace mlsidecar;
using namespace std::chrono_literals;

namespace {

enum class Mode { fast, safe };

struct Options {
  std::string name = "default";
  bool native = true;
  unsigned count = 3;
  double ratio = 0.5;
  std::chrono::milliseconds wait{5000};
  double seconds = 2;
  Endpoint listen{"0.0.0.0", 80};
  std::string level = "info";
  Mode mode = Mode::fast;
  std::vector<std::string> files;
  std::string key;
};

cli::FlagSet<Options> make_flags(bool config_file = false) {
  using O = Options;
  return cli::FlagSet<Options>(
      cli::CommandInfo{
          .name = "test", .usage = "usage: test", .description = "", .config_file = config_file},
      {
          cli::string_flag("name", &O::name, "a name"),
          cli::bool_flag("native", &O::native, "a boolean"),
          cli::uint_flag("count", &O::count, 10, "a count").at_least(1),
          cli::number_flag("ratio", &O::ratio, 0, 1, "a ratio"),
          cli::duration_flag("wait", &O::wait, "a duration"),
          cli::duration_flag("seconds", &O::seconds, "a duration as a double"),
          cli::endpoint_flag("listen", &O::listen, "an endpoint").env_var("TEST_LISTEN"),
          cli::choice_flag("level", &O::level, {"info", "debug"}, "a choice"),
          cli::enum_flag("mode", &O::mode, {{"fast", Mode::fast}, {"safe", Mode::safe}}, "an enum"),
          cli::list_flag("filename", &O::files, "files").short_name('f').no_env(),
          cli::string_flag("key", &O::key, "a required flag").required(),
      });
}

Options parse(std::vector<std::string> args, const cli::Environment& env = {}) {
  Options out;
  args.push_back("--key=k");
  make_flags().parse(args, env, out);
  return out;
}

std::string error_of(const std::vector<std::string>& args, const cli::Environment& env = {}) {
  try {
    Options out;
    make_flags().parse(args, env, out);
  } catch (const cli::UsageError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("values arrive as --name value, --name=value and -f value") {
  Options o = parse({"--name", "a", "--count=7", "-f", "x.yaml", "-fy.yaml", "--filename=z"});
  CHECK(o.name == "a");
  CHECK(o.count == 7);
  CHECK(o.files == std::vector<std::string>{"x.yaml", "y.yaml", "z"});
}

TEST_CASE("booleans work bare and with =value, never taking the next argument") {
  CHECK(parse({"--native"}).native);
  CHECK_FALSE(parse({"--native=false"}).native);
  CHECK(parse({"--native=1"}).native);
  CHECK(error_of({"--native", "false", "--key=k"}) ==
        "unexpected argument 'false' (flags start with --; see --help)");
  CHECK(error_of({"--native=maybe", "--key=k"}) == "--native 'maybe': expected true or false");
}

TEST_CASE("durations take units or plain seconds, into any duration or seconds as double") {
  CHECK(parse({"--wait", "250ms"}).wait == 250ms);
  CHECK(parse({"--wait", "5s"}).wait == 5s);
  CHECK(parse({"--wait", "2m"}).wait == 2min);
  CHECK(parse({"--wait", "1h"}).wait == 1h);
  CHECK(parse({"--wait", "1.5"}).wait == 1500ms);
  CHECK(parse({"--seconds", "500ms"}).seconds == 0.5);
  CHECK(error_of({"--wait", "5 minutes"}).find("expected a duration") != std::string::npos);
  CHECK(error_of({"--wait", "-1s"}).find("--wait '-1s'") == 0);
  CHECK(cli::show_duration(5s) == "5s");
  CHECK(cli::show_duration(250ms) == "250ms");
  CHECK(cli::show_duration(std::chrono::microseconds(1500)) == "0.0015s");
}

TEST_CASE("numbers, endpoints and choices are checked, naming the flag") {
  CHECK(error_of({"--count", "0"}) == "--count '0': must be at least 1");
  CHECK(error_of({"--count", "11"}) == "--count '11': must be at most 10");
  CHECK(error_of({"--count", "x"}) == "--count 'x': expected a whole number");
  CHECK(error_of({"--ratio", "2"}) == "--ratio '2': must be between 0 and 1");
  CHECK(error_of({"--listen", "80"}) == "--listen '80': expected HOST:PORT");
  CHECK(error_of({"--level", "loud"}) == "--level 'loud': expected one of info, debug");
  CHECK(parse({"--listen", "[::1]:81"}).listen.to_string() == "[::1]:81");
  CHECK(parse({"--mode", "safe"}).mode == Mode::safe);
}

TEST_CASE("usage mistakes are one line each") {
  CHECK(error_of({"--nope"}) == "unknown flag --nope (see --help)");
  CHECK(error_of({"-x"}) == "unknown flag -x (see --help)");
  CHECK(error_of({"--name"}) == "--name needs a value");
  CHECK(error_of({}) == "--key is required (see --help)");
  CHECK(error_of({"stray", "--key=k"}).find("unexpected argument 'stray'") == 0);
}

TEST_CASE("flags win over the environment; a list reads its variable comma-separated") {
  cli::Environment env = {{"MLSIDECAR_NAME", "env"},
                          {"MLSIDECAR_COUNT", "4"},
                          {"TEST_LISTEN", "1.2.3.4:5"},
                          {"MLSIDECAR_FILENAME", "ignored"}};
  Options o = parse({"--name", "flag"}, env);
  CHECK(o.name == "flag");
  CHECK(o.count == 4);
  CHECK(o.listen.to_string() == "1.2.3.4:5");
  CHECK(o.files.empty());  // no_env()
  CHECK(error_of({}, {{"MLSIDECAR_COUNT", "x"}, {"MLSIDECAR_KEY", "k"}}) ==
        "MLSIDECAR_COUNT: --count 'x': expected a whole number");
  CHECK(parse({}, {{"MLSIDECAR_KEY", "from-env"}}).key == "k");  // the flag still wins
}

TEST_CASE("the last of a repeated single flag wins; a list keeps every value") {
  Options o = parse({"--name", "a", "--name", "b", "-f", "1", "-f", "2"});
  CHECK(o.name == "b");
  CHECK(o.files.size() == 2);
}

TEST_CASE("the config file is the lowest layer") {
  const std::string path = "/tmp/mlsidecar_flags_test.json";
  {
    std::ofstream f(path);
    f << R"({"name": "file", "count": 2, "native": false, "filename": ["a", "b"], "key": "k"})";
  }
  Options o;
  auto outcome =
      make_flags(true).parse({"--config", path, "--count", "9"}, {{"MLSIDECAR_NAME", "env"}}, o);
  CHECK(outcome.config_file == path);
  CHECK(o.name == "env");
  CHECK(o.count == 9);
  CHECK_FALSE(o.native);
  CHECK(o.files == std::vector<std::string>{"a", "b"});
  std::remove(path.c_str());
}

TEST_CASE("help comes from the table, and asks for nothing else") {
  Options o;
  CHECK(make_flags().parse({"--nope", "-h"}, {}, o).help);
  const std::string help = make_flags().help();
  CHECK(help.rfind("usage: test\n", 0) == 0);
  CHECK(help.find("--native[=false]  (MLSIDECAR_NATIVE, default 'true')") != std::string::npos);
  CHECK(help.find("--wait DURATION  (MLSIDECAR_WAIT, default '5s')") != std::string::npos);
  CHECK(help.find("-f, --filename VALUE  (repeatable)") != std::string::npos);
  CHECK(help.find("--key TEXT  (MLSIDECAR_KEY, required)") != std::string::npos);
  CHECK(help.find("--level info|debug") != std::string::npos);
  CHECK(help.find("TEST_LISTEN") != std::string::npos);
}

TEST_CASE("one named flag can be set alone, as a per-pod annotation would") {
  Options o;
  auto flags = make_flags();
  flags.set(o, "wait", "3s");
  CHECK(o.wait == 3s);
  CHECK_THROWS_WITH(flags.set(o, "wait", "soon"),
                    "--wait 'soon': expected a duration such as 500ms, 30s or 5m");
  CHECK_THROWS_WITH(flags.set(o, "nope", "1"), "unknown flag --nope");
}

TEST_CASE("a flag defined twice is a programming error") {
  using O = Options;
  CHECK_THROWS_AS(
      cli::FlagSet<Options>(cli::CommandInfo{}, {cli::string_flag("name", &O::name, "a"),
                                                 cli::string_flag("name", &O::key, "b")}),
      std::logic_error);
}
