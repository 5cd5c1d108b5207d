#include <utility>

#include "gateway/delivery.hpp"

#include <atomic>
#include <chrono>
#include <random>
#include <unordered_set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "channels/http_client.hpp"
#include "gateway/consent.hpp"
#include "gateway/conversations.hpp"
#include "gateway/suppression.hpp"
#include "gateway/customer_state.hpp"
#include "gateway/ingest/traits.hpp"
#include "gateway/keys.hpp"
#include "gateway/log.hpp"
#include "gateway/messages.hpp"
#include "gateway/metrics.hpp"
#include "gateway/policies.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/redis/redis_store.hpp"
#include "gateway/redis/script.hpp"
#include "gateway/unsubscribe.hpp"

namespace herald::gateway {
namespace asio = boost::asio;
using Outcome = channels::SendResult::Outcome;

namespace {

const std::string kGroup = "delivery";
// Message hash fields read before a hand-off, in this order.
const std::vector<std::string> kFields{"status",   "channel",  "content",       "template",
                                       "workflow", "run",      "step",          "attempts",
                                       "fallback", "provider", "transactional", "to"};
enum Field { kStatus, kChannel, kContent, kTemplate, kWorkflow, kRun, kStep, kAttempts,
             kFallback, kProvider, kTransactional, kTo };
const std::vector<std::string> kChannels{"email", "sms", "whatsapp", "wechat", "social"};

const redis::Script kClaimScript(messages::kClaim);
const redis::Script kReserveScript(messages::kReserveRate);
const redis::Script kMoveDueScript(messages::kMoveDue);
const redis::Script kAdvanceScript(messages::kAdvance);

const redis::Script kFinishScript(messages::kFinish);

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kAccepted: return "accepted";
    case Outcome::kRetryable: return "retryable";
    case Outcome::kPermanent: return "permanent";
    case Outcome::kOptedOut: return "opted_out";
    case Outcome::kWindowClosed: return "window_closed";
    case Outcome::kBounced: return "bounced";
  }
  return "unknown";
}

/// What to write when a hand-off ends.
struct Finish {
  std::string status;
  std::string detail;
  std::string provider_index_key;  // empty: none
  std::string provider_index_value;
  std::string requeue;  // "ID\tCUSTOMER" or empty
  int64_t due_ms = 0;
  std::string dead_letter;  // JSON or empty
  std::vector<std::string> fields;
  std::string early_key;  // early status callbacks to look for (accepted only)
};

std::vector<std::string> finish_keys(const std::string& message_key, const Finish& f) {
  return {message_key, f.provider_index_key.empty() ? message_key : f.provider_index_key,
          messages::kRetries, messages::kDeadLetters,
          f.early_key.empty() ? message_key : f.early_key};
}

std::vector<std::string> finish_args(const Finish& f) {
  std::vector<std::string> args{f.status,
                                messages::timeline_entry(f.status, f.detail),
                                f.provider_index_value,
                                f.requeue,
                                std::to_string(f.due_ms),
                                f.dead_letter,
                                std::to_string(messages::kDeadLetterLimit)};
  args.insert(args.end(), f.fields.begin(), f.fields.end());
  return args;
}

std::string dead_letter_json(const std::string& id, const std::string& customer,
                             const std::string& channel, const std::string& provider,
                             const std::string& reason) {
  OJson dead = OJson::object();
  dead["id"] = id;
  dead["customer_id"] = customer;
  dead["channel"] = channel;
  dead["provider"] = provider;
  dead["reason"] = reason;
  dead["at"] = OJson::parse(messages::timeline_entry("failed", ""))["at"];
  return dead.dump();
}

}  // namespace

struct DeliveryWorker::Impl : std::enable_shared_from_this<DeliveryWorker::Impl> {
  Impl(asio::io_context& ioc, std::map<std::string, DeliveryChannel> channels,
       DeliveryOptions options)
      : http(ioc), channels(std::move(channels)), options(std::move(options)), wake(ioc) {}

  channels::HttpClient http;
  std::map<std::string, DeliveryChannel> channels;
  DeliveryOptions options;
  std::unique_ptr<redis::RedisStore> store;
  channels::SharedStore* shared = nullptr;
  std::shared_ptr<spdlog::logger> log = herald::log::get("delivery");
  std::mt19937_64 random{std::random_device{}()};

