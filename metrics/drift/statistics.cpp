#include "metrics/drift/statistics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "metrics/drift/ks_pvalue_cache.h"

namespace mlsidecar::drift {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kLn2 = 0.69314718055994530942;

// x * ln(x / y) with the conventions of scipy.special.rel_entr for x, y >= 0.
double rel_entr(double x, double y) {
  if (x > 0 && y > 0) return x * std::log(x / y);
  if (x == 0 && y >= 0) return 0.0;
  return std::numeric_limits<double>::infinity();
}

// Proportion of lattice paths that leave the band |x - y| < h, for equal sample sizes n
// (Hodges 1958, the reflection formula), as SciPy's exact two-sided case with n1 == n2.
double prob_outside_square(std::int64_t n, std::int64_t h) {
  double p = 0.0;
  for (std::int64_t k = n / h; k >= 0; --k) {
    double p1 = 1.0;
    for (std::int64_t j = 0; j < h; ++j) {
      p1 = static_cast<double>(n - k * h - j) * p1 / static_cast<double>(n + k * h + j + 1);
    }
    p = p1 * (1.0 - p);
  }
  return 2 * p;
}

// Proportion of lattice paths from (0,0) to (m,n) that do not stay strictly inside
// |x/m - y/n| < h/lcm(m,n). Hodges' inside method over one sliding column, with the recursion
// rewritten (Viehmann 2021) to carry 1 - p so that small p-values keep their precision.
// Cost: O(m * window), window about 2*d*n cells.
double outer_prob_inside(std::int64_t m, std::int64_t n, std::int64_t g, std::int64_t h) {
  if (m < n) std::swap(m, n);
  const std::int64_t mg = m / g;
  const std::int64_t ng = n / g;
  std::int64_t minj = 0;
  std::int64_t maxj = std::min<std::int64_t>(
      static_cast<std::int64_t>(std::ceil(static_cast<double>(h) / static_cast<double>(mg))),
      n + 1);
  std::int64_t curlen = maxj - minj;
  const std::int64_t len = std::min<std::int64_t>(2 * maxj + 2, n + 1);
  std::vector<double> a(static_cast<std::size_t>(len), 1.0);
  std::fill(a.begin() + minj, a.begin() + maxj, 0.0);
  for (std::int64_t i = 1; i <= m; ++i) {
    const std::int64_t lastminj = minj;
    const std::int64_t lastlen = curlen;
    minj = std::max<std::int64_t>(static_cast<std::int64_t>(std::floor(
                                      static_cast<double>(ng * i - h) / static_cast<double>(mg))) +
                                      1,
                                  0);
    minj = std::min(minj, n);
    maxj = std::min<std::int64_t>(static_cast<std::int64_t>(std::ceil(
                                      static_cast<double>(ng * i + h) / static_cast<double>(mg))),
                                  n + 1);
    if (maxj <= minj) return 1.0;
    double val = minj == 0 ? 0.0 : 1.0;
    const double di = static_cast<double>(i);
    for (std::int64_t jj = 0; jj < maxj - minj; ++jj) {
      const double dj = static_cast<double>(jj + minj);
      val = (a[static_cast<std::size_t>(jj + minj - lastminj)] * di + val * dj) / (di + dj);
      a[static_cast<std::size_t>(jj)] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) {
      std::fill(a.begin() + curlen, a.begin() + curlen + (lastlen - curlen), 1.0);
    }
  }
  return a[static_cast<std::size_t>(maxj - minj - 1)];
}

double clip01(double p) { return std::clamp(p, 0.0, 1.0); }

// Lattice cells outer_prob_inside() visits: max(n1, n2) columns of the band 2h/mg + 2 wide.
double exact_ks_cells(std::int64_t n1, std::int64_t n2, std::int64_t g, std::int64_t h) {
  const double m = static_cast<double>(std::max(n1, n2));
  const double n = static_cast<double>(std::min(n1, n2));
  const double mg = m / static_cast<double>(g);
  return m * std::min(n + 1, 2.0 * static_cast<double>(h) / mg + 2.0);
}

// One-sided exact Smirnov survival P(D+_n >= e), Birnbaum & Tingey's sum evaluated term by term
// in log space (every term is positive, so there is no cancellation).
double smirnov_sf(std::int64_t n, double e) {
  if (e <= 0.0) return 1.0;
  if (e >= 1.0) return 0.0;
  const double dn = static_cast<double>(n);
  const auto last = static_cast<std::int64_t>(std::floor(dn * (1.0 - e)));
  const double lg_n1 = std::lgamma(dn + 1);
  double sum = 0.0;
  for (std::int64_t v = 0; v <= last; ++v) {
    const double evn = e + static_cast<double>(v) / dn;
    const double omevn = 1.0 - evn;
    if (omevn <= 0.0 && v != n) continue;
    double t = lg_n1 - std::lgamma(static_cast<double>(v) + 1) -
               std::lgamma(static_cast<double>(n - v) + 1) +
               static_cast<double>(v - 1) * std::log(evn);
    if (n - v > 0) t += static_cast<double>(n - v) * std::log(omevn);
    sum += std::exp(t);
  }
  return sum * e;
}

// P(D_n <= d) by Durbin's matrix method (Marsaglia, Tsang & Wang 2003), exact.
double kolmogorov_cdf_durbin(std::int64_t n, double d) {
  const double nd = static_cast<double>(n) * d;
  if (d >= 1.0) return 1.0;
  if (nd <= 0.5) return 0.0;
  const auto k = static_cast<std::int64_t>(std::ceil(nd));
  const double h = static_cast<double>(k) - nd;
  const auto m = static_cast<std::size_t>(2 * k - 1);
  using Matrix = std::vector<double>;
  auto at = [m](Matrix& x, std::size_t r, std::size_t c) -> double& { return x[r * m + c]; };
  auto multiply = [m](const Matrix& x, const Matrix& y) {
    Matrix z(m * m, 0.0);
    for (std::size_t r = 0; r < m; ++r) {
      for (std::size_t t = 0; t < m; ++t) {
        const double xv = x[r * m + t];
        if (xv == 0.0) continue;
        for (std::size_t c = 0; c < m; ++c) z[r * m + c] += xv * y[t * m + c];
      }
    }
    return z;
  };
  Matrix hm(m * m, 0.0);
  std::vector<double> v(m), w(m);
  double fac = 1.0;
  for (std::size_t j = 1; j <= m; ++j) {
    w[j - 1] = fac;
    fac /= static_cast<double>(j);
    v[j - 1] = (1.0 - std::pow(h, static_cast<double>(j))) * fac;
  }
  const double tt = std::pow(std::max(2 * h - 1.0, 0.0), static_cast<double>(m)) -
                    2 * std::pow(h, static_cast<double>(m));
  v[m - 1] = (1.0 + tt) * fac;
  for (std::size_t i = 1; i < m; ++i) {
    for (std::size_t r = i - 1; r < m; ++r) at(hm, r, i) = w[r - (i - 1)];
  }
  for (std::size_t r = 0; r < m; ++r) at(hm, r, 0) = v[r];
  for (std::size_t c = 0; c < m; ++c) at(hm, m - 1, c) = v[m - 1 - c];

  constexpr int kScaleExp = 128;
  const double scale = std::ldexp(1.0, kScaleExp);
  Matrix power(m * m, 0.0);
  for (std::size_t i = 0; i < m; ++i) at(power, i, i) = 1.0;
  std::int64_t nn = n;
  std::int64_t expnt = 0, hexpnt = 0;
  const auto kk = static_cast<std::size_t>(k - 1);
  while (nn > 0) {
    if (nn % 2) {
      power = multiply(power, hm);
      expnt += hexpnt;
    }
    hm = multiply(hm, hm);
    hexpnt *= 2;
    if (std::abs(at(hm, kk, kk)) > scale) {
      for (double& x : hm) x /= scale;
      hexpnt += kScaleExp;
    }
    nn /= 2;
  }
  double p = at(power, kk, kk);
  const double dn = static_cast<double>(n);
  for (std::int64_t i = 1; i <= n; ++i) {
    p = static_cast<double>(i) * p / dn;
    if (std::abs(p) < 1.0 / scale) {
      p *= scale;
      expnt -= kScaleExp;
    }
  }
  return std::ldexp(p, static_cast<int>(expnt));
}

// P(D_n <= x) by Pelz & Good's asymptotic expansion (1976).
double kolmogorov_cdf_pelz_good(double n, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double pi2 = kPi * kPi, pi4 = pi2 * pi2, pi6 = pi4 * pi2;
  const double sqrt2pi = std::sqrt(2 * kPi);
  const double z = std::sqrt(n) * x;
  const double z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2;
  const double qlog = -pi2 / 8 / z2;
  if (qlog < std::log(std::numeric_limits<double>::min())) return 0.0;
  double q = std::exp(qlog);
  const double k1a = -z2, k1b = pi2 / 4;
  const double k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * pi2 / 4,
               k2c = pi4 * (1 - 2 * z2) / 16;
  const double k3d = pi6 * (5 - 30 * z2) / 64, k3c = pi4 * (-60 * z2 + 212 * z4) / 16,
               k3b = pi2 * (135 * z4 - 96 * z6) / 4, k3a = -30 * z6 - 90 * z4 * z4;
  double kk[4] = {0, 0, 0, 0};
  const auto maxk = static_cast<int>(std::ceil(16 * z / kPi));
  for (int k = maxk; k > 0; --k) {
    const double m = 2.0 * k - 1, m2 = m * m, m4 = m2 * m2, m6 = m4 * m2;
    const double qp = std::pow(q, 8.0 * k);
    const double c[4] = {1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4,
                         k3a + k3b * m2 + k3c * m4 + k3d * m6};
    for (int i = 0; i < 4; ++i) kk[i] = kk[i] * qp + c[i];
  }
  const double div[4] = {z, 6 * z4, 72 * z6 * z, 6480 * z6 * z4};
  for (int i = 0; i < 4; ++i) kk[i] = kk[i] * q * sqrt2pi / div[i];
  q = std::exp(-pi2 / 2 / z2);
  double k2extra = 0, k3extra = 0;
  const double sqrt3z = std::sqrt(3.0) * z;
  for (int k = maxk; k > 0; --k) {
    const double ks2 = static_cast<double>(k) * k, qk = std::pow(q, ks2), kspi = kPi * k;
    k2extra += ks2 * qk;
    k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ks2 * qk;
  }
  kk[2] += k2extra * pi2 * sqrt2pi / (-36 * z3);
  kk[3] += k3extra * pi2 * sqrt2pi / (216 * z6);
  double sum = 0;
  for (int i = 0; i < 4; ++i) sum += kk[i] / std::pow(n, i / 2.0);
  return sum;
}

// log(n! / n^n) by Stirling's series (accurate for the large n where it is used).
double log_nfactorial_div_npow(double n) { return std::lgamma(n + 1) - n * std::log(n); }

}  // namespace

