#include "metrics/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

namespace mlsidecar::metrics {
namespace {

prometheus::MetricFamily gauge(std::string name, const char* help, double value,
                               prometheus::MetricType type = prometheus::MetricType::Gauge) {
  prometheus::MetricFamily f{std::move(name), help, type, {}};
  f.metric.emplace_back();
  if (type == prometheus::MetricType::Counter)
    f.metric.back().counter.value = value;
  else
    f.metric.back().gauge.value = value;
  return f;
}

double open_fds() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return 0;
  double n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the descriptor of the directory itself
}

}  // namespace

double resident_memory_bytes() {
  std::ifstream statm("/proc/self/statm");
  double size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE));
}

ProcessMetrics::ProcessMetrics(std::string prefix)
    : prefix_(std::move(prefix)),
      start_time_seconds_(
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
              .count()) {}

std::vector<prometheus::MetricFamily> ProcessMetrics::Collect() const {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
               static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  return {
      gauge(prefix_ + "process_cpu_seconds_total", "User and system CPU time spent in seconds.",
            cpu, prometheus::MetricType::Counter),
      gauge(prefix_ + "process_resident_memory_bytes", "Resident memory size in bytes.",
            resident_memory_bytes()),
      gauge(prefix_ + "process_open_fds", "Number of open file descriptors.", open_fds()),
      gauge(prefix_ + "process_max_fds", "Maximum number of open file descriptors.",
            static_cast<double>(limit.rlim_cur)),
      gauge(prefix_ + "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.", start_time_seconds_),
  };
}

}  // namespace mlsidecar::metrics