  std::size_t in_flight = 0;
  std::atomic<bool> draining{false};  // set by drain(): start nothing new
  std::atomic<bool> drained{false};   // draining, nothing in flight, everything acknowledged
  std::unordered_set<std::string> entries_in_flight;  // stream entry ids being handled
  std::vector<std::string> acks;  // stream entries done, not yet acknowledged
  asio::steady_timer wake;        // cancelled when a delivery finishes

  // Metrics found once and kept (the worker is single-threaded; the registry's lookups
  // build label strings and take a lock).
  std::map<std::string, metrics::Counter*, std::less<>> counters;
  std::map<std::string, metrics::Histogram*, std::less<>> latencies;

  metrics::Counter& counter(const std::string& channel, const std::string& status) {
    auto name = channel + '|' + status;
    auto it = counters.find(name);
    if (it != counters.end()) return *it->second;
    auto& c = metrics::registry().counter("herald_messages_total", "Messages by channel and status",
                                          "channel=\"" + channel + "\",status=\"" + status + "\"");
    counters.emplace(std::move(name), &c);
    return c;
  }
  /// Wall time of the policy checks of one message (quiet hours, frequency caps).
  metrics::Histogram& policy_time() {
    static auto& h = metrics::registry().histogram(
        "herald_delivery_policy_check_seconds",
        "Wall time of the policy checks (quiet hours, frequency caps) of one message", {}, true);
    return h;
  }
  metrics::Histogram& latency(const std::string& provider) {
    auto it = latencies.find(provider);
    if (it != latencies.end()) return *it->second;
    auto& h = metrics::registry().histogram("herald_provider_seconds", "Provider hand-off latency",
                                            "provider=\"" + provider + "\"");
    latencies.emplace(provider, &h);
    return h;
  }
  metrics::Counter& provider_errors(const std::string& provider, const std::string& outcome) {
    return metrics::registry().counter("herald_provider_errors_total",
                                       "Provider answers other than acceptance, by class",
                                       "provider=\"" + provider + "\",class=\"" + outcome + "\"");
  }

  /// Full jitter over an exponential back-off, never below the provider's Retry-After.
  std::chrono::milliseconds backoff(unsigned attempt, std::optional<std::chrono::milliseconds> after) {
    auto cap = options.base_backoff * (1LL << std::min(attempt, 20u));
    if (cap > options.max_backoff) cap = options.max_backoff;
    std::uniform_int_distribution<int64_t> pick(cap.count() / 2, cap.count());
    std::chrono::milliseconds wait(pick(random));
    if (after && *after > wait) wait = *after;
    return wait;
  }