double psi(std::span<const double> expected, std::span<const double> actual, double epsilon) {
  double total = 0.0;
  const std::size_t k = std::min(expected.size(), actual.size());
  for (std::size_t i = 0; i < k; ++i) {
    const double e = std::max(expected[i], epsilon);
    const double a = std::max(actual[i], epsilon);
    total += (a - e) * std::log(a / e);
  }
  return total;
}

double js_distance(std::span<const double> p, std::span<const double> q) {
  const std::size_t k = std::min(p.size(), q.size());
  const double sp = std::accumulate(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(k), 0.0);
  const double sq = std::accumulate(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(k), 0.0);
  if (!(sp > 0) || !(sq > 0)) return 0.0;
  double left = 0.0, right = 0.0;
  for (std::size_t i = 0; i < k; ++i) {
    const double pi = p[i] / sp, qi = q[i] / sq, mi = (pi + qi) / 2.0;
    left += rel_entr(pi, mi);
    right += rel_entr(qi, mi);
  }
  const double js = (left + right) / kLn2;
  return std::sqrt(std::max(js / 2.0, 0.0));
}

double kolmogorov_sf(double x, double n) {
  if (!(n > 0) || std::isnan(x)) return std::numeric_limits<double>::quiet_NaN();
  if (x >= 1.0) return 0.0;
  if (x <= 0.0) return 1.0;
  const auto ni = static_cast<std::int64_t>(n);
  const double t = n * x;
  if (t <= 1.0) {
    if (t <= 0.5) return 1.0;
    double prob;
    if (n <= 140) {
      prob = 1.0;
      for (std::int64_t i = 1; i <= ni; ++i)
        prob *= static_cast<double>(i) * (1.0 / n) * (2 * t - 1);
    } else {
      prob = std::exp(log_nfactorial_div_npow(n) + n * std::log(2 * t - 1));
    }
    return clip01(1.0 - prob);
  }
  if (t >= n - 1) return clip01(2 * std::pow(1.0 - x, n));
  if (x >= 0.5) return clip01(2 * smirnov_sf(ni, x));
  const double nx2 = t * x;
  if (n <= 140) {
    if (nx2 <= 4) return clip01(1.0 - kolmogorov_cdf_durbin(ni, x));
    return clip01(2 * smirnov_sf(ni, x));
  }
  if (nx2 >= 370.0) return 0.0;
  if (nx2 >= 2.2) return clip01(2 * smirnov_sf(ni, x));
  double cdf;
  if (nx2 >= 18.0) {
    cdf = 1.0;
  } else if (n <= 100000 && n * std::pow(x, 1.5) <= 1.4) {
    cdf = kolmogorov_cdf_durbin(ni, x);
  } else {
    cdf = kolmogorov_cdf_pelz_good(n, x);
  }
  return clip01(1.0 - cdf);
}

