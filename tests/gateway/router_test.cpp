#include <utility>

#include <catch2/catch.hpp>

#include "gateway/router.hpp"

using namespace herald::gateway;

namespace {
Handler noop() {
  return [](Request&) -> boost::asio::awaitable<Response> { co_return Response{}; };
}
}  // namespace

TEST_CASE("routes match literal paths and capture parameters") {
  Router r;
  r.add("GET", "/v1/customers/{id}", Access::kAdmin, noop());
  r.add("PUT", "/v1/customers/{id}/consent/{channel}", Access::kAdmin, noop());
  r.add("GET", "/healthz", Access::kPublic, noop());

  auto m = r.match("GET", "/v1/customers/c-42");
  REQUIRE(m.kind == Router::Match::Kind::kFound);
  CHECK(m.route->pattern == "/v1/customers/{id}");
  CHECK(m.params.at("id") == "c-42");

  auto consent = r.match("PUT", "/v1/customers/c%201/consent/sms");
  REQUIRE(consent.kind == Router::Match::Kind::kFound);
  CHECK(consent.params.at("channel") == "sms");

  CHECK(r.match("GET", "/healthz").kind == Router::Match::Kind::kFound);
  CHECK(r.match("GET", "/healthz/").kind == Router::Match::Kind::kFound);
  CHECK(r.match("HEAD", "/healthz").kind == Router::Match::Kind::kFound);
}

TEST_CASE("an unknown path is 404 and a known path with another method is 405") {
  Router r;
  r.add("GET", "/v1/workflows", Access::kAdmin, noop());
  r.add("POST", "/v1/workflows/reload", Access::kAdmin, noop());
  r.add("DELETE", "/v1/customers/{id}", Access::kAdmin, noop());
  r.add("GET", "/v1/customers/{id}", Access::kAdmin, noop());

  CHECK(r.match("GET", "/v1/nothing").kind == Router::Match::Kind::kNotFound);
  CHECK(r.match("GET", "/v1/workflows/reload/extra").kind == Router::Match::Kind::kNotFound);
  auto m = r.match("POST", "/v1/customers/7");
  CHECK(m.kind == Router::Match::Kind::kMethodNotAllowed);
  CHECK(m.allow == "DELETE, GET");
}
