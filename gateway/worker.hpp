#pragma once
// A worker: one io_context run by one thread, with its own Redis connection.
// Handlers reach the worker of the thread they run on through current_worker().

#include <boost/asio/io_context.hpp>

#include "gateway/redis/redis_client.hpp"

namespace herald::gateway {

struct Worker {
  unsigned index = 0;
  boost::asio::io_context* ioc = nullptr;
  redis::Client* redis = nullptr;
};

/// The worker running the calling thread; only valid on worker threads.
Worker& current_worker();
void set_current_worker(Worker* worker);

}  // namespace herald::gateway
