#include "gateway/ingest/source_config.hpp"

#include <catch2/catch.hpp>

#include "gateway/ingest/builtin_expr.hpp"
#include "ingest_test_util.hpp"

using namespace herald::ingest;
using herald::ingest::test::expect_api_error;
using herald::ingest::test::json;
using herald::ingest::test::received;

namespace {

// config.md's example, with the environment variables substituted.
const char* const kSources = R"(
sources:
  shopify:
    signature: { scheme: shopify, secret: "shp-secret" }   # X-Shopify-Hmac-Sha256, base64 HMAC-SHA256 of the raw body
    map:
      - when: header['x-shopify-topic'] == 'checkouts/update'
        event: cart.updated
        user_id: body.customer.id
        properties: body
  crm:
    signature: { scheme: hmac-sha256, secret: "crm-secret", header: X-Signature, tolerance: 5m }   # "t=TS,v1=HEX" over "TS.BODY", Stripe's layout
    map:
      - event_from: body.type
        user_id: body.contact.external_id
        properties: body.data
        traits: body.contact
  mentions:                      # a social-listening feed: public brand mentions and hashtags
    signature: { scheme: hmac-sha256-hex, secret: "listening-secret", header: X-Herald-Signature }   # lowercase hex HMAC-SHA256 of the raw body
    map:
      - event: social.mention
        user_id: body.author.handle
        properties: body
        traits: { twitter_handle: body.author.handle }
)";

SourceRegistry load(const std::string& text) {
  return parse_sources(YAML::Load(text)["sources"], builtin_mapping_expr_factory());
}

SourceConfigError config_error(const std::string& text) {
  try {
    load(text);
  } catch (const SourceConfigError& error) {
    return error;
  }
  FAIL("no SourceConfigError");
  return SourceConfigError("", 0, 0);
}

std::chrono::system_clock::time_point at(Timestamp time) {
  return std::chrono::system_clock::time_point(time);
}

}  // namespace

TEST_CASE("config.md's sources parse", "[ingest][sources]") {
  const SourceRegistry sources = load(kSources);
  REQUIRE(sources.size() == 3);
  const Source& shopify = *sources.at("shopify");
  CHECK(shopify.signature().scheme == SignatureScheme::kShopify);
  CHECK(shopify.signature().header == "x-shopify-hmac-sha256");
  CHECK(shopify.signature().secrets == std::vector<std::string>{"shp-secret"});
  const Source& crm = *sources.at("crm");
  CHECK(crm.signature().scheme == SignatureScheme::kStripe);
  CHECK(crm.signature().header == "x-signature");
  CHECK(crm.signature().tolerance == std::chrono::seconds(300));
  CHECK(crm.rules().size() == 1);
  CHECK(crm.rules()[0].event_from);
  const Source& mentions = *sources.at("mentions");
  CHECK(mentions.signature().scheme == SignatureScheme::kHmacSha256Hex);
  CHECK(mentions.rules()[0].traits_map.size() == 1);
  CHECK(load("sources: {}").empty());
  CHECK(parse_sources(YAML::Node(), builtin_mapping_expr_factory()).empty());
}

