#pragma once
// The delivery worker: takes the messages the workflow engine queued (the
// herald:deliveries stream, consumer group "delivery"), hands each to its channel's
// adapter, and records the outcome in the message's status and timeline.
//
// A message whose status is no longer `queued` is not handed over again. An entry left
// pending by a worker that died is claimed after 30 s; a crash between the adapter's
// acceptance and the status update can hand that one message over a second time.

#include <map>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "channels/channel.hpp"
#include "config/config.hpp"

namespace herald::redis {
class Client;
}

namespace herald::gateway {

class DeliveryWorker {
 public:
  DeliveryWorker(std::map<std::string, channels::Channel*> adapters, std::string consumer);
  ~DeliveryWorker();

  /// Runs until the io_context stops. `reader` is a connection of its own (it blocks);
  /// `writer` is the worker's shared connection.
  boost::asio::awaitable<void> run(redis::Client& reader, redis::Client& writer);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald::gateway
