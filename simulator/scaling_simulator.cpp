#include "simulator/scaling_simulator.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <memory>
#include <queue>
#include <random>

#include "policies/autoscale_signals.h"
#include "policies/time_weighted_window.h"

namespace mlsidecar::policies {

const char* signal_choice_name(SignalChoice c) {
  switch (c) {
    case SignalChoice::cpu:
      return "cpu";
    case SignalChoice::request_rate:
      return "request_rate";
    case SignalChoice::concurrency:
      return "concurrency";
    case SignalChoice::concurrency_panic:
      return "concurrency_panic";
    case SignalChoice::latency:
      return "latency";
    case SignalChoice::output_tokens:
      return "output_tokens";
  }
  return "unknown";
}

std::vector<SignalChoice> all_signal_choices() {
  return {SignalChoice::cpu,         SignalChoice::request_rate,
          SignalChoice::concurrency, SignalChoice::concurrency_panic,
          SignalChoice::latency,     SignalChoice::output_tokens};
}

namespace {

TimePoint tp(double seconds) { return TimePoint(Duration(std::llround(seconds * 1e9))); }

double mean_service_seconds(const ServiceModel& s, double mean_tokens) {
  if (s.workload == ServiceModel::Workload::tokens) {
    return s.prefill_seconds + s.seconds_per_token * mean_tokens;
  }
  return s.mean_seconds;
}

struct Request {
  double arrival = 0;
  double service = 0;
  std::uint64_t tokens = 0;
};

std::vector<Request> generate_requests(const LoadTrace& trace, const SimulationParams& p,
                                       double duration) {
  std::mt19937_64 rng(p.seed);
  std::exponential_distribution<double> exp1(1.0);
  const auto& s = p.service;
  auto draw = [&](double mean) {
    switch (s.distribution) {
      case ServiceModel::Distribution::fixed:
        return mean;
      case ServiceModel::Distribution::exponential:
        return mean * exp1(rng);
      case ServiceModel::Distribution::lognormal: {
        const double sigma2 = std::log(1 + s.cv * s.cv);
        std::lognormal_distribution<double> ln(std::log(mean) - sigma2 / 2, std::sqrt(sigma2));
        return ln(rng);
      }
    }
    return mean;
  };
  std::vector<Request> out;
  constexpr double dt = 0.001;
  double integral = 0;
  double next = p.poisson ? exp1(rng) : 1.0;
  const auto steps = static_cast<std::int64_t>(std::ceil(duration / dt));
  for (std::int64_t i = 0; i < steps; ++i) {
    const double t0 = static_cast<double>(i) * dt;
    const double inc = (trace.rate_at(t0) + trace.rate_at(t0 + dt)) / 2 * dt;
    while (inc > 0 && integral + inc >= next) {
      Request r;
      r.arrival = t0 + (next - integral) / inc * dt;
      if (s.workload == ServiceModel::Workload::tokens) {
        double mean_tokens = trace.mean_output_tokens_at(r.arrival);
        if (mean_tokens <= 0) mean_tokens = s.mean_output_tokens;
        r.tokens = static_cast<std::uint64_t>(std::max(1.0, std::round(draw(mean_tokens))));
        r.service = s.prefill_seconds + s.seconds_per_token * static_cast<double>(r.tokens);
      } else {
        r.service = draw(s.mean_seconds);
      }
      out.push_back(r);
      next += p.poisson ? exp1(rng) : 1.0;
    }
    integral += inc;
  }
  return out;
}

struct Replica {
  double created = 0;
  bool ready = false;
  bool terminating = false;
  bool gone = false;
  std::unique_ptr<AdmissionController> admission;
  std::unique_ptr<AutoscaleSignals> signals;
  ConcurrencyWindow busy{std::chrono::seconds(30)};  // requests at the model, for "cpu"
  int held = 0;                                      // requests in the sidecar
  std::deque<std::pair<double, std::array<double, 2>>> samples;
};

enum Kind {
  completion = 0,
  tokens = 1,
  timeout = 2,
  ready = 3,
  arrival = 4,
  sample = 5,
  sync = 6,
  mark = 7
};

struct Event {
  double t;
  int kind;
  std::uint64_t seq;
  Replica* replica;
  std::size_t request;
  Ticket ticket;
  bool operator>(const Event& o) const {
    if (t != o.t) return t > o.t;
    if (kind != o.kind) return kind > o.kind;
    return seq > o.seq;
  }
};

class Simulation {
 public:
  Simulation(const LoadTrace& trace, const SimulationParams& p, SignalChoice choice)
      : trace_(trace), p_(p), choice_(choice), hpa_(p.hpa) {
    duration_ = p.duration_seconds > 0 ? p.duration_seconds : trace.duration();
    requests_ = generate_requests(trace, p, duration_);
    started_.assign(requests_.size(), 0.0);
    emitted_.assign(requests_.size(), 0);
    result_.choice = choice;
    result_.requests = requests_.size();
    result_.slo_seconds = p.latency_slo_seconds;
    metric_count_ = (choice == SignalChoice::concurrency_panic || choice == SignalChoice::latency ||
                     choice == SignalChoice::output_tokens)
                        ? 2
                        : 1;
  }

