// Drift statistics: pure functions over bin ratios, category counts and sorted samples. Each one
// follows the textbook definition that SciPy implements, so that its numbers can be checked
// against scipy.stats / scipy.spatial to 1e-9 relative
// (tests/metrics/drift/test_scipy_agreement.py).
//
// Thread safety: stateless; callable from any thread.
//
// Worked example (PSI, epsilon 1e-4): reference ratios {0.5, 0.5}, live ratios {0.9, 0.1}:
//   (0.9-0.5)*ln(0.9/0.5) + (0.1-0.5)*ln(0.1/0.5) = 0.2351 + 0.6438 = 0.8789.
#pragma once

#include <cstddef>
#include <span>

namespace mlsidecar::drift {

// Ratios below this are raised to it before PSI and before chi-square expectations, so that an
// empty bin or a category never seen in the reference gives a large but finite value. The same
// number is used by the fleet recording rule (docs/drift.md).
inline constexpr double kRatioEpsilon = 1e-4;

// Population stability index, natural log: sum over bins of (a - e) * ln(a / e) with
// a = max(actual_i, epsilon) and e = max(expected_i, epsilon). Inputs are ratios (each summing
// to 1); sizes must match. Returns 0 for empty input.
double psi(std::span<const double> expected, std::span<const double> actual,
           double epsilon = kRatioEpsilon);

// Jensen-Shannon distance, base 2 (0..1), as scipy.spatial.distance.jensenshannon(p, q, base=2):
// p and q are counts or ratios, each normalised to sum 1 first. Zero entries need no smoothing.
// Returns 0 when either side sums to 0.
double js_distance(std::span<const double> p, std::span<const double> q);

// Two-sample Kolmogorov-Smirnov test, two-sided, as scipy.stats.ks_2samp(a, b) with its default
// method='auto': exact p-value (Hodges' inside method with Viehmann's 1-p recursion) when both
// sample sizes are at most 10000, else the asymptotic kstwo.sf(d, round(n*m/(n+m))). In exact mode
// the statistic is rounded to the lattice h/lcm(n, m) exactly as SciPy does.
struct KsResult {
  double statistic = 0.0;
  double pvalue = 1.0;
  bool exact = true;
};
// Both inputs must be sorted ascending and non-empty (else {0, 1}).
//
// Cost: the statistic is one merge, O(n + m). The exact p-value of unequal sizes walks about
// max(n, m) x (2 d lcm(n, m) / max(n, m) + 2) lattice cells (Hodges' band), so it grows with the
// drift itself: 1000 against 10000 costs ~0.6M cells at d = 0.03 but ~10M at d = 0.5. With
// `max_exact_cells` set, a case whose band is larger takes the asymptotic p-value instead (as SciPy
// does for sizes above 10000) and reports exact = false. The statistic is exact either way. With
// the default window of 1000 and a reference sample of up to 10000, the engine's cap is reached
// only at d > 0.2, where the p-value is below 1e-30; larger windows reach it sooner (5000 against
// 10000: d > 0.04, p about 1e-4). Equal sizes use the reflection formula, O(n), never capped.
// With `cache`, exact p-values are looked up there first and stored after (KsPvalueCache).
inline constexpr std::size_t kUnboundedKsCells = static_cast<std::size_t>(-1);
class KsPvalueCache;
KsResult ks_2samp(std::span<const double> a_sorted, std::span<const double> b_sorted,
                  std::size_t max_exact_cells = kUnboundedKsCells, KsPvalueCache* cache = nullptr);

// The drift engine's cap on exact KS cells per feature and interval (a few ms of CPU).
inline constexpr std::size_t kEngineKsExactCells = 4'000'000;

// Survival function of the two-sided one-sample KS statistic for sample size n (SciPy's
// kstwo.sf(d, n), Simard & L'Ecuyer's selection of methods).
double kolmogorov_sf(double d, double n);

// Wasserstein-1 distance between the empirical distributions of two sorted samples, as
// scipy.stats.wasserstein_distance(a, b). Returns 0 when either is empty.
double wasserstein(std::span<const double> a_sorted, std::span<const double> b_sorted);

// Regularised upper incomplete gamma function Q(a, x) (scipy.special.gammaincc), a > 0, x >= 0.
double gamma_q(double a, double x);

// Pearson chi-square goodness of fit, as scipy.stats.chisquare(observed, expected): the statistic
// sum (o - e)^2 / e and its p-value Q((k-1)/2, stat/2). `expected` must be positive and sum to
// the same total as `observed`. With fewer than 2 categories the p-value is 1.
struct ChisquareResult {
  double statistic = 0.0;
  double pvalue = 1.0;
};
ChisquareResult chisquare(std::span<const double> observed, std::span<const double> expected);

}  // namespace mlsidecar::drift
