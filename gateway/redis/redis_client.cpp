#include <utility>

#include "gateway/redis/redis_client.hpp"

#include <algorithm>
#include <chrono>
#include <atomic>
#include <deque>
#include <random>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "gateway/log.hpp"
#include "gateway/metrics.hpp"
#include "gateway/redis/redis_cluster.hpp"

namespace herald::redis {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kCommandTimeout = std::chrono::seconds(5);
constexpr auto kConnectTimeout = std::chrono::seconds(5);
constexpr auto kMinBackoff = std::chrono::milliseconds(50);
constexpr auto kMaxBackoff = std::chrono::milliseconds(2000);
// A command that finds the connection down moves the next connection attempt to now, or
// to kKickInterval after the last one began, and waits up to kReadyWait for it instead
// of failing while the back-off (up to kMaxBackoff) runs out after Redis is back.
constexpr auto kKickInterval = std::chrono::milliseconds(100);
constexpr auto kReadyWait = std::chrono::milliseconds(1000);

// hiredis builds each reply with these functions straight into a Reply, instead of its
// own redisReply tree that would then be copied and freed. A reply's root carries a
// redisReply header first: hiredis reads one there in the single case it looks into a
// reply itself (an error sent before any command, such as "max number of clients").
// Elements live in their parent's vector, sized when the array starts.
struct RootReply {
  redisReply head{};
  Reply reply;
};

/// Where a reply being read goes: a new root (its header typed as the task), or its slot
/// in the parent's elements. `obj` is what hiredis keeps for it.
struct Placed {
  void* obj;
  Reply* reply;
  RootReply* root;  // null for an element
};

Placed place(const redisReadTask* task) {
  if (!task->parent) {
    auto* root = new RootReply;
    root->head.type = task->type;
    return {root, &root->reply, root};
  }
  auto* parent_obj = task->parent->obj;
  Reply* parent = task->parent->parent ? static_cast<Reply*>(parent_obj)
                                       : &static_cast<RootReply*>(parent_obj)->reply;
  auto* r = &parent->elements[static_cast<std::size_t>(task->idx)];
  return {r, r, nullptr};
}

void* create_string(const redisReadTask* task, char* str, std::size_t len) {
  auto p = place(task);
  p.reply->type = task->type == REDIS_REPLY_ERROR    ? Reply::Type::kError
                  : task->type == REDIS_REPLY_STATUS ? Reply::Type::kStatus
                                                     : Reply::Type::kString;
  p.reply->str.assign(str, len);
  if (p.root) {
    p.root->head.str = p.reply->str.data();
    p.root->head.len = p.reply->str.size();
  }
  return p.obj;
}

void* create_array(const redisReadTask* task, int elements) {
  auto p = place(task);
  p.reply->type = Reply::Type::kArray;
  p.reply->elements.resize(static_cast<std::size_t>(std::max(elements, 0)));
  return p.obj;
}

void* create_integer(const redisReadTask* task, long long value) {
  auto p = place(task);
  p.reply->type = Reply::Type::kInteger;
  p.reply->integer = value;
  return p.obj;
}

void* create_nil(const redisReadTask* task) {
  auto p = place(task);
  p.reply->type = Reply::Type::kNil;
  if (p.root) p.root->head.type = REDIS_REPLY_NIL;  // the task of "$-1" is a string's
  return p.obj;
}

// hiredis frees only a reply's root (its elements belong to it).
void free_reply(void* reply) { delete static_cast<RootReply*>(reply); }

redisReplyObjectFunctions kReplyFunctions{create_string, create_array, create_integer,
                                          create_nil, free_reply};

/// The Reply of a root object made by kReplyFunctions; null stays null.
Reply* reply_of(void* reply) { return reply ? &static_cast<RootReply*>(reply)->reply : nullptr; }

metrics::Histogram& rtt_histogram() {
  static auto& h = metrics::registry().histogram(
      "herald_redis_command_duration_seconds", "Redis round-trip time of commands");
  return h;
}

/// Type-erased, move-only completion of one awaited operation.
template <typename Result>
struct Completion {
  virtual ~Completion() = default;
  virtual void complete(std::exception_ptr error, Result result) = 0;
};

template <typename Result, typename Handler>
struct CompletionImpl final : Completion<Result> {
  explicit CompletionImpl(Handler&& h) : handler(std::move(h)) {}
  void complete(std::exception_ptr error, Result result) override {
    // Resume the coroutine on its own executor, never inside a hiredis callback.
    auto executor = asio::get_associated_executor(handler);
    asio::post(executor, [h = std::move(handler), error, r = std::move(result)]() mutable {
      h(error, std::move(r));
    });
  }
  Handler handler;
};

}  // namespace

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
  enum class State { kStopped, kConnecting, kHandshake, kReady };

  Impl(asio::io_context& ioc, RedisUrl url)
      : ioc(ioc), url(std::move(url)), retry_timer(ioc), watchdog(ioc), ready_timer(ioc),
        resolver(ioc), log(herald::log::get("redis")) {}

  asio::io_context& ioc;
  RedisUrl url;
  asio::steady_timer retry_timer;
  asio::steady_timer watchdog;
  asio::steady_timer ready_timer;  // bounds the waits of `waiters`
  asio::ip::tcp::resolver resolver;
  std::shared_ptr<spdlog::logger> log;

  redisAsyncContext* ac = nullptr;
  std::unique_ptr<asio::posix::stream_descriptor> socket;
  uint64_t generation = 0;  // bumps on every new connection; stale waits are ignored
  bool want_read = false, want_write = false, read_armed = false, write_armed = false;
  State state = State::kStopped;
  std::atomic<bool> ready_flag{false};  // state == kReady, readable from any thread
  bool stopping = false;
  bool retry_scheduled = false;
  uint64_t retries = 0;  // numbers the scheduled retries
  bool ever_connected = false;
  Clock::time_point connect_started;
  std::chrono::milliseconds backoff = kMinBackoff;
  std::string last_error = "not connected yet";
  std::deque<Clock::time_point> in_flight;  // send times, in reply order
  /// Commands waiting for the connection attempt they started: true once ready, false
  /// when it failed or kReadyWait ran out.
  std::vector<std::function<void(bool)>> waiters;
  uint64_t waits = 0;  // numbers the arming of ready_timer
  std::mt19937 rng{std::random_device{}()};

  // --- the hiredis event-loop adapter -------------------------------------------------

  void arm_read() {
    if (!want_read || read_armed || !socket) return;
    read_armed = true;
    socket->async_wait(asio::posix::stream_descriptor::wait_read,
                       [self = shared_from_this(), gen = generation](boost::system::error_code ec) {
                         self->read_armed = false;
                         if (ec || gen != self->generation || !self->ac) return;
                         redisAsyncHandleRead(self->ac);
                         if (gen == self->generation) self->arm_read();
                       });
  }

  void arm_write() {
    if (!want_write || write_armed || !socket) return;
    write_armed = true;
    socket->async_wait(asio::posix::stream_descriptor::wait_write,
                       [self = shared_from_this(), gen = generation](boost::system::error_code ec) {
                         self->write_armed = false;
                         if (ec || gen != self->generation || !self->ac) return;
                         redisAsyncHandleWrite(self->ac);
                         if (gen == self->generation) self->arm_write();
                       });
  }

  static Impl* from(void* privdata) { return static_cast<Impl*>(privdata); }
  static void ev_add_read(void* p) { from(p)->want_read = true, from(p)->arm_read(); }
  static void ev_del_read(void* p) { from(p)->want_read = false; }
  static void ev_add_write(void* p) { from(p)->want_write = true, from(p)->arm_write(); }
  static void ev_del_write(void* p) { from(p)->want_write = false; }
  static void ev_cleanup(void* p) {
    auto* self = from(p);
    self->want_read = self->want_write = false;
    self->release_socket();
  }

  void release_socket() {
    if (!socket) return;
    boost::system::error_code ignored;
    socket->cancel(ignored);
    socket->release();  // hiredis owns and closes the descriptor
    socket.reset();
    ++generation;
  }

  // --- connection life cycle ---------------------------------------------------------

  void start() {
    stopping = false;
    connect();
    arm_watchdog();
  }

  void connect() {
    retry_scheduled = false;
    if (stopping) return;
    state = State::kConnecting;
    connect_started = Clock::now();
    if (url.tls) {
      fail_connect("rediss:// is not supported by this hiredis build (no TLS)");
      return;
    }
    if (url.unix_socket) {
      attach(redisAsyncConnectUnix(url.path.c_str()));
      return;
    }
    // Resolve without blocking the io_context; hiredis then gets a numeric address.
    resolver.async_resolve(
        url.host, std::to_string(url.port),
        [self = shared_from_this()](boost::system::error_code ec,
                                    asio::ip::tcp::resolver::results_type results) {
          if (self->stopping) return;
          if (ec || results.empty()) {
            self->fail_connect("cannot resolve " + self->url.host + ": " + ec.message());
            return;
          }
          auto endpoint = results.begin()->endpoint();
          self->attach(redisAsyncConnect(endpoint.address().to_string().c_str(), endpoint.port()));
        });
  }

  void attach(redisAsyncContext* context) {
    if (!context) {
      fail_connect("out of memory");
      return;
    }
    if (context->err) {
      std::string why = context->errstr;
      redisAsyncFree(context);
      fail_connect(why);
      return;
    }
    ac = context;
    ac->data = this;
    ac->c.reader->fn = &kReplyFunctions;
    ++generation;
    socket = std::make_unique<asio::posix::stream_descriptor>(ioc, ac->c.fd);
    ac->ev.data = this;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
  }

  static void on_connect(const redisAsyncContext* context, int status) {
    auto* self = from(context->data);
    if (status != REDIS_OK) {
      self->ac = nullptr;  // hiredis frees the context after this callback
      self->fail_connect(context->errstr);
      return;
    }
    self->handshake();
  }

  static void on_disconnect(const redisAsyncContext* context, int status) {
    auto* self = from(context->data);
    self->ac = nullptr;
    self->in_flight.clear();
    bool was_ready = self->state == State::kReady;
    self->ready_flag = false;
    bool explained = self->state == State::kStopped && !self->last_error.empty();  // handshake
    self->state = State::kStopped;
    if (self->stopping) return;
    if (!explained) self->last_error = status == REDIS_OK ? "connection closed" : context->errstr;
    if (was_ready) self->log->warn("lost the connection to {}: {}", self->url.redacted(), self->last_error);
    self->schedule_retry();
    self->release_waiters(false);
  }

  void handshake() {
    std::vector<std::vector<std::string>> setup;
    if (!url.password.empty()) {
      if (url.username.empty()) setup.push_back({"AUTH", url.password});
      else setup.push_back({"AUTH", url.username, url.password});
    }
    if (url.db != 0) setup.push_back({"SELECT", std::to_string(url.db)});
    if (setup.empty()) {
      ready();
      return;
    }
    state = State::kHandshake;
    auto remaining = std::make_shared<std::size_t>(setup.size());
    for (const auto& cmd : setup) {
      send_raw(cmd, [self = shared_from_this(), remaining, gen = generation](Reply* r) {
        if (gen != self->generation || self->state != State::kHandshake) return;
        if (!r || r->is_error()) {
          self->last_error = r ? r->str : "connection lost during handshake";
          self->log->error("redis handshake failed: {}", self->last_error);
          self->state = State::kStopped;
          if (self->ac) redisAsyncDisconnect(self->ac);
          return;
        }
        if (--*remaining == 0) self->ready();
      });
    }
  }

  void ready() {
    state = State::kReady;
    ready_flag = true;
    backoff = kMinBackoff;
    last_error.clear();
    if (ever_connected) log->info("reconnected to {}", url.redacted());
    else log->debug("connected to {}", url.redacted());
    ever_connected = true;
    release_waiters(true);
  }

  /// Runs `then(true)` once the connection is ready, at once when it is. A connection
  /// waiting out its back-off is tried again now, or kKickInterval after its last attempt
  /// began; `then` gets false when that attempt fails, or after kReadyWait.
  void when_ready(std::function<void(bool)> then) {
    if (state == State::kReady) {
      then(true);
      return;
    }
    if (stopping) {
      then(false);
      return;
    }
    if (state == State::kStopped) {
      if (!retry_scheduled) {  // only between a failure and its retry's scheduling
        then(false);
        return;
      }
      // The next attempt: now, or kKickInterval after the last one began, if sooner
      // than the back-off's.
      auto now = Clock::now();
      auto next = std::max(now, connect_started + kKickInterval);
      if (next <= now) {
        retry_timer.cancel();  // its handler sees operation_aborted and does nothing
        connect();
        if (state == State::kStopped) {  // failed at once
          then(false);
          return;
        }
      } else if (next < retry_timer.expiry()) {
        retry_at(next);
      }
    }
    waiters.push_back(std::move(then));
    if (waiters.size() == 1) {
      ready_timer.expires_after(kReadyWait);
      // Numbered, like the retries: an expiry already queued when the waiters it was
      // armed for were released must not release later ones.
      ready_timer.async_wait([self = shared_from_this(), n = ++waits](boost::system::error_code ec) {
        if (!ec && n == self->waits) self->release_waiters(false);
      });
    }
  }

  void release_waiters(bool ok) {
    if (waiters.empty()) return;
    ready_timer.cancel();
    ++waits;
    auto released = std::move(waiters);
    waiters.clear();
    for (auto& w : released) w(ok);
  }

  void fail_connect(const std::string& why) {
    last_error = why;
    state = State::kStopped;
    log->debug("cannot connect to {}: {}", url.redacted(), why);
    schedule_retry();
    release_waiters(false);
  }

  void schedule_retry() {
    if (stopping || retry_scheduled) return;
    retry_scheduled = true;
    std::uniform_int_distribution<int> jitter(0, static_cast<int>(backoff.count() / 2));
    auto delay = backoff + std::chrono::milliseconds(jitter(rng));
    backoff = std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxBackoff));
    retry_at(Clock::now() + delay);
  }

  /// (Re)schedules the next connection attempt at `when`.
  void retry_at(Clock::time_point when) {
    retry_scheduled = true;
    retry_timer.expires_at(when);  // a wait already armed ends with operation_aborted
    retry_timer.async_wait([self = shared_from_this(), n = ++retries](boost::system::error_code ec) {
      // A retry that was moved, or replaced by when_ready() with an attempt of its own,
      // may still run: its number tells.
      if (!ec && n == self->retries && self->retry_scheduled) self->connect();
    });
  }

  /// Drops a connection that stopped answering, so that waiting callers fail fast.
  void arm_watchdog() {
    watchdog.expires_after(std::chrono::milliseconds(500));
    watchdog.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopping) return;
      auto now = Clock::now();
      bool hung = !self->in_flight.empty() && now - self->in_flight.front() > kCommandTimeout;
      bool slow_connect = self->ac && self->state == State::kConnecting &&
                          now - self->connect_started > kConnectTimeout;
      if ((hung || slow_connect) && self->ac) {
        self->log->warn("redis at {} did not answer within 5 s; reconnecting", self->url.redacted());
        // Free at once: a graceful disconnect would wait for the replies that never come.
        auto* context = self->ac;
        self->ac = nullptr;
        self->ready_flag = false;
        redisAsyncFree(context);  // pending commands fail with a null reply
        self->last_error = hung ? "no answer within 5 s" : "connect timed out";
        self->state = State::kStopped;
        self->in_flight.clear();
        self->schedule_retry();
        self->release_waiters(false);
      }
      self->arm_watchdog();
    });
  }

  void stop() {
    stopping = true;
    retry_timer.cancel();
    watchdog.cancel();
    resolver.cancel();
    if (ac) {
      auto* context = ac;
      ac = nullptr;
      redisAsyncFree(context);  // pending callbacks fail at once with a null reply
    }
    state = State::kStopped;
    ready_flag = false;
    release_waiters(false);
  }

  // --- commands ------------------------------------------------------------------------

  /// The reply (null: the connection is gone), which the callback may move from.
  using RawCallback = std::function<void(Reply*)>;

  static void on_raw_reply(redisAsyncContext* context, void* reply, void* privdata) {
    std::unique_ptr<RawCallback> cb(static_cast<RawCallback*>(privdata));
    from(context->data)->replied();
    (*cb)(reply_of(reply));
  }

  /// A pipeline's state: its replies, in order, and one slot per command (hiredis's
  /// privdata) instead of a callback object per command.
  struct PipelineBatch {
    std::shared_ptr<Completion<std::vector<Reply>>> done;
    std::shared_ptr<Impl> impl;
    std::vector<Reply> replies;
    std::vector<std::pair<PipelineBatch*, std::size_t>> slots;
    std::size_t remaining = 0;
    bool failed = false;

    /// One reply (null: the connection is gone) in; the last one completes the batch.
    void take(std::size_t i, Reply* r) {
      if (!r) failed = true;
      else replies[i] = std::move(*r);
      if (--remaining == 0) finish();
    }
    /// `n` commands that were never sent.
    void drop(std::size_t n) {
      failed = true;
      remaining -= n;
      if (remaining == 0) finish();
    }
    void finish() {
      if (failed) done->complete(impl->unavailable(), {});
      else done->complete(nullptr, std::move(replies));
      delete this;
    }
  };

  /// Sends `commands` back to back; `done` gets their replies in order.
  void send_pipeline(const std::vector<std::vector<std::string>>& commands,
                     std::shared_ptr<Completion<std::vector<Reply>>> done) {
    // Owned by its callbacks: the last reply (or a failure to send) deletes it.
    auto* batch = new PipelineBatch;
    batch->done = std::move(done);
    batch->impl = shared_from_this();
    batch->replies.resize(commands.size());
    batch->slots.reserve(commands.size());
    for (std::size_t i = 0; i < commands.size(); ++i) batch->slots.emplace_back(batch, i);
    batch->remaining = commands.size();
    for (std::size_t i = 0; i < commands.size(); ++i) {
      if (!send_formatted(commands[i], on_batch_reply, &batch->slots[i])) {
        // Commands already queued still answer; count the rest as failed now.
        batch->drop(commands.size() - i);
        return;
      }
    }
  }

  static void on_batch_reply(redisAsyncContext* context, void* reply, void* privdata) {
    auto* slot = static_cast<std::pair<PipelineBatch*, std::size_t>*>(privdata);
    from(context->data)->replied();
    slot->first->take(slot->second, reply_of(reply));
  }

  void replied() {
    if (in_flight.empty()) return;
    auto started = in_flight.front();
    in_flight.pop_front();
    rtt_histogram().observe(std::chrono::duration<double>(Clock::now() - started).count());
  }

  /// Queues one command; returns false (without calling `cb`) when it cannot be sent.
  bool send_raw(const std::vector<std::string>& args, RawCallback cb) {
    if (!ac) return false;
    auto* holder = new RawCallback(std::move(cb));
    if (!send_formatted(args, on_raw_reply, holder)) {
      delete holder;
      return false;
    }
    return true;
  }

  /// Queues one command with a hiredis callback; false when it cannot be sent.
  bool send_formatted(const std::vector<std::string>& args, redisCallbackFn* fn, void* privdata) {
    if (!ac) return false;
    // The command in RESP, written here at once: hiredis's own formatting goes through
    // sdscatfmt argument by argument, a tenth of the ingest path's CPU.
    std::size_t size = 16;
    for (const auto& a : args) size += a.size() + 16;
    resp.clear();
    resp.reserve(size);
    append_header('*', args.size());
    for (const auto& a : args) {
      append_header('$', a.size());
      resp.append(a);
      resp.append("\r\n", 2);
    }
    bool queued = redisAsyncFormattedCommand(ac, fn, privdata, resp.data(), resp.size()) == REDIS_OK;
    if (resp.capacity() > (std::size_t{1} << 20)) std::string().swap(resp);  // a large one
    if (!queued) return false;
    in_flight.push_back(Clock::now());
    return true;
  }

  std::string resp;  // the command being written, reused

  void append_header(char kind, std::size_t n) {
    char digits[24];
    char* end = digits + sizeof digits;
    char* p = end;
    do *--p = static_cast<char>('0' + n % 10);
    while (n /= 10);
    resp.push_back(kind);
    resp.append(p, static_cast<std::size_t>(end - p));
    resp.append("\r\n", 2);
  }

  std::exception_ptr unavailable() const {
    return std::make_exception_ptr(Unavailable(last_error.empty() ? "connection lost" : last_error));
  }
};

