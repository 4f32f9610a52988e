// DriftEngine: measures how far the live inputs and outputs of the model have drifted from the
// reference profile, off the request path.
//
// Flow: an I/O thread asks should_sample() (a per-producer xorshift draw, no shared state) and, if
// yes, offer()s a copy of the body to its own SampleQueue (lock-free SPSC, bounded in slots and
// bytes; a full queue drops and counts, the request never waits). One worker thread drains all
// queues every few milliseconds, reads each body with the payload reader of its route, appends
// the values of the profile's features to per-feature sliding windows (DriftWindow), and every
// `interval` computes the statistics of every window against the reference (PSI, JS distance,
// KS, Wasserstein for numeric features; PSI, JS distance, chi-square for categorical ones), then
// publishes them as one immutable snapshot.
//
// Thread safety: should_sample(p) and offer(p, ...) may be called concurrently for distinct
// producers p, each by one thread; they never block, allocate only when a queue slot has to grow,
// and never throw. Collect(), drift_json(), compute_now(), start() and stop() may be called from
// any thread. Members: state_mutex_ guards the windows and the reader scratch (worker and
// compute_now()); snapshot_mutex_ guards snapshot_; counters are atomics (the worker's are
// written under state_mutex_ only, so with a plain load and store).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "metrics/drift/direction.h"
#include "metrics/drift/payload.h"
#include "metrics/drift/reference_profile.h"
#include "metrics/route.h"

namespace mlsidecar::drift {

class KsPvalueCache;
struct DriftCell;
struct Sample;

struct DriftSettings {
  std::string profile_path;                   // reference profile JSON (from `mlsidecar profile`)
  std::size_t window = 1000;                  // --drift-window
  std::chrono::milliseconds interval{10000};  // --drift-interval
  double sample_rate = 1.0;                   // --drift-sample-rate (0..1)
  std::size_t max_body = 1 << 20;             // --drift-max-body; larger bodies are skipped+counted
  std::size_t max_features = 256;             // --drift-max-features
  // Slots per producer: 16384 hold ~0.2 s of samples at 40k requests/s (two bodies each). The
  // worker was seen waiting 50 ms and more for the CPU it shares with a saturated I/O thread
  // (4096 slots dropped ~0.03% of samples at 40k requests/s in bench/features). A slot is ~48
  // bytes; the bodies it holds stay bounded by queue_bytes and the queue's keep budget.
  std::size_t queue_capacity = 16384;
  std::size_t queue_bytes = 16 << 20;               // bytes of bodies in flight per producer
  PayloadFormat format = PayloadFormat::automatic;  // --drift-format; automatic picks by route
  // How Collect() names what it publishes: every family name's leading "mlsidecar_" becomes
  // metric_prefix, and metric_labels are added to every series. The defaults publish the
  // families as docs/drift.md names them; the shadow's output drift (metrics/shadow) is the same
  // engine as "mlsidecar_shadow_drift_psi{version=...}" and so on.
  std::string metric_prefix = "mlsidecar_";
  std::vector<std::pair<std::string, std::string>> metric_labels;
};

class DriftEngine : public prometheus::Collectable {
 public:
  // Loads the profile; throws std::runtime_error with one line (file name + reason) when it is
  // missing or invalid, or when a setting is out of range.
  DriftEngine(const DriftSettings& settings, std::size_t producers);
  // Same, with a profile already in memory (tests, tools).
  DriftEngine(DriftSettings settings, std::size_t producers, ReferenceProfile profile);
  ~DriftEngine() override;
  DriftEngine(const DriftEngine&) = delete;
  DriftEngine& operator=(const DriftEngine&) = delete;

  void start();  // starts the worker thread (drains continuously, computes every `interval`)
  void stop();   // stops and joins it; idempotent

