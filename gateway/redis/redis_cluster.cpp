#include <utility>

#include "gateway/redis/redis_cluster.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/log.hpp"
#include "gateway/redis/cluster_slots.hpp"

namespace herald::redis {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using Commands = std::vector<std::vector<std::string>>;

namespace {

constexpr int kMaxAttempts = 5;  // a redirect or TRYAGAIN, then the command again
constexpr auto kRefreshEvery = std::chrono::seconds(5);
constexpr auto kNodeWait = std::chrono::seconds(1);

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.rfind(prefix, 0) == 0;
}

bool named(const std::string& word, std::string_view name) {
  if (word.size() != name.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(word[i])) != name[i]) return false;
  return true;
}

/// SCRIPT LOAD goes to every master, as a script may run on any of them; UNWATCH too,
/// as a WATCH is held by the connection of the node of its key.
bool is_broadcast(const std::vector<std::string>& c) {
  return (c.size() >= 2 && named(c[0], "SCRIPT") && named(c[1], "LOAD")) ||
         (c.size() == 1 && named(c[0], "UNWATCH"));
}

/// An answer that says: ask again (elsewhere, or later).
bool retryable(const Reply& r) {
  return r.is_error() && (starts_with(r.str, "MOVED ") || starts_with(r.str, "ASK ") ||
                          starts_with(r.str, "TRYAGAIN") || starts_with(r.str, "CLUSTERDOWN"));
}

}  // namespace

struct Client::Cluster : std::enable_shared_from_this<Client::Cluster> {
  Cluster(asio::io_context& ioc, RedisUrl seed)
      : ioc(ioc), seed(std::move(seed)), wake(ioc), slot_node(kSlots, nullptr),
        log(herald::log::get("redis")) {}

  asio::io_context& ioc;
  RedisUrl seed;
  asio::steady_timer wake;
  // Nodes are kept once known (a node gone from the map only reconnects in the
  // background), so the raw pointers of the slot map never dangle.
  std::map<std::string, std::shared_ptr<Client>> nodes;  // by "host:port"
  std::vector<Client*> slot_node;
  bool stopping = false;
  bool refresh_wanted = true;
  bool mapped = false;  // every slot has a node
  std::atomic<bool> healthy{false};
  mutable std::mutex error_mutex;
  std::string error = "not connected yet";
  std::shared_ptr<spdlog::logger> log;

  void set_error(std::string why) {
    std::lock_guard lock(error_mutex);
    error = std::move(why);
  }
  std::string why() const {
    std::lock_guard lock(error_mutex);
    return error.empty() ? "the cluster's slot map is incomplete" : error;
  }

  Client* node_at(const std::string& address) {
    auto it = nodes.find(address);
    if (it != nodes.end()) return it->second.get();
    auto colon = address.rfind(':');
    RedisUrl url = seed;
    url.unix_socket = false;
    url.host = address.substr(0, colon);
    url.port = std::atoi(address.c_str() + colon + 1);
    url.db = 0;
    auto node = std::make_shared<Client>(ioc, url);
    node->start();
    return nodes.emplace(address, std::move(node)).first->second.get();
  }

  /// The master of a slot; for a command without a key, any connected master.
  Client* node_for(std::optional<unsigned> slot) {
    if (slot) return slot_node[*slot];
    for (auto& [address, node] : nodes)
      if (node->connected()) return node.get();
    return nullptr;
  }

  void want_refresh() {
    if (refresh_wanted) return;
    refresh_wanted = true;
    wake.cancel();
  }

  void update_health() {
    bool ok = mapped;
    if (ok) {
      Client* last = nullptr;
      for (auto* node : slot_node) {
        if (node == last) continue;
        last = node;
        if (!node->connected()) {
          ok = false;
          break;
        }
      }
    }
    healthy = ok;
    if (ok) set_error("");
  }

  static std::string seed_address(const RedisUrl& url) {
    return url.host + ":" + std::to_string(url.port);
  }
};

