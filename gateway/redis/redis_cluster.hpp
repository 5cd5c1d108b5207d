#pragma once
// The cluster mode of redis::Client (redis.cluster: true): the slot map read with
// CLUSTER SLOTS from any reachable node, one single-node Client per master, and the
// routing of commands and pipelines by slot.

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "gateway/redis/redis_client.hpp"

namespace herald::redis::cluster {

std::shared_ptr<Client::Cluster> make(boost::asio::io_context& ioc, RedisUrl seed);
void start(const std::shared_ptr<Client::Cluster>& cluster);
void stop(Client::Cluster& cluster);
/// Every slot has a master and every master is connected.
bool connected(const Client::Cluster& cluster);
std::string last_error(const Client::Cluster& cluster);

boost::asio::awaitable<Reply> command(std::shared_ptr<Client::Cluster> cluster,
                                      const std::vector<std::string>& args);
/// Each MULTI … EXEC block goes whole to the node of its first key; other commands each
/// to their own node. Nodes are sent their share at once; replies come back in order.
boost::asio::awaitable<std::vector<Reply>> pipeline(
    std::shared_ptr<Client::Cluster> cluster, const std::vector<std::vector<std::string>>& commands);

}  // namespace herald::redis::cluster