  /// Waits for a slot of the provider's shared rate (`rate`, reserved in Redis), before
  /// the claim: a message waiting for its slot is still queued, so a crash meanwhile
  /// leaves it to be sent by another worker rather than marked interrupted.
  asio::awaitable<void> wait_for_rate(redis::Client& redis, const std::string& channel) {
    auto target = channels.find(channel);
    if (target == channels.end() || !target->second.adapter || !target->second.settings.rate)
      co_return;
    std::vector<std::string> rate_keys{messages::rate_key(target->second.provider, channel)};
    std::vector<std::string> rate_args{
        std::to_string(static_cast<int64_t>(1e6 / *target->second.settings.rate))};
    auto wait = co_await kReserveScript.run(redis, rate_keys, rate_args);
    if (wait.is_error()) throw redis::CommandError(wait.str);
    if (auto ms = wait.as_integer(); ms && *ms > 0) {
      asio::steady_timer pause(co_await asio::this_coro::executor);
      pause.expires_after(std::chrono::milliseconds(*ms));
      boost::system::error_code ignored;
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
  }

  /// Hands one message over and records the outcome. `recovered`: the entry was pending
  /// from a worker that died (or from our own previous life).
  asio::awaitable<void> deliver(redis::Client& redis, std::string message_id,
                                std::string customer_id, bool recovered) {
    const auto key = messages::key(customer_id, message_id);
    std::vector<std::vector<std::string>> reads;
    reads.push_back(messages::read_command(key, kFields));
    std::vector<std::string> profile{"HMGET", keys::customer(customer_id), "t"};
    for (const auto& c : kChannels) profile.push_back("in:" + c);
    reads.push_back(std::move(profile));
    auto replies = co_await redis.pipeline(reads);
    messages::unpack_read(replies.at(0), kFields);
    const auto& m = replies.at(0).elements;
    if (m.size() != kFields.size() || m[kStatus].is_nil()) co_return;  // erased since
    const std::string status = m[kStatus].str;
    const std::string channel = m[kChannel].str;

    if (status == "sending") {
      if (!recovered) co_return;
      Finish f;
      f.status = "failed";
      f.detail = "interrupted: the gateway stopped during the hand-off to the provider; not "
                 "sent again, as it may have arrived";
      f.dead_letter = dead_letter_json(message_id, customer_id, channel, m[kProvider].str,
                                       "interrupted");
      f.fields = {"reason", "interrupted", "dead_letter", f.dead_letter};
      auto ks = finish_keys(key, f);
      auto as = finish_args(f);
      co_await kFinishScript.run(redis, ks, as);
      counter(channel, "failed").inc();
      co_return;
    }
    if (status != "queued" && status != "deferred") co_return;

    channels::OutboundMessage out;
    out.id = message_id;
    out.customer_id = customer_id;
    out.channel = channel;
    out.content = OJson::parse(m[kContent].str, nullptr, false);
    out.template_name = m[kTemplate].str;
    out.workflow = m[kWorkflow].str;
    out.run = m[kRun].str;
    out.transactional = m[kTransactional].str == "1";
    const auto& p = replies.at(1).elements;
    auto traits = OJson::parse(p.empty() || p[0].is_nil() ? "{}" : p[0].str, nullptr, false);
    for (const auto& a : ingest::channel_addresses(traits.is_object() ? traits : OJson::object()))
      if (a.channel == channel) out.to = a.address;
    // A consent notice answers the address that wrote, which may not be a trait yet.
    if (!m[kTo].is_nil() && !m[kTo].str.empty()) out.to = m[kTo].str;
    for (std::size_t i = 0; i < kChannels.size() && i + 1 < p.size(); ++i)
      if (kChannels[i] == channel && !p[i + 1].is_nil() && !p[i + 1].str.empty()) {
        try {
          out.last_inbound = std::chrono::system_clock::time_point(
              std::chrono::milliseconds(std::stoll(p[i + 1].str)));
        } catch (const std::exception&) {
        }
      }

    // Quiet hours and frequency caps (gateway/policies.hpp) may hold it back.
    const auto policy_started = std::chrono::steady_clock::now();
    auto held = co_await policies::apply(redis, options.policies, customer_id, message_id, channel,
                                         out.transactional, traits);
    policy_time().observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - policy_started).count());
    if (held.kind != policies::Decision::Kind::kSend) {
      counter(channel, held.kind == policies::Decision::Kind::kDefer ? "deferred" : "suppressed").inc();
      if (!m[kWorkflow].str.empty() && !m[kStep].str.empty()) {
        std::vector<std::string> stat{
            "HINCRBY", "herald:wfstats:{" + m[kWorkflow].str + "}",
            m[kStep].str + (held.kind == policies::Decision::Kind::kDefer ? ":deferred:quiet_hours"
                                                                          : ":suppressed:frequency_cap"),
            "1"};
        co_await redis.command(stat);
      }
      co_return;
    }

    co_await wait_for_rate(redis, channel);
    // Claim it (queued/deferred → sending) unless the customer is suppressed or has
    // opted out of the channel since it was queued.
    std::vector<std::string> claim_keys{key, keys::kSuppressed, keys::customer(customer_id),
                                        suppression::kReasons};
    auto target = channels.find(channel);
    std::vector<std::string> claim_args{
        messages::timeline_entry("sending", target != channels.end()
                                                ? "attempt " + std::to_string(std::atoi(m[kAttempts].str.c_str()) + 1) +
                                                      " via " + target->second.provider
                                                : std::string()),
        messages::timeline_entry("suppressed", "suppression_list"),
        messages::timeline_entry("suppressed", "consent: opted out of " + channel),
        channel,
        hashed_identifier("id", customer_id)};
    if (!out.to.empty()) claim_args.push_back(hashed_identifier(channel, out.to));
    auto claimed = co_await kClaimScript.run(redis, claim_keys, claim_args);
    if (claimed.is_error()) throw redis::CommandError(claimed.str);
    if (claimed.str == "suppressed") {
      counter(channel, "suppressed").inc();
      // The workflow's stats by reason (consent, suppression_list: hard_bounce, ...).
      if (!m[kWorkflow].str.empty() && !m[kStep].str.empty()) {
        auto why = co_await redis.command("HGET", key, "reason");
        std::vector<std::string> stat{
            "HINCRBY", "herald:wfstats:{" + m[kWorkflow].str + "}",
            m[kStep].str + ":suppressed:" + (why.is_nil() || why.str.empty() ? "consent" : why.str), "1"};
        co_await redis.command(stat);
      }
    }
    if (claimed.str != "sending") co_return;
    const unsigned attempt = static_cast<unsigned>(std::atoi(m[kAttempts].str.c_str())) + 1;