namespace cluster {
namespace {

asio::awaitable<void> sleep_for(asio::io_context& ioc, std::chrono::milliseconds d) {
  asio::steady_timer timer(ioc);
  timer.expires_after(d);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

/// Waits (a little) for a node just learnt of to finish connecting.
asio::awaitable<void> until_connected(Client::Cluster& c, Client* node) {
  auto deadline = Clock::now() + kNodeWait;
  while (node && !node->connected() && Clock::now() < deadline)
    co_await sleep_for(c.ioc, std::chrono::milliseconds(5));
}

/// Reads CLUSTER SLOTS from the first node that answers and replaces the slot map.
asio::awaitable<void> refresh(std::shared_ptr<Client::Cluster> c) {
  c->refresh_wanted = false;
  std::vector<std::pair<std::string, Client*>> asked;
  for (auto& [address, node] : c->nodes)
    if (node->connected()) asked.emplace_back(address, node.get());
  if (asked.empty()) {
    c->set_error("no node of the cluster is reachable");
    co_return;
  }
  for (auto& [address, node] : asked) {
    Reply reply;
    try {
      reply = co_await node->command("CLUSTER", "SLOTS");
    } catch (const std::exception&) {
      continue;
    }
    if (!reply.is_array()) {
      c->set_error("CLUSTER SLOTS at " + address + ": " + reply.str);
      c->log->error("redis.cluster is true but {} answers CLUSTER SLOTS with: {}", address,
                    reply.str);
      continue;
    }
    std::vector<Client*> map(kSlots, nullptr);
    std::size_t covered = 0;
    auto asked_host = address.substr(0, address.rfind(':'));
    for (const auto& range : reply.elements) {
      if (!range.is_array() || range.elements.size() < 3 || !range.elements[2].is_array() ||
          range.elements[2].elements.size() < 2)
        continue;
      auto first = range.elements[0].as_integer(), last = range.elements[1].as_integer();
      auto port = range.elements[2].elements[1].as_integer();
      if (!first || !last || !port || *first < 0 || *last >= kSlots || *first > *last) continue;
      auto host = range.elements[2].elements[0].str;
      if (host.empty() || host == "?") host = asked_host;
      auto* master = c->node_at(host + ":" + std::to_string(*port));
      for (auto s = *first; s <= *last; ++s) map[static_cast<std::size_t>(s)] = master;
      covered += static_cast<std::size_t>(*last - *first + 1);
    }
    c->mapped = covered >= kSlots;
    for (auto* node : map)
      if (!node) c->mapped = false;
    // A partial map still routes the slots it knows.
    for (std::size_t s = 0; s < kSlots; ++s)
      if (map[s]) c->slot_node[s] = map[s];
    if (!c->mapped) c->set_error("the cluster serves only part of its slots");
    co_return;
  }
}

asio::awaitable<void> maintain(std::shared_ptr<Client::Cluster> c) {
  auto last_refresh = Clock::now();
  while (!c->stopping) {
    bool was_healthy = c->healthy;
    if (c->refresh_wanted || !c->healthy || Clock::now() - last_refresh >= kRefreshEvery) {
      co_await refresh(c);
      last_refresh = Clock::now();
    }
    if (c->stopping) break;
    c->update_health();
    if (c->healthy && !was_healthy)
      c->log->debug("cluster at {}: every slot served", Client::Cluster::seed_address(c->seed));
    c->wake.expires_after(c->healthy ? std::chrono::milliseconds(250)
                                     : std::chrono::milliseconds(50));
    boost::system::error_code ec;
    co_await c->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

/// A command sent to every master; the first error, else the first answer.
asio::awaitable<Reply> broadcast(std::shared_ptr<Client::Cluster> c,
                                 const std::vector<std::string>& args) {
  std::vector<Client*> masters;
  for (auto* node : c->slot_node)
    if (node && std::find(masters.begin(), masters.end(), node) == masters.end())
      masters.push_back(node);
  if (masters.empty()) throw Unavailable(c->why());
  Reply first;
  for (std::size_t i = 0; i < masters.size(); ++i) {
    auto reply = co_await masters[i]->command(args);
    if (i == 0 || reply.is_error()) first = std::move(reply);
  }
  co_return first;
}

/// A unit of a pipeline that goes to one node: one command, or a MULTI … EXEC block.
struct Segment {
  std::size_t first = 0, count = 1;
  std::optional<unsigned> slot;
  bool broadcast = false;
  Client* ask = nullptr;  // ASK: the node to send it to once, after ASKING
};

std::vector<Segment> split(const Commands& commands) {
  std::vector<Segment> out;
  for (std::size_t i = 0; i < commands.size();) {
    Segment s;
    s.first = i;
    if (!commands[i].empty() && named(commands[i][0], "MULTI")) {
      std::size_t end = i + 1;
      while (end < commands.size() && !(named(commands[end][0], "EXEC") ||
                                        named(commands[end][0], "DISCARD")))
        ++end;
      s.count = std::min(end, commands.size() - 1) - i + 1;
      for (std::size_t j = i + 1; j < i + s.count && !s.slot; ++j)
        if (auto key = routing_key(commands[j])) s.slot = hash_slot(*key);
    } else {
      if (auto key = routing_key(commands[i])) s.slot = hash_slot(*key);
      s.broadcast = is_broadcast(commands[i]);
    }
    i += s.count;
    out.push_back(s);
  }
  return out;
}

/// The redirect a segment's replies ask for, if any (a MOVED or ASK inside a MULTI makes
/// its EXEC fail with EXECABORT, and the whole block is sent again).
std::optional<Reply> retry_reason(const Segment& s, const std::vector<Reply>& replies) {
  for (std::size_t j = s.first; j < s.first + s.count; ++j)
    if (retryable(replies[j])) return replies[j];
  return std::nullopt;
}

struct Join {
  explicit Join(asio::io_context& ioc) : done(ioc) {}
  std::size_t remaining = 0;
  asio::steady_timer done;
  std::exception_ptr error;
  std::vector<std::vector<Reply>> results;
};

asio::awaitable<void> run_group(std::shared_ptr<Join> join, std::size_t index, Client* node,
                                std::shared_ptr<Commands> commands) {
  try {
    join->results[index] = co_await node->pipeline(*commands);
  } catch (...) {
    join->error = std::current_exception();
  }
  if (--join->remaining == 0) join->done.cancel();
}

}  // namespace

std::shared_ptr<Client::Cluster> make(asio::io_context& ioc, RedisUrl seed) {
  if (seed.unix_socket) throw std::invalid_argument("redis.cluster needs a redis:// url");
  if (seed.db != 0) throw std::invalid_argument("redis.cluster: a cluster has only database 0");
  return std::make_shared<Client::Cluster>(ioc, std::move(seed));
}

void start(const std::shared_ptr<Client::Cluster>& c) {
  c->stopping = false;
  c->node_at(Client::Cluster::seed_address(c->seed));
  asio::co_spawn(c->ioc, maintain(c), asio::detached);
}

void stop(Client::Cluster& c) {
  c.stopping = true;
  c.wake.cancel();
  for (auto& [address, node] : c.nodes) node->stop();
  c.healthy = false;
}

bool connected(const Client::Cluster& c) { return c.healthy.load(); }

std::string last_error(const Client::Cluster& c) {
  return c.healthy ? std::string() : c.why();
}

asio::awaitable<Reply> command(std::shared_ptr<Client::Cluster> c,
                               const std::vector<std::string>& args) {
  if (is_broadcast(args)) {
    auto reply = co_await broadcast(c, args);
    co_return reply;
  }
  std::optional<unsigned> slot;
  if (auto key = routing_key(args)) slot = hash_slot(*key);
  Client* ask = nullptr;
  for (int attempt = 1;; ++attempt) {
    Client* node = ask ? ask : c->node_for(slot);
    if (!node) {
      c->want_refresh();
      throw Unavailable(c->why());
    }
    Reply reply;
    bool lost = false;
    try {
      if (ask) {
        Commands asking;
        asking.push_back(std::vector<std::string>(1, "ASKING"));
        asking.push_back(args);
        auto replies = co_await node->pipeline(asking);
        reply = std::move(replies[1]);
      } else {
        reply = co_await node->command(args);
      }
    } catch (const Unavailable&) {
      lost = true;
    }
    if (lost) {
      c->want_refresh();
      throw Unavailable(node->last_error().empty() ? c->why() : node->last_error());
    }
    ask = nullptr;
    if (!retryable(reply) || attempt >= kMaxAttempts) co_return reply;
    if (auto redirect = parse_redirect(reply.str)) {
      auto* target = c->node_at(redirect->address);
      if (redirect->ask) {
        ask = target;
      } else {
        c->slot_node[redirect->slot] = target;
        c->want_refresh();
      }
      co_await until_connected(*c, target);
    } else {
      co_await sleep_for(c->ioc, std::chrono::milliseconds(10 << attempt));  // TRYAGAIN
    }
  }
}

asio::awaitable<std::vector<Reply>> pipeline(std::shared_ptr<Client::Cluster> c,
                                             const Commands& commands) {
  std::vector<Reply> out(commands.size());
  auto segments = split(commands);
  std::vector<std::size_t> pending(segments.size());
  for (std::size_t i = 0; i < segments.size(); ++i) pending[i] = i;

  for (int attempt = 1; !pending.empty(); ++attempt) {
    // The pending segments by node, in their order.
    std::vector<Client*> group_nodes;
    std::vector<std::shared_ptr<Commands>> group_commands;
    std::vector<std::vector<std::pair<std::size_t, std::size_t>>> placement;  // (segment, offset)
    for (auto si : pending) {
      auto& s = segments[si];
      if (s.broadcast) {
        out[s.first] = co_await broadcast(c, commands[s.first]);
        continue;
      }
      Client* node = s.ask ? s.ask : c->node_for(s.slot);
      if (!node) {
        c->want_refresh();
        throw Unavailable(c->why());
      }
      auto g = static_cast<std::size_t>(
          std::find(group_nodes.begin(), group_nodes.end(), node) - group_nodes.begin());
      if (g == group_nodes.size()) {
        group_nodes.push_back(node);
        group_commands.push_back(std::make_shared<Commands>());
        placement.emplace_back();
      }
      auto& cmds = *group_commands[g];
      if (s.ask) cmds.push_back(std::vector<std::string>(1, "ASKING"));
      placement[g].emplace_back(si, cmds.size());
      for (std::size_t j = 0; j < s.count; ++j) cmds.push_back(commands[s.first + j]);
    }

    auto join = std::make_shared<Join>(c->ioc);
    join->results.resize(group_nodes.size());
    if (group_nodes.size() == 1) {
      bool lost = false;
      try {
        join->results[0] = co_await group_nodes[0]->pipeline(*group_commands[0]);
      } catch (const Unavailable&) {
        lost = true;
      }
      if (lost) {
        c->want_refresh();
        throw Unavailable(c->why());
      }
    } else if (!group_nodes.empty()) {
      join->remaining = group_nodes.size();
      for (std::size_t g = 0; g < group_nodes.size(); ++g)
        asio::co_spawn(c->ioc, run_group(join, g, group_nodes[g], group_commands[g]),
                       asio::detached);
      if (join->remaining > 0) {
        join->done.expires_at(Clock::time_point::max());
        boost::system::error_code ec;
        co_await join->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      if (join->error) {
        c->want_refresh();
        std::rethrow_exception(join->error);
      }
    }

    std::vector<std::size_t> again;
    std::vector<Client*> wait_for;
    bool moved_only = true;
    for (std::size_t g = 0; g < group_nodes.size(); ++g) {
      for (auto [si, offset] : placement[g]) {
        auto& s = segments[si];
        s.ask = nullptr;  // ASKING's own OK precedes the offset and is dropped
        for (std::size_t j = 0; j < s.count; ++j)
          out[s.first + j] = std::move(join->results[g][offset + j]);
        auto reason = retry_reason(s, out);
        if (!reason || attempt >= kMaxAttempts) continue;
        again.push_back(si);
        auto redirect = parse_redirect(reason->str);
        if (!redirect || redirect->ask) moved_only = false;
        if (redirect) {
          auto* target = c->node_at(redirect->address);
          wait_for.push_back(target);
          // ASK is followed for a single command; a block waits for the migration's end.
          if (redirect->ask && s.count == 1) s.ask = target;
          else if (!redirect->ask) c->slot_node[redirect->slot] = target;
          if (!redirect->ask) c->want_refresh();
        }
      }
    }
    pending = std::move(again);
    if (!pending.empty()) {
      for (auto* node : wait_for) co_await until_connected(*c, node);
      if (!moved_only) co_await sleep_for(c->ioc, std::chrono::milliseconds(10 << attempt));
    }
  }
  co_return out;
}

}  // namespace cluster
}  // namespace herald::redis