  // Hot path (I/O thread `producer`, 0..producers-1): never blocks, never throws.
  bool should_sample(std::size_t producer) noexcept;
  // Whether the profile has a feature of this direction: the proxy copies and offers only the
  // bodies of a watched direction (a profile of inputs costs no response copies).
  bool watches(Direction direction) const noexcept {
    return !by_direction_[static_cast<std::size_t>(direction)].empty();
  }
  // Copies `body` into the producer's queue. False, and counted, when the body is over max_body
  // (mlsidecar_drift_skipped_total{reason="too_large"}) or the queue is full
  // (mlsidecar_drift_dropped_samples_total). Responses are offered with Direction::output.
  // `format` automatic reads the body as settings().format says for its route; another value
  // picks that reader whatever the settings (the gRPC relay's open_inference_v2_grpc).
  bool offer(std::size_t producer, Direction direction, Route route, std::string_view body,
             PayloadFormat format = PayloadFormat::automatic) noexcept;
  // Counts a body the proxy stopped copying because it was over max_body (too_large), without
  // handing anything over.
  void count_too_large(std::size_t producer) noexcept;
  // Counts a gRPC message the relay did not hand over because it was compressed in a
  // grpc-encoding the sidecar does not read (compressed).
  void count_compressed(std::size_t producer) noexcept;

  // Drains the queues and computes the statistics synchronously (tests, /drift?refresh).
  void compute_now();
  // Drains the queues without computing (tests).
  void drain_now();

  std::vector<prometheus::MetricFamily> Collect() const override;
  std::string drift_json() const;  // the /drift admin document

  std::size_t producers() const { return producers_.size(); }
  const ReferenceProfile& profile() const { return profile_; }
  const DriftSettings& settings() const { return settings_; }

  struct FeatureState;
  struct Snapshot;

 private:
  struct Producer;
  void init();
  void run();
  std::size_t drain_locked();
  void ingest_locked(const Sample& sample);
  // With keep_draining, the queues are drained between features too (every few ms), so that a
  // long computation does not let them fill while the worker is busy.
  void compute_locked(bool keep_draining);

  const DriftSettings settings_;
  const ReferenceProfile profile_;
  std::uint64_t sample_threshold_ = 0;  // should_sample: draw < threshold (unless rate >= 1)
  std::vector<std::unique_ptr<Producer>> producers_;
  std::vector<std::unique_ptr<FeatureState>> features_;  // fixed after construction
  // The bin edges and the cells of all features, each feature's in one run (see drift_state.h).
  std::vector<double> edges_;
  std::unique_ptr<DriftCell[]> cells_;
  // Feature index by name, and the features of each direction; immutable after construction.
  std::map<std::string, std::size_t, std::less<>> lookup_[kDirectionCount];
  std::vector<std::size_t> by_direction_[kDirectionCount];
  FeatureNaming naming_[kDirectionCount];

  // guards windows inside features_, scratch_values_, scratch_seen_, last_names_, ks_cache_
  std::mutex state_mutex_;
  std::vector<FeatureValue> scratch_values_;
  std::vector<std::uint32_t> scratch_seen_;
  // Per direction, the feature of each value position in the last body read (ingest_locked).
  static constexpr std::size_t kUntracked = static_cast<std::size_t>(-1);
  struct NameAt {
    std::string name;
    std::size_t index = kUntracked;
    bool known = false;
  };
  std::vector<NameAt> last_names_[kDirectionCount];
  std::unique_ptr<KsPvalueCache> ks_cache_;  // exact KS p-values by (n1, n2, h)

  // Worker-side counters, read by Collect().
  std::atomic<std::uint64_t> skipped_[kReadStatusCount] = {};
  std::atomic<std::uint64_t> bodies_read_[kDirectionCount] = {};
  std::atomic<std::uint64_t> untracked_values_{0};

  mutable std::mutex snapshot_mutex_;  // guards snapshot_
  std::shared_ptr<const Snapshot> snapshot_;

  std::mutex run_mutex_;  // guards running_, with wake_
  std::condition_variable wake_;
  bool running_ = false;
  std::thread worker_;
};

// `t` in UTC as RFC 3339 to the second ("2026-12-06T08:00:00Z"), as the /drift document and
// drift-report write their times.
std::string rfc3339(std::chrono::system_clock::time_point t);

}  // namespace mlsidecar::drift