    channels::SendResult result;
    std::string provider = target != channels.end() ? target->second.provider : std::string();
    if (out.to.empty()) {
      result = {Outcome::kPermanent, "", "no_address", "the customer has no " + channel + " address any more", {}};
    } else if (target == channels.end() || !target->second.adapter) {
      result = {Outcome::kPermanent, "", "no_adapter", "no adapter for the " + channel + " channel", {}};
    } else {
      if (channel == "email" && !out.transactional && !options.public_url.empty())
        out.unsubscribe_url = options.public_url + "/u/" +
                              unsubscribe_token(options.unsubscribe_secret, customer_id, channel);
      channels::SendContext context{&http, shared};
      const auto started = std::chrono::steady_clock::now();
      result = co_await target->second.adapter->send(out, context);
      latency(provider).observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
    if (result.outcome != Outcome::kAccepted) provider_errors(provider, outcome_name(result.outcome)).inc();

    Finish f;
    const std::string reason =
        result.error_code + (result.error_message.empty() ? "" : ": " + result.error_message);
    if (result.outcome == Outcome::kAccepted) {
      f.status = "sent";
      f.detail = result.provider_message_id;
      if (!result.provider_message_id.empty()) {
        f.provider_index_key = messages::provider_key(provider, result.provider_message_id);
        f.early_key = messages::early_key(provider, result.provider_message_id);
        f.provider_index_value = customer_id + "\t" + message_id;
        f.fields = {"provider_id", result.provider_message_id};
      }
    } else if (result.outcome == Outcome::kRetryable && target != channels.end() &&
               attempt <= target->second.settings.retries) {
      auto wait = backoff(attempt - 1, result.retry_after);
      f.status = "deferred";
      f.due_ms = now_ms() + wait.count();
      f.detail = "retry " + std::to_string(attempt) + " of " +
                 std::to_string(target->second.settings.retries) + " in " +
                 std::to_string(wait.count()) + " ms after " + reason;
      f.requeue = message_id + "\t" + customer_id;
    } else {
      if (result.outcome == Outcome::kOptedOut) {
        try {
          co_await record_consent(redis, customer_id, channel, "opted_out", "provider:" + provider);
        } catch (const std::exception& e) {
          log->warn("cannot record a provider opt-out: {}", e.what());
        }
      }
      if (result.outcome == Outcome::kBounced && !out.to.empty()) {
        try {
          co_await suppression::add_address(redis, channel, out.to, "hard_bounce",
                                            "provider:" + provider);
        } catch (const std::exception& e) {
          log->warn("cannot record a hard bounce: {}", e.what());
        }
      }
      // The step's next channel, rendered when the message was queued.
      auto fallback = OJson::parse(m[kFallback].str.empty() ? "[]" : m[kFallback].str, nullptr, false);
      if (fallback.is_array() && !fallback.empty()) {
        auto next = fallback[0];
        fallback.erase(fallback.begin());
        f.status = "queued";
        f.detail = "falling back to " + next.value("channel", std::string()) + " after " + channel +
                   " failed: " + reason;
        f.requeue = message_id + "\t" + customer_id;
        f.due_ms = now_ms();
        f.fields = {"channel", next.value("channel", std::string()),
                    "provider", next.value("provider", std::string()),
                    "content", next.contains("content") ? next["content"].dump() : "{}",
                    "fallback", fallback.dump(),
                    "attempts", "0"};
      } else {
        f.status = "failed";
        f.detail = reason;
        f.dead_letter = dead_letter_json(message_id, customer_id, channel, provider, reason);
        f.fields = {"reason", reason, "dead_letter", f.dead_letter};
      }
    }
    auto ks = finish_keys(key, f);
    auto as = finish_args(f);
    auto applied = co_await kFinishScript.run(redis, ks, as);
    if (applied.is_error()) throw redis::CommandError(applied.str);
    counter(channel, f.status).inc();
    // Handed to the provider: the message joins the customer's open conversation on the
    // channel, whoever sent it (never throws).
    co_await conversations::join_outbound(redis, customer_id, channel, message_id);
    if (applied.as_integer().value_or(0) == 2)
      co_await apply_early_statuses(redis, key, provider, result.provider_message_id);
    if ((f.status == "failed") && !m[kWorkflow].str.empty() && !m[kStep].str.empty()) {
      std::vector<std::string> stat{"HINCRBY", "herald:wfstats:{" + m[kWorkflow].str + "}",
                                    m[kStep].str + ":failed", "1"};
      co_await redis.command(stat);
    }
  }

