// Fuzz target: the reference-profile loader (metrics/drift/reference_profile.h), which reads a JSON
// file at start-up.
//
// Invariants: a bad document is refused with std::runtime_error "<origin>: <reason>" and nothing
// else (main turns that into one line and exit code 2); an accepted profile is consistent (cells
// and their ratios agree, bins are in range) and survives profile_to_json -> parse_profile
// unchanged.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "metrics/drift/reference_profile.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace mlsidecar::drift;

// Only std::runtime_error with the origin prefix is an acceptable refusal.
template <class F>
bool refused(F&& f) {
  try {
    f();
    return false;
  } catch (const std::runtime_error& e) {
    FUZZ_CHECK(std::string_view(e.what()).starts_with("fuzz: "));
    return true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parse_profile threw a non-runtime_error: %s\n", e.what());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ReferenceProfile profile;
  if (refused([&] { profile = parse_profile(text, "fuzz"); })) return 0;

  for (const FeatureProfile& f : profile.features) {
    const std::size_t cells = f.cell_count();
    FUZZ_CHECK(cells >= 1);
    FUZZ_CHECK(f.cell_ratios().size() == cells);
    for (std::size_t c = 0; c < cells; ++c) FUZZ_CHECK(!f.cell_label(c).empty());
    if (f.kind == FeatureKind::numeric) {
      for (double x : {-1e300, -1.0, 0.0, 0.5, 1.0, 1e300, f.min, f.max, f.mean}) {
        FUZZ_CHECK(f.bin_of(x) < cells);
      }
      for (double e : f.edges) FUZZ_CHECK(std::isfinite(e));
    } else {
      FUZZ_CHECK(f.category_cell("a value no profile has") == cells - 1);
      for (const CategoryShare& c : f.categories) FUZZ_CHECK(f.category_cell(c.value) < cells);
    }
    FUZZ_CHECK(profile.find(f.name, f.direction) != nullptr);
  }

  const std::string once = profile_to_json(profile);
  ReferenceProfile again;
  FUZZ_CHECK(!refused([&] { again = parse_profile(once, "fuzz"); }));
  FUZZ_CHECK(profile_to_json(again) == once);
  return 0;
}
