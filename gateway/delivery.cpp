#include <utility>

#include "gateway/delivery.hpp"

#include <chrono>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/customer_state.hpp"
#include "gateway/engine/engine.hpp"
#include "gateway/ingest/timestamp.hpp"
#include "gateway/ingest/traits.hpp"
#include "gateway/keys.hpp"
#include "gateway/log.hpp"
#include "gateway/metrics.hpp"
#include "gateway/redis/redis_client.hpp"

namespace herald::gateway {
namespace asio = boost::asio;

namespace {

const std::string kGroup = "delivery";
const std::vector<std::string> kMessageFields{"status", "channel", "content", "template",
                                              "workflow", "run", "timeline"};

std::string now_text() {
  return ingest::format_rfc3339(
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()));
}

/// HSET of the message's new status with its timeline entry (kept out of coroutines:
/// g++ 12 mishandles braced lists of literals there).
std::vector<std::string> status_update(const std::string& key, const std::string& timeline_text,
                                       const std::string& status, const std::string& detail,
                                       const std::string& provider_id) {
  auto timeline = OJson::parse(timeline_text, nullptr, false);
  if (!timeline.is_array()) timeline = OJson::array();
  timeline.push_back(OJson{{"status", status}, {"at", now_text()}, {"detail", detail}});
  std::vector<std::string> update{"HSET", key, "status", status, "timeline", timeline.dump()};
  if (!provider_id.empty()) {
    update.push_back("provider_id");
    update.push_back(provider_id);
  }
  return update;
}

}  // namespace

struct DeliveryWorker::Impl {
  std::map<std::string, channels::Channel*> adapters;
  std::string consumer;
  std::shared_ptr<spdlog::logger> log = herald::log::get("delivery");

  metrics::Counter& counter(const std::string& channel, const std::string& status) {
    return metrics::registry().counter("herald_messages_total", "Messages by channel and status",
                                       "channel=\"" + channel + "\",status=\"" + status + "\"");
  }

  /// Hands one queued message to its adapter and records the outcome.
  asio::awaitable<void> deliver(redis::Client& redis, const std::string& message_id,
                                const std::string& customer_id) {
    auto key = engine::message_key(customer_id, message_id);
    std::vector<std::vector<std::string>> reads;
    std::vector<std::string> hmget{"HMGET", key};
    hmget.insert(hmget.end(), kMessageFields.begin(), kMessageFields.end());
    reads.push_back(std::move(hmget));
    reads.push_back(std::vector<std::string>{std::string("HGET"), keys::customer(customer_id),
                                             std::string("t")});
    auto replies = co_await redis.pipeline(reads);
    const auto& m = replies.at(0).elements;
    if (m.size() != kMessageFields.size() || m[0].str != "queued") co_return;  // handled already

    channels::OutboundMessage out;
    out.id = message_id;
    out.customer_id = customer_id;
    out.channel = m[1].str;
    out.content = OJson::parse(m[2].str, nullptr, false);
    out.template_name = m[3].str;
    out.workflow = m[4].str;
    out.run = m[5].str;
    auto traits = OJson::parse(replies.at(1).is_nil() ? "{}" : replies.at(1).str, nullptr, false);
    for (const auto& a : ingest::channel_addresses(traits.is_object() ? traits : OJson::object()))
      if (a.channel == out.channel) out.to = a.address;

    std::string status, detail, provider_id;
    bool suppressed = false;
    if (!out.to.empty()) {
      // The global suppression list: hashed identifiers of erased customers.
      std::vector<std::string> check{"SMISMEMBER", keys::kSuppressed,
                                     hashed_identifier(out.channel, out.to),
                                     hashed_identifier("id", customer_id)};
      auto members = co_await redis.command(check);
      for (const auto& m : members.elements) suppressed = suppressed || m.integer == 1;
    }
    auto adapter = adapters.find(out.channel);
    if (suppressed) {
      status = "suppressed";
      detail = "suppression_list";
    } else if (out.to.empty()) {
      status = "failed";
      detail = "the customer has no " + out.channel + " address any more";
    } else if (adapter == adapters.end() || !adapter->second) {
      status = "failed";
      detail = "no adapter for the " + out.channel + " channel";
    } else {
      channels::SendContext context;
      auto result = co_await adapter->second->send(out, context);
      using Outcome = channels::SendResult::Outcome;
      if (result.outcome == Outcome::kAccepted) {
        status = "sent";
        provider_id = result.provider_message_id;
        detail = provider_id;
      } else {
        status = "failed";
        detail = result.error_code + (result.error_message.empty() ? "" : ": " + result.error_message);
      }
    }
    auto update = status_update(key, m[6].str, status, detail, provider_id);
    co_await redis.command(update);
    counter(out.channel, status).inc();
  }

