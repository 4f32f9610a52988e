// The manifest files a command line names with -f, read as kubectl reads them: each FILE in order,
// a directory's .yaml, .yml and .json files sorted by name (not its subdirectories), `-` for stdin.
//
// Thread-safety: free functions; reading stdin twice gets nothing the second time.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "sidecar/cli/flags.h"

namespace mlsidecar::inject {

// One manifest file as read: its name for messages, and its text.
struct Input {
  std::string name;
  std::string text;
};

// A file that cannot be read, or an empty directory: one line for the user, exit code 1.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws InputError.
std::vector<Input> read_inputs(const std::vector<std::string>& files);

// The -f/--filename flag of the commands that read manifests, bound to `field`.
template <class Options>
cli::Flag<Options> filename_flag(std::vector<std::string> Options::*field) {
  return cli::list_flag("filename", field,
                        "manifest (multi-document YAML, JSON or kind: List); a directory gives "
                        "its .yaml, .yml and .json files in name order (not its subdirectories); "
                        "- is stdin")
      .short_name('f')
      .value_name("FILE|DIR|-")
      .no_env()
      .required();
}

}  // namespace mlsidecar::inject
