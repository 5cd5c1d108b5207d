#include "tests/support/redis_cluster.hpp"

#include <signal.h>

#include <sstream>
#include <stdexcept>

namespace herald::test {

RedisCluster::RedisCluster(int masters) {
  nodes_.resize(static_cast<std::size_t>(masters));
  for (auto& node : nodes_) {
    node.port = free_cluster_port();
    node.dir = std::make_unique<TempDir>();
    start(node);
  }
  std::string create = "redis-cli --cluster create";
  for (auto& node : nodes_) create += " 127.0.0.1:" + std::to_string(node.port);
  create += " --cluster-replicas 0 --cluster-yes";
  auto out = shell_output(create);
  if (out.find("All 16384 slots covered") == std::string::npos)
    throw std::runtime_error("redis-cli --cluster create failed: " + out);
  wait_ok();
  for (int i = 0; i < size(); ++i) nodes_[static_cast<std::size_t>(i)].id = node_id(i);
}

RedisCluster::~RedisCluster() {
  for (auto& node : nodes_)
    if (node.process) {
      node.process->signal(SIGKILL);
      node.process->wait(std::chrono::seconds(10));
    }
}

void RedisCluster::start(Node& node) {
  std::vector<std::string> argv{"redis-server",         "--port",
                                std::to_string(node.port), "--bind",
                                "127.0.0.1",            "--dir",
                                node.dir->path(),       "--cluster-enabled",
                                "yes",                  "--cluster-config-file",
                                "nodes.conf",           "--cluster-node-timeout",
                                "2000",                 "--appendonly",
                                "yes",                  "--appendfsync",
                                "everysec",             "--save",
                                "",                     "--daemonize",
                                "no"};
  node.process = std::make_unique<Process>(argv, node.dir->file("redis.log"));
  auto port = std::to_string(node.port);
  if (!eventually([&] { return shell_output("redis-cli -p " + port + " PING") == "PONG"; }))
    throw std::runtime_error("redis-server did not start: " + node.process->output());
}

void RedisCluster::wait_ok() const {
  for (int i = 0; i < size(); ++i) {
    bool ok = eventually(
        [&] { return cli({"CLUSTER", "INFO"}, i).find("cluster_state:ok") != std::string::npos; },
        std::chrono::seconds(20));
    if (!ok) throw std::runtime_error("the cluster did not reach cluster_state:ok");
  }
}

std::string RedisCluster::url_of(int node) const {
  return "redis://127.0.0.1:" + std::to_string(port(node));
}

std::string RedisCluster::cli(const std::vector<std::string>& args, int node) const {
  std::string cmd = "redis-cli -c -h 127.0.0.1 -p " + std::to_string(port(node));
  for (const auto& a : args) cmd += " '" + a + "'";
  return shell_output(cmd);
}

std::string RedisCluster::node_id(int node) const {
  return cli({"CLUSTER", "MYID"}, node);
}

int RedisCluster::node_of(const std::string& key) const {
  return owner(static_cast<unsigned>(std::stoul(cli({"CLUSTER", "KEYSLOT", key}))));
}

int RedisCluster::owner(unsigned slot) const {
  // CLUSTER NODES: id address flags master ping pong epoch state slot ranges…
  std::istringstream nodes(cli({"CLUSTER", "NODES"}));
  for (std::string line; std::getline(nodes, line);) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string x; words >> x;) w.push_back(x);
    for (std::size_t i = 8; i < w.size(); ++i) {
      if (w[i].front() == '[') continue;  // a migration in progress
      auto dash = w[i].find('-');
      unsigned long first = std::stoul(w[i].substr(0, dash));
      unsigned long last = dash == std::string::npos ? first : std::stoul(w[i].substr(dash + 1));
      if (slot < first || slot > last) continue;
      for (int n = 0; n < size(); ++n)
        if (nodes_[static_cast<std::size_t>(n)].id == w[0]) return n;
    }
  }
  throw std::runtime_error("no node serves slot " + std::to_string(slot));
}

void RedisCluster::move_slot(unsigned slot, int to) {
  auto key_slot = std::to_string(slot);
  int from = owner(slot);
  if (from == to) return;
  const auto& target = nodes_[static_cast<std::size_t>(to)];
  const auto& source = nodes_[static_cast<std::size_t>(from)];
  cli({"CLUSTER", "SETSLOT", key_slot, "IMPORTING", source.id}, to);
  cli({"CLUSTER", "SETSLOT", key_slot, "MIGRATING", target.id}, from);
  for (;;) {
    std::istringstream keys(cli({"CLUSTER", "GETKEYSINSLOT", key_slot, "100"}, from));
    std::vector<std::string> batch;
    for (std::string k; std::getline(keys, k);)
      if (!k.empty()) batch.push_back(k);
    if (batch.empty()) break;
    std::string cmd = "redis-cli -h 127.0.0.1 -p " + std::to_string(source.port) +
                      " MIGRATE 127.0.0.1 " + std::to_string(target.port) + " '' 0 5000 KEYS";
    for (const auto& k : batch) cmd += " '" + k + "'";
    auto out = shell_output(cmd);
    if (out != "OK") throw std::runtime_error("MIGRATE failed: " + out);
  }
  for (int n = 0; n < size(); ++n) cli({"CLUSTER", "SETSLOT", key_slot, "NODE", target.id}, n);
}

void RedisCluster::kill(int node) {
  auto& n = nodes_[static_cast<std::size_t>(node)];
  if (!n.process) return;
  n.process->signal(SIGKILL);
  n.process->wait(std::chrono::seconds(10));
  n.process.reset();
}

void RedisCluster::restart(int node) {
  start(nodes_[static_cast<std::size_t>(node)]);
  wait_ok();
}

}  // namespace herald::test
