#include <utility>

#include "gateway/app.hpp"

#include <csignal>
#include <set>
#include <thread>

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "channels/registry.hpp"
#include "gateway/auth.hpp"
#include "gateway/content.hpp"
#include "gateway/workflow_routes.hpp"
#include "gateway/conversation_routes.hpp"
#include "gateway/console/console_routes.hpp"
#include "gateway/conversation_stream.hpp"
#include "gateway/conversations.hpp"
#include "gateway/customer_routes.hpp"
#include "gateway/delivery.hpp"
#include "gateway/webhook_worker.hpp"
#include "gateway/hook_routes.hpp"
#include "gateway/message_routes.hpp"
#include "gateway/unsubscribe.hpp"
#include "gateway/engine/engine.hpp"
#include "gateway/event_processor.hpp"
#include "gateway/ingest_routes.hpp"
#include "gateway/http_server.hpp"
#include "gateway/keys.hpp"
#include "gateway/log.hpp"
#include "gateway/ops_routes.hpp"
#include "gateway/redis/managed_redis.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/router.hpp"
#include "gateway/worker.hpp"

namespace herald::gateway {
namespace asio = boost::asio;

namespace {
thread_local Worker* t_current_worker = nullptr;

struct WorkerSlot {
  asio::io_context ioc{1};
  std::unique_ptr<redis::Client> redis;
  // The event processors (ingest.processors_per_thread), each with its own connection
  // (its WATCH and blocking reads). A pass waits on Redis twice (its reads, its
  // transaction): with two, a thread computes one's pass while the other's is in Redis.
  std::vector<std::unique_ptr<redis::Client>> readers;
  std::vector<std::unique_ptr<EventProcessor>> processors;
  std::unique_ptr<redis::Client> delivery_reader;  // worker 0: the delivery worker's reads
  std::unique_ptr<DeliveryWorker> delivery;
  std::unique_ptr<redis::Client> webhook_reader;  // the webhook worker's reads
  std::unique_ptr<WebhookWorker> webhooks;
  Worker worker;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::thread thread;
};
/// The engine's start-up writes (the cron timers of `schedule` workflows), once Redis
/// answers; they are idempotent, so a retry or another process writing them is harmless.
asio::awaitable<void> write_startup_commands(redis::Client& redis, engine::Engine& engine) {
  auto commands = engine.startup_commands();
  if (commands.empty()) co_return;
  asio::steady_timer wait(co_await asio::this_coro::executor);
  for (int attempt = 0; attempt < 600; ++attempt) {
    try {
      auto replies = co_await redis.pipeline(commands);
      bool failed = false;
      for (const auto& r : replies) failed = failed || r.is_error();
      if (!failed) co_return;
    } catch (const std::exception&) {
    }
    wait.expires_after(std::chrono::milliseconds(500));
    co_await wait.async_wait(asio::use_awaitable);
  }
  log::get("engine")->warn("cron timers not written at start-up; the first event writes them");
}

}  // namespace

Worker& current_worker() {
  if (!t_current_worker) throw std::logic_error("current_worker() called off a worker thread");
  return *t_current_worker;
}

void set_current_worker(Worker* worker) { t_current_worker = worker; }

struct App::Impl {
  config::Config config;
};

App::App(config::Config config) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
}

App::~App() = default;