  asio::awaitable<void> process(redis::Client& writer, const redis::Reply& entries) {
    std::vector<std::string> done;
    for (const auto& entry : entries.elements) {
      if (!entry.is_array() || entry.elements.size() < 2) continue;
      std::string id, customer;
      const auto& kv = entry.elements[1].elements;
      for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
        if (kv[i].str == "id") id = kv[i + 1].str;
        if (kv[i].str == "customer") customer = kv[i + 1].str;
      }
      if (!id.empty() && !customer.empty()) co_await deliver(writer, id, customer);
      done.push_back(entry.elements[0].str);
    }
    if (done.empty()) co_return;
    std::vector<std::vector<std::string>> ack;
    std::vector<std::string> xack{"XACK", engine::kDeliveries, kGroup};
    xack.insert(xack.end(), done.begin(), done.end());
    std::vector<std::string> xdel{"XDEL", engine::kDeliveries};
    xdel.insert(xdel.end(), done.begin(), done.end());
    ack.push_back(std::move(xack));
    ack.push_back(std::move(xdel));
    co_await writer.pipeline(ack);
  }

  asio::awaitable<void> run(redis::Client& reader, redis::Client& writer) {
    asio::steady_timer pause(co_await asio::this_coro::executor);
    bool group_ready = false;
    bool read_pending = true;  // our own unacknowledged entries first
    auto last_claim = std::chrono::steady_clock::now();
    for (;;) {
      bool failed = false;
      try {
        if (!reader.connected() || !writer.connected()) {
          failed = true;
        } else {
          if (!group_ready) {
            auto r = co_await writer.command("XGROUP", "CREATE", engine::kDeliveries, kGroup, "0",
                                             "MKSTREAM");
            if (r.is_error() && r.str.find("BUSYGROUP") == std::string::npos)
              throw redis::CommandError(r.str);
            group_ready = true;
          }
          if (std::chrono::steady_clock::now() - last_claim > std::chrono::seconds(10)) {
            // Entries a dead worker read and never acknowledged become ours after 30 s.
            auto claimed = co_await writer.command("XAUTOCLAIM", engine::kDeliveries, kGroup,
                                                   consumer, "30000", "0-0", "COUNT", "100");
            if (claimed.is_array() && claimed.elements.size() >= 2)
              co_await process(writer, claimed.elements[1]);
            last_claim = std::chrono::steady_clock::now();
          }
          std::vector<std::string> read{"XREADGROUP", "GROUP", kGroup, consumer, "COUNT", "32",
                                        "BLOCK", "500", "STREAMS", engine::kDeliveries,
                                        read_pending ? "0" : ">"};
          auto reply = co_await reader.command(read);
          if (reply.is_error()) {
            if (reply.str.find("NOGROUP") != std::string::npos) group_ready = false;
            throw redis::CommandError(reply.str);
          }
          bool any = false;
          if (reply.is_array())
            for (const auto& stream : reply.elements)
              if (stream.elements.size() >= 2 && !stream.elements[1].elements.empty()) {
                any = true;
                co_await process(writer, stream.elements[1]);
              }
          if (read_pending && !any) read_pending = false;
        }
      } catch (const std::exception& e) {
        log->warn("delivery paused: {}", e.what());
        read_pending = true;
        failed = true;
      }
      if (failed) {
        pause.expires_after(std::chrono::milliseconds(500));
        boost::system::error_code ignored;
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      }
    }
  }
};

DeliveryWorker::DeliveryWorker(std::map<std::string, channels::Channel*> adapters,
                               std::string consumer)
    : impl_(std::make_unique<Impl>()) {
  impl_->adapters = std::move(adapters);
  impl_->consumer = std::move(consumer);
}

DeliveryWorker::~DeliveryWorker() = default;

asio::awaitable<void> DeliveryWorker::run(redis::Client& reader, redis::Client& writer) {
  co_await impl_->run(reader, writer);
}

}  // namespace herald::gateway
