// Each statistic against values worked out by hand or printed by SciPy 1.10
// (the full randomized comparison lives in test_scipy_agreement.py).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "metrics/drift/ks_pvalue_cache.h"
#include "metrics/drift/statistics.h"

using namespace mlsidecar::drift;
using Catch::Matchers::WithinRel;

TEST_CASE("psi follows its formula, with empty bins raised to epsilon") {
  const std::vector<double> ref{0.5, 0.5}, live{0.9, 0.1};
  const double want = 0.4 * std::log(0.9 / 0.5) + (-0.4) * std::log(0.1 / 0.5);
  CHECK_THAT(psi(ref, live), WithinRel(want, 1e-15));
  CHECK(psi(ref, ref) == 0.0);
  // A bin the reference never saw: finite, and equal to the smoothed formula.
  const std::vector<double> ref0{1.0, 0.0}, live0{0.5, 0.5};
  const double smoothed = (0.5 - 1.0) * std::log(0.5 / 1.0) + (0.5 - 1e-4) * std::log(0.5 / 1e-4);
  CHECK_THAT(psi(ref0, live0), WithinRel(smoothed, 1e-15));
}

TEST_CASE("js_distance is base 2, normalises counts and is 1 for disjoint supports") {
  const std::vector<double> a{1, 0}, b{0, 1};
  CHECK_THAT(js_distance(a, b), WithinRel(1.0, 1e-15));
  const std::vector<double> p{0.25, 0.75}, counts{25, 75};
  CHECK(js_distance(p, counts) == 0.0);
  // scipy.spatial.distance.jensenshannon([0.1, 0.2, 0.7, 0], [5, 0, 10, 3], base=2)
  const std::vector<double> x{0.1, 0.2, 0.7, 0.0}, y{5, 0, 10, 3};
  CHECK_THAT(js_distance(x, y), WithinRel(0.4698298455064589, 1e-12));
  const std::vector<double> empty{0, 0};
  CHECK(js_distance(empty, y) == 0.0);
}

TEST_CASE("ks_2samp: statistic and exact p-value") {
  // scipy.stats.ks_2samp([1,2,3,4,5], [3,4,5,6,7,8]) -> (0.5, 0.35714285714285715)
  const std::vector<double> a{1, 2, 3, 4, 5}, b{3, 4, 5, 6, 7, 8};
  KsResult r = ks_2samp(a, b);
  CHECK(r.exact);
  CHECK_THAT(r.statistic, WithinRel(0.5, 1e-15));
  CHECK_THAT(r.pvalue, WithinRel(0.35714285714285715, 1e-12));
  // Equal sizes take the reflection formula: ks_2samp([1,2,3], [4,5,6]) -> (1.0, 0.1)
  const std::vector<double> c{1, 2, 3}, d{4, 5, 6};
  r = ks_2samp(c, d);
  CHECK(r.statistic == 1.0);
  CHECK_THAT(r.pvalue, WithinRel(0.1, 1e-12));
  // Identical samples: no difference at all.
  r = ks_2samp(a, a);
  CHECK(r.statistic == 0.0);
  CHECK(r.pvalue == 1.0);
  // Empty input is not a test.
  r = ks_2samp(std::vector<double>{}, a);
  CHECK(r.pvalue == 1.0);
}

TEST_CASE("ks_2samp switches to the asymptotic p-value above 10000 values") {
  std::vector<double> big, small;
  for (int i = 0; i < 10001; ++i) big.push_back(i / 10001.0);
  for (int i = 0; i < 100; ++i) small.push_back(0.2 + i / 125.0);
  KsResult r = ks_2samp(small, big);
  CHECK_FALSE(r.exact);
  // scipy.stats.ks_2samp(small, big) -> (0.20007999200079993, 0.0005979756750976924)
  CHECK_THAT(r.statistic, WithinRel(0.20007999200079993, 1e-12));
  CHECK_THAT(r.pvalue, WithinRel(0.0005979756750976924, 1e-9));
}

