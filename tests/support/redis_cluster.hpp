#pragma once
// A real Redis Cluster for one test: three redis-server masters on free ports, each in
// cluster mode with its own temporary directory, joined by `redis-cli --cluster create`.

#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace herald::test {

class RedisCluster {
 public:
  explicit RedisCluster(int masters = 3);
  ~RedisCluster();

  /// The seed node's URL (the first master).
  std::string url() const { return url_of(0); }
  std::string url_of(int node) const;
  int port(int node) const { return nodes_[static_cast<std::size_t>(node)].port; }
  int size() const { return static_cast<int>(nodes_.size()); }

  /// redis-cli -c (following redirects) against the given node; output trimmed.
  std::string cli(const std::vector<std::string>& args, int node = 0) const;
  /// The node that serves a key's slot.
  int node_of(const std::string& key) const;
  /// Moves one slot, with its keys, to another master (CLUSTER SETSLOT … MIGRATE … NODE).
  void move_slot(unsigned slot, int to);
  /// kill -9 one node, and start it again on its own files.
  void kill(int node);
  void restart(int node);

 private:
  struct Node {
    int port = 0;
    std::unique_ptr<TempDir> dir;
    std::unique_ptr<Process> process;
    std::string id;
  };
  void start(Node& node);
  void wait_ok() const;
  std::string node_id(int node) const;
  int owner(unsigned slot) const;
  std::vector<Node> nodes_;
};

}  // namespace herald::test
