#include <utility>

#include "gateway/webhook_worker.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <stdexcept>
#include <unordered_set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "channels/http_client.hpp"
#include "gateway/customer_state.hpp"
#include "gateway/engine/webhook_step.hpp"
#include "gateway/ingest/timestamp.hpp"
#include "gateway/keys.hpp"
#include "gateway/log.hpp"
#include "gateway/metrics.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/timers.hpp"

namespace herald::gateway {
namespace asio = boost::asio;
namespace webhook = engine::webhook;

namespace {

// Request hash fields read before each attempt, in this order.
const std::vector<std::string> kFields{"status", "method",   "url",      "headers",
                                       "body",   "attempts", "workflow", "step"};
enum Field { kStatus, kMethod, kUrl, kHeaders, kBody, kAttempts, kWorkflow, kStep };

std::string rfc3339(int64_t ms) {
  return ingest::format_rfc3339(ingest::Timestamp(std::chrono::milliseconds(ms)));
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// A drain cut a request short: it stays pending, to be claimed again.
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("stopping") {}
};

/// How a request ends.
struct Ending {
  std::string status;  // succeeded, failed, cancelled; empty: only acknowledge the entry
  long last_status = 0;
  std::string detail;
  bool hand_back = false;  // give the outcome to the engine
  bool ok = false;
};

Ending ending(std::string status, long last_status, std::string detail, bool hand_back, bool ok) {
  Ending e;
  e.status = std::move(status);
  e.last_status = last_status;
  e.detail = std::move(detail);
  e.hand_back = hand_back;
  e.ok = ok;
  return e;
}

// Commands are built outside the coroutines: g++ 12 mishandles braced lists of string
// literals inside coroutine bodies.
Commands finish_commands(const std::string& entry_id, const std::string& id,
                         const std::string& customer, const std::string& workflow, const Ending& e,
                         int64_t now_ms, unsigned partitions) {
  Commands tx{{"MULTI"}};
  if (!e.status.empty())
    tx.push_back({"EVAL", webhook::kFinish, "1", webhook::request_key(customer, id), e.status,
                  std::to_string(e.last_status), e.detail, rfc3339(wall_ms()),
                  std::to_string(webhook::kKeepSeconds)});
  if (e.hand_back) {
    webhook::Outcome outcome{id, workflow, e.ok};
    for (auto& c : webhook::outcome_commands(customer, outcome, now_ms, partitions))
      tx.push_back(std::move(c));
  }
  tx.push_back({"XACK", webhook::kStream, webhook::kGroup, entry_id});
  tx.push_back({"XDEL", webhook::kStream, entry_id});
  tx.push_back({"EXEC"});
  return tx;
}

Commands read_commands(const std::string& key, const std::string& customer) {
  std::vector<std::string> hmget{"HMGET", key};
  hmget.insert(hmget.end(), kFields.begin(), kFields.end());
  return {std::move(hmget), {"HGET", keys::customer(customer), "r"}};
}

std::vector<std::string> note_command(const std::string& key, long status,
                                      const std::string& detail) {
  return {"HSET", key, "last_status", std::to_string(status), "detail", detail};
}

}  // namespace

struct WebhookWorker::Impl : std::enable_shared_from_this<WebhookWorker::Impl> {
  Impl(asio::io_context& ioc, WebhookOptions o, const Clock& c)
      : http(ioc), options(std::move(o)), clock(c), wake(ioc) {}

  channels::HttpClient http;
  WebhookOptions options;
  const Clock& clock;
  std::shared_ptr<spdlog::logger> log = herald::log::get("webhook");
  std::mt19937_64 random{std::random_device{}()};
  std::size_t in_flight = 0;
  std::atomic<bool> draining{false};  // drain(): start nothing new
  std::atomic<bool> drained{false};   // draining, nothing in flight, everything written
  std::unordered_set<std::string> entries_in_flight;
  std::vector<std::string> acks;  // entries to acknowledge without an outcome
  asio::steady_timer wake;

  metrics::Counter& calls_ok = metrics::registry().counter(
      "herald_webhook_calls_total", "Workflow webhook calls by result", "result=\"2xx\"");
  metrics::Counter& calls_refused = metrics::registry().counter(
      "herald_webhook_calls_total", "Workflow webhook calls by result", "result=\"other_status\"");
  metrics::Counter& calls_unanswered = metrics::registry().counter(
      "herald_webhook_calls_total", "Workflow webhook calls by result", "result=\"no_answer\"");
  metrics::Histogram& latency =
      metrics::registry().histogram("herald_webhook_call_seconds", "Workflow webhook call latency");

