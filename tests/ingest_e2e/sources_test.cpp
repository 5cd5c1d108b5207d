// api.md "Signed webhooks from other systems": POST /v1/sources/{name} with the shopify,
// hmac-sha256 (Stripe layout) and hmac-sha256-hex schemes, mapped into Herald events.
#include <catch2/catch.hpp>

#include "tests/ingest_e2e/ingest_client.hpp"
#include "tests/support/redis_server.hpp"

using namespace herald::test;
using namespace herald::test::ingest;

namespace {

const std::string kSources = R"(sources:
  shopify:
    signature: { scheme: shopify, secret: "shh" }
    map:
      - when: header['x-shopify-topic'] == 'checkouts/update'
        event: cart.updated
        user_id: body.customer.id
        properties: body
      - when: header['x-shopify-topic'] == 'orders/create'
        event: order.completed
        user_id: body.customer.id
        properties: body
  crm:
    signature: { scheme: hmac-sha256, secret: "crm-secret", header: X-Signature, tolerance: 5m }
    map:
      - event_from: body.type
        user_id: body.contact.external_id
        properties: body.data
        traits: body.contact
  mentions:
    signature: { scheme: hmac-sha256-hex, secret: "listening-secret", header: X-Herald-Signature }
    map:
      - event: social.mention
        user_id: body.author.handle
        properties: body
        traits: { twitter_handle: body.author.handle }
)";

HttpResponse post_source(const HeraldProcess& herald, const std::string& name, const std::string& body,
                         const Headers& headers) {
  return http(herald.port(), "POST", "/v1/sources/" + name, body, headers);
}

Headers shopify_headers(const std::string& body, const std::string& topic,
                        const std::string& secret = "shh") {
  return {{"X-Shopify-Hmac-Sha256", base64(hmac_sha256(secret, body))},
          {"X-Shopify-Topic", topic},
          {"X-Shopify-Shop-Domain", "shop.example.myshopify.com"}};
}

Headers crm_headers(const std::string& body, std::int64_t timestamp,
                    const std::string& secret = "crm-secret") {
  const std::string ts = std::to_string(timestamp);
  return {{"X-Signature", "t=" + ts + ",v1=" + hex(hmac_sha256(secret, ts + "." + body))}};
}

Headers mentions_headers(const std::string& body, const std::string& secret = "listening-secret") {
  return {{"X-Herald-Signature", hex(hmac_sha256(secret, body))}};
}

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void check_accepted(const HttpResponse& r) {
  INFO(r.status << " " << r.body);
  REQUIRE(r.status == 200);
  CHECK(json_of(r)["success"] == true);
}

}  // namespace