KsResult ks_2samp(std::span<const double> a, std::span<const double> b, std::size_t max_exact_cells,
                  KsPvalueCache* cache) {
  KsResult r;
  if (a.empty() || b.empty()) return r;
  const auto n1 = static_cast<std::int64_t>(a.size());
  const auto n2 = static_cast<std::int64_t>(b.size());
  const double dn1 = static_cast<double>(n1), dn2 = static_cast<double>(n2);
  // The ECDF difference at every observed value (right-continuous), walking both sorted samples.
  double max_s = -std::numeric_limits<double>::infinity();
  double min_s = std::numeric_limits<double>::infinity();
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    double x;
    if (j >= b.size() || (i < a.size() && a[i] <= b[j])) {
      x = a[i];
    } else {
      x = b[j];
    }
    while (i < a.size() && a[i] <= x) ++i;
    while (j < b.size() && b[j] <= x) ++j;
    const double diff = static_cast<double>(i) / dn1 - static_cast<double>(j) / dn2;
    max_s = std::max(max_s, diff);
    min_s = std::min(min_s, diff);
  }
  const double neg = std::clamp(-min_s, 0.0, 1.0);
  double d = neg > max_s ? neg : max_s;

  constexpr std::int64_t kMaxAutoN = 10000;
  const std::int64_t g = std::gcd(n1, n2);
  if (std::max(n1, n2) <= kMaxAutoN) {
    const std::int64_t lcm = (n1 / g) * n2;
    const auto h = static_cast<std::int64_t>(std::nearbyint(d * static_cast<double>(lcm)));
    d = static_cast<double>(h) / static_cast<double>(lcm);
    if (n1 != n2 && exact_ks_cells(n1, n2, g, h) > static_cast<double>(max_exact_cells)) {
      r.statistic = d;
      r.pvalue = clip01(kolmogorov_sf(d, std::nearbyint(dn1 * dn2 / (dn1 + dn2))));
      r.exact = false;
      return r;
    }
    double p = 1.0;
    if (h != 0 && (cache == nullptr || !cache->find(n1, n2, h, p))) {
      p = n1 == n2 ? prob_outside_square(n1, h) : outer_prob_inside(n1, n2, g, h);
      if (cache != nullptr && p >= 0.0 && p <= 1.0) cache->store(n1, n2, h, p);
    }
    if (p >= 0.0 && p <= 1.0) {
      r.statistic = d;
      r.pvalue = p;
      r.exact = true;
      return r;
    }
  }
  const double big = std::max(dn1, dn2), small = std::min(dn1, dn2);
  const double en = big * small / (big + small);
  r.statistic = d;
  r.pvalue = clip01(kolmogorov_sf(d, std::nearbyint(en)));
  r.exact = false;
  return r;
}