  metrics::Counter& ended(const std::string& status) {
    return metrics::registry().counter("herald_webhook_requests_total",
                                       "Workflow webhook requests by how they ended",
                                       "status=\"" + status + "\"");
  }

  std::chrono::milliseconds backoff(unsigned attempt) {
    auto cap = options.base_backoff * (1LL << std::min(attempt - 1, 20u));
    if (cap > options.max_backoff) cap = options.max_backoff;
    std::uniform_int_distribution<int64_t> pick(cap.count() / 2, cap.count());
    return std::chrono::milliseconds(pick(random));
  }

  /// Writes how a request ended, hands the outcome back and acknowledges the entry, in
  /// one MULTI/EXEC.
  asio::awaitable<void> finish(redis::Client& redis, const std::string& entry_id,
                               const std::string& id, const std::string& customer,
                               const std::string& workflow, const Ending& e) {
    auto tx =
        finish_commands(entry_id, id, customer, workflow, e, clock.now_ms(), options.partitions);
    auto results = co_await redis.pipeline(tx);
    const auto& exec = results.back();
    if (!exec.is_array()) throw redis::CommandError("EXEC failed: " + exec.str);
    for (const auto& r : exec.elements)
      if (r.is_error()) throw redis::CommandError("a webhook outcome write failed: " + r.str);
    if (!e.status.empty()) ended(e.status).inc();
  }

  /// Calls until an answer ends the request, then records it. Returns false when there
  /// was nothing to do but acknowledge the entry.
  asio::awaitable<bool> perform(redis::Client& redis, const std::string& entry_id,
                                const std::string& id, const std::string& customer) {
    const auto key = webhook::request_key(customer, id);
    for (;;) {
      auto reads = read_commands(key, customer);
      auto replies = co_await redis.pipeline(reads);
      const auto& f = replies.at(0).elements;
      if (f.size() != kFields.size() || f[kStatus].is_nil() || f[kStatus].str != "pending")
        co_return false;  // gone, or ended by another worker
      const std::string workflow = f[kWorkflow].str;
      const std::string step = f[kStep].str;

      // The run must still wait on this request: one that ended meanwhile is not called.
      auto runs = OJson::parse(replies.at(1).is_nil() ? "{}" : replies.at(1).str, nullptr, false);
      const OJson* run = nullptr;
      if (runs.is_object())
        if (auto it = runs.find(workflow); it != runs.end() && it->is_object()) run = &*it;
      if (!run || run->value("webhook", "") != id || run->value("state", "") != "waiting") {
        auto e = ending("cancelled", 0, "the run no longer waits on this step", false, false);
        co_await finish(redis, entry_id, id, customer, workflow, e);
        co_return true;
      }

      const unsigned attempts = static_cast<unsigned>(std::atoi(f[kAttempts].str.c_str()));
      if (attempts >= options.attempts) {
        auto e = ending("failed", 0, "attempts exhausted", true, false);
        co_await finish(redis, entry_id, id, customer, workflow, e);
        co_return true;
      }
      // Counted before the call: a crash during it still counts it.
      co_await redis.command("HINCRBY", key, "attempts", "1");
      const unsigned attempt = attempts + 1;

      channels::HttpRequest request;
      request.method = f[kMethod].str.empty() ? "POST" : f[kMethod].str;
      request.url = f[kUrl].str;
      request.body = f[kBody].str;
      request.timeout = options.timeout;
      bool has_key = false;
      auto headers = OJson::parse(f[kHeaders].str.empty() ? "[]" : f[kHeaders].str, nullptr, false);
      if (headers.is_array())
        for (const auto& h : headers) {
          if (!h.is_array() || h.size() != 2 || !h[0].is_string() || !h[1].is_string()) continue;
          auto name = h[0].get<std::string>();
          std::string lower = name;
          std::transform(lower.begin(), lower.end(), lower.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
          if (lower == "idempotency-key") has_key = true;
          request.headers.emplace_back(std::move(name), h[1].get<std::string>());
        }
      if (!has_key) request.headers.emplace_back("Idempotency-Key", id);

      const auto started = std::chrono::steady_clock::now();
      auto response = co_await http.request(std::move(request));
      latency.observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      if (response.status >= 200 && response.status < 300) {
        calls_ok.inc();
        log->debug("webhook {} of workflow {} step {}: {} on attempt {}", id, workflow, step,
                   response.status, attempt);
        auto e = ending("succeeded", response.status, "", true, true);
        co_await finish(redis, entry_id, id, customer, workflow, e);
        co_return true;
      }
      std::string detail =
          response.status ? "HTTP " + std::to_string(response.status)
                          : (response.timed_out ? "timed out" : "no answer: " + response.error);
      (response.status ? calls_refused : calls_unanswered).inc();
      if (attempt >= options.attempts) {
        log->warn("webhook {} of workflow {} step {} failed after {} attempts: {}", id, workflow,
                  step, attempt, detail);
        auto e = ending("failed", response.status, detail, true, false);
        co_await finish(redis, entry_id, id, customer, workflow, e);
        co_return true;
      }
      auto wait = backoff(attempt);
      log->debug("webhook {} of workflow {} step {}: attempt {} of {}: {}; again in {} ms", id,
                 workflow, step, attempt, options.attempts, detail, wait.count());
      auto note = note_command(key, response.status, detail);
      co_await redis.command(note);
      // The back-off, cut short by a drain: the request stays pending for another worker.
      asio::steady_timer pause(co_await asio::this_coro::executor);
      const auto until = std::chrono::steady_clock::now() + wait;
      while (!draining && std::chrono::steady_clock::now() < until) {
        pause.expires_after(std::min<std::chrono::steady_clock::duration>(
            until - std::chrono::steady_clock::now(), std::chrono::milliseconds(100)));
        boost::system::error_code ignored;
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      }
      if (draining) throw Interrupted();
    }
  }

  asio::awaitable<void> handle(redis::Client& writer, std::string entry_id, std::string id,
                               std::string customer) {
    try {
      bool finished = false;
      if (!id.empty() && !customer.empty())
        finished = co_await perform(writer, entry_id, id, customer);
      if (!finished) acks.push_back(entry_id);
    } catch (const Interrupted&) {
      // Stopping during a back-off: the entry stays pending and is claimed again later.
    } catch (const std::exception& e) {
      // Redis went away mid-way: the entry stays pending and is claimed again later.
      log->warn("webhook request {} interrupted: {}", id, e.what());
    }
    entries_in_flight.erase(entry_id);
    --in_flight;
    wake.cancel();
  }

  /// Starts the entries not already in flight here. Returns the last entry id seen.
  std::string start(redis::Client& writer, const redis::Reply& entries) {
    std::string last;
    for (const auto& entry : entries.elements) {
      if (!entry.is_array() || entry.elements.size() < 2) continue;
      last = entry.elements[0].str;
      if (!entries_in_flight.insert(last).second) continue;
      std::string id, customer;
      const auto& kv = entry.elements[1].elements;
      for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
        if (kv[i].str == "id") id = kv[i + 1].str;
        if (kv[i].str == "customer") customer = kv[i + 1].str;
      }
      ++in_flight;
      asio::co_spawn(wake.get_executor(), handle(writer, last, std::move(id), std::move(customer)),
                     asio::detached);
    }
    return last;
  }

