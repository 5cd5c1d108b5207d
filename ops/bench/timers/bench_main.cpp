// Durable timers against a running redis-server; run by ops/bench/timers.sh.
//   herald_timers_bench REDIS_URL [PENDING] [RATE] [SPREAD_SECONDS] [BURST] [WORKERS]
// 1. memory: schedules PENDING timers due in a year (used_memory before and after);
// 2. sustained: RATE × SPREAD timers due evenly over SPREAD seconds, fired by WORKERS
//    EventProcessors (one thread each) with a counting sink, beside the pending ones;
//    fired/s and the lag between due time and firing (p50, p99, max);
// 3. burst: BURST timers due at the same moment; fired/s until all have fired.
// Prints "name value" lines. The processors' clock is the system clock shifted, so that
// the timers can be written before they are due.

#include <utility>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "config/config.hpp"
#include "gateway/event_processor.hpp"
#include "gateway/event_sink.hpp"
#include "gateway/log.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/timers.hpp"

namespace asio = boost::asio;
using namespace herald;

namespace {

constexpr unsigned kPartitions = 16;

class ShiftedClock final : public gateway::Clock {
 public:
  int64_t now_ms() const override { return gateway::system_clock().now_ms() + shift_.load(); }
  void set(int64_t virtual_now) { shift_.store(virtual_now - gateway::system_clock().now_ms()); }

 private:
  std::atomic<int64_t> shift_{0};
};

/// Counts timers and keeps each one's lag (clock at firing minus due time).
class CountingSink final : public gateway::EventSink {
 public:
  explicit CountingSink(const gateway::Clock& clock) : clock_(clock) {}
  void decide(const std::string&, gateway::CustomerState&, const ingest::Event&,
              gateway::Commands&) override {}
  void fire(const gateway::Timer& timer, gateway::CustomerState&, gateway::Commands&) override {
    auto now = clock_.now_ms();
    std::lock_guard lock(mutex_);
    lags_.push_back(now - timer.due_ms);
    last_ms_ = now;
    count_.fetch_add(1);
  }
  uint64_t count() const { return count_.load(); }
  std::vector<int64_t> take_lags(int64_t& last_ms) {
    std::lock_guard lock(mutex_);
    last_ms = last_ms_;
    return std::exchange(lags_, {});
  }

 private:
  const gateway::Clock& clock_;
  std::mutex mutex_;
  std::vector<int64_t> lags_;
  int64_t last_ms_ = 0;
  std::atomic<uint64_t> count_{0};
};

/// One connection driven by its own io_context on the calling thread.
class Connection {
 public:
  explicit Connection(const std::string& url) : client_(ioc_, redis::parse_url(url)) {
    client_.start();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!client_.connected()) {
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("no Redis");
      ioc_.restart();
      ioc_.run_for(std::chrono::milliseconds(10));
    }
  }
  std::vector<redis::Reply> pipeline(const gateway::Commands& commands) {
    std::vector<redis::Reply> replies;
    std::exception_ptr error;
    bool done = false;
    auto task = [&]() -> asio::awaitable<void> {
      auto r = co_await client_.pipeline(commands);
      replies = std::move(r);
    };
    asio::co_spawn(ioc_, task, [&](std::exception_ptr e) { error = e, done = true; });
    while (!done) {
      ioc_.restart();
      ioc_.run_for(std::chrono::milliseconds(10));
    }
    if (error) std::rethrow_exception(error);
    return replies;
  }
  int64_t used_memory() {
    gateway::Commands info{{"INFO", "memory"}};
    auto text = pipeline(info).at(0).str;
    auto at = text.find("used_memory:");
    return std::stoll(text.substr(at + 12));
  }

 private:
  asio::io_context ioc_;
  redis::Client client_;
};

struct Worker {
  Worker(const config::Config& config, const std::string& url, const std::string& name,
         gateway::EventSink* sink, const gateway::Clock* clock)
      : reader(ioc, redis::parse_url(url)),
        writer(ioc, redis::parse_url(url)),
        processor(config, name, sink, clock) {
    reader.start();
    writer.start();
    asio::co_spawn(ioc, processor.run(reader, writer), asio::detached);
    thread = std::thread([this] { ioc.run(); });
  }
  ~Worker() {
    ioc.stop();
    thread.join();
  }
  asio::io_context ioc;
  redis::Client reader, writer;
  gateway::EventProcessor processor;
  std::thread thread;
};

