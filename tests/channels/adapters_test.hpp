#pragma once
// What the provider adapter tests share (tests/channels/adapters_test*.cpp): a worker
// (io_context + HttpClient) running an adapter's send as a coroutine, the provider
// sandbox, configs built from YAML text with their marks, and request inspection.
#include <utility>  // first: boost 1.74's Asio needs std::exchange

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "channels/channel.hpp"
#include "channels/http_client.hpp"
#include "channels/registry.hpp"
#include "config/config.hpp"
#include "tests/support/sandbox.hpp"

namespace adapters_test {

namespace asio = boost::asio;
using herald::channels::AdapterContext;
using herald::channels::Channel;
using herald::channels::HttpClient;
using herald::channels::OutboundMessage;
using herald::channels::SendContext;
using herald::channels::SendResult;
using herald::config::ChannelConfig;
using herald::config::ConfigError;
using Json = nlohmann::json;
using Outcome = SendResult::Outcome;

inline const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kAccepted: return "accepted";
    case Outcome::kRetryable: return "retryable";
    case Outcome::kPermanent: return "permanent";
    case Outcome::kOptedOut: return "opted_out";
    case Outcome::kWindowClosed: return "window_closed";
  }
  return "?";
}

/// For failure messages: the whole result on one line.
inline std::string describe(const SendResult& r) {
  std::string out = outcome_name(r.outcome);
  out += " id=" + r.provider_message_id + " code=" + r.error_code + " message=" + r.error_message;
  if (r.retry_after) out += " retry_after=" + std::to_string(r.retry_after->count()) + "ms";
  return out;
}

/// One worker's view: an io_context with its HttpClient (and, for WeChat, a shared store).
struct Worker {
  asio::io_context ioc;
  HttpClient http{ioc};
  SendContext context{&http, nullptr};

  /// Runs `body` as a coroutine on the context until it finishes.
  template <typename Body>
  void run(Body body, std::chrono::seconds limit = std::chrono::seconds(60)) {
    bool done = false;
    std::exception_ptr error;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          co_await body();
          done = true;
        },
        [&](std::exception_ptr e) {
          error = e;
          done = true;
        });
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < deadline) {
      ioc.restart();
      ioc.run_for(std::chrono::milliseconds(10));
    }
    REQUIRE(done);
    if (error) std::rethrow_exception(error);
  }

  SendResult send(Channel& channel, const OutboundMessage& message) {
    SendResult result;
    run([&]() -> asio::awaitable<void> { result = co_await channel.send(message, context); });
    UNSCOPED_INFO("send: " << describe(result));
    return result;
  }

  /// Sends every message at once (one coroutine each) and waits up to a minute for all of
  /// them. Makes no Catch assertion, so that it may run on a thread of its own: a send that
  /// did not finish or threw has "unfinished" or "threw" as its error_message.
  std::vector<SendResult> send_concurrently(Channel& channel,
                                            const std::vector<OutboundMessage>& messages) {
    std::vector<SendResult> results(messages.size());
    for (auto& r : results) {
      r.outcome = Outcome::kPermanent;
      r.error_message = "unfinished";
    }
    std::size_t done = 0;
    for (std::size_t i = 0; i < messages.size(); ++i)
      asio::co_spawn(
          ioc,
          [&, i]() -> asio::awaitable<void> {
            results[i] = co_await channel.send(messages[i], context);
          },
          [&, i](std::exception_ptr e) {
            if (e) results[i].error_message = "threw";
            ++done;
          });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (done < messages.size() && std::chrono::steady_clock::now() < deadline) {
      ioc.restart();
      ioc.run_for(std::chrono::milliseconds(10));
    }
    return results;
  }
};

/// The provider sandbox of this process (each test case runs in a process of its own
/// under ctest).
inline herald::test::ProviderSandbox& sandbox() {
  static herald::test::ProviderSandbox instance;
  return instance;
}

/// The sandbox back to its start state (requests, faults, WeChat tokens), at a test's start.
inline herald::test::ProviderSandbox& fresh_sandbox() {
  auto& s = sandbox();
  s.reset();
  return s;
}

/// `channels.CHANNEL` of a small config document; `body` holds the section's lines, each
/// indented by four spaces. Its first key is on line 3, column 5.
inline ChannelConfig channel_config(const std::string& channel, const std::string& body) {
  auto doc = YAML::Load("channels:\n  " + channel + ":\n" + body);
  ChannelConfig c;
  c.section = doc["channels"][channel];
  if (c.section.IsMap() && c.section["provider"]) c.provider = c.section["provider"].Scalar();
  return c;
}

/// Builds the adapter through the built-in registry, as start-up does.
inline std::unique_ptr<Channel> make_channel(const std::string& channel, const std::string& body,
                                             const std::string& public_url = {}) {
  AdapterContext ctx;
  ctx.data_dir = "/nonexistent";
  ctx.public_url = public_url;
  auto made = herald::channels::default_registry().make(channel, channel_config(channel, body),
                                                        ctx, "herald.yaml");
  REQUIRE(made);
  return made;
}

/// The ConfigError the registry throws for that section.
inline ConfigError config_error(const std::string& channel, const std::string& body) {
  AdapterContext ctx;
  ctx.data_dir = "/nonexistent";
  try {
    herald::channels::default_registry().make(channel, channel_config(channel, body), ctx,
                                              "herald.yaml");
  } catch (const ConfigError& e) {
    return e;
  }
  FAIL("no ConfigError for:\n" << body);
  throw;  // unreachable
}

/// Checks that the error is at line:column of herald.yaml and names the channel.
inline void check_error_at(const ConfigError& e, const std::string& channel, int line, int column,
                           const std::string& fragment) {
  INFO(e.what());
  CHECK(e.where().file == "herald.yaml");
  CHECK(e.where().line == line);
  CHECK(e.where().column == column);
  CHECK_THAT(e.reason(), Catch::StartsWith("channels." + channel) && Catch::Contains(fragment));
}

/// A recorded request's header (the sandbox lower-cases names), or empty.
inline std::string header(const Json& request, const std::string& name) {
  const auto& h = request.at("headers");
  return h.contains(name) ? h[name].get<std::string>() : std::string();
}

/// A recorded form field's only value (fails when repeated), or "<absent>".
inline std::string form_field(const Json& request, const std::string& name) {
  const auto& form = request.at("form");
  if (!form.is_object() || !form.contains(name)) return "<absent>";
  REQUIRE(form[name].size() == 1);
  return form[name][0].get<std::string>();
}

/// The requests the sandbox recorded for `provider`'s send endpoints (token fetches left out).
inline Json sends(const std::string& provider) {
  Json out = Json::array();
  for (const auto& r : sandbox().requests(provider))
    if (r.at("method") == "POST") out.push_back(r);
  return out;
}

}  // namespace adapters_test
