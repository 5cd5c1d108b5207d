#include <utility>

#include "gateway/conversation_stream.hpp"

#include <chrono>
#include <deque>
#include <list>
#include <map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include "gateway/auth.hpp"
#include "gateway/conversations.hpp"
#include "gateway/http_server.hpp"
#include "gateway/http_upgrade.hpp"
#include "gateway/log.hpp"
#include "gateway/metrics.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/worker.hpp"

namespace herald::gateway {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Frame = std::shared_ptr<const std::string>;

namespace {

constexpr auto kPresenceRefresh = std::chrono::seconds(10);
constexpr auto kPresenceTtl = std::chrono::seconds(30);
constexpr auto kIdleTimeout = std::chrono::seconds(30);  // a ping at half of it
constexpr auto kHandshakeTimeout = std::chrono::seconds(5);

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Session {
  explicit Session(tcp::socket socket) : ws(std::move(socket)), wake(ws.get_executor()) {}
  websocket::stream<tcp::socket> ws;
  asio::steady_timer wake;  // the writer waits on it
  std::deque<Frame> queue;
  std::size_t queued_bytes = 0;
  std::string agent;  // empty for an admin
  bool open = false;  // handshake done
  bool closing = false;
  bool overflowed = false;
  bool going_away = false;  // shutdown: close with 1001 once the queue is sent
  bool writer_done = false;
  asio::steady_timer* done_signal = nullptr;

  void push(const Frame& frame) {
    if (closing) return;
    if (queue.size() >= kMaxQueuedFrames || queued_bytes + frame->size() > kMaxQueuedBytes) {
      // A slow consumer: drop the connection; the pending read and write end at once.
      closing = true;
      overflowed = true;
      boost::system::error_code ignored;
      beast::get_lowest_layer(ws).close(ignored);
      return;
    }
    queue.push_back(frame);
    queued_bytes += frame->size();
    wake.cancel();
  }
};

}  // namespace

struct ConversationStream::Impl : std::enable_shared_from_this<ConversationStream::Impl> {
  Impl(redis::RedisUrl u, bool c, const Authenticator& a, std::string i)
      : url(std::move(u)), cluster(c), auth(a), instance(std::move(i)), log(herald::log::get("stream")) {}

  /// One worker's share: its sockets, its stream reader, its agents' presence.
  struct Local {
    asio::io_context* ioc = nullptr;
    unsigned index = 0;
    std::unique_ptr<redis::Client> reader;
    std::list<std::shared_ptr<Session>> sessions;
    std::map<std::string, int> agents;  // sockets per agent
    std::unique_ptr<asio::steady_timer> presence_timer;
    std::string last;  // the last stream entry read
    bool stopped = false;
  };

  redis::RedisUrl url;
  bool cluster = false;
  const Authenticator& auth;
  std::string instance;
  std::shared_ptr<spdlog::logger> log;
  std::vector<std::unique_ptr<Local>> locals;

  metrics::Gauge& sockets_gauge = metrics::registry().gauge(
      "herald_conversation_stream_sockets", "Open sockets of the conversation stream");
  metrics::Counter& dropped = metrics::registry().counter(
      "herald_conversation_stream_dropped_total",
      "Sockets of the conversation stream dropped for not reading fast enough");

  std::string presence_member(const Local& l, const std::string& agent) const {
    return agent + "\t" + instance + ":" + std::to_string(l.index);
  }

  void authorize(Request& request) const {
    std::optional<std::string> key = Authenticator::presented_key(request.header("authorization"));
    if (!key) key = request.query("access_token");
    if (key && !key->empty()) {
      if (auto agent = auth.agent_for(*key)) {
        request.principal = Principal::kAgent;
        request.agent = *agent;
        return;
      }
      if (auth.is_admin_key(*key)) {
        request.principal = Principal::kAdmin;
        return;
      }
    }
    throw ApiError(401, "unauthorized",
                   "an agent token is needed (Authorization: Bearer TOKEN or ?access_token=)");
  }

  asio::awaitable<void> mark_present(Local& l, const std::string& agent) {
    auto& redis = *current_worker().redis;
    const auto expires = now_ms() + std::chrono::milliseconds(kPresenceTtl).count();
    auto r = co_await redis.command("ZADD", conversations::kPresenceKey, std::to_string(expires),
                                    presence_member(l, agent));
    if (r.is_error()) log->warn("presence: {}", r.str);
  }

