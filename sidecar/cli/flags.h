// One way to define and parse command-line flags, for every subcommand of mlsidecar.
//
// A flag is defined once: its name, type (string, boolean, whole number or number in a range,
// duration, HOST:PORT, one of a list of choices, a repeatable list), environment variable
// (MLSIDECAR_<NAME> unless told otherwise), help, and the field of the command's options struct it
// sets; its default is that field's initial value. A FlagSet<T> holds one command's flags and
// parses, in increasing precedence, an optional JSON `--config FILE`, the environment and the
// arguments into a T, with kubectl's habits:
//   --name value, --name=value, -f value; booleans bare (--native) or --native=false (a bare
//   boolean never takes the next argument, so `--native false` is an error);
//   durations 500ms, 30s, 5m, 1h or plain seconds ("2.5"); a list flag repeats (-f a -f b) and
//   reads its variable as a comma-separated list; the last of a repeated single flag wins;
//   --help or -h anywhere asks for help().
// Every mistake throws UsageError, one line naming the flag; run_command() prints it on stderr and
// returns 2, or prints the help on stdout and returns 0.
//
// Example: struct Options { bool native = true; std::chrono::milliseconds drain{5000}; };
//   FlagSet<Options> set({"inject", "usage: ..."}, {bool_flag("native", &Options::native, "..."),
//                        duration_flag("drain-seconds", &Options::drain, "...")});
//   set.parse({"--native=false", "--drain-seconds", "500ms"}, env, options);
//
// Thread-safety: a FlagSet is immutable once built; parse() and help() may run concurrently.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace mlsidecar {

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const;
};

}  // namespace mlsidecar

namespace mlsidecar::cli {

// A mistake in the command line, the environment or the config file: one line for the user.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Variable name -> value; only MLSIDECAR_* variables are read.
using Environment = std::map<std::string, std::string>;
Environment process_environment();

enum class FlagType : std::uint8_t {
  string,
  boolean,
  uint,
  number,
  duration,
  endpoint,
  choice,
  list
};

struct FlagSpec {
  std::string name;  // without the dashes: "drain-seconds"
  FlagType type = FlagType::string;
  std::string help;
  char short_name = 0;             // 'f' for -f
  std::optional<std::string> env;  // unset: the command's prefix + NAME; "": read none
  bool required = false;
  std::uint64_t min = 0, max = UINT64_MAX;  // uint
  double low = 0, high = 0;                 // number
  std::vector<std::string> choices;         // choice
  std::string value_name;                   // in the help: FILE, HOST:PORT, N
  std::string default_text;                 // shown instead of the field's initial value
};

// Readers of one value; a bad one throws UsageError "--name 'value': why".
std::uint64_t read_uint(const FlagSpec& spec, const std::string& value);
double read_number(const FlagSpec& spec, const std::string& value);
std::chrono::nanoseconds read_duration(const FlagSpec& spec, const std::string& value);
bool read_bool(const FlagSpec& spec, const std::string& value);
Endpoint read_endpoint(const FlagSpec& spec, const std::string& value);
void check_choice(const FlagSpec& spec, const std::string& value);

// "5s", "250ms", or "0.0001s" for less than a millisecond; readable again by read_duration.
std::string show_duration(std::chrono::nanoseconds d);
std::string show_number(double d);

using Values = std::vector<std::string>;

template <class T>
struct Flag {
  FlagSpec spec;
  // Sets the field from the values one layer gave (a list takes them all, others the last).
  std::function<void(const FlagSpec&, T&, const Values&)> set;
  std::function<std::string(const T&)> show;

  Flag short_name(char c) const {
    return with([c](FlagSpec& s) { s.short_name = c; });
  }
  Flag env_var(std::string name) const {
    return with([&name](FlagSpec& s) { s.env = std::move(name); });
  }
  Flag no_env() const { return env_var(""); }
  Flag required() const {
    return with([](FlagSpec& s) { s.required = true; });
  }
  Flag at_least(std::uint64_t min) const {
    return with([min](FlagSpec& s) { s.min = min; });
  }
  Flag value_name(std::string name) const {
    return with([&name](FlagSpec& s) { s.value_name = std::move(name); });
  }
  Flag default_text(std::string text) const {
    return with([&text](FlagSpec& s) { s.default_text = std::move(text); });
  }