  SimulationResult run() {
    for (int i = 0; i < p_.initial_replicas; ++i) make_ready(add_replica(0.0), 0.0);
    spec_ = p_.initial_replicas;
    result_.peak_replicas = spec_;
    push(1.0, sample);
    push(std::chrono::duration<double>(p_.hpa.sync_period).count(), sync);
    push(0.0, mark);
    std::size_t next_arrival = 0;
    while (true) {
      const bool have_arrival = next_arrival < requests_.size();
      if (events_.empty() && !have_arrival) break;
      const Event next{
          have_arrival ? requests_[next_arrival].arrival : 0.0, arrival, 0, nullptr, 0, 0};
      if (have_arrival && (events_.empty() || !(next > events_.top()))) {
        now_ = requests_[next_arrival].arrival;
        on_arrival(next_arrival++);
        continue;
      }
      const Event e = events_.top();
      events_.pop();
      now_ = e.t;
      switch (e.kind) {
        case completion:
          on_completion(e.replica, e.request);
          break;
        case tokens:
          on_tokens(e.replica, e.request);
          break;
        case timeout:
          on_timeout(e.replica, e.request, e.ticket);
          break;
        case ready:
          make_ready(e.replica, now_);
          break;
        case sample:
          on_sample();
          break;
        case sync:
          on_sync();
          break;
        case mark:
          on_mark();
          break;
        default:
          break;
      }
    }
    finish();
    return std::move(result_);
  }

 private:
  void push(double t, int kind, Replica* r = nullptr, std::size_t request = 0, Ticket ticket = 0) {
    events_.push(Event{t, kind, seq_++, r, request, ticket});
  }

  Replica* add_replica(double now) {
    auto r = std::make_unique<Replica>();
    r->created = now;
    Replica* raw = r.get();
    replicas_.push_back(std::move(r));
    return raw;
  }

  SignalParams signal_params() const {
    SignalParams s;
    s.shards = 1;
    switch (choice_) {
      case SignalChoice::request_rate:
        s.target_requests_per_second =
            p_.target_concurrency / mean_service_seconds(p_.service, p_.service.mean_output_tokens);
        break;
      case SignalChoice::latency:
        s.target_concurrency = p_.target_concurrency;
        s.latency_slo_seconds = p_.latency_slo_seconds;
        s.latency_quantile = p_.latency_quantile;
        break;
      case SignalChoice::output_tokens:
        s.target_output_tokens_per_second = p_.target_output_tokens_per_second;
        break;
      default:
        s.target_concurrency = p_.target_concurrency;
        break;
    }
    return s;
  }

  void make_ready(Replica* r, double now) {
    if (r->gone || r->terminating) return;
    r->ready = true;
    r->admission = std::make_unique<AdmissionController>(p_.admission, [this] { return tp(now_); });
    r->signals = std::make_unique<AutoscaleSignals>(signal_params(), tp(now));
    r->busy.change(tp(now), 0);
    routable_.push_back(r);
  }

  void start_service(Replica* r, std::size_t i) {
    r->busy.change(tp(now_), +1);
    started_[i] = now_;
    push(now_ + requests_[i].service, completion, r, i);
    if (requests_[i].tokens > 0 && requests_[i].service > 1.0) push(now_ + 1.0, tokens, r, i);
  }