  asio::awaitable<void> serve(Request& request, UpgradedConnection& connection) {
    auto& l = *locals.at(current_worker().index);
    auto session = std::make_shared<Session>(std::move(connection.socket));
    session->agent = request.agent;
    connection.on_shutdown = [weak = std::weak_ptr<Session>(session)] {
      if (auto s = weak.lock()) {
        s->going_away = true;
        s->wake.cancel();
      }
    };
    websocket::stream_base::timeout timeout;
    timeout.handshake_timeout = kHandshakeTimeout;
    timeout.idle_timeout = kIdleTimeout;
    timeout.keep_alive_pings = true;
    session->ws.set_option(timeout);
    session->ws.read_message_max(64 * 1024);

    // Present (and receiving) before the handshake answers: whatever happens once the
    // client sees 101 reaches it.
    auto it = l.sessions.insert(l.sessions.end(), session);
    sockets_gauge.add(1);
    const bool first_of_agent = !session->agent.empty() && l.agents[session->agent]++ == 0;
    std::string failure;
    try {
      if (l.last.empty()) co_await start_position(l, *current_worker().redis);
      if (first_of_agent) {
        co_await mark_present(l, session->agent);
        co_await conversations::assign_waiting(*current_worker().redis);  // room for the queue
      }
    } catch (const std::exception& e) {
      failure = e.what();  // Redis down: served, present from the next refresh on
    }
    if (!failure.empty()) log->warn("presence: {}", failure);

    boost::system::error_code ec;
    co_await session->ws.async_accept(connection.request,
                                      asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      session->open = true;
      asio::steady_timer done(session->ws.get_executor());
      done.expires_at(asio::steady_timer::time_point::max());
      session->done_signal = &done;
      asio::co_spawn(session->ws.get_executor(), write_loop(session), asio::detached);
      beast::flat_buffer buffer;
      for (;;) {  // what the client sends is ignored; the read sees pongs and the close
        co_await session->ws.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
        buffer.consume(buffer.size());
      }
      if (session->overflowed) dropped.inc();
      session->closing = true;
      session->wake.cancel();
      while (!session->writer_done)
        co_await done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      session->done_signal = nullptr;
    }

    session->closing = true;
    l.sessions.erase(it);
    sockets_gauge.add(-1);
    if (!session->agent.empty() && --l.agents[session->agent] == 0) {
      l.agents.erase(session->agent);
      try {
        auto r = co_await current_worker().redis->command("ZREM", conversations::kPresenceKey,
                                                          presence_member(l, session->agent));
        (void)r;
      } catch (const std::exception&) {
        // expires on its own
      }
    }
    boost::system::error_code ignored;
    beast::get_lowest_layer(session->ws).close(ignored);
  }