Client::Client(asio::io_context& ioc, RedisUrl url, bool cluster) {
  if (cluster) cluster_ = cluster::make(ioc, std::move(url));
  else impl_ = std::make_shared<Impl>(ioc, std::move(url));
}

Client::~Client() { stop(); }

void Client::start() {
  if (cluster_) cluster::start(cluster_);
  else impl_->start();
}
void Client::stop() {
  if (cluster_) cluster::stop(*cluster_);
  else impl_->stop();
}
bool Client::connected() const {
  return cluster_ ? cluster::connected(*cluster_) : impl_->ready_flag.load();
}
std::string Client::last_error() const {
  return cluster_ ? cluster::last_error(*cluster_) : impl_->last_error;
}

// command() and pipeline() are plain functions returning the awaitable, not coroutines:
// g++ 12 destroys a closure temporary inside a co_await expression twice, which here
// released the shared Impl once too often. The initiation runs when the caller awaits.
asio::awaitable<Reply> Client::command(const std::vector<std::string>& args) {
  if (cluster_) return cluster::command(cluster_, args);
  auto impl = impl_;
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, Reply)>(
      [impl, &args](auto handler) {
        using H = decltype(handler);
        std::shared_ptr<Completion<Reply>> done =
            std::make_shared<CompletionImpl<Reply, H>>(std::move(handler));
        auto send = [impl, done](const std::vector<std::string>& command) {
          bool sent = impl->send_raw(command, [impl, done](Reply* r) {
            if (!r) done->complete(impl->unavailable(), Reply{});
            else done->complete(nullptr, std::move(*r));
          });
          if (!sent) done->complete(impl->unavailable(), Reply{});
        };
        if (impl->state == Impl::State::kReady) {
          send(args);
          return;
        }
        impl->when_ready([impl, done, send, args](bool ready) {
          if (ready) send(args);
          else done->complete(impl->unavailable(), Reply{});
        });
      },
      asio::use_awaitable);
}

asio::awaitable<std::vector<Reply>> Client::pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  if (cluster_) return cluster::pipeline(cluster_, commands);
  auto impl = impl_;
  return asio::async_initiate<const asio::use_awaitable_t<>&,
                              void(std::exception_ptr, std::vector<Reply>)>(
      [impl, &commands](auto handler) {
        using H = decltype(handler);
        std::shared_ptr<Completion<std::vector<Reply>>> done =
            std::make_shared<CompletionImpl<std::vector<Reply>, H>>(std::move(handler));
        if (commands.empty()) {
          done->complete(nullptr, {});
          return;
        }
        if (impl->state == Impl::State::kReady) {
          impl->send_pipeline(commands, std::move(done));
          return;
        }
        impl->when_ready([impl, done, commands](bool ready) {
          if (ready) impl->send_pipeline(commands, done);
          else done->complete(impl->unavailable(), {});
        });
      },
      asio::use_awaitable);
}

}  // namespace herald::redis