  /// Status callbacks that overtook the record of the provider's id (kept by the
  /// webhooks under messages::early_key): applied now, forward only.
  asio::awaitable<void> apply_early_statuses(redis::Client& redis, const std::string& key,
                                             const std::string& provider,
                                             const std::string& provider_id) {
    std::vector<std::vector<std::string>> take;
    take.push_back(std::vector<std::string>{"LRANGE", messages::early_key(provider, provider_id), "0", "-1"});
    take.push_back(std::vector<std::string>{"DEL", messages::early_key(provider, provider_id)});
    auto taken = co_await redis.pipeline(take);
    for (const auto& item : taken.at(0).elements) {
      auto early = OJson::parse(item.str, nullptr, false);
      if (!early.is_object()) continue;
      const auto status = early.value("status", std::string());
      const auto detail = early.value("detail", std::string());
      std::vector<std::string> ks{key};
      std::vector<std::string> as{status, messages::timeline_entry(status, detail),
                                  status == "failed" ? detail : std::string()};
      co_await kAdvanceScript.run(redis, ks, as);
    }
  }

  /// One stream entry: delivered, then queued for acknowledgement.
  asio::awaitable<void> handle(redis::Client& writer, std::string entry_id, std::string id,
                               std::string customer, bool recovered) {
    bool done = true;
    try {
      if (!id.empty() && !customer.empty()) co_await deliver(writer, id, customer, recovered);
    } catch (const std::exception& e) {
      // Redis went away mid-way: the entry stays pending and is recovered later.
      log->warn("delivery of a message interrupted: {}", e.what());
      done = false;
    }
    if (done) acks.push_back(entry_id);
    entries_in_flight.erase(entry_id);
    --in_flight;
    wake.cancel();
  }