  asio::awaitable<void> flush_acks(redis::Client& writer) {
    if (acks.empty()) co_return;
    std::vector<std::string> done;
    done.swap(acks);
    std::vector<std::string> xack{"XACK", webhook::kStream, webhook::kGroup};
    xack.insert(xack.end(), done.begin(), done.end());
    std::vector<std::string> xdel{"XDEL", webhook::kStream};
    xdel.insert(xdel.end(), done.begin(), done.end());
    std::vector<std::vector<std::string>> ack;
    ack.push_back(std::move(xack));
    ack.push_back(std::move(xdel));
    co_await writer.pipeline(ack);
  }

  /// Keeps the entries in flight here from being taken for a dead worker's.
  asio::awaitable<void> heartbeat(redis::Client& writer) {
    if (entries_in_flight.empty()) co_return;
    std::vector<std::string> xclaim{"XCLAIM", webhook::kStream, webhook::kGroup, options.consumer,
                                    "0"};
    xclaim.insert(xclaim.end(), entries_in_flight.begin(), entries_in_flight.end());
    xclaim.push_back("JUSTID");
    auto r = co_await writer.command(xclaim);
    if (r.is_error()) throw redis::CommandError(r.str);
  }

  asio::awaitable<void> run(redis::Client& reader, redis::Client& writer) {
    asio::steady_timer pause(co_await asio::this_coro::executor);
    bool group_ready = false;
    bool read_pending = true;  // our own unacknowledged entries first
    std::string pending_from = "0";
    std::string reclaim_from = "0-0";
    auto last_claim = std::chrono::steady_clock::now() - std::chrono::hours(1);
    auto last_heartbeat = std::chrono::steady_clock::now();
    const auto heartbeat_every = std::max<std::chrono::milliseconds>(
        options.reclaim_after / 3, std::chrono::milliseconds(100));
    const auto claim_every = std::min<std::chrono::milliseconds>(
        std::chrono::seconds(2), std::max<std::chrono::milliseconds>(
                                     options.reclaim_after / 2, std::chrono::milliseconds(100)));
    for (;;) {
      bool failed = false;
      try {
        co_await flush_acks(writer);
        if (draining) {
          // Calls in flight finish (and keep their entries claimed meanwhile).
          if (std::chrono::steady_clock::now() - last_heartbeat >= heartbeat_every) {
            co_await heartbeat(writer);
            last_heartbeat = std::chrono::steady_clock::now();
          }
          if (in_flight == 0 && acks.empty()) drained = true;
          wake.expires_after(std::chrono::milliseconds(20));
          boost::system::error_code ignored;
          co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
          continue;
        }
        failed = !reader.connected() || !writer.connected();
        if (!failed && std::chrono::steady_clock::now() - last_heartbeat >= heartbeat_every) {
          co_await heartbeat(writer);
          last_heartbeat = std::chrono::steady_clock::now();
        }
        if (failed) {
          // The connection is down: paused below.
        } else if (in_flight >= options.max_in_flight) {
          wake.expires_after(std::chrono::milliseconds(100));
          boost::system::error_code ignored;
          co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        } else {
          if (!group_ready) {
            auto r = co_await writer.command("XGROUP", "CREATE", webhook::kStream, webhook::kGroup,
                                             "0", "MKSTREAM");
            if (r.is_error() && r.str.find("BUSYGROUP") == std::string::npos)
              throw redis::CommandError(r.str);
            group_ready = true;
          }
          auto now = std::chrono::steady_clock::now();
          if (now - last_claim > claim_every) {
            // Entries of a dead worker, idle for reclaim_after.
            auto claimed = co_await writer.command(
                "XAUTOCLAIM", webhook::kStream, webhook::kGroup, options.consumer,
                std::to_string(options.reclaim_after.count()), reclaim_from, "COUNT", "100");
            if (claimed.is_error()) throw redis::CommandError(claimed.str);
            reclaim_from = "0-0";
            last_claim = now;
            if (claimed.is_array() && claimed.elements.size() >= 2) {
              start(writer, claimed.elements[1]);
              const auto& cursor = claimed.elements[0].str;
              if (!cursor.empty() && cursor != "0-0") {
                reclaim_from = cursor;
                last_claim = now - std::chrono::hours(1);
              }
            }
          }
          auto room = options.max_in_flight - in_flight;
          std::vector<std::string> read{"XREADGROUP",
                                        "GROUP",
                                        webhook::kGroup,
                                        options.consumer,
                                        "COUNT",
                                        std::to_string(std::min<std::size_t>(room, 64)),
                                        "BLOCK",
                                        "100",
                                        "STREAMS",
                                        webhook::kStream,
                                        read_pending ? pending_from : ">"};
          auto reply = co_await reader.command(read);
          if (reply.is_error()) {
            if (reply.str.find("NOGROUP") != std::string::npos) group_ready = false;
            throw redis::CommandError(reply.str);
          }
          std::string last;
          if (reply.is_array())
            for (const auto& stream : reply.elements)
              if (stream.elements.size() >= 2 && !stream.elements[1].elements.empty())
                last = start(writer, stream.elements[1]);
          if (read_pending) {
            if (last.empty()) {
              read_pending = false;
              pending_from = "0";
            } else {
              pending_from = last;
            }
          }
        }
      } catch (const std::exception& e) {
        log->warn("webhook calls paused: {}", e.what());
        failed = true;
      }
      if (failed) {
        read_pending = true;
        pending_from = "0";
        pause.expires_after(std::chrono::milliseconds(500));
        boost::system::error_code ignored;
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      }
    }
  }
};

WebhookWorker::WebhookWorker(asio::io_context& ioc, WebhookOptions options, const Clock* clock)
    : impl_(std::make_shared<Impl>(ioc, std::move(options), clock ? *clock : system_clock())) {}

WebhookWorker::~WebhookWorker() = default;

std::size_t WebhookWorker::in_flight() const {
  return impl_->in_flight;
}

void WebhookWorker::drain() {
  impl_->draining = true;
}

bool WebhookWorker::drained() const {
  return impl_->drained;
}

asio::awaitable<void> WebhookWorker::run(redis::Client& reader, redis::Client& writer) {
  co_await impl_->run(reader, writer);
}

}  // namespace herald::gateway