int App::run() {
  const auto& cfg = impl_->config;
  keys::set_partitions(cfg.redis.partitions);
  // The secret of unsubscribe links: configured, else generated once into data_dir. From
  // here on the config carries it, for everything that builds those links.
  try {
    impl_->config.auth.unsubscribe_secret =
        load_unsubscribe_secret(cfg.auth.unsubscribe_secret, cfg.data_dir);
  } catch (const std::exception& e) {
    herald::log::get("herald")->error("auth.unsubscribe_secret: {}", e.what());
    return 1;
  }
  auto log = herald::log::get("herald");
  std::signal(SIGPIPE, SIG_IGN);

  // Every channel's adapter, built from its section: a bad or unavailable provider stops
  // start-up with its line and column.
  std::map<std::string, std::unique_ptr<channels::Channel>> adapters;
  try {
    channels::AdapterContext adapter_context;
    adapter_context.data_dir = cfg.data_dir;
    adapter_context.public_url = cfg.public_url;
    while (!adapter_context.public_url.empty() && adapter_context.public_url.back() == '/')
      adapter_context.public_url.pop_back();
    for (const auto& [name, channel] : cfg.channels)
      adapters[name] = channels::default_registry().make(name, channel, adapter_context, cfg.file);
  } catch (const config::ConfigError& e) {
    log->error("{}", e.what());
    return 1;
  }

  // Templates and workflows are checked before anything starts: a marketer's mistake
  // stops start-up with its file, line and column, like a config error.
  std::shared_ptr<const Content> content;
  try {
    content = std::make_shared<const Content>(load_content(cfg));
    for (const auto& warning : content->warnings) log->warn("{}", warning);
  } catch (const std::exception& e) {
    log->error("templates or workflows have errors:\n{}", e.what());
    return 1;
  }

  std::unique_ptr<redis::ManagedRedis> managed;
  std::string url = cfg.redis.url;
  if (url.empty()) {
    managed = std::make_unique<redis::ManagedRedis>(cfg.data_dir);
    managed->start();
    url = managed->url();
  }
  redis::RedisUrl redis_url;
  try {
    redis_url = redis::parse_url(url);
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    return 1;
  }
  if (cfg.redis.cluster && redis_url.db != 0) {
    log->error("redis.url: a Redis Cluster has only database 0");
    return 1;
  }
  if (redis_url.tls) {
    log->error("redis.url: rediss:// needs hiredis built with TLS (1.0 or later); "
               "this build links Debian's hiredis 0.14, which has none. Use a TLS tunnel "
               "(stunnel, spiped) and point redis.url at its local end.");
    return 1;
  }

  // The workflow engine decides on every processed event and fired timer.
  engine::Engine workflow_engine(content->workflows, content->catalog->set(), cfg, system_clock(),
                                 content->segment_set);
  std::map<std::string, DeliveryChannel> delivery_channels;
  for (auto& [name, adapter] : adapters) {
    const auto& section = cfg.channels.at(name);
    delivery_channels[name] =
        DeliveryChannel{adapter.get(), section.provider,
                        channels::parse_provider_settings(section.section, cfg.file)};
  }
  DeliveryOptions delivery_options;
  delivery_options.policies = cfg.policies;
  delivery_options.public_url = cfg.public_url;
  while (!delivery_options.public_url.empty() && delivery_options.public_url.back() == '/')
    delivery_options.public_url.pop_back();
  delivery_options.unsubscribe_secret = cfg.auth.unsubscribe_secret;

  unsigned threads = cfg.server.effective_threads();
  char host[256] = "herald";
  ::gethostname(host, sizeof host - 1);
  std::string consumer_prefix = std::string(host) + ":" + std::to_string(::getpid());
  std::vector<std::unique_ptr<WorkerSlot>> workers;
  std::vector<asio::io_context*> contexts;
  for (unsigned i = 0; i < threads; ++i) {
    auto slot = std::make_unique<WorkerSlot>();
    slot->redis = std::make_unique<redis::Client>(slot->ioc, redis_url, cfg.redis.cluster);
    for (unsigned k = 0; k < cfg.ingest.processors_per_thread; ++k) {
      slot->readers.push_back(
          std::make_unique<redis::Client>(slot->ioc, redis_url, cfg.redis.cluster));
      slot->processors.push_back(std::make_unique<EventProcessor>(
          cfg, consumer_prefix + ":" + std::to_string(i) + (k ? "." + std::to_string(k) : ""),
          &workflow_engine));
    }
    // Every worker hands messages over too, each a consumer of the "delivery" group.
    slot->delivery_reader = std::make_unique<redis::Client>(slot->ioc, redis_url, cfg.redis.cluster);
    auto options = delivery_options;
    options.consumer = consumer_prefix + ":" + std::to_string(i);
    slot->delivery = std::make_unique<DeliveryWorker>(slot->ioc, delivery_channels, options);
    // And calls the webhooks of workflow steps, a consumer of the "webhook" group.
    slot->webhook_reader = std::make_unique<redis::Client>(slot->ioc, redis_url, cfg.redis.cluster);
    WebhookOptions webhook_options;
    webhook_options.consumer = consumer_prefix + ":" + std::to_string(i);
    webhook_options.partitions = cfg.redis.partitions;
    slot->webhooks = std::make_unique<WebhookWorker>(slot->ioc, webhook_options);
    slot->worker = Worker{i, &slot->ioc, slot->redis.get()};
    contexts.push_back(&slot->ioc);
    workers.push_back(std::move(slot));
  }

  Router router;
  register_process_metrics();
  add_ops_routes(router, {});
  // The content in effect, and the reload (POST /v1/workflows/reload, SIGHUP) that swaps
  // it, with the engine's workflows, templates and segments, in one step.
  auto content_source = std::make_shared<ContentSource>(content);
  auto reload_mutex = std::make_shared<std::mutex>();
  Reloader reload = [&cfg, content_source, reload_mutex, &workflow_engine] {
    std::lock_guard lock(*reload_mutex);
    auto report = reload_content(cfg, *content_source->get());
    workflow_engine.replace(report.content->workflows, report.content->catalog->set(),
                            report.content->segment_set);
    content_source->set(report.content);
    return report;
  };
  add_content_routes(router, content_source);
  add_workflow_routes(router, std::make_shared<const config::Config>(cfg), content_source, reload);
  Authenticator auth(cfg.auth);
  auto backlog = std::make_shared<BacklogGauge>();
  try {
    add_ingest_routes(router, cfg, auth, backlog);
  } catch (const config::ConfigError& e) {
    log->error("{}", e.what());
    return 1;
  }
  add_customer_routes(router, cfg);
  add_message_routes(router, cfg, content_source);
  add_conversation_routes(router, cfg, content_source);
  add_console_routes(router, content_source);
  conversations::configure(cfg.conversations);
  auto conversation_stream =
      std::make_unique<ConversationStream>(redis_url, cfg.redis.cluster, auth, consumer_prefix);
  {
    std::map<std::string, channels::Channel*> adapter_of;
    for (auto& [name, adapter] : adapters) adapter_of[name] = adapter.get();
    add_hook_routes(router, cfg, adapter_of, delivery_options.unsubscribe_secret, content_source);
  }
  for (auto& slot : workers) {
    slot->guard.emplace(slot->ioc.get_executor());
    asio::post(slot->ioc, [s = slot.get()] {
      s->redis->start();
      for (auto& reader : s->readers) reader->start();
      if (s->delivery_reader) s->delivery_reader->start();
      if (s->webhook_reader) s->webhook_reader->start();
    });
    if (slot->delivery)
      asio::co_spawn(slot->ioc, slot->delivery->run(*slot->delivery_reader, *slot->redis),
                     asio::detached);
    if (slot->webhooks)
      asio::co_spawn(slot->ioc, slot->webhooks->run(*slot->webhook_reader, *slot->redis),
                     asio::detached);
    for (std::size_t k = 0; k < slot->processors.size(); ++k)
      asio::co_spawn(slot->ioc, slot->processors[k]->run(*slot->readers[k], *slot->redis),
                     asio::detached);
    if (slot->worker.index == 0) {
      asio::co_spawn(slot->ioc, backlog_monitor(cfg, backlog), asio::detached);
      asio::co_spawn(slot->ioc, write_startup_commands(*slot->redis, workflow_engine), asio::detached);
    }
    slot->thread = std::thread([s = slot.get()] {
      set_current_worker(&s->worker);
      s->ioc.run();
    });
  }
  // Serve once Redis answers, so that the first requests do not meet a 503; if it does
  // not come within 5 s, serve anyway (/readyz tells, ingest answers 503 until it does).
  auto connect_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  auto all_connected = [&] {
    for (auto& slot : workers)
      if (!slot->redis->connected()) return false;
    return true;
  };
  while (!all_connected() && std::chrono::steady_clock::now() < connect_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!all_connected())
    log->warn("redis at {} is not answering yet; serving anyway", redis_url.redacted());

  auto stop_workers = [&] {
    conversation_stream->stop();
    for (auto& slot : workers) {
      asio::post(slot->ioc, [s = slot.get()] {
        s->redis->stop();
        for (auto& reader : s->readers) reader->stop();
        if (s->delivery_reader) s->delivery_reader->stop();
        if (s->webhook_reader) s->webhook_reader->stop();
        s->ioc.stop();
      });
    }
    for (auto& slot : workers) slot->thread.join();
  };

  auto server = std::make_unique<HttpServer>(cfg.server, router, auth);
  conversation_stream->install(*server);
  conversation_stream->start(contexts);
  try {
    server->start(contexts);
  } catch (const std::exception& e) {
    log->error("cannot listen on {}:{}: {}", cfg.server.listen_host, cfg.server.listen_port,
               e.what());
    stop_workers();
    server.reset();
    conversation_stream.reset();
    workers.clear();
    if (managed) managed->stop();
    return 1;
  }

  log->info("Herald {} listening on {}:{} ({} threads, redis {})", HERALD_VERSION,
            cfg.server.listen_host, server->port(), threads, redis_url.redacted());

  // The main thread waits for signals and orchestrates the drain.
  asio::io_context control{1};
  asio::signal_set signals(control, SIGINT, SIGTERM);
  // SIGHUP reloads workflows and templates, like POST /v1/workflows/reload.
  asio::signal_set hangups(control, SIGHUP);
  std::function<void(boost::system::error_code, int)> on_hangup =
      [&](boost::system::error_code ec, int) {
        if (ec) return;
        try {
          auto report = reload();
          log->info("SIGHUP: reloaded {} workflows, {} errors", report.loaded.size(),
                    report.errors.size());
          for (const auto& e : report.errors)
            log->warn("reload refused: {}", workflows::format_finding(e));
        } catch (const std::exception& e) {
          log->error("SIGHUP: reload failed: {}", e.what());
        }
        hangups.async_wait(on_hangup);
      };
  hangups.async_wait(on_hangup);
  asio::steady_timer deadline(control);
  bool draining = false;
  bool finished = false;
  auto finish = [&] {
    if (finished) return;
    finished = true;
    deadline.cancel();
    signals.cancel();
    hangups.cancel();
  };
  std::function<void(boost::system::error_code, int)> on_signal =
      [&](boost::system::error_code ec, int signal) {
        if (ec) return;
        if (draining) {
          log->warn("second signal: stopping without waiting for requests in flight");
          finish();
          return;
        }
        draining = true;
        log->info("{}: draining {} connections", signal == SIGTERM ? "SIGTERM" : "SIGINT",
                  server->connections());
        server->shutdown([&] { asio::post(control, finish); });
        deadline.expires_after(cfg.server.shutdown_timeout);
        deadline.async_wait([&](boost::system::error_code e) {
          if (e) return;
          log->warn("shutdown_timeout reached with {} connections open", server->connections());
          finish();
        });
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);
  control.run();

  // Messages being handed to providers finish and are recorded before the workers stop,
  // so that a restart does not find them half-sent (and mark them interrupted).
  for (auto& slot : workers) slot->delivery->drain();
  for (auto& slot : workers) slot->webhooks->drain();  // calls in flight finish too
  const auto drain_deadline = std::chrono::steady_clock::now() + cfg.server.shutdown_timeout;
  auto all_drained = [&] {
    for (auto& slot : workers)
      if (!slot->delivery->drained() || !slot->webhooks->drained()) return false;
    return true;
  };
  while (!all_drained() && std::chrono::steady_clock::now() < drain_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!all_drained()) log->warn("shutdown_timeout reached with messages still being handed over");
  // Event processing gives its partitions back, for the other gateways to take at once.
  for (auto& slot : workers)
    for (auto& processor : slot->processors) processor->stop();
  const auto leave_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  auto all_left = [&] {
    for (auto& slot : workers)
      for (auto& processor : slot->processors)
        if (!processor->stopped()) return false;
    return true;
  };
  while (!all_left() && std::chrono::steady_clock::now() < leave_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));

  stop_workers();
  server.reset();  // acceptors go before their io_contexts
  conversation_stream.reset();
  workers.clear();
  if (managed) managed->stop();
  log->info("stopped");
  return 0;
}

}  // namespace herald::gateway
