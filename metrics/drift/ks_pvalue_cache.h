// KsPvalueCache: remembers exact two-sample KS p-values. The exact p-value depends only on the
// two sample sizes and the lattice statistic h = D * lcm(n1, n2), and in the drift engine the sizes
// are the same at every interval (a full window against a fixed reference sample) while h stays
// in a narrow range when there is no drift; so after a few intervals most features find their
// p-value here instead of walking Hodges' lattice again (O(max(n1, n2) x band) each). The values
// are those ks_2samp computed, so results are unchanged.
//
// Direct-mapped, fixed size (kSlots entries of 24 bytes), allocated once; a colliding entry
// replaces the old one.
//
// Example: cache.find(1000, 5000, 150, p) is false; after store(1000, 5000, 150, 0.41) it is true
// with p == 0.41.
//
// Thread safety: none; owned by the drift worker (the engine's state mutex guards it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace mlsidecar::drift {

class KsPvalueCache {
 public:
  static constexpr std::size_t kSlots = 4096;

  KsPvalueCache() : slots_(std::make_unique<Slot[]>(kSlots)) {}

  bool find(std::int64_t n1, std::int64_t n2, std::int64_t h, double& pvalue) const {
    const Slot& s = slots_[index(n1, n2, h)];
    if (s.sizes != sizes(n1, n2) || s.h != h) return false;
    pvalue = s.pvalue;
    return true;
  }

  void store(std::int64_t n1, std::int64_t n2, std::int64_t h, double pvalue) {
    Slot& s = slots_[index(n1, n2, h)];
    s.sizes = sizes(n1, n2);
    s.h = h;
    s.pvalue = pvalue;
  }

 private:
  struct Slot {
    std::uint64_t sizes = 0;  // 0: empty (sizes are >= 1)
    std::int64_t h = 0;
    double pvalue = 0.0;
  };

  static std::uint64_t sizes(std::int64_t n1, std::int64_t n2) {
    return (static_cast<std::uint64_t>(n1) << 32) ^ static_cast<std::uint64_t>(n2);
  }
  static std::size_t index(std::int64_t n1, std::int64_t n2, std::int64_t h) {
    std::uint64_t x = sizes(n1, n2) * 0x9E3779B97F4A7C15ULL ^ static_cast<std::uint64_t>(h);
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 32;
    return static_cast<std::size_t>(x & (kSlots - 1));
  }

  std::unique_ptr<Slot[]> slots_;
};

}  // namespace mlsidecar::drift
