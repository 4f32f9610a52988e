// The parser shared by every FlagSet: arguments, environment and config file in layers, and the
// help text. See flags.h.
#include "sidecar/cli/flags.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

extern char** environ;

namespace mlsidecar::cli {
namespace {

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

bool is_help(const std::string& arg) { return arg == "--help" || arg == "-h"; }

// Each flag's values from the command line, in order of appearance; the --config path apart.
struct GivenArgs {
  std::map<std::size_t, Values> values;
  std::optional<std::string> config_file;
};

GivenArgs split_args(const CommandInfo& info, const std::vector<FlagSpec>& specs,
                     const std::vector<std::string>& args) {
  GivenArgs given;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    std::string name, value;
    bool has_value = false;
    std::size_t flag = kNone;
    if (arg.size() > 2 && arg.rfind("--", 0) == 0) {
      name = arg.substr(2);
      if (std::size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
        has_value = true;
      }
      flag = find_flag(specs, name);
      if (flag == kNone && !(info.config_file && name == "config")) {
        throw UsageError("unknown flag --" + name + " (see --help)");
      }
    } else if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-') {
      for (std::size_t s = 0; s < specs.size() && flag == kNone; ++s) {
        if (specs[s].short_name == arg[1]) flag = s;
      }
      if (flag == kNone) throw UsageError("unknown flag " + arg.substr(0, 2) + " (see --help)");
      name = specs[flag].name;
      if (arg.size() > 2) {  // -fFILE
        value = arg.substr(arg[2] == '=' ? 3 : 2);
        has_value = true;
      }
    } else {
      throw UsageError("unexpected argument '" + arg + "' (flags start with --; see --help)");
    }
    if (!has_value) {
      if (flag != kNone && specs[flag].type == FlagType::boolean) {
        value = "true";
      } else if (i + 1 >= args.size()) {
        throw UsageError("--" + name + " needs a value");
      } else {
        value = args[++i];
      }
    }
    if (flag == kNone) {
      given.config_file = value;
    } else {
      given.values[flag].push_back(value);
    }
  }
  return given;
}

Values split_commas(const std::string& text) {
  Values out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = std::min(text.find(',', start), text.size());
    if (comma > start) out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// The file's settings as (flag, values); a JSON value that is not a string is given as JSON text.
std::vector<std::pair<std::size_t, Values>> read_config_file(const std::vector<FlagSpec>& specs,
                                                             const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("--config '" + path + "': cannot read the file");
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in, nullptr, false);
  } catch (const std::exception&) {  // the stream itself failed, e.g. the path is a directory
    throw UsageError("--config '" + path + "': cannot read the file");
  }
  if (doc.is_discarded() || !doc.is_object()) {
    throw UsageError("--config '" + path + "': not a JSON object");
  }
  std::vector<std::pair<std::size_t, Values>> out;
  for (auto& [key, value] : doc.items()) {
    std::size_t flag = find_flag(specs, key);
    if (flag == kNone) {
      throw UsageError(std::string("--config '")
                           .append(path)
                           .append("': unknown setting '")
                           .append(key)
                           .append("'"));
    }
    auto text = [](const nlohmann::json& v) {
      return v.is_string() ? v.get<std::string>() : v.dump();
    };
    Values values;
    if (value.is_array() && specs[flag].type == FlagType::list) {
      for (const auto& item : value) values.push_back(text(item));
    } else {
      values.push_back(text(value));
    }
    out.emplace_back(flag, std::move(values));
  }
  return out;
}

std::string shown_value_name(const FlagSpec& spec) {
  if (spec.type == FlagType::boolean) return "[=false]";
  if (spec.type == FlagType::choice) {
    std::string list;
    for (const auto& c : spec.choices) list += (list.empty() ? "" : "|") + c;
    return " " + list;
  }
  return " " + spec.value_name;
}

// `text` in lines of at most `width` columns (a longer word stands alone), each after `indent`.
std::string wrap(const std::string& text, const std::string& indent, std::size_t width) {
  std::istringstream words(text);
  std::string out, line, word;
  while (words >> word) {
    if (!line.empty() && indent.size() + line.size() + 1 + word.size() > width) {
      out += indent + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  return out + indent + line + "\n";
}

}  // namespace

Environment process_environment() {
  Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq && std::strncmp(*e, "MLSIDECAR_", 10) == 0) {
      env.emplace(std::string(*e, static_cast<std::size_t>(eq - *e)), eq + 1);
    }
  }
  return env;
}