TEST_CASE("ks_2samp: the engine's cell cap and p-value cache keep the statistic") {
  // 1000 values shifted by half the range against 10000: D = 0.5, a band of ~10M lattice cells.
  std::vector<double> window, reference;
  for (int i = 0; i < 1000; ++i) window.push_back(0.5 + i / 1000.0);
  for (int i = 0; i < 10000; ++i) reference.push_back(i / 10000.0);
  const KsResult exact = ks_2samp(window, reference);
  const KsResult capped = ks_2samp(window, reference, kEngineKsExactCells);
  CHECK(exact.exact);
  CHECK_FALSE(capped.exact);
  CHECK(capped.statistic == exact.statistic);
  CHECK(capped.pvalue == kolmogorov_sf(capped.statistic, 909.0));  // round(1000*10000/11000)
  CHECK(capped.pvalue < 1e-30);
  CHECK(exact.pvalue < 1e-30);
  // Without drift the band is narrow: exact under the cap, and the cache gives the same value.
  std::vector<double> calm;
  for (int i = 0; i < 1000; ++i) calm.push_back(0.013 + i / 1000.0);
  KsPvalueCache cache;
  const KsResult first = ks_2samp(calm, reference, kEngineKsExactCells, &cache);
  const KsResult plain = ks_2samp(calm, reference);
  CHECK(first.exact);
  CHECK(first.pvalue == plain.pvalue);
  double cached = -1;
  CHECK(cache.find(1000, 10000, static_cast<std::int64_t>(std::nearbyint(first.statistic * 10000)),
                   cached));
  CHECK(cached == plain.pvalue);
  CHECK(ks_2samp(calm, reference, kEngineKsExactCells, &cache).pvalue == plain.pvalue);
  CHECK_FALSE(cache.find(1000, 5000, 1, cached));
}

TEST_CASE("kolmogorov_sf against scipy.stats.kstwo.sf") {
  // kstwo.sf(0.1, 100), kstwo.sf(0.3, 50), kstwo.sf(0.02, 1000)
  CHECK_THAT(kolmogorov_sf(0.1, 100), WithinRel(0.2526927570063874, 1e-9));     // Durbin
  CHECK_THAT(kolmogorov_sf(0.3, 50), WithinRel(0.00017353260202718738, 1e-9));  // Smirnov
  CHECK_THAT(kolmogorov_sf(0.02, 1000), WithinRel(0.8108971656895577, 1e-9));   // Pelz-Good
  CHECK(kolmogorov_sf(1.0, 10) == 0.0);
  CHECK(kolmogorov_sf(0.0, 10) == 1.0);
}

TEST_CASE("wasserstein is the area between the two ECDFs") {
  // scipy.stats.wasserstein_distance([0, 1, 3], [5, 6, 8]) == 5
  const std::vector<double> a{0, 1, 3}, b{5, 6, 8};
  CHECK_THAT(wasserstein(a, b), WithinRel(5.0, 1e-15));
  // wasserstein_distance([0, 1], [0, 0, 1, 1, 1]) == 0.1
  const std::vector<double> c{0, 1}, d{0, 0, 1, 1, 1};
  CHECK_THAT(wasserstein(c, d), WithinRel(0.1, 1e-12));
  CHECK(wasserstein(a, a) == 0.0);
}

TEST_CASE("gamma_q is the regularised upper incomplete gamma") {
  CHECK_THAT(gamma_q(1.0, 2.0), WithinRel(std::exp(-2.0), 1e-14));  // Q(1, x) = e^-x
  CHECK_THAT(gamma_q(0.5, 0.1), WithinRel(std::erfc(std::sqrt(0.1)), 1e-14));
  CHECK_THAT(gamma_q(10, 30), WithinRel(7.121750862815593e-06, 1e-12));
  CHECK(gamma_q(3, 0) == 1.0);
  CHECK(std::isnan(gamma_q(-1, 1)));
}

TEST_CASE("chisquare matches scipy.stats.chisquare") {
  // chisquare([16, 18, 16, 14, 12, 12], [16, 16, 16, 16, 16, 8]) -> (3.5, 0.6233876277495822)
  const std::vector<double> o{16, 18, 16, 14, 12, 12}, e{16, 16, 16, 16, 16, 8};
  ChisquareResult r = chisquare(o, e);
  CHECK_THAT(r.statistic, WithinRel(3.5, 1e-15));
  CHECK_THAT(r.pvalue, WithinRel(0.6233876277495822, 1e-12));
  const std::vector<double> one{5};
  CHECK(chisquare(one, one).pvalue == 1.0);
}
