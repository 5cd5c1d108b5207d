#include "gateway/metrics.hpp"

#include <cmath>
#include <cstdio>
#include <map>
#include <variant>

namespace herald::metrics {

struct Registry::Family {
  std::string name, help, type;
  std::map<std::string, std::unique_ptr<Counter>> counters;
  std::map<std::string, std::unique_ptr<Gauge>> gauges;
  std::map<std::string, std::unique_ptr<Histogram>> histograms;
  std::function<double()> fn;
};

void Histogram::observe(double seconds) {
  std::size_t i = 0;
  while (i < size_ && seconds > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<uint64_t>(std::max(0.0, seconds) * 1e6),
                        std::memory_order_relaxed);
}

namespace {
std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}
std::string join_labels(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "," + b;
}
}  // namespace

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= size_; ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    std::string le = i < size_ ? number(bounds_[i]) : "+Inf";
    out += name + "_bucket{" + join_labels(labels, "le=\"" + le + "\"") + "} " +
           std::to_string(cumulative) + "\n";
  }
  std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " " + number(sum_micros_.load() / 1e6) + "\n";
  out += name + "_count" + braces + " " + std::to_string(count_.load()) + "\n";
}

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Family& Registry::family(const std::string& name, const std::string& help,
                                   const char* type) {
  for (auto& f : families_)
    if (f->name == name) return *f;
  families_.push_back(std::make_unique<Family>());
  auto& f = *families_.back();
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

Counter& Registry::counter(const std::string& name, const std::string& help,
                           const std::string& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, "counter").counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help,
                       const std::string& labels) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, "gauge").gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               const std::string& labels, bool fine) {
  std::lock_guard lock(mutex_);
  auto& slot = family(name, help, "histogram").histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(fine);
  return *slot;
}

void Registry::gauge_fn(const std::string& name, const std::string& help,
                        std::function<double()> fn) {
  std::lock_guard lock(mutex_);
  family(name, help, "gauge").fn = std::move(fn);
}

std::string Registry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  out.reserve(16384);
  for (const auto& f : families_) {
    out += "# HELP " + f->name + " " + f->help + "\n# TYPE " + f->name + " " + f->type + "\n";
    for (const auto& [labels, c] : f->counters)
      out += f->name + (labels.empty() ? "" : "{" + labels + "}") + " " +
             std::to_string(c->value()) + "\n";
    for (const auto& [labels, g] : f->gauges)
      out += f->name + (labels.empty() ? "" : "{" + labels + "}") + " " +
             std::to_string(g->value()) + "\n";
    for (const auto& [labels, h] : f->histograms) h->render(out, f->name, labels);
    if (f->fn) out += f->name + " " + number(f->fn()) + "\n";
  }
  return out;
}

Registry& registry() {
  static Registry instance;
  return instance;
}

std::string label_value(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace herald::metrics