  asio::awaitable<void> write_loop(std::shared_ptr<Session> s) {
    boost::system::error_code ec;
    for (;;) {
      while (s->queue.empty() && !s->closing && !s->going_away) {
        s->wake.expires_at(asio::steady_timer::time_point::max());
        co_await s->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      if (s->closing) break;
      if (s->queue.empty()) {  // going away, everything sent
        co_await s->ws.async_close(websocket::close_code::going_away,
                                   asio::redirect_error(asio::use_awaitable, ec));
        break;
      }
      auto frame = s->queue.front();
      s->ws.text(true);
      co_await s->ws.async_write(asio::buffer(*frame),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (!s->queue.empty()) {
        s->queued_bytes -= s->queue.front()->size();
        s->queue.pop_front();
      }
      if (ec) {
        boost::system::error_code ignored;
        beast::get_lowest_layer(s->ws).close(ignored);
        break;
      }
    }
    s->writer_done = true;
    if (s->done_signal) s->done_signal->cancel();
  }

  /// Pushes one stream entry to every socket of the worker.
  void fan_out(Local& l, const redis::Reply& entry) {
    if (l.sessions.empty() || entry.elements.size() < 2) return;
    const auto& fields = entry.elements[1];
    std::string type;
    redis::Reply hash;
    hash.type = redis::Reply::Type::kArray;
    for (std::size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
      if (fields.elements[i].str == "type" && type.empty()) {
        type = fields.elements[i + 1].str;
        continue;
      }
      hash.elements.push_back(fields.elements[i]);
      hash.elements.push_back(fields.elements[i + 1]);
    }
    auto conversation = conversations::from_hash(hash);
    if (type.empty() || !conversation) return;
    conversations::OJson frame = conversations::OJson::object();
    frame["type"] = type;
    frame["conversation"] = conversation->to_json();
    auto text = std::make_shared<const std::string>(frame.dump());
    for (auto& s : l.sessions)
      if (s->open) s->push(text);
  }

  /// Where the worker's reader starts: after the stream's last entry, fixed by the reader
  /// or by the first socket (on the worker's own connection), whichever asks first, so that
  /// a socket receives every transition after its handshake.
  asio::awaitable<void> start_position(Local& l, redis::Client& redis) {
    auto top =
        co_await redis.command("XREVRANGE", conversations::kEventsKey, "+", "-", "COUNT", "1");
    if (top.is_error()) throw redis::CommandError(top.str);
    if (!l.last.empty()) co_return;
    l.last = top.elements.empty() || top.elements[0].elements.empty()
                 ? std::string("0-0")
                 : top.elements[0].elements[0].str;
  }

  asio::awaitable<void> read_loop(Local& l) {
    asio::steady_timer pause(*l.ioc);
    boost::system::error_code ec;
    while (!l.stopped) {
      bool failed = false;
      try {
        if (!l.reader->connected()) {
          failed = true;
        } else {
          if (l.last.empty()) co_await start_position(l, *l.reader);
          std::vector<std::string> read{"XREAD",  "COUNT",   "512", "BLOCK", "2000",
                                        "STREAMS", conversations::kEventsKey, l.last};
          auto reply = co_await l.reader->command(read);
          if (reply.is_error()) throw redis::CommandError(reply.str);
          if (!reply.is_nil() && !reply.elements.empty() &&
              reply.elements[0].elements.size() >= 2) {
            for (const auto& entry : reply.elements[0].elements[1].elements) {
              if (entry.elements.empty()) continue;
              l.last = entry.elements[0].str;
              fan_out(l, entry);
            }
          }
        }
      } catch (const std::exception& e) {
        failed = true;
        if (!l.stopped) log->debug("stream read: {}", e.what());
      }
      if (failed && !l.stopped) {
        pause.expires_after(std::chrono::milliseconds(20));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
    }
  }

  asio::awaitable<void> presence_loop(Local& l) {
    boost::system::error_code ec;
    while (!l.stopped) {
      l.presence_timer->expires_after(kPresenceRefresh);
      co_await l.presence_timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (l.stopped || l.agents.empty()) continue;
      const auto expires = std::to_string(now_ms() + std::chrono::milliseconds(kPresenceTtl).count());
      std::vector<std::string> zadd{"ZADD", conversations::kPresenceKey};
      for (const auto& [agent, count] : l.agents) {
        zadd.push_back(expires);
        zadd.push_back(presence_member(l, agent));
      }
      try {
        auto r = co_await current_worker().redis->command(zadd);
        if (r.is_error()) log->warn("presence: {}", r.str);
        // The queue is looked at again: room freed on another gateway, an agent back.
        co_await conversations::assign_waiting(*current_worker().redis);
      } catch (const std::exception& e) {
        log->debug("presence: {}", e.what());
      }
    }
  }
};

ConversationStream::ConversationStream(redis::RedisUrl url, bool cluster, const Authenticator& auth,
                                       std::string instance)
    : impl_(std::make_shared<Impl>(std::move(url), cluster, auth, std::move(instance))) {}

ConversationStream::~ConversationStream() = default;

void ConversationStream::install(HttpServer& server) {
  UpgradeRoute route;
  route.path = "/v1/conversations/stream";
  route.authorize = [impl = impl_](Request& request) { impl->authorize(request); };
  route.handler = [impl = impl_](Request& request,
                                 UpgradedConnection& connection) -> asio::awaitable<void> {
    co_await impl->serve(request, connection);
  };
  server.add_upgrade(std::move(route));
}

void ConversationStream::start(const std::vector<asio::io_context*>& contexts) {
  for (unsigned i = 0; i < contexts.size(); ++i) {
    auto l = std::make_unique<Impl::Local>();
    l->ioc = contexts[i];
    l->index = i;
    l->reader = std::make_unique<redis::Client>(*contexts[i], impl_->url, impl_->cluster);
    l->presence_timer = std::make_unique<asio::steady_timer>(*contexts[i]);
    impl_->locals.push_back(std::move(l));
  }
  for (auto& l : impl_->locals) {
    auto* local = l.get();
    asio::post(*local->ioc, [local] { local->reader->start(); });
    asio::co_spawn(*local->ioc, impl_->read_loop(*local), asio::detached);
    asio::co_spawn(*local->ioc, impl_->presence_loop(*local), asio::detached);
  }
}

void ConversationStream::stop() {
  for (auto& l : impl_->locals) {
    asio::post(*l->ioc, [local = l.get()] {
      local->stopped = true;
      local->reader->stop();
      local->presence_timer->cancel();
      for (auto& s : local->sessions) {
        s->closing = true;
        boost::system::error_code ignored;
        beast::get_lowest_layer(s->ws).close(ignored);
      }
    });
  }
}

}  // namespace herald::gateway
