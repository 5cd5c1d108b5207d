#pragma once
// A redis::Client on an io_context of its own, connected before the test goes on.

#include <utility>

#include <string>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "gateway/redis/redis_client.hpp"
#include "tests/support/io_run.hpp"

namespace herald::test {

struct ConnectedClient {
  /// `cluster`: the url names a node of a Redis Cluster.
  explicit ConnectedClient(const std::string& url, bool cluster = false)
      : client(ioc, redis::parse_url(url), cluster) {
    client.start();
    REQUIRE(run_until(ioc, [&] { return client.connected(); }));
  }
  ~ConnectedClient() {
    client.stop();
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(50));
  }
  boost::asio::io_context ioc;
  redis::Client client;
};

}  // namespace herald::test