 private:
  template <class Edit>
  Flag with(Edit edit) const {
    Flag copy = *this;
    edit(copy.spec);
    return copy;
  }
};

namespace detail {
template <class T>
Flag<T> make(const std::string& name, FlagType type, const std::string& help,
             const std::string& value_name) {
  Flag<T> f;
  f.spec.name = name;
  f.spec.type = type;
  f.spec.help = help;
  f.spec.value_name = value_name;
  return f;
}
}  // namespace detail

template <class T>
Flag<T> string_flag(std::string name, std::string T::*field, std::string help) {
  auto f = detail::make<T>(std::move(name), FlagType::string, std::move(help), "TEXT");
  f.set = [field](const FlagSpec&, T& t, const Values& v) { t.*field = v.back(); };
  f.show = [field](const T& t) { return t.*field; };
  return f;
}

template <class T>
Flag<T> bool_flag(std::string name, bool T::*field, std::string help) {
  auto f = detail::make<T>(std::move(name), FlagType::boolean, std::move(help), "");
  f.set = [field](const FlagSpec& s, T& t, const Values& v) { t.*field = read_bool(s, v.back()); };
  f.show = [field](const T& t) { return std::string(t.*field ? "true" : "false"); };
  return f;
}

// A whole number in [min, max] (min through at_least()).
template <class T, class M>
Flag<T> uint_flag(std::string name, M T::*field, std::uint64_t max, std::string help) {
  auto f = detail::make<T>(std::move(name), FlagType::uint, std::move(help), "N");
  f.spec.max = max;
  f.set = [field](const FlagSpec& s, T& t, const Values& v) {
    t.*field = static_cast<M>(read_uint(s, v.back()));
  };
  f.show = [field](const T& t) { return std::to_string(t.*field); };
  return f;
}

template <class T>
Flag<T> number_flag(std::string name, double T::*field, double low, double high, std::string help) {
  auto f = detail::make<T>(std::move(name), FlagType::number, std::move(help), "X");
  f.spec.low = low;
  f.spec.high = high;
  f.set = [field](const FlagSpec& s, T& t, const Values& v) {
    t.*field = read_number(s, v.back());
  };
  f.show = [field](const T& t) { return show_number(t.*field); };
  return f;
}

// A std::chrono::duration field, or a double field counting seconds.
template <class T, class M>
Flag<T> duration_flag(std::string name, M T::*field, std::string help) {
  auto f = detail::make<T>(std::move(name), FlagType::duration, std::move(help), "DURATION");
  f.set = [field](const FlagSpec& s, T& t, const Values& v) {
    const std::chrono::nanoseconds d = read_duration(s, v.back());
    if constexpr (std::is_floating_point_v<M>) {
      t.*field = std::chrono::duration<double>(d).count();
    } else {
      t.*field = std::chrono::round<M>(d);
    }
  };
  f.show = [field](const T& t) {
    if constexpr (std::is_floating_point_v<M>) {
      return show_duration(std::chrono::nanoseconds(std::llround(t.*field * 1e9)));
    } else {
      return show_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(t.*field));
    }
  };
  return f;
}

template <class T>
Flag<T> endpoint_flag(std::string name, Endpoint T::*field, std::string help) {
  auto f = detail::make<T>(std::move(name), FlagType::endpoint, std::move(help), "HOST:PORT");
  f.set = [field](const FlagSpec& s, T& t, const Values& v) {
    t.*field = read_endpoint(s, v.back());
  };
  f.show = [field](const T& t) { return (t.*field).to_string(); };
  return f;
}

// One of `choices`, kept as written.
template <class T>
Flag<T> choice_flag(const std::string& name, std::string T::*field,
                    const std::vector<std::string>& choices, const std::string& help) {
  auto f = detail::make<T>(name, FlagType::choice, help, "NAME");
  f.spec.choices = choices;
  f.set = [field](const FlagSpec& s, T& t, const Values& v) {
    check_choice(s, v.back());
    t.*field = v.back();
  };
  f.show = [field](const T& t) { return t.*field; };
  return f;
}

// One of the names in `choices`, stored as its value.
template <class T, class M>
Flag<T> enum_flag(std::string name, M T::*field, std::vector<std::pair<std::string, M>> choices,
                  std::string help) {
  auto f = detail::make<T>(std::move(name), FlagType::choice, std::move(help), "NAME");
  for (const auto& choice : choices) f.spec.choices.push_back(choice.first);
  f.set = [field, choices](const FlagSpec& s, T& t, const Values& v) {
    check_choice(s, v.back());
    for (const auto& [text, value] : choices) {
      if (text == v.back()) t.*field = value;
    }
  };
  f.show = [field, choices](const T& t) {
    for (const auto& [text, value] : choices) {
      if (value == t.*field) return text;
    }
    return std::string();
  };
  return f;
}

