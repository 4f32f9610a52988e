#include "simulator/load_trace.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace mlsidecar::policies {

LoadTrace::LoadTrace(std::string name, std::vector<LoadTracePoint> points)
    : name_(std::move(name)), points_(std::move(points)) {
  if (points_.size() < 2) throw std::runtime_error("trace " + name_ + ": needs at least 2 points");
  for (std::size_t i = 0; i < points_.size(); ++i) {
    const auto& p = points_[i];
    if (p.requests_per_second < 0 || p.mean_output_tokens < 0 || !std::isfinite(p.time_seconds)) {
      throw std::runtime_error("trace " + name_ + ": negative or invalid value at point " +
                               std::to_string(i + 1));
    }
    if (i > 0 && p.time_seconds <= points_[i - 1].time_seconds) {
      throw std::runtime_error("trace " + name_ + ": times must increase (point " +
                               std::to_string(i + 1) + ")");
    }
  }
}

LoadTrace LoadTrace::from_csv_text(const std::string& name, const std::string& text) {
  std::istringstream in(text);
  std::string line;
  std::vector<LoadTracePoint> points;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    if (std::isalpha(static_cast<unsigned char>(line[0]))) continue;  // header
    std::istringstream row(line);
    std::string cell;
    std::vector<double> v;
    while (std::getline(row, cell, ',')) {
      try {
        std::size_t used = 0;
        v.push_back(std::stod(cell, &used));
      } catch (const std::exception&) {
        throw std::runtime_error(std::string("trace ")
                                     .append(name)
                                     .append(": line ")
                                     .append(std::to_string(line_no))
                                     .append(": not a number: '")
                                     .append(cell)
                                     .append("'"));
      }
    }
    if (v.size() < 2 || v.size() > 3) {
      throw std::runtime_error("trace " + name + ": line " + std::to_string(line_no) +
                               ": expected time_seconds,requests_per_second[,mean_output_tokens]");
    }
    points.push_back({v[0], v[1], v.size() == 3 ? v[2] : 0.0});
  }
  return LoadTrace(name, std::move(points));
}

LoadTrace LoadTrace::from_csv_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read trace file " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string name = path.substr(path.find_last_of('/') + 1);
  if (const auto dot = name.rfind('.'); dot != std::string::npos) name.resize(dot);
  return from_csv_text(name, ss.str());
}

std::vector<std::string> LoadTrace::builtin_names() {
  return {"steady", "diurnal", "spike", "ramp", "tokens"};
}

LoadTrace LoadTrace::builtin(const std::string& name) {
  std::vector<LoadTracePoint> p;
  if (name == "steady") {
    // 20 min at 20 req/s.
    p = {{0, 20, 0}, {1200, 20, 0}};
  } else if (name == "diurnal") {
    // A day compressed into 1 hour: 5 req/s at night, 40 at the midday peak (a raised cosine).
    for (int i = 0; i <= 60; ++i) {
      const double t = i * 60.0;
      const double phase = 2 * M_PI * t / 3600.0;
      p.push_back({t, 22.5 - 17.5 * std::cos(phase), 0});
    }
  } else if (name == "spike") {
    // 10 req/s, a jump to 60 req/s for 3 min at t = 5 min, back to 10.
    p = {{0, 10, 0}, {300, 10, 0}, {301, 60, 0}, {480, 60, 0}, {481, 10, 0}, {1200, 10, 0}};
  } else if (name == "ramp") {
    // 5 req/s rising linearly to 50 req/s over 20 min, held for 5 min, then down in 5 min.
    p = {{0, 5, 0}, {1200, 50, 0}, {1500, 50, 0}, {1800, 5, 0}};
  } else if (name == "tokens") {
    // Constant 4 req/s while answers grow from 100 to 400 tokens on average (at t = 5 min), then
    // shrink back (t = 15 min): the work per request changes, the request rate does not.
    p = {{0, 4, 100}, {300, 4, 100}, {360, 4, 400}, {900, 4, 400}, {960, 4, 100}, {1500, 4, 100}};
  } else {
    throw std::invalid_argument("unknown trace '" + name +
                                "' (steady, diurnal, spike, ramp, tokens, or a CSV file)");
  }
  return LoadTrace(name, std::move(p));
}

template <typename Field>
double LoadTrace::interpolate(double t, Field field) const {
  if (points_.empty()) return 0.0;
  if (t <= points_.front().time_seconds) return field(points_.front());
  if (t >= points_.back().time_seconds) return field(points_.back());
  const auto it =
      std::upper_bound(points_.begin(), points_.end(), t,
                       [](double x, const LoadTracePoint& p) { return x < p.time_seconds; });
  const auto& b = *it;
  const auto& a = *(it - 1);
  const double f = (t - a.time_seconds) / (b.time_seconds - a.time_seconds);
  return field(a) + f * (field(b) - field(a));
}

double LoadTrace::rate_at(double t) const {
  return interpolate(t, [](const LoadTracePoint& p) { return p.requests_per_second; });
}

double LoadTrace::mean_output_tokens_at(double t) const {
  return interpolate(t, [](const LoadTracePoint& p) { return p.mean_output_tokens; });
}

std::string LoadTrace::to_csv() const {
  std::ostringstream out;
  const bool tokens = std::any_of(points_.begin(), points_.end(),
                                  [](const LoadTracePoint& p) { return p.mean_output_tokens > 0; });
  out << "time_seconds,requests_per_second" << (tokens ? ",mean_output_tokens" : "") << "\n";
  for (const auto& p : points_) {
    out << p.time_seconds << "," << p.requests_per_second;
    if (tokens) out << "," << p.mean_output_tokens;
    out << "\n";
  }
  return out.str();
}

}  // namespace mlsidecar::policies
