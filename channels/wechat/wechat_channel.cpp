#include <utility>

#include "channels/wechat/wechat_channel.hpp"

#include <stdexcept>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "channels/http_client.hpp"
#include "channels/provider/provider_http.hpp"

namespace herald::channels::wechat {
namespace asio = boost::asio;
using Outcome = SendResult::Outcome;
using Json = nlohmann::json;

WechatSettings parse_settings(const YAML::Node& section, const std::string& config_file) {
  check_provider_keys(section, "wechat_oa", {"base_url", "app_id", "app_secret", "token"},
                      config_file);
  provider::Section s(section, "wechat_oa", config_file);
  WechatSettings settings;
  settings.common = parse_provider_settings(section, config_file);
  settings.base_url = s.url("base_url", settings.base_url);
  settings.app_id = s.required("app_id");
  settings.app_secret = s.required("app_secret");
  settings.token = s.required("token");
  return settings;
}

WechatChannel::WechatChannel(WechatSettings settings) : settings_(std::move(settings)) {}

namespace {

bool token_rejected(const std::string& code) {
  return code == "40001" || code == "42001" || code == "40014";
}

Json text_body(const std::string& to, const std::string& text) {
  Json body = Json::object();
  body["touser"] = to;
  body["msgtype"] = "text";
  body["text"] = Json::object();
  body["text"]["content"] = text;
  return body;
}

Json template_body(const std::string& to, const nlohmann::ordered_json& tpl) {
  Json body = Json::object();
  body["touser"] = to;
  body["template_id"] = tpl.value("id", "");
  if (tpl.contains("url") && tpl["url"].is_string() && !tpl["url"].get<std::string>().empty())
    body["url"] = tpl["url"];
  body["data"] = Json::object();
  if (tpl.contains("data") && tpl["data"].is_object())
    for (const auto& [key, value] : tpl["data"].items()) {
      body["data"][key] = Json::object();
      body["data"][key]["value"] = value.is_string() ? value.get<std::string>() : value.dump();
    }
  return body;
}

/// WeChat answers HTTP 200 and signals failures by errcode.
SendResult classify(const HttpResponse& response, const std::string& fallback_id) {
  if (auto common = provider::classify_common(response)) return *common;
  auto json = provider::parse_json(response.body);
  if (response.status < 200 || response.status >= 300 || !json.is_object())
    return provider::failure(Outcome::kPermanent, "http_" + std::to_string(response.status),
                             "unexpected answer from wechat");
  auto code = provider::text_of(json, "errcode");
  auto text = provider::text_of(json, "errmsg");
  if (code.empty() || code == "0") {
    auto id = provider::text_of(json, "msgid");
    return provider::accepted(id.empty() ? fallback_id : id);
  }
  if (code == "45015")
    return provider::failure(Outcome::kWindowClosed, code, "outside the 48 h window");
  if (code == "-1" || code == "45011" || token_rejected(code))
    return provider::failure(Outcome::kRetryable, code, text.empty() ? "busy" : text);
  return provider::failure(Outcome::kPermanent, code, text.empty() ? "rejected by wechat" : text);
}

}  // namespace

asio::awaitable<std::string> WechatChannel::access_token(SendContext& context, std::string stale,
                                                         SendResult& error) {
  auto key = token_key();
  auto lock = key + ":lock";
  // A token this send can use: present, and not the one WeChat just refused. The stored
  // token is never erased: an instance that read the stale token a moment ago must not
  // delete the new one another instance stored meanwhile; the lock holder overwrites it.
  auto usable = [&](const std::optional<std::string>& token) {
    return token && !token->empty() && *token != stale;
  };
  // The lock outlives the fetch it guards; a waiter waits as long as one fetch may take.
  const auto lock_ttl = settings_.common.timeout + std::chrono::seconds(5);
  const auto deadline =
      std::chrono::steady_clock::now() + settings_.common.timeout + std::chrono::seconds(2);
  asio::steady_timer pause(co_await asio::this_coro::executor);
  for (;;) {
    auto current = co_await context.shared->get(key);
    if (usable(current)) co_return *current;
    if (co_await context.shared->put_if_absent(lock, "1", lock_ttl)) {
      // Read again under the lock: the previous holder may have stored a fresh token
      // between our read and our lock, and a fetch would invalidate it.
      current = co_await context.shared->get(key);
      if (usable(current)) {
        co_await context.shared->erase(lock);
        co_return *current;
      }
      HttpRequest request;
      request.url = settings_.base_url + "/cgi-bin/token?grant_type=client_credential&appid=" +
                    provider::percent_encode(settings_.app_id) +
                    "&secret=" + provider::percent_encode(settings_.app_secret);
      request.timeout = settings_.common.timeout;
      auto response = co_await context.http->request(std::move(request));
      auto json = provider::parse_json(response.body);
      auto token = provider::text_of(json, "access_token");
      if (token.empty()) {
        co_await context.shared->erase(lock);
        if (auto common = provider::classify_common(response)) {
          error = *common;
        } else {
          auto code = provider::text_of(json, "errcode");
          error = provider::failure(code == "-1" ? Outcome::kRetryable : Outcome::kPermanent,
                                    code.empty() ? "token" : code,
                                    "cannot get an access token: " + provider::text_of(json, "errmsg"));
        }
        co_return std::string();
      }
      long expires = json.contains("expires_in") && json["expires_in"].is_number_integer()
                         ? json["expires_in"].get<long>()
                         : 7200;
      // Kept until 5 minutes before WeChat expires it (half its life when that is short).
      auto ttl = std::chrono::seconds(expires > 600 ? expires - 300 : std::max(1L, expires / 2));
      co_await context.shared->put(key, token, ttl);
      co_await context.shared->erase(lock);
      co_return token;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    // Another instance is fetching: its token will be in the store shortly.
    pause.expires_after(std::chrono::milliseconds(50));
    co_await pause.async_wait(asio::use_awaitable);
  }
  error = provider::failure(Outcome::kRetryable, "token",
                            "no access token: another instance's fetch did not finish");
  co_return std::string();
}

asio::awaitable<SendResult> WechatChannel::send(const OutboundMessage& message,
                                                SendContext& context) {
  const auto& content = message.content;
  bool has_text = content.contains("text") && content["text"].is_string();
  bool has_template = content.contains("template") && content["template"].is_object();
  if (!has_text && !has_template)
    co_return provider::failure(Outcome::kPermanent, "empty_content", "no text and no template");
  bool as_text = has_text && (provider::window_open(message, std::chrono::hours(48)) || !has_template);
  if (!context.shared)  // the token must be shared: a fetch invalidates every other instance's
    throw std::logic_error("wechat_oa needs SendContext::shared (the Redis store)");

  SendResult result;
  std::string stale;
  bool refreshed = false, switched = false;
  for (;;) {
    SendResult error;
    auto token = co_await access_token(context, stale, error);
    if (token.empty()) co_return error;
    HttpRequest request;
    request.method = "POST";
    request.url = settings_.base_url +
                  (as_text ? "/cgi-bin/message/custom/send?access_token="
                           : "/cgi-bin/message/template/send?access_token=") +
                  provider::percent_encode(token);
    request.timeout = settings_.common.timeout;
    request.headers.emplace_back("Content-Type", "application/json");
    request.body = (as_text ? text_body(message.to, content["text"].get<std::string>())
                            : template_body(message.to, content["template"]))
                       .dump();
    auto response = co_await context.http->request(std::move(request));
    result = classify(response, message.id);
    if (token_rejected(result.error_code) && !refreshed) {
      refreshed = true;  // the token was invalidated: once more with a new one
      stale = token;
      continue;
    }
    if (result.outcome == Outcome::kWindowClosed && as_text && has_template && !switched) {
      switched = true;
      as_text = false;
      continue;
    }
    break;
  }
  co_return result;
}

std::unique_ptr<Channel> make_wechat(const AdapterContext&, const YAML::Node& section,
                                     const std::string& config_file) {
  return std::make_unique<WechatChannel>(parse_settings(section, config_file));
}

}  // namespace herald::channels::wechat
