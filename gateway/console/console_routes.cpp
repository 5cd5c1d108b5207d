#include <utility>

#include "gateway/console/console_routes.hpp"

#include "gateway/conversations.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/router.hpp"
#include "gateway/worker.hpp"

namespace herald::gateway {
namespace asio = boost::asio;

namespace {

constexpr const char* kPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; "
    "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

Response asset(std::string_view name, const std::string& content_type) {
  for (const auto& a : console::assets()) {
    if (a.name != name) continue;
    auto response = Response::text(200, std::string(a.bytes), content_type);
    response.headers.emplace_back("Cache-Control", "no-cache");
    response.headers.emplace_back("X-Content-Type-Options", "nosniff");
    response.headers.emplace_back("Referrer-Policy", "no-referrer");
    response.headers.emplace_back("Content-Security-Policy", kPolicy);
    return response;
  }
  return error_response(404, "not_found", "no console file " + std::string(name));
}

}  // namespace

void add_console_routes(Router& router, ContentSourcePtr content) {
  router.add("GET", "/console", Access::kPublic, [](Request&) -> asio::awaitable<Response> {
    co_return asset("index.html", "text/html; charset=utf-8");
  });
  router.add("GET", "/console/console.js", Access::kPublic,
             [](Request&) -> asio::awaitable<Response> {
               co_return asset("console.js", "text/javascript; charset=utf-8");
             });
  router.add("GET", "/console/console.css", Access::kPublic,
             [](Request&) -> asio::awaitable<Response> {
               co_return asset("console.css", "text/css; charset=utf-8");
             });

  router.add("GET", "/v1/conversations/{id}/templates", Access::kAdminOrAgent,
             [content](Request& request) -> asio::awaitable<Response> {
               const auto id = request.params.at("id");
               auto& redis = *current_worker().redis;
               auto customer = co_await conversations::customer_of(redis, id);
               std::optional<conversations::Conversation> c;
               if (customer) c = co_await conversations::load(redis, *customer, id);
               if (!c)
                 throw ApiError(404, "not_found", "conversation " + id + " not found");
               const auto snapshot = content->get();
               const auto& set = snapshot->catalog->set();
               Json items = Json::array();
               for (const auto& name : set.names()) {
                 if (!set.has_channel(name, c->channel)) continue;
                 Json item = Json::object();
                 item["name"] = name;
                 item["channel"] = c->channel;
                 items.push_back(std::move(item));
               }
               Json out = Json::object();
               out["items"] = std::move(items);
               co_return Response::json(200, out);
             });
}

}  // namespace herald::gateway
