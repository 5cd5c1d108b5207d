// The outbox adapter: whole JSON lines under concurrency, its paths, and sends that
// leave the io_context free while a write is in progress.
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include "channels/outbox/outbox_channel.hpp"
#include "channels/registry.hpp"
#include "tests/support/temp_dir.hpp"

namespace asio = boost::asio;
using herald::channels::AdapterContext;
using herald::channels::Channel;
using herald::channels::OutboundMessage;
using herald::channels::SendResult;
using herald::channels::outbox::OutboxChannel;
using Json = nlohmann::ordered_json;

namespace {

herald::channels::SendContext no_context;  // the outbox needs neither HTTP nor shared state


std::unique_ptr<Channel> make(const std::string& channel, const std::string& yaml,
                              const std::string& data_dir) {
  herald::config::ChannelConfig c;
  if (!yaml.empty()) c.section = YAML::Load(yaml);
  AdapterContext ctx;
  ctx.data_dir = data_dir;
  return herald::channels::default_registry().make(channel, c, ctx, "herald.yaml");
}

OutboundMessage message(int i, const std::string& channel) {
  OutboundMessage m;
  m.id = "msg-" + std::to_string(i);
  m.channel = channel;
  m.to = "user" + std::to_string(i) + "@example.com";
  m.content = Json::object();
  m.content["subject"] = "Order " + std::to_string(i);
  m.content["html"] = "<p>line one\nline \"two\" é</p>";
  m.content["text"] = "line one\nline two";
  m.transactional = i % 2 == 0;
  m.customer_id = "cust-" + std::to_string(i);
  m.template_name = "order_confirmation";
  m.workflow = "post_purchase";
  m.run = "run-" + std::to_string(i);
  return m;
}

std::vector<std::string> lines_of(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

/// Runs the context until `done` holds or 30 s pass.
void run_until(asio::io_context& ioc, const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

TEST_CASE("outbox: 1,000 concurrent sends write 1,000 whole lines", "[outbox]") {
  herald::test::TempDir dir;
  // Two channels on the same file share one writer.
  auto email = make("email", "provider: outbox\npath: shared.jsonl\n", dir.path());
  auto sms = make("sms", "{provider: outbox, path: " + dir.path() + "/shared.jsonl}", dir.path());
  auto* e = dynamic_cast<OutboxChannel*>(email.get());
  auto* s = dynamic_cast<OutboxChannel*>(sms.get());
  REQUIRE(e);
  REQUIRE(s);
  CHECK(e->settings().path == std::filesystem::path(dir.path()) / "shared.jsonl");
  CHECK(e->settings().path == s->settings().path);

  constexpr int kCount = 1000;
  asio::io_context ioc;
  std::vector<SendResult> results(kCount);
  std::vector<std::thread::id> resumed_on(kCount);
  int done = 0;
  for (int i = 0; i < kCount; ++i) {
    Channel* channel = i % 2 ? sms.get() : email.get();
    asio::co_spawn(
        ioc,
        [&, i, channel]() -> asio::awaitable<void> {
          auto m = message(i, i % 2 ? "sms" : "email");
          auto result = co_await channel->send(m, no_context);
          results[i] = std::move(result);
          resumed_on[i] = std::this_thread::get_id();
          ++done;
        },
        asio::detached);
  }
  ioc.run();  // pending sends count as work: returns only once all have completed
  REQUIRE(done == kCount);

  for (int i = 0; i < kCount; ++i) {
    CHECK(results[i].outcome == SendResult::Outcome::kAccepted);
    CHECK(results[i].provider_message_id == "msg-" + std::to_string(i));
    CHECK(resumed_on[i] == std::this_thread::get_id());
  }

  auto lines = lines_of(e->settings().path);
  REQUIRE(lines.size() == kCount);
  std::set<std::string> ids;
  for (const auto& line : lines) {
    auto j = Json::parse(line);  // throws on a torn or interleaved line
    auto id = j.at("id").get<std::string>();
    int i = std::stoi(id.substr(4));
    auto m = message(i, i % 2 ? "sms" : "email");
    CHECK(j.at("channel") == m.channel);
    CHECK(j.at("to") == m.to);
    CHECK(j.at("content") == m.content);
    CHECK(j.at("transactional") == m.transactional);
    CHECK(j.at("customer_id") == m.customer_id);
    CHECK(j.at("template") == m.template_name);
    CHECK(j.at("workflow") == m.workflow);
    CHECK(j.at("run") == m.run);
    auto at = j.at("at").get<std::string>();
    CHECK(at.size() == 24);  // 2026-11-22T10:48:38.123Z
    CHECK(at[10] == 'T');
    CHECK(at.back() == 'Z');
    ids.insert(id);
  }
  CHECK(ids.size() == kCount);
}

TEST_CASE("outbox: the default path is data_dir/outbox.jsonl, and relative paths use data_dir",
          "[outbox]") {
  herald::test::TempDir dir;
  auto by_default = make("email", "", dir.path());
  auto relative = make("sms", "provider: outbox\npath: sub/dir/sms.jsonl\n", dir.path());
  auto* d = dynamic_cast<OutboxChannel*>(by_default.get());
  auto* r = dynamic_cast<OutboxChannel*>(relative.get());
  REQUIRE(d);
  REQUIRE(r);
  CHECK(d->settings().path == std::filesystem::path(dir.path()) / "outbox.jsonl");
  CHECK(r->settings().path == std::filesystem::path(dir.path()) / "sub/dir/sms.jsonl");
  CHECK(std::filesystem::exists(r->settings().path));  // opened at start-up

  asio::io_context ioc;
  int done = 0;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        auto m = message(7, "email");
        auto result = co_await by_default->send(m, no_context);
        CHECK(result.outcome == SendResult::Outcome::kAccepted);
        ++done;
      },
      asio::detached);
  ioc.run();
  REQUIRE(done == 1);
  auto lines = lines_of(std::filesystem::path(dir.path()) / "outbox.jsonl");
  REQUIRE(lines.size() == 1);
  CHECK(Json::parse(lines[0]).at("id") == "msg-7");
}

TEST_CASE("outbox: a path that cannot be opened fails at start-up at the path key", "[outbox]") {
  herald::test::TempDir dir;
  dir.write("file", "x");
  try {
    make("email", "provider: outbox\npath: file/below/a/file.jsonl\n", dir.path());
    FAIL("accepted a path below a file");
  } catch (const herald::config::ConfigError& e) {
    CHECK(e.where().line == 2);
    CHECK(e.where().column == 7);
    CHECK_THAT(e.reason(), Catch::Contains("path"));
  }
}

TEST_CASE("outbox: a send in progress leaves the io_context free", "[outbox]") {
  herald::test::TempDir dir;
  // The writer thread holds its first write until the io_context has run a timer three
  // times. A send that blocked the context's thread would keep the timer from firing,
  // and the gate would time out.
  std::promise<void> open_gate;
  auto gate = open_gate.get_future().share();
  std::atomic<bool> gate_timed_out{false};
  auto settings = herald::channels::outbox::parse_settings(YAML::Load("path: slow.jsonl"),
                                                           AdapterContext{dir.path(), {}}, "");
  OutboxChannel channel(settings, [gate, &gate_timed_out] {
    if (gate.wait_for(std::chrono::seconds(10)) != std::future_status::ready) gate_timed_out = true;
  });

  asio::io_context ioc;
  bool sent = false;
  int ticks_while_sending = 0;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        auto m = message(1, "sms");
        auto result = co_await channel.send(m, no_context);
        CHECK(result.outcome == SendResult::Outcome::kAccepted);
        sent = true;
      },
      asio::detached);
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        while (ticks_while_sending < 3) {
          timer.expires_after(std::chrono::milliseconds(1));
          co_await timer.async_wait(asio::use_awaitable);
          if (!sent) ++ticks_while_sending;
        }
        open_gate.set_value();
      },
      asio::detached);
  run_until(ioc, [&] { return sent; });
  CHECK(sent);
  CHECK(ticks_while_sending == 3);
  CHECK_FALSE(gate_timed_out);
  CHECK(lines_of(settings.path).size() == 1);
}