TEST_CASE("shopify source end to end", "[ingest][sources]") {
  const auto sources = load(kSources);
  const Source& shopify = *sources.at("shopify");
  const std::string body =
      R"({"id":981,"token":"abc","customer":{"id":7339460116536,"email":"a@b.co"},"line_items":[{"sku":"S1"}]})";
  auto headers = header_object(
      {{"X-Shopify-Topic", "checkouts/update"},
       {"X-Shopify-Hmac-Sha256", sign_request(SignatureScheme::kShopify, "shp-secret", body, {})},
       {"X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"}});
  const Event event = shopify.handle(headers, body, received(), {});
  CHECK(event.type == EventType::kTrack);
  CHECK(event.event == "cart.updated");
  CHECK(event.user_id == "7339460116536");
  CHECK(json(event.properties) == json(body));
  CHECK(event.traits == "{}");
  CHECK(event.message_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
  CHECK(event.timestamp == received());

  // Another topic: no rule holds.
  headers["x-shopify-topic"] = "orders/create";
  const ApiError unmapped =
      expect_api_error([&] { shopify.handle(headers, body, received(), {}); });
  CHECK(unmapped.status == 422);
  CHECK(unmapped.code == "unmapped");

  // A bad signature is refused before anything else.
  headers["x-shopify-hmac-sha256"] = "AAAA";
  CHECK(expect_api_error([&] { shopify.handle(headers, body, received(), {}); }).code ==
        "bad_signature");
}

TEST_CASE("crm source: event_from, traits from the body, tolerance", "[ingest][sources]") {
  const auto sources = load(kSources);
  const Source& crm = *sources.at("crm");
  const std::string body =
      R"({"type":"deal.won","contact":{"external_id":"c-77","email":"Ann@CRM.Example","phone":null,"timezone":"europe/berlin"},"data":{"amount":1200}})";
  const auto headers =
      header_object({{"X-Signature",
                      sign_request(SignatureScheme::kStripe, "crm-secret", body, at(received()))}});
  const Event event = crm.handle(headers, body, received(), {});
  CHECK(event.event == "deal.won");
  CHECK(event.user_id == "c-77");
  CHECK(json(event.properties) == json(R"({"amount":1200})"));
  // Known traits are normalised, null ones left out.
  CHECK(json(event.traits) ==
        json(R"({"external_id":"c-77","email":"Ann@crm.example","timezone":"Europe/Berlin"})"));

  using std::chrono::seconds;
  const ApiError stale =
      expect_api_error([&] { crm.handle(headers, body, received() + seconds(301), {}); });
  CHECK(stale.status == 401);
  CHECK(stale.code == "stale_signature");

  // No customer id: 422.
  const std::string anonymous = R"({"type":"deal.won","contact":{"email":"a@b.co"}})";
  const auto anonymous_headers =
      header_object({{"x-signature", sign_request(SignatureScheme::kStripe, "crm-secret", anonymous,
                                                  at(received()))}});
  const ApiError unmapped =
      expect_api_error([&] { crm.handle(anonymous_headers, anonymous, received(), {}); });
  CHECK(unmapped.status == 422);
  CHECK(unmapped.code == "unmapped");

  // A bad trait is the same 400 as on identify.
  const std::string bad_trait = R"({"type":"x","contact":{"external_id":1,"email":"nope"}})";
  const auto bad_headers =
      header_object({{"x-signature", sign_request(SignatureScheme::kStripe, "crm-secret", bad_trait,
                                                  at(received()))}});
  const ApiError invalid =
      expect_api_error([&] { crm.handle(bad_headers, bad_trait, received(), {}); });
  CHECK(invalid.code == "invalid_trait");
  CHECK(invalid.field == "traits.email");

  // A signed body that is not JSON.
  const std::string not_json = "{";
  const auto not_json_headers =
      header_object({{"x-signature", sign_request(SignatureScheme::kStripe, "crm-secret", not_json,
                                                  at(received()))}});
  CHECK(expect_api_error([&] { crm.handle(not_json_headers, not_json, received(), {}); }).code ==
        "invalid_json");
}

TEST_CASE("mentions source: a map of traits", "[ingest][sources]") {
  const auto sources = load(kSources);
  const Source& mentions = *sources.at("mentions");
  const std::string body =
      R"({"author":{"handle":"@ada","followers":1200},"text":"love #herald","url":"https://x.example/1"})";
  const auto headers = header_object(
      {{"X-Herald-Signature", "bd674a4e0fa72693bfbe3e353b7900efa6616d38d5827333571d10afdc08c404"}});
  // That header signs another body: refused.
  CHECK(expect_api_error([&] { mentions.handle(headers, body, received(), {}); }).code ==
        "bad_signature");
  const auto signed_headers =
      header_object({{"X-Herald-Signature", sign_request(SignatureScheme::kHmacSha256Hex,
                                                         "listening-secret", body, {})}});
  const Event event = mentions.handle(signed_headers, body, received(), {});
  CHECK(event.event == "social.mention");
  CHECK(event.user_id == "@ada");
  CHECK(json(event.traits) == json(R"({"twitter_handle":"@ada"})"));
  CHECK(json(event.properties)["text"] == "love #herald");
}

TEST_CASE("the first rule that holds maps the request", "[ingest][sources]") {
  const auto sources = load(R"(
sources:
  shop:
    signature: { scheme: shopify, secret: [new-secret, old-secret] }
    map:
      - when: header['x-shopify-topic'] == 'orders/paid' and body.total_price != null
        event: order.completed
        user_id: body.customer.id
        properties: { total: body.total_price, currency: body.currency }
        message_id: body.id
      - when: not (header['x-shopify-topic'] == 'orders/paid')
        event: shop.other
        user_id: body.customer.id
)");
  const Source& shop = *sources.at("shop");
  CHECK(shop.signature().secrets.size() == 2);
  const auto headers = [](const char* topic) {
    return header_object({{"x-shopify-topic", topic}});
  };
  const auto paid = json(R"({"id":55,"total_price":"19.90","currency":"EUR","customer":{"id":3}})");
  const Event order = shop.map(headers("orders/paid"), paid, received(), {});
  CHECK(order.event == "order.completed");
  CHECK(order.user_id == "3");
  CHECK(json(order.properties) == json(R"({"total":"19.90","currency":"EUR"})"));
  CHECK(order.message_id == "55");
  CHECK(shop.map(headers("carts/create"), paid, received(), {}).event == "shop.other");
  // Paid but without a total: neither rule holds.
  CHECK(expect_api_error([&] {
          shop.map(headers("orders/paid"), json(R"({"customer":{"id":3}})"), received(), {});
        }).code == "unmapped");
  // Signed with the old secret: accepted during rotation.
  const std::string body = paid.dump();
  auto signed_headers = headers("orders/paid");
  signed_headers["x-shopify-hmac-sha256"] =
      sign_request(SignatureScheme::kShopify, "old-secret", body, {});
  CHECK(shop.handle(signed_headers, body, received(), {}).event == "order.completed");
}

TEST_CASE("mapping results of the wrong shape are unmapped", "[ingest][sources]") {
  const auto sources = load(R"(
sources:
  s:
    signature: { scheme: hmac-sha256-hex, secret: k, header: x-sig }
    map:
      - event_from: body.kind
        user_id: body.who
        properties: body.data
)");
  const Source& s = *sources.at("s");
  const auto empty = nlohmann::ordered_json::object();
  CHECK(s.map(empty, json(R"({"kind":"k","who":12.0,"data":null})"), received(), {}).user_id ==
        "12");
  CHECK(s.map(empty, json(R"({"kind":"k","who":12.0,"data":null})"), received(), {}).properties ==
        "{}");
  for (const char* body :
       {R"({"kind":"k","who":"","data":{}})", R"({"kind":"k","who":{},"data":{}})",
        R"({"kind":"","who":"w"})", R"({"kind":["k"],"who":"w"})",
        R"({"kind":"k","who":"w","data":[1]})", R"([1,2])"}) {
    INFO(body);
    const ApiError error = expect_api_error([&] { s.map(empty, json(body), received(), {}); });
    CHECK(error.status == 422);
    CHECK(error.code == "unmapped");
  }
}

TEST_CASE("config errors carry line and column", "[ingest][sources]") {
  const auto error_at = [](const std::string& text, int line, int column, const char* words) {
    const SourceConfigError error = config_error(text);
    INFO(error.what());
    CHECK(error.line() == line);
    CHECK(error.column() == column);
    CHECK_THAT(error.what(), Catch::Contains(words));
  };
  error_at(
      "sources:\n  s:\n    signature: { scheme: md5, secret: k }\n    map: [{event: e, user_id: "
      "body.id}]\n",
      3, 26, "scheme");
  error_at(
      "sources:\n  s:\n    signature: { scheme: shopify }\n    map: [{event: e, user_id: "
      "body.id}]\n",
      3, 16, "secret is required");
  error_at(
      "sources:\n  s:\n    signature: { scheme: shopify, secret: \"\" }\n    map: [{event: e, "
      "user_id: body.id}]\n",
      3, 43, "secret");
  error_at(
      "sources:\n  s:\n    signature: { scheme: hmac-sha256-hex, secret: k }\n    map: [{event: e, "
      "user_id: body.id}]\n",
      3, 16, "header is required");
  error_at(
      "sources:\n  s:\n    signature: { scheme: shopify, secret: k, tolerance: 5m }\n    map: "
      "[{event: e, user_id: body.id}]\n",
      3, 57, "tolerance");
  error_at(
      "sources:\n  s:\n    signature: { scheme: hmac-sha256, secret: k, tolerance: soon }\n    "
      "map: [{event: e, user_id: body.id}]\n",
      3, 61, "duration");
  error_at("sources:\n  s:\n    signature: { scheme: shopify, secret: k }\n    mapping: []\n", 4, 5,
           "unknown key 'mapping'");
  error_at("sources:\n  s:\n    signature: { scheme: shopify, secret: k }\n", 3, 5,
           "map is required");
  error_at("sources:\n  s:\n    signature: { scheme: shopify, secret: k }\n    map: []\n", 4, 10,
           "at least one rule");
  error_at(
      "sources:\n  s:\n    signature: { scheme: shopify, secret: k }\n    map:\n      - event: e\n",
      5, 9, "user_id is required");
  error_at(
      "sources:\n  s:\n    signature: { scheme: shopify, secret: k }\n    map:\n      - user_id: "
      "body.id\n",
      5, 9, "event or event_from");
  error_at(
      "sources:\n  s:\n    signature: { scheme: shopify, secret: k }\n    map:\n      - event: e\n "
      "       event_from: body.t\n        user_id: body.id\n",
      6, 21, "exclude");
  error_at(
      "sources:\n  s:\n    signature: { scheme: shopify, secret: k }\n    map:\n      - event: e\n "
      "       user: body.id\n",
      6, 9, "unknown key 'user'");
  // An expression error points into the expression.
  error_at(
      "sources:\n  s:\n    signature: { scheme: shopify, secret: k }\n    map:\n      - event: e\n "
      "       user_id: body.customer.id ==\n",
      6, 37, "user_id");
  error_at(
      "sources:\n  s:\n    signature: { scheme: shopify, secret: k }\n    map:\n      - event: e\n "
      "       user_id: customer.id\n",
      6, 18, "unknown name 'customer'");
  error_at(
      "sources:\n  s:\n    signature: { scheme: shopify, secret: k }\n    map:\n      - event: e\n "
      "       user_id: body.id\n        when: \"header['x' == 'y'\"\n",
      7, 27, "']' expected");
}

TEST_CASE("another expression engine can be plugged in", "[ingest][sources]") {
  // A fake engine: every expression evaluates to its own text.
  struct Echo final : MappingExpr {
    explicit Echo(std::string text) : text_(std::move(text)) {}
    nlohmann::ordered_json eval(const nlohmann::ordered_json&,
                                const nlohmann::ordered_json&) const override {
      return text_ == "yes" ? nlohmann::ordered_json(true) : nlohmann::ordered_json(text_);
    }
    std::string text_;
  };
  int compiled = 0;
  const MappingExprFactory factory = [&](std::string_view text) {
    ++compiled;
    if (text == "bad") throw std::invalid_argument("cannot parse");
    return std::make_unique<const Echo>(std::string(text));
  };
  const auto node = YAML::Load(
      "signature: { scheme: shopify, secret: k }\nmap:\n  - when: yes\n    event_from: e1\n    "
      "user_id: u1\n");
  const auto source = parse_source("echo", node, factory);
  CHECK(compiled == 3);
  const Event event = source->map({}, {}, received(), {});
  CHECK(event.event == "e1");
  CHECK(event.user_id == "u1");
  try {
    parse_source(
        "echo",
        YAML::Load(
            "signature: { scheme: shopify, secret: k }\nmap:\n  - event: e\n    user_id: bad\n"),
        factory);
    FAIL("no error");
  } catch (const SourceConfigError& error) {
    CHECK(error.line() == 4);
    CHECK(error.column() == 14);
    CHECK_THAT(error.what(), Catch::Contains("cannot parse"));
  }
}

TEST_CASE("the built-in expressions", "[ingest][sources]") {
  const auto header = json(R"({"x-topic":"a/b","x":"1"})");
  const auto body = json(R"({"a":{"b":[10,{"c":"deep"}],"n":3,"t":true},"k-1":"dash","z":null})");
  const auto eval = [&](const char* text) {
    return compile_builtin_expr(text)->eval(header, body);
  };
  CHECK(eval("body") == body);
  CHECK(eval("body.a.n") == 3);
  CHECK(eval("body.a.b[1].c") == "deep");
  CHECK(eval("body['k-1']") == "dash");
  CHECK(eval("header['x-topic']") == "a/b");
  CHECK(eval("header.x") == "1");
  CHECK(eval("body.missing.deeper").is_null());
  CHECK(eval("body.a.b[9]").is_null());
  CHECK(eval("body.a.n.x").is_null());
  CHECK(eval("header['x-topic'] == 'a/b'") == true);
  CHECK(eval("header['x-topic'] == \"a/c\"") == false);
  CHECK(eval("body.a.n == 3") == true);
  CHECK(eval("body.a.n != 3") == false);
  CHECK(eval("body.a.t == true and body.a.n == 3") == true);
  CHECK(eval("body.a.t == false or body.a.n == 3") == true);
  CHECK(eval("not (body.a.n == 3)") == false);
  CHECK(eval("body.z == null") == true);
  CHECK(eval("body.missing == null") == true);
  CHECK(eval("body.a != null") == true);
  CHECK(eval("body.missing != 'x'") == false);  // comparisons with null are false
  CHECK(eval("body.missing == 'x'") == false);
  CHECK(eval("'it\\'s'") == "it's");
  CHECK(eval("-1.5") == -1.5);
  for (const char* bad : {"", "body.", "body[", "body['x'", "'open", "body ==", "foo.bar",
                          "body.a b", "(body", "body[-1]", "body == == 1"}) {
    INFO(bad);
    CHECK_THROWS_AS(compile_builtin_expr(bad), MappingExprError);
  }
}

TEST_CASE("durations", "[ingest][sources]") {
  using namespace std::chrono;
  CHECK(parse_duration("5m") == minutes(5));
  CHECK(parse_duration("300") == seconds(300));
  CHECK(parse_duration("45s") == seconds(45));
  CHECK(parse_duration("1h30m") == minutes(90));
  CHECK(parse_duration("2d") == hours(48));
  CHECK(parse_duration("500ms") == milliseconds(500));
  for (const char* bad : {"", "m", "5x", "-5m", "5 m", "1.5h", "5m3"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration(bad));
  }
}