// Repeatable: every occurrence adds one value.
template <class T>
Flag<T> list_flag(std::string name, std::vector<std::string> T::*field, std::string help) {
  auto f = detail::make<T>(std::move(name), FlagType::list, std::move(help), "VALUE");
  f.set = [field](const FlagSpec&, T& t, const Values& v) { t.*field = v; };
  f.show = [field](const T& t) {
    std::string out;
    for (const auto& item : t.*field) out += (out.empty() ? "" : ",") + item;
    return out;
  };
  return f;
}

// `flags` of a member struct, as flags of the struct that holds it.
template <class Outer, class Inner>
std::vector<Flag<Outer>> nested(Inner Outer::*member, const std::vector<Flag<Inner>>& flags) {
  std::vector<Flag<Outer>> out;
  for (const Flag<Inner>& f : flags) {
    Flag<Outer> g;
    g.spec = f.spec;
    g.set = [member, set = f.set](const FlagSpec& s, Outer& o, const Values& v) {
      set(s, o.*member, v);
    };
    g.show = [member, show = f.show](const Outer& o) { return show(o.*member); };
    out.push_back(std::move(g));
  }
  return out;
}

template <class T>
std::vector<Flag<T>> join(std::vector<Flag<T>> a, const std::vector<Flag<T>>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

struct CommandInfo {
  std::string name;                       // "inject"; messages start "mlsidecar inject: "
  std::string usage;                      // the help's first lines
  std::string description;                // a paragraph after them
  std::string env_prefix = "MLSIDECAR_";  // "": the flags read no environment
  bool config_file = false;  // --config FILE (or PREFIX CONFIG): a JSON object of flag names
};

struct ParseOutcome {
  bool help = false;
  std::string config_file;  // the file applied, if any
};

// The untyped part of the parser, shared by every FlagSet.
using ApplyFn = std::function<void(std::size_t flag, const Values& values)>;
ParseOutcome parse_layers(const CommandInfo& info, const std::vector<FlagSpec>& specs,
                          const std::vector<std::string>& args, const Environment& env,
                          const ApplyFn& apply);
std::string env_name(const CommandInfo& info, const FlagSpec& spec);
std::string help_text(const CommandInfo& info, const std::vector<FlagSpec>& specs,
                      const std::vector<std::string>& defaults);
std::size_t find_flag(const std::vector<FlagSpec>& specs, std::string_view name);  // or npos
void check_unique(const std::vector<FlagSpec>& specs);

template <class T>
class FlagSet {
 public:
  FlagSet(CommandInfo info, std::vector<Flag<T>> flags)
      : info_(std::move(info)), flags_(std::move(flags)) {
    for (const Flag<T>& f : flags_) specs_.push_back(f.spec);
    check_unique(specs_);
  }

  // Layers the config file, the environment and `args` onto `out`, which holds the defaults.
  ParseOutcome parse(const std::vector<std::string>& args, const Environment& env, T& out) const {
    return parse_layers(info_, specs_, args, env, [&](std::size_t i, const Values& values) {
      flags_[i].set(flags_[i].spec, out, values);
    });
  }

  // Sets one named flag as if given on the command line (for per-pod annotations and tests).
  void set(T& out, std::string_view name, const std::string& value) const {
    const std::size_t i = find_flag(specs_, name);
    if (i >= flags_.size()) throw UsageError("unknown flag --" + std::string(name));
    flags_[i].set(flags_[i].spec, out, {value});
  }

  // Each flag's value in `t`, by name.
  std::vector<std::pair<std::string, std::string>> values(const T& t) const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const Flag<T>& f : flags_) out.emplace_back(f.spec.name, f.show(t));
    return out;
  }

  std::string help() const {
    std::vector<std::string> defaults;
    const T initial{};
    for (const Flag<T>& f : flags_) defaults.push_back(f.show(initial));
    return help_text(info_, specs_, defaults);
  }

  const CommandInfo& info() const { return info_; }

 private:
  CommandInfo info_;
  std::vector<Flag<T>> flags_;
  std::vector<FlagSpec> specs_;
};

// The help on stdout (0) or a UsageError on stderr as "mlsidecar NAME: message" (2).
int print_help(const std::string& text);
int report_usage_error(const CommandInfo& info, const std::exception& error);

// Parses `args` into a T and calls body(T&) -> exit code. --help prints the help and returns 0;
// a UsageError from parsing or from `body` is one line on stderr and returns 2.
template <class T, class Body>
int run_command(const FlagSet<T>& flags, const std::vector<std::string>& args,
                const Environment& env, Body&& body) {
  T options{};
  try {
    if (flags.parse(args, env, options).help) return print_help(flags.help());
    return body(options);
  } catch (const UsageError& e) {
    return report_usage_error(flags.info(), e);
  }
}

}  // namespace mlsidecar::cli