  /// Starts the entries not already in flight here (a re-read of our own pending entries,
  /// or our own entries found by XAUTOCLAIM, must not start a second hand-off of the same
  /// message: the second would find it `sending` and take it for a dead worker's).
  /// Returns the id of the last entry seen (empty: none).
  std::string start(redis::Client& writer, const redis::Reply& entries, bool recovered) {
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
      asio::co_spawn(wake.get_executor(),
                     handle(writer, entry.elements[0].str, std::move(id), std::move(customer),
                            recovered),
                     asio::detached);
    }
    return last;
  }

  asio::awaitable<void> flush_acks(redis::Client& writer) {
    if (acks.empty()) co_return;
    std::vector<std::string> done;
    done.swap(acks);
    std::vector<std::vector<std::string>> ack;
    std::vector<std::string> xack{"XACK", messages::kDeliveries, kGroup};
    xack.insert(xack.end(), done.begin(), done.end());
    std::vector<std::string> xdel{"XDEL", messages::kDeliveries};
    xdel.insert(xdel.end(), done.begin(), done.end());
    ack.push_back(std::move(xack));
    ack.push_back(std::move(xdel));
    co_await writer.pipeline(ack);
  }

  /// Resets the idle time of the entries in flight here (XCLAIM to ourselves, JUSTID), so
  /// that XAUTOCLAIM, in this process or another, never takes a live worker's entry for a
  /// dead one's — a hand-off may wait for its rate slot far longer than reclaim_after.
  asio::awaitable<void> heartbeat(redis::Client& writer) {
    if (entries_in_flight.empty()) co_return;
    std::vector<std::string> xclaim{"XCLAIM", messages::kDeliveries, kGroup, options.consumer, "0"};
    xclaim.insert(xclaim.end(), entries_in_flight.begin(), entries_in_flight.end());
    xclaim.push_back("JUSTID");
    auto r = co_await writer.command(xclaim);
    if (r.is_error()) throw redis::CommandError(r.str);
  }

  asio::awaitable<void> run(redis::Client& reader, redis::Client& writer) {
    store = std::make_unique<redis::RedisStore>(writer);
    shared = store.get();
    asio::steady_timer pause(co_await asio::this_coro::executor);
    bool group_ready = false;
    bool read_pending = true;  // our own unacknowledged entries first (a previous life's)
    std::string pending_from = "0";    // where the re-read of our pending entries goes on
    std::string reclaim_from = "0-0";  // XAUTOCLAIM's cursor
    auto last_claim = std::chrono::steady_clock::now() - std::chrono::hours(1);
    auto last_move = last_claim;
    auto last_heartbeat = std::chrono::steady_clock::now();
    const auto heartbeat_every = std::max<std::chrono::milliseconds>(
        options.reclaim_after / 3, std::chrono::milliseconds(100));
    for (;;) {
      bool failed = false;
      try {
        co_await flush_acks(writer);
        if (draining) {
          // Shutting down: hand-offs in flight finish and are recorded; nothing new starts.
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
            auto r = co_await writer.command("XGROUP", "CREATE", messages::kDeliveries, kGroup,
                                             "0", "MKSTREAM");
            if (r.is_error() && r.str.find("BUSYGROUP") == std::string::npos)
              throw redis::CommandError(r.str);
            group_ready = true;
          }
          auto now = std::chrono::steady_clock::now();
          if (now - last_move > std::chrono::milliseconds(100)) {
            // Retries and fallbacks that are due go back to the stream.
            std::vector<std::string> move_keys{messages::kRetries, messages::kDeliveries};
            std::vector<std::string> move_args{std::to_string(now_ms()), "500"};
            co_await kMoveDueScript.run(writer, move_keys, move_args);
            last_move = now;
          }
          if (now - last_claim > std::chrono::seconds(10)) {
            // Entries a dead worker read and never acknowledged; a full batch is followed
            // by the next one at once.
            auto claimed = co_await writer.command(
                "XAUTOCLAIM", messages::kDeliveries, kGroup, options.consumer,
                std::to_string(options.reclaim_after.count()), reclaim_from, "COUNT", "100");
            if (claimed.is_error()) throw redis::CommandError(claimed.str);
            reclaim_from = "0-0";
            last_claim = now;
            if (claimed.is_array() && claimed.elements.size() >= 2) {
              start(writer, claimed.elements[1], true);
              const auto& cursor = claimed.elements[0].str;
              if (!cursor.empty() && cursor != "0-0") {
                reclaim_from = cursor;
                last_claim = now - std::chrono::hours(1);
              }
            }
          }
          auto room = options.max_in_flight - in_flight;
          std::vector<std::string> read{"XREADGROUP", "GROUP", kGroup, options.consumer, "COUNT",
                                        std::to_string(std::min<std::size_t>(room, 256)), "BLOCK",
                                        "100", "STREAMS", messages::kDeliveries,
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
                last = start(writer, stream.elements[1], read_pending);
          if (read_pending) {
            // Our own pending entries, a batch at a time; those still in flight here are
            // skipped by start().
            if (last.empty()) {
              read_pending = false;
              pending_from = "0";
            } else {
              pending_from = last;
            }
          }
        }
      } catch (const std::exception& e) {
        log->warn("delivery paused: {}", e.what());
        failed = true;
      }
      if (failed) {
        // Entries whose hand-off failed with the connection stay pending: read them again.
        read_pending = true;
        pending_from = "0";
        pause.expires_after(std::chrono::milliseconds(500));
        boost::system::error_code ignored;
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      }
    }
  }
};

DeliveryWorker::DeliveryWorker(asio::io_context& ioc, std::map<std::string, DeliveryChannel> channels,
                               DeliveryOptions options)
    : impl_(std::make_shared<Impl>(ioc, std::move(channels), std::move(options))) {}

DeliveryWorker::~DeliveryWorker() = default;

std::size_t DeliveryWorker::in_flight() const { return impl_->in_flight; }

void DeliveryWorker::drain() { impl_->draining = true; }

bool DeliveryWorker::drained() const { return impl_->drained; }

asio::awaitable<void> DeliveryWorker::run(redis::Client& reader, redis::Client& writer) {
  co_await impl_->run(reader, writer);
}

}  // namespace herald::gateway