  // Output tokens are reported as they stream (each second, and the rest at completion), as the
  // sidecar's stream tap does, not all at the end.
  void report_tokens(Replica* r, std::size_t i) {
    const Request& q = requests_[i];
    const double produced =
        (now_ - started_[i] - p_.service.prefill_seconds) / p_.service.seconds_per_token;
    const auto upto = static_cast<std::uint64_t>(
        std::clamp(std::floor(produced + 1e-9), 0.0, static_cast<double>(q.tokens)));
    if (upto > emitted_[i]) {
      r->signals->on_output_tokens(upto - emitted_[i], tp(now_));
      emitted_[i] = upto;
    }
  }

  void on_tokens(Replica* r, std::size_t i) {
    report_tokens(r, i);
    if (now_ + 1.0 < started_[i] + requests_[i].service) push(now_ + 1.0, tokens, r, i);
  }

  void on_arrival(std::size_t i) {
    if (routable_.empty()) {
      ++result_.shed_no_replica;
      return;
    }
    Replica* r = routable_[rr_++ % routable_.size()];
    r->signals->on_request_start(tp(now_));
    ++r->held;
    const auto res = r->admission->try_acquire([this, r, i] {
      r->signals->on_queue_leave(tp(now_));
      start_service(r, i);
    });
    switch (res.decision) {
      case Decision::admit:
        start_service(r, i);
        break;
      case Decision::queue:
        r->signals->on_queue_enter(tp(now_));
        if (p_.admission.queue_timeout.count() > 0) {
          push(now_ + std::chrono::duration<double>(p_.admission.queue_timeout).count(), timeout, r,
               i, res.ticket);
        }
        break;
      case Decision::reject:
        ++result_.shed_queue_full;
        r->signals->on_request_end(tp(now_));
        release_hold(r);
        break;
    }
  }

  void on_completion(Replica* r, std::size_t i) {
    const Request& q = requests_[i];
    const double latency = now_ - q.arrival;
    r->busy.change(tp(now_), -1);
    if (q.tokens > 0) {
      report_tokens(r, i);
      if (q.tokens > emitted_[i]) r->signals->on_output_tokens(q.tokens - emitted_[i], tp(now_));
      emitted_[i] = q.tokens;
    }
    r->signals->on_request_end(tp(now_), Duration(std::llround(latency * 1e9)));
    latencies_.push_back(latency);
    ++result_.served;
    if (latency > p_.latency_slo_seconds) ++result_.slo_violations;
    r->admission->release();
    release_hold(r);
  }

  void on_timeout(Replica* r, std::size_t, Ticket ticket) {
    if (!r->admission->expire(ticket)) return;
    ++result_.shed_queue_timeout;
    r->signals->on_queue_leave(tp(now_));
    r->signals->on_request_end(tp(now_));
    release_hold(r);
  }

  void release_hold(Replica* r) {
    --r->held;
    if (r->terminating && r->held == 0) r->gone = true;
  }

  std::array<double, 2> metric_values(Replica* r) {
    const TimePoint t = tp(now_);
    if (choice_ == SignalChoice::cpu) {
      const double capacity = static_cast<double>(std::max<std::size_t>(1, p_.admission.capacity));
      return {r->busy.average(t) / capacity / p_.target_utilization, 0.0};
    }
    const LoadRatios lr = r->signals->update(t);
    return {lr.stable, lr.panic};
  }

  void on_sample() {
    int existing = 0;
    for (auto& r : replicas_) {
      if (r->gone) continue;
      if (now_ <= duration_) ++existing;
      if (!r->ready || r->terminating) continue;
      r->samples.emplace_back(now_, metric_values(r.get()));
      while (r->samples.size() > 2 && r->samples[1].first <= now_ - p_.metric_lag_seconds) {
        r->samples.pop_front();
      }
    }
    if (now_ <= duration_) {
      result_.replica_seconds += existing;  // one-second ticks
      push(now_ + 1.0, sample);
    }
  }

