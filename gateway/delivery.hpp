#pragma once
// The delivery worker: takes the messages queued by the workflow engine and the messages
// API (the herald:deliveries stream, consumer group "delivery") and hands each to its
// channel's adapter, many at once, then records the outcome (gateway/messages.hpp).
//
// For each message:
//   1. wait for a slot of the provider's shared rate limit (`rate`, in Redis), the
//      message still queued (a crash meanwhile leaves it to be sent by another worker);
//   2. claim it: queued/deferred → sending, unless the customer is on the suppression
//      list or has opted out of the channel since it was queued (→ suppressed); a
//      message found in another state is left alone;
//   3. hand it to the adapter;
//   4. accepted → sent (with the provider's id, indexed for status callbacks);
//      retryable → deferred, tried again after exponential back-off with full jitter
//      (at least the provider's Retry-After) up to the provider's `retries`;
//      then, and on permanent failures, the step's next channel (already rendered when
//      the message was queued); with none left → failed, and a dead letter;
//      opted out at the provider → the customer's consent on that channel is recorded as
//      opted_out, then the next channel as above.
//
// Crash safety: the stream entry is acknowledged once the outcome is recorded. An entry
// left pending by a dead worker is claimed after 30 s (reclaim_after); a live worker
// keeps its entries in flight from being reclaimed by resetting their idle time every
// reclaim_after / 3, however long they wait for their rate slot. A message found `sending` then
// was being handed over when its worker died: whether the provider got it is unknown,
// and it is not sent again (at most one message per step per run); it is marked failed
// with the reason `interrupted` and dead-lettered, for an operator to resend.

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "channels/channel.hpp"
#include "config/config.hpp"

namespace boost::asio {
class io_context;
}

namespace herald::redis {
class Client;
}

namespace herald::gateway {

struct DeliveryChannel {
  channels::Channel* adapter = nullptr;
  std::string provider;
  channels::ProviderSettings settings;
};

struct DeliveryOptions {
  std::string consumer;
  std::size_t max_in_flight = 512;
  std::chrono::milliseconds base_backoff{1000};
  std::chrono::milliseconds max_backoff{std::chrono::minutes(10)};
  std::chrono::milliseconds reclaim_after{30000};
  std::string public_url;          // for unsubscribe links; empty: none
  std::string unsubscribe_secret;  // signs them
  config::PoliciesConfig policies;  // quiet hours and frequency caps (gateway/policies.hpp)
};

class DeliveryWorker {
 public:
  DeliveryWorker(boost::asio::io_context& ioc, std::map<std::string, DeliveryChannel> channels,
                 DeliveryOptions options);
  ~DeliveryWorker();

  /// Runs until the io_context stops. `reader` is a connection of its own (it blocks);
  /// `writer` is the worker's shared connection.
  boost::asio::awaitable<void> run(redis::Client& reader, redis::Client& writer);

  /// Messages being handed over now (read it on the worker's thread).
  std::size_t in_flight() const;

  /// Graceful stop, from any thread: hand-offs in flight finish and are recorded, nothing
  /// new starts; drained() turns true once all is acknowledged.
  void drain();
  bool drained() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace herald::gateway
