#include "simulator/simulation_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace mlsidecar::policies {
namespace {

std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

double percent(std::uint64_t part, std::uint64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

std::string render_table(const std::vector<SimulationResult>& results) {
  std::ostringstream out;
  char line[256];
  std::snprintf(line, sizeof line, "%-18s %9s %9s %7s %8s %8s %9s %9s %7s %5s\n", "signal",
                "requests", "shed", "shed%", "p50_s", "p99_s", "slo_viol%", "replica_s", "events",
                "peak");
  out << line;
  for (const auto& r : results) {
    std::snprintf(line, sizeof line, "%-18s %9llu %9llu %7.2f %8.3f %8.3f %9.2f %9.0f %7d %5d\n",
                  signal_choice_name(r.choice), static_cast<unsigned long long>(r.requests),
                  static_cast<unsigned long long>(r.shed()), percent(r.shed(), r.requests),
                  r.p50_seconds, r.p99_seconds, percent(r.slo_violations, r.requests),
                  r.replica_seconds, r.scale_events, r.peak_replicas);
    out << line;
  }
  return out.str();
}

std::string render_summary_csv(const std::vector<SimulationResult>& results) {
  std::ostringstream out;
  out << "signal,requests,served,shed_queue_full,shed_queue_timeout,shed_no_replica,p50_seconds,"
         "p99_seconds,slo_seconds,slo_violations,replica_seconds,scale_events,peak_replicas\n";
  for (const auto& r : results) {
    out << signal_choice_name(r.choice) << ',' << r.requests << ',' << r.served << ','
        << r.shed_queue_full << ',' << r.shed_queue_timeout << ',' << r.shed_no_replica << ','
        << format("%.4f", r.p50_seconds) << ',' << format("%.4f", r.p99_seconds) << ','
        << format("%.3f", r.slo_seconds) << ',' << r.slo_violations << ','
        << format("%.0f", r.replica_seconds) << ',' << r.scale_events << ',' << r.peak_replicas
        << '\n';
  }
  return out.str();
}

std::string render_timeline_csv(const std::vector<SimulationResult>& results) {
  std::ostringstream out;
  out << "signal,time_seconds,arrival_rate,replicas,ready,metric\n";
  for (const auto& r : results) {
    for (const auto& p : r.timeline) {
      out << signal_choice_name(r.choice) << ',' << format("%.0f", p.time_seconds) << ','
          << format("%.3f", p.arrival_rate) << ',' << p.replicas << ',' << p.ready << ','
          << format("%.3f", p.metric) << '\n';
    }
  }
  return out.str();
}

std::string render_svg(const LoadTrace& trace, const SimulationParams& p,
                       const std::vector<SimulationResult>& results) {
  static const char* kColors[] = {"#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd", "#8c564b"};
  const double W = 900, left = 60, right = 170, top1 = 40, h1 = 160, top2 = 250, h2 = 280;
  const double plot_w = W - left - right;
  double duration = 1;
  int max_replicas = 1;
  for (const auto& r : results) {
    if (!r.timeline.empty()) duration = std::max(duration, r.timeline.back().time_seconds);
    for (const auto& pt : r.timeline) max_replicas = std::max(max_replicas, pt.replicas);
  }
  double max_rate = 1;
  for (const auto& pt : trace.points()) max_rate = std::max(max_rate, pt.requests_per_second);
  // Replicas needed at target: arrival rate * mean service time / target concurrency.
  auto needed = [&](double t) {
    double mean_service = p.service.mean_seconds;
    if (p.service.workload == ServiceModel::Workload::tokens) {
      double tokens = trace.mean_output_tokens_at(t);
      if (tokens <= 0) tokens = p.service.mean_output_tokens;
      mean_service = p.service.prefill_seconds + p.service.seconds_per_token * tokens;
    }
    return std::ceil(trace.rate_at(t) * mean_service / p.target_concurrency - 1e-9);
  };
  for (double t = 0; t <= duration; t += 5)
    max_replicas = std::max<int>(max_replicas, static_cast<int>(needed(t)));
  const double y_max = max_replicas + 1;
  auto x = [&](double t) { return left + plot_w * t / duration; };
  auto y1 = [&](double v) { return top1 + h1 - h1 * v / (max_rate * 1.1); };
  auto y2 = [&](double v) { return top2 + h2 - h2 * v / y_max; };

  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"580\" "
    << "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
       "fill=\"white\"/>\n";
  s << "<text x=\"" << left << "\" y=\"22\" font-size=\"15\">mlsidecar simulate: trace '"
    << trace.name() << "', C=" << p.admission.capacity << ", target concurrency "
    << format("%.2f", p.target_concurrency) << "</text>\n";
  // Axes and grid.
  for (const auto& [top, h, label] :
       {std::tuple{top1, h1, "arrivals (req/s)"}, std::tuple{top2, h2, "replicas"}}) {
    s << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << plot_w << "\" height=\"" << h
      << "\" fill=\"none\" stroke=\"#444\"/>\n";
    s << "<text x=\"" << left - 50 << "\" y=\"" << top - 6 << "\">" << label << "</text>\n";
  }
  for (int i = 0; i <= 4; ++i) {
    const double v = max_rate * 1.1 * i / 4;
    s << "<text x=\"" << left - 8 << "\" y=\"" << y1(v) + 4 << "\" text-anchor=\"end\">"
      << format("%.0f", v) << "</text>\n";
  }
  const int step = std::max(1, static_cast<int>(y_max / 8));
  for (int v = 0; v <= y_max; v += step) {
    s << "<line x1=\"" << left << "\" x2=\"" << left + plot_w << "\" y1=\"" << y2(v) << "\" y2=\""
      << y2(v) << "\" stroke=\"#eee\"/>\n<text x=\"" << left - 8 << "\" y=\"" << y2(v) + 4
      << "\" text-anchor=\"end\">" << v << "</text>\n";
  }
  for (int i = 0; i <= 6; ++i) {
    const double t = duration * i / 6;
    s << "<text x=\"" << x(t) << "\" y=\"" << top2 + h2 + 16 << "\" text-anchor=\"middle\">"
      << format("%.0f", t) << " s</text>\n";
  }
  // Load.
  s << "<polyline fill=\"none\" stroke=\"#333\" stroke-width=\"1.5\" points=\"";
  for (double t = 0; t <= duration; t += duration / 400)
    s << x(t) << ',' << y1(trace.rate_at(t)) << ' ';
  s << "\"/>\n";
  // Needed replicas, dashed.
  s << "<polyline fill=\"none\" stroke=\"#888\" stroke-dasharray=\"4 3\" points=\"";
  for (double t = 0; t <= duration; t += 5) s << x(t) << ',' << y2(needed(t)) << ' ';
  s << "\"/>\n";
  double legend_y = top2 + 10;
  s << "<text x=\"" << left + plot_w + 12 << "\" y=\"" << legend_y
    << "\" fill=\"#888\">- - needed at target</text>\n";
  // Replicas per choice, as steps.
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    const char* color = kColors[i % 6];
    s << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.6\" points=\"";
    for (std::size_t k = 0; k < r.timeline.size(); ++k) {
      const auto& pt = r.timeline[k];
      if (k > 0) s << x(pt.time_seconds) << ',' << y2(r.timeline[k - 1].replicas) << ' ';
      s << x(pt.time_seconds) << ',' << y2(pt.replicas) << ' ';
    }
    s << "\"/>\n";
    legend_y += 18;
    s << "<text x=\"" << left + plot_w + 12 << "\" y=\"" << legend_y << "\" fill=\"" << color
      << "\">" << signal_choice_name(r.choice) << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace mlsidecar::policies