double wasserstein(std::span<const double> a, std::span<const double> b) {
  if (a.empty() || b.empty()) return 0.0;
  const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  std::size_t i = 0, j = 0;
  double total = 0.0;
  double prev = std::min(a.front(), b.front());
  while (i < a.size() || j < b.size()) {
    double x;
    if (j >= b.size() || (i < a.size() && a[i] <= b[j])) {
      x = a[i];
    } else {
      x = b[j];
    }
    // The ECDFs are constant on [prev, x): add their gap times the width.
    total += std::abs(static_cast<double>(i) / na - static_cast<double>(j) / nb) * (x - prev);
    while (i < a.size() && a[i] <= x) ++i;
    while (j < b.size() && b[j] <= x) ++j;
    prev = x;
  }
  return total;
}

double gamma_q(double a, double x) {
  if (!(a > 0) || !(x >= 0)) return std::numeric_limits<double>::quiet_NaN();
  if (x == 0) return 1.0;
  if (std::isinf(x)) return 0.0;
  const double log_prefix = a * std::log(x) - x - std::lgamma(a);
  constexpr double kEps = 1e-16;
  if (x < a + 1) {
    // Series for P(a, x); Q = 1 - P is not small here, so the subtraction is safe.
    double term = 1.0 / a, sum = term, ap = a;
    for (int n = 0; n < 10000; ++n) {
      ap += 1;
      term *= x / ap;
      sum += term;
      if (std::abs(term) < std::abs(sum) * kEps) break;
    }
    return clip01(1.0 - sum * std::exp(log_prefix));
  }
  // Continued fraction for Q(a, x) (modified Lentz).
  constexpr double kTiny = 1e-300;
  double b = x + 1 - a, c = 1 / kTiny, d = 1 / b, h = d;
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::abs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::abs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1) < kEps) break;
  }
  return clip01(std::exp(log_prefix) * h);
}

ChisquareResult chisquare(std::span<const double> observed, std::span<const double> expected) {
  ChisquareResult r;
  const std::size_t k = std::min(observed.size(), expected.size());
  for (std::size_t i = 0; i < k; ++i) {
    const double diff = observed[i] - expected[i];
    r.statistic += diff * diff / expected[i];
  }
  r.pvalue = k < 2 ? 1.0 : gamma_q(static_cast<double>(k - 1) / 2.0, r.statistic / 2.0);
  return r;
}

}  // namespace mlsidecar::drift