TEST_CASE("a signed Shopify webhook is mapped by topic into an event") {
  RedisServer redis;
  HeraldProcess herald(redis.url(), test_config(kSources));
  REQUIRE(herald.wait_ready());
  const std::string checkout =
      R"({"id":981,"token":"abc","customer":{"id":7339460116536,"email":"a@b.co"},"line_items":[{"sku":"S1"}]})";
  check_accepted(post_source(herald, "shopify", checkout, shopify_headers(checkout, "checkouts/update")));
  REQUIRE(wait_customer(herald, "7339460116536"));

  const std::string order = R"({"id":4242,"total":"19.99","customer":{"id":7339460116536}})";
  Headers with_id = shopify_headers(order, "orders/create");
  with_id.emplace_back("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
  check_accepted(post_source(herald, "shopify", order, with_id));
  auto c = wait_customer(herald, "7339460116536", [](const Json& c) { return c["stats"]["orders"] == 1; });
  REQUIRE(c);
  CHECK((*c)["stats"]["revenue"].get<double>() == Approx(19.99));
  // Shopify retries deliver the same webhook id: processed once.
  check_accepted(post_source(herald, "shopify", order, with_id));

  SECTION("a wrong or missing signature is 401 bad_signature and changes nothing") {
    const std::string other = R"({"id":1,"total":"5","customer":{"id":111}})";
    check_error(post_source(herald, "shopify", other, shopify_headers(other, "orders/create", "not-shh")),
                401, "bad_signature");
    check_error(post_source(herald, "shopify", other, {{"X-Shopify-Topic", "orders/create"}}), 401,
                "bad_signature");
    Headers tampered = shopify_headers(other, "orders/create");
    check_error(post_source(herald, "shopify", R"({"id":1,"total":"5000","customer":{"id":111}})", tampered),
                401, "bad_signature");
    // Ingest credentials are no substitute for the source's signature.
    Headers keyed = bearer(kAdminKey);
    keyed.emplace_back("X-Shopify-Topic", "orders/create");
    check_error(post_source(herald, "shopify", other, keyed), 401, "bad_signature");
    quiesce(herald);
    CHECK_FALSE(get_customer(herald, "111"));
  }
  SECTION("a body no rule places is 422 unmapped") {
    const std::string anonymous = R"({"id":982,"token":"def","line_items":[]})";
    check_error(post_source(herald, "shopify", anonymous, shopify_headers(anonymous, "checkouts/update")),
                422, "unmapped");
    const std::string deleted = R"({"id":983,"customer":{"id":222}})";
    check_error(post_source(herald, "shopify", deleted, shopify_headers(deleted, "orders/delete")), 422,
                "unmapped");
    quiesce(herald);
    CHECK_FALSE(get_customer(herald, "222"));
  }
  quiesce(herald);
  c = get_customer(herald, "7339460116536");
  REQUIRE(c);
  CHECK((*c)["stats"]["orders"] == 1);
}

TEST_CASE("a CRM webhook in Stripe's t= v1= layout carries the event name and traits") {
  RedisServer redis;
  HeraldProcess herald(redis.url(), test_config(kSources));
  REQUIRE(herald.wait_ready());
  const std::string body =
      R"({"type":"order.completed","contact":{"external_id":"c-77","email":"Ann@CRM.Example","timezone":"Europe/Berlin","plan":"gold"},"data":{"total":42}})";
  check_accepted(post_source(herald, "crm", body, crm_headers(body, now_s())));
  auto c = wait_customer(herald, "c-77", [](const Json& c) { return c["stats"]["orders"] == 1; });
  INFO((c ? c->dump() : "absent"));
  REQUIRE(c);
  CHECK((*c)["stats"]["revenue"].get<double>() == Approx(42));
  CHECK((*c)["traits"]["email"] == "Ann@crm.example");
  CHECK((*c)["traits"]["timezone"] == "Europe/Berlin");
  CHECK((*c)["traits"]["plan"] == "gold");

  SECTION("a timestamp 10 minutes old is 401 stale_signature") {
    const std::string stale =
        R"({"type":"order.completed","contact":{"external_id":"c-stale"},"data":{"total":1}})";
    check_error(post_source(herald, "crm", stale, crm_headers(stale, now_s() - 600)), 401,
                "stale_signature");
    // 4 minutes old is inside the 5 minute tolerance.
    const std::string recent =
        R"({"type":"order.completed","contact":{"external_id":"c-recent"},"data":{"total":1}})";
    check_accepted(post_source(herald, "crm", recent, crm_headers(recent, now_s() - 240)));
    REQUIRE(wait_customer(herald, "c-recent"));
    quiesce(herald);
    CHECK_FALSE(get_customer(herald, "c-stale"));
  }
  SECTION("a wrong signature is 401 bad_signature, even with a stale timestamp") {
    const std::string other =
        R"({"type":"order.completed","contact":{"external_id":"c-bad"},"data":{"total":1}})";
    check_error(post_source(herald, "crm", other, crm_headers(other, now_s(), "wrong")), 401,
                "bad_signature");
    check_error(post_source(herald, "crm", other, crm_headers(other, now_s() - 600, "wrong")), 401,
                "bad_signature");
    check_error(post_source(herald, "crm", other, {{"X-Signature", "garbage"}}), 401, "bad_signature");
    check_error(post_source(herald, "crm", other, Headers{}), 401, "bad_signature");
    // Signed for another timestamp than the one claimed.
    const auto ts = now_s();
    Headers swapped{{"X-Signature", "t=" + std::to_string(ts - 1) + ",v1=" +
                                        hex(hmac_sha256("crm-secret", std::to_string(ts) + "." + other))}};
    check_error(post_source(herald, "crm", other, swapped), 401, "bad_signature");
    quiesce(herald);
    CHECK_FALSE(get_customer(herald, "c-bad"));
  }
  SECTION("no customer id is 422 unmapped") {
    const std::string anonymous = R"({"type":"deal.won","contact":{"email":"a@b.co"},"data":{}})";
    check_error(post_source(herald, "crm", anonymous, crm_headers(anonymous, now_s())), 422, "unmapped");
  }
}

TEST_CASE("a hex-signed social listening feed maps mentions") {
  RedisServer redis;
  HeraldProcess herald(redis.url(), test_config(kSources));
  REQUIRE(herald.wait_ready());
  const std::string body =
      R"({"author":{"handle":"ada_l","followers":1200},"text":"love #herald","url":"https://x.example/1"})";
  check_accepted(post_source(herald, "mentions", body, mentions_headers(body)));
  auto c = wait_customer(herald, "ada_l", [](const Json& c) { return c["traits"].contains("twitter_handle"); });
  REQUIRE(c);
  CHECK((*c)["traits"]["twitter_handle"] == "ada_l");

  check_error(post_source(herald, "mentions", body, mentions_headers(body, "wrong")), 401, "bad_signature");
  check_error(post_source(herald, "mentions", body, Headers{}), 401, "bad_signature");
  const std::string anonymous = R"({"author":{},"text":"x"})";
  check_error(post_source(herald, "mentions", anonymous, mentions_headers(anonymous)), 422, "unmapped");
}

TEST_CASE("an unknown source is 404") {
  RedisServer redis;
  HeraldProcess herald(redis.url(), test_config(kSources));
  REQUIRE(herald.wait_ready());
  const std::string body = R"({"author":{"handle":"x"}})";
  check_error(post_source(herald, "nope", body, mentions_headers(body)), 404, "not_found");
  check_error(post_source(herald, "Shopify", body, shopify_headers(body, "checkouts/update")), 404,
              "not_found");
}