  void on_sync() {
    std::vector<HpaMetricInput> inputs(static_cast<std::size_t>(metric_count_));
    double seen_sum = 0;
    int seen = 0;
    for (auto& r : replicas_) {
      if (r->gone || r->terminating) continue;
      if (!r->ready) {
        for (auto& in : inputs) ++in.unready_pods;
        continue;
      }
      const std::pair<double, std::array<double, 2>>* latest = nullptr;
      for (const auto& s : r->samples) {
        if (s.first <= now_ - p_.metric_lag_seconds + 1e-9) latest = &s;
      }
      if (latest == nullptr) {
        for (auto& in : inputs) ++in.missing_pods;
        continue;
      }
      double largest = 0;
      for (int m = 0; m < metric_count_; ++m) {
        inputs[static_cast<std::size_t>(m)].ready_values.push_back(
            latest->second[static_cast<std::size_t>(m)]);
        largest = std::max(largest, latest->second[static_cast<std::size_t>(m)]);
      }
      seen_sum += largest;
      ++seen;
    }
    last_metric_ = seen > 0 ? seen_sum / seen : 0.0;
    const int desired = hpa_.reconcile(tp(now_), spec_, inputs);
    if (desired != spec_) {
      ++result_.scale_events;
      if (desired > spec_) {
        for (int i = spec_; i < desired; ++i) {
          Replica* r = add_replica(now_);
          push(now_ + p_.startup_delay_seconds, ready, r);
        }
      } else {
        remove_replicas(spec_ - desired);
      }
      spec_ = desired;
      result_.peak_replicas = std::max(result_.peak_replicas, spec_);
    }
    const double period = std::chrono::duration<double>(p_.hpa.sync_period).count();
    if (now_ + period <= duration_) push(now_ + period, sync);
  }

  // As a ReplicaSet does: unready pods first, then the newest.
  void remove_replicas(int count) {
    for (int pass = 0; pass < 2 && count > 0; ++pass) {
      for (auto it = replicas_.rbegin(); it != replicas_.rend() && count > 0; ++it) {
        Replica* r = it->get();
        if (r->gone || r->terminating) continue;
        if (pass == 0 && r->ready) continue;
        r->terminating = true;
        if (r->held == 0) r->gone = true;
        --count;
      }
    }
    std::erase_if(routable_, [](Replica* r) { return r->terminating; });
  }

  void on_mark() {
    TimelinePoint pt;
    pt.time_seconds = now_;
    pt.arrival_rate = trace_.rate_at(now_);
    pt.replicas = spec_;
    pt.ready = static_cast<int>(routable_.size());
    pt.metric = last_metric_;
    result_.timeline.push_back(pt);
    if (now_ + p_.timeline_step_seconds <= duration_ + 1e-9)
      push(now_ + p_.timeline_step_seconds, mark);
  }

  void finish() {
    if (!latencies_.empty()) {
      auto q = [this](double f) {
        const auto k = static_cast<std::size_t>(
            std::min<double>(latencies_.size() - 1, std::ceil(f * latencies_.size()) - 1));
        std::nth_element(latencies_.begin(), latencies_.begin() + static_cast<std::ptrdiff_t>(k),
                         latencies_.end());
        return latencies_[k];
      };
      result_.p50_seconds = q(0.50);
      result_.p99_seconds = q(0.99);
    }
    result_.slo_violations += result_.shed();
  }

  const LoadTrace& trace_;
  SimulationParams p_;
  SignalChoice choice_;
  HpaModel hpa_;
  double duration_ = 0;
  double now_ = 0;
  std::vector<Request> requests_;
  std::vector<double> started_;         // service start per request
  std::vector<std::uint64_t> emitted_;  // output tokens reported per request
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::vector<Replica*> routable_;
  std::size_t rr_ = 0;
  int spec_ = 0;
  int metric_count_ = 1;
  double last_metric_ = 0;
  std::uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  std::vector<double> latencies_;
  SimulationResult result_;
};

}  // namespace

SimulationParams resolve_defaults(SimulationParams p, const LoadTrace& trace) {
  const double capacity = static_cast<double>(p.admission.capacity);
  if (p.target_concurrency <= 0) p.target_concurrency = capacity > 0 ? 0.7 * capacity : 1.0;
  double mean_tokens = trace.points().empty() ? 0.0 : trace.points().front().mean_output_tokens;
  if (mean_tokens <= 0) mean_tokens = p.service.mean_output_tokens;
  p.service.mean_output_tokens = mean_tokens;
  if (p.latency_slo_seconds <= 0) {
    p.latency_slo_seconds = 4 * mean_service_seconds(p.service, mean_tokens);
  }
  if (p.target_output_tokens_per_second <= 0) {
    p.target_output_tokens_per_second = p.target_concurrency / p.service.seconds_per_token;
  }
  return p;
}

SimulationResult simulate(const LoadTrace& trace, const SimulationParams& params,
                          SignalChoice choice) {
  return Simulation(trace, resolve_defaults(params, trace), choice).run();
}

}  // namespace mlsidecar::policies
