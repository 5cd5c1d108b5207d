#include <utility>

#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>

#include "gateway/auth.hpp"

using namespace herald::gateway;
namespace http = boost::beast::http;

namespace {

herald::config::AuthConfig keys() {
  herald::config::AuthConfig a;
  a.write_keys = {"wk-1", "wk-2"};
  a.admin_keys = {"ak-1"};
  a.agents = {{"alice", "tok-alice"}, {"bob", "tok-bob"}};
  return a;
}

/// Authorizes a request carrying `authorization`; returns 200 or the error's status.
int authorize(const Authenticator& auth, Access access, const std::string& authorization,
              Request* seen = nullptr) {
  http::request<http::string_body> native{http::verb::get, "/", 11};
  if (!authorization.empty()) native.set(http::field::authorization, authorization);
  Request req;
  req.native = &native;
  try {
    auth.authorize(req, access);
  } catch (const ApiError& e) {
    return e.status();
  }
  if (seen) *seen = req;
  return 200;
}

}  // namespace

TEST_CASE("keys are read from Bearer and from Basic with the key as the user name") {
  CHECK(Authenticator::presented_key("Bearer wk-1") == std::optional<std::string>("wk-1"));
  CHECK(Authenticator::presented_key("bearer   wk-1  ") == std::optional<std::string>("wk-1"));
  // base64("wk-1:") as Segment's libraries send it
  CHECK(Authenticator::presented_key("Basic d2stMTo=") == std::optional<std::string>("wk-1"));
  // base64("wk-1") without the colon
  CHECK(Authenticator::presented_key("Basic d2stMQ==") == std::optional<std::string>("wk-1"));
  CHECK_FALSE(Authenticator::presented_key("Basic !!!!"));
  CHECK_FALSE(Authenticator::presented_key("Basic Og=="));  // ":" — no user
  CHECK_FALSE(Authenticator::presented_key("Bearer "));
  CHECK_FALSE(Authenticator::presented_key("Token abc"));
  CHECK_FALSE(Authenticator::presented_key(""));
}

TEST_CASE("each key kind is recognised only as itself") {
  Authenticator auth(keys());
  CHECK(auth.is_write_key("wk-1"));
  CHECK(auth.is_write_key("wk-2"));
  CHECK_FALSE(auth.is_write_key("wk-3"));
  CHECK_FALSE(auth.is_write_key("wk-"));
  CHECK_FALSE(auth.is_write_key("wk-11"));
  CHECK_FALSE(auth.is_write_key(""));
  CHECK_FALSE(auth.is_write_key("ak-1"));
  CHECK(auth.is_admin_key("ak-1"));
  CHECK_FALSE(auth.is_admin_key("wk-1"));
  CHECK(auth.agent_for("tok-bob") == std::optional<std::string>("bob"));
  CHECK_FALSE(auth.agent_for("tok-carol"));
}

TEST_CASE("empty key lists accept no key") {
  Authenticator auth(herald::config::AuthConfig{});
  CHECK(authorize(auth, Access::kAdmin, "Bearer anything") == 401);
  CHECK(authorize(auth, Access::kWrite, "Bearer ") == 401);
}

TEST_CASE("missing or wrong credentials are 401, a wrong role is 403") {
  Authenticator auth(keys());
  CHECK(authorize(auth, Access::kPublic, "") == 200);
  CHECK(authorize(auth, Access::kAdmin, "") == 401);
  CHECK(authorize(auth, Access::kAdmin, "Bearer nope") == 401);
  CHECK(authorize(auth, Access::kAdmin, "Basic !!") == 401);
  CHECK(authorize(auth, Access::kAdmin, "Bearer ak-1") == 200);
  CHECK(authorize(auth, Access::kAdmin, "Bearer wk-1") == 403);
  CHECK(authorize(auth, Access::kAdmin, "Bearer tok-alice") == 403);

  CHECK(authorize(auth, Access::kWrite, "Bearer wk-2") == 200);
  CHECK(authorize(auth, Access::kWrite, "Basic d2stMTo=") == 200);
  CHECK(authorize(auth, Access::kWrite, "Bearer ak-1") == 200);  // admin keys reach all of /v1/
  CHECK(authorize(auth, Access::kWrite, "Bearer tok-bob") == 403);
  // No header at all: the ingest handler looks for writeKey in the body.
  Request seen;
  CHECK(authorize(auth, Access::kWrite, "", &seen) == 200);
  CHECK(seen.principal == Principal::kNone);

  CHECK(authorize(auth, Access::kAgent, "Bearer tok-alice", &seen) == 200);
  CHECK(seen.principal == Principal::kAgent);
  CHECK(seen.agent == "alice");
  CHECK(authorize(auth, Access::kAgent, "Bearer ak-1") == 403);  // claiming needs a named agent
  CHECK(authorize(auth, Access::kAdminOrAgent, "Bearer ak-1", &seen) == 200);
  CHECK(seen.principal == Principal::kAdmin);
  CHECK(authorize(auth, Access::kAdminOrAgent, "Bearer wk-1") == 403);
}