std::size_t find_flag(const std::vector<FlagSpec>& specs, std::string_view name) {
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].name == name) return i;
  }
  return kNone;
}

void check_unique(const std::vector<FlagSpec>& specs) {
  std::set<std::string> names;
  for (const FlagSpec& s : specs) {
    if (!names.insert(s.name).second) throw std::logic_error("flag --" + s.name + " defined twice");
  }
}

std::string env_name(const CommandInfo& info, const FlagSpec& spec) {
  if (spec.env) return *spec.env;
  if (info.env_prefix.empty()) return "";
  std::string out = info.env_prefix;
  for (char ch : spec.name) out += ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
  return out;
}

ParseOutcome parse_layers(const CommandInfo& info, const std::vector<FlagSpec>& specs,
                          const std::vector<std::string>& args, const Environment& env,
                          const ApplyFn& apply) {
  ParseOutcome outcome;
  for (const std::string& arg : args) {
    if (is_help(arg)) {
      outcome.help = true;
      return outcome;
    }
  }
  GivenArgs given = split_args(info, specs, args);
  std::vector<bool> set(specs.size(), false);

  if (info.config_file) {
    std::string path = given.config_file.value_or("");
    if (!given.config_file && !info.env_prefix.empty()) {
      if (auto it = env.find(info.env_prefix + "CONFIG"); it != env.end()) path = it->second;
    }
    if (!path.empty()) {
      for (auto& [flag, values] : read_config_file(specs, path)) {
        apply(flag, values);
        set[flag] = true;
      }
      outcome.config_file = path;
    }
  }
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const std::string name = env_name(info, specs[i]);
    auto it = name.empty() ? env.end() : env.find(name);
    if (it == env.end()) continue;
    try {
      apply(i, specs[i].type == FlagType::list ? split_commas(it->second) : Values{it->second});
    } catch (const UsageError& e) {
      throw UsageError(name + ": " + e.what());
    }
    set[i] = true;
  }
  for (const auto& [flag, values] : given.values) {
    apply(flag, values);
    set[flag] = true;
  }
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].required && !set[i]) {
      throw UsageError("--" + specs[i].name + " is required (see --help)");
    }
  }
  return outcome;
}

std::string help_text(const CommandInfo& info, const std::vector<FlagSpec>& specs,
                      const std::vector<std::string>& defaults) {
  std::ostringstream out;
  out << info.usage << "\n";
  if (!info.description.empty()) out << "\n" << info.description << "\n";
  out << "\nFlags";
  if (!info.env_prefix.empty()) {
    out << " (each also read from the environment variable shown; flags win over the\n"
           "environment";
    if (info.config_file)
      out << ", the environment over --config FILE, a JSON object of flag names";
    out << ")";
  }
  out << ":\n";
  if (info.config_file) {
    out << "  --config FILE  (" << info.env_prefix << "CONFIG)\n"
        << "      JSON file of settings\n";
  }
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const FlagSpec& s = specs[i];
    out << "  ";
    if (s.short_name) out << "-" << s.short_name << ", ";
    out << "--" << s.name << shown_value_name(s) << "  (";
    if (std::string env = env_name(info, s); !env.empty()) out << env << ", ";
    if (s.required) {
      out << "required";
    } else if (s.type == FlagType::list) {
      out << "repeatable";
    } else {
      out << "default '" << (s.default_text.empty() ? defaults[i] : s.default_text) << "'";
    }
    out << ")\n" << wrap(s.help, "      ", 100);
  }
  out << "  -h, --help\n      this text\n";
  return out.str();
}

int print_help(const std::string& text) {
  std::fputs(text.c_str(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

int report_usage_error(const CommandInfo& info, const std::exception& error) {
  std::string prefix = "mlsidecar" + (info.name.empty() ? "" : " " + info.name);
  std::string line = error.what();
  std::replace(line.begin(), line.end(), '\n', ' ');  // a value may hold one: still one line
  std::fprintf(stderr, "%s: %s\n", prefix.c_str(), line.c_str());
  return 2;
}

}  // namespace mlsidecar::cli
