#pragma once
// Prometheus metrics: counters and histograms named herald_<area>_<what>_<unit>,
// updated lock-free from any thread and rendered in the text exposition format.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace herald::metrics {

class Counter {
 public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void add(int64_t v) { value_.fetch_add(v, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

/// Latency histogram in seconds with fixed buckets from 100 µs to 10 s, or (fine) from
/// 5 µs, for steps that take microseconds.
class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                  0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                  1.0,    10.0};
  static constexpr std::array<double, 20> kFineBounds{
      0.000005, 0.00001, 0.000015, 0.00002, 0.000025, 0.00003, 0.00004, 0.00005, 0.000075, 0.0001,
      0.00015,  0.0002,  0.0003,   0.0005,  0.001,    0.0025,  0.01,    0.1,     1.0,      10.0};
  explicit Histogram(bool fine = false)
      : bounds_(fine ? kFineBounds.data() : kBounds.data()),
        size_(fine ? kFineBounds.size() : kBounds.size()) {}
  void observe(double seconds);
  void render(std::string& out, const std::string& name, const std::string& labels) const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  const double* bounds_;
  std::size_t size_;
  std::array<std::atomic<uint64_t>, kFineBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micros_{0};
};

/// Process-wide registry. Metrics live as long as the process; references stay valid.
class Registry {
 public:
  Registry();
  ~Registry();
  /// `labels` is the rendered label set without braces, e.g. `route="/v1/track"`.
  Counter& counter(const std::string& name, const std::string& help, const std::string& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const std::string& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help,
                       const std::string& labels = {}, bool fine = false);
  /// A value computed at scrape time (process memory, backlog, ...).
  void gauge_fn(const std::string& name, const std::string& help, std::function<double()> fn);

  std::string render() const;

 private:
  struct Family;
  Family& family(const std::string& name, const std::string& help, const char* type);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family>> families_;
};

Registry& registry();

/// Escapes a label value for the text format.
std::string label_value(std::string_view value);

}  // namespace herald::metrics