/// Schedules `count` timers, `make(i)` giving (customer, timer id, due), in pipelines.
template <typename F>
double schedule_all(Connection& redis, std::size_t count, F make) {
  auto start = std::chrono::steady_clock::now();
  gateway::Commands batch;
  for (std::size_t i = 0; i < count; ++i) {
    auto [customer, id, due] = make(i);
    for (auto& c : gateway::schedule_timer(customer, id, due, "wait", kPartitions))
      batch.push_back(std::move(c));
    if (batch.size() == 5000 || i + 1 == count) {
      for (const auto& r : redis.pipeline(batch))
        if (r.is_error()) throw std::runtime_error("schedule: " + r.str);
      batch.clear();
    }
  }
  return count / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool wait_for(const std::vector<std::unique_ptr<CountingSink>>& sinks, uint64_t target,
              std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    uint64_t total = 0;
    for (const auto& s : sinks) total += s->count();
    if (total >= target) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

double percentile(std::vector<int64_t>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(q * (v.size() - 1));
  return static_cast<double>(v[i]);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr
        << "usage: herald_timers_bench REDIS_URL [PENDING] [RATE] [SPREAD] [BURST] [WORKERS]\n";
    return 2;
  }
  std::string url = argv[1];
  std::size_t pending = argc > 2 ? std::stoul(argv[2]) : 1'000'000;
  std::size_t rate = argc > 3 ? std::stoul(argv[3]) : 25'000;
  std::size_t spread = argc > 4 ? std::stoul(argv[4]) : 5;
  std::size_t burst = argc > 5 ? std::stoul(argv[5]) : 200'000;
  std::size_t workers = argc > 6 ? std::stoul(argv[6]) : 2;
  herald::log::setup("warn", "text");

  Connection redis(url);
  auto now = gateway::system_clock().now_ms();

  // 1. Memory per pending timer: ids shaped like the workflow engine's.
  auto before = redis.used_memory();
  auto schedule_rate = schedule_all(redis, pending, [&](std::size_t i) {
    return std::tuple("customer-" + std::to_string(i),
                      "abandoned-cart|r" + std::to_string(i % 997) + "|3",
                      now + 365LL * 86'400'000 + static_cast<int64_t>(i));
  });
  auto after = redis.used_memory();
  std::cout << "pending_timers " << pending << "\n";
  std::cout << "memory_bytes_per_timer " << (after - before) / static_cast<double>(pending) << "\n";
  std::cout << "scheduled_per_second " << static_cast<int64_t>(schedule_rate) << "\n";

  // 2. Sustained: due evenly over `spread` seconds, from virtual time `base`.
  config::Config config;
  config.redis.partitions = kPartitions;
  ShiftedClock clock;
  int64_t base = now + 86'400'000;  // a day ahead: well before the pending ones, after now
  clock.set(base - 60'000);         // nothing of ours is due yet
  std::size_t sustained = rate * spread;
  schedule_all(redis, sustained, [&](std::size_t i) {
    return std::tuple("bench-" + std::to_string(i % 50'000), "wf|s" + std::to_string(i) + "|1",
                      base + static_cast<int64_t>(i * spread * 1000 / sustained));
  });
  std::vector<std::unique_ptr<CountingSink>> sinks;
  std::vector<std::unique_ptr<Worker>> running;
  for (std::size_t w = 0; w < workers; ++w) {
    sinks.push_back(std::make_unique<CountingSink>(clock));
    running.push_back(std::make_unique<Worker>(config, url, "bench-" + std::to_string(w),
                                               sinks.back().get(), &clock));
  }
  std::this_thread::sleep_for(std::chrono::seconds(4));  // leases shared out between workers
  clock.set(base - 500);
  if (!wait_for(sinks, sustained, std::chrono::seconds(spread + 60))) {
    std::cerr << "sustained: not every timer fired\n";
    return 1;
  }
  std::vector<int64_t> lags;
  int64_t last = 0;
  for (auto& s : sinks) {
    int64_t l = 0;
    auto part = s->take_lags(l);
    lags.insert(lags.end(), part.begin(), part.end());
    last = std::max(last, l);
  }
  double elapsed = (last - base) / 1000.0;
  std::cout << "sustained_timers " << sustained << "\n";
  std::cout << "sustained_offered_per_second " << rate << "\n";
  std::cout << "sustained_fired_per_second "
            << static_cast<int64_t>(sustained / std::max(elapsed, double(spread))) << "\n";
  std::cout << "lag_p50_ms " << percentile(lags, 0.50) << "\n";
  std::cout << "lag_p99_ms " << percentile(lags, 0.99) << "\n";
  std::cout << "lag_max_ms " << percentile(lags, 1.0) << "\n";

  // 3. Burst: all due at the same moment; the processors are already running.
  int64_t burst_at = base + 3'600'000;
  schedule_all(redis, burst, [&](std::size_t i) {
    return std::tuple("burst-" + std::to_string(i % 50'000), "wf|b" + std::to_string(i) + "|1",
                      burst_at);
  });
  auto start = std::chrono::steady_clock::now();
  clock.set(burst_at);
  if (!wait_for(sinks, sustained + burst, std::chrono::seconds(120))) {
    std::cerr << "burst: not every timer fired\n";
    return 1;
  }
  double burst_secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "burst_timers " << burst << "\n";
  std::cout << "burst_fired_per_second " << static_cast<int64_t>(burst / burst_secs) << "\n";
  uint64_t total = 0;
  for (auto& s : sinks) total += s->count();
  std::cout << "fired_total " << total << "\n";
  std::cout << "expected_total " << sustained + burst << "\n";
  running.clear();
  return 0;
}
