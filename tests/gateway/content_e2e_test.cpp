// Templates and workflows through the binary: start-up checks, preview, validate,
// `herald lint` and `herald render`.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/herald_process.hpp"
#include "tests/support/redis_server.hpp"

using namespace herald::test;
using Json = nlohmann::json;

namespace {

const std::string kExamples = std::string("workflows_dir: ") + HERALD_SOURCE_DIR +
                              "/workflows/examples\ntemplates_dir: " + HERALD_SOURCE_DIR +
                              "/templates/examples\n";

HttpResponse post_admin(const HeraldProcess& h, const std::string& path, const std::string& body,
                        const std::string& key = kAdminKey) {
  return http(h.port(), "POST", path, body, {{"Authorization", "Bearer " + key}});
}

}  // namespace

TEST_CASE("template preview renders a channel's section for the admin key") {
  RedisServer redis;
  HeraldProcess herald(redis.url(), test_config(kExamples));
  std::string body = R"({"channel": "sms", "context": {"customer": {"id": "c1", "first_name": "Asha"},
      "event": {"name": "cart.updated", "properties": {"cart_url": "https://shop.example/c/1"}}}})";
  auto ok = post_admin(herald, "/v1/templates/cart_reminder/preview", body);
  INFO(ok.body);
  REQUIRE(ok.status == 200);
  auto j = Json::parse(ok.body);
  CHECK_THAT(j["body"].get<std::string>(), Catch::StartsWith("Asha, your cart is waiting: https://shop.example/c/1"));
  CHECK(j["encoding"] == "GSM-7");
  CHECK(j["segments"] == 1);

  auto french = post_admin(herald, "/v1/templates/cart_reminder/preview",
                           R"({"channel": "email", "locale": "fr-CA", "context": {"customer": {"first_name": "Zoé"}}})");
  REQUIRE(french.status == 200);
  CHECK(Json::parse(french.body).contains("subject"));

  CHECK(post_admin(herald, "/v1/templates/cart_reminder/preview", body, "wrong").status == 401);
  CHECK(post_admin(herald, "/v1/templates/cart_reminder/preview", body, kWriteKey).status == 403);
  CHECK(http(herald.port(), "POST", "/v1/templates/cart_reminder/preview", body).status == 401);
  auto missing = post_admin(herald, "/v1/templates/no_such/preview", body);
  CHECK(missing.status == 404);
  CHECK(Json::parse(missing.body)["error"]["code"] == "not_found");
  auto bad = post_admin(herald, "/v1/templates/cart_reminder/preview", "{not json");
  CHECK(bad.status == 400);
  CHECK(Json::parse(bad.body)["error"]["code"] == "invalid_json");
  auto no_channel = post_admin(herald, "/v1/templates/cart_reminder/preview", R"({"channel": "fax"})");
  CHECK(no_channel.status == 400);
  CHECK(Json::parse(no_channel.body)["error"]["field"] == "channel");
}

TEST_CASE("template preview reports render-time limits as 422 with line and column") {
  TempDir templates;
  templates.write("loop.yaml",
                  "template: loop\nsms:\n  body: \"{% for i in (1..100) %}{% for j in (1..100) %}x{% endfor %}{% endfor %}\"\n");
  RedisServer redis;
  HeraldProcess herald(redis.url(), test_config("templates_dir: " + templates.path() +
                                                "\ntemplates:\n  max_iterations: 50\n"));
  auto r = post_admin(herald, "/v1/templates/loop/preview", R"({"channel": "sms", "context": {}})");
  INFO(r.body);
  CHECK(r.status == 422);
  auto j = Json::parse(r.body);
  CHECK(j["error"]["code"] == "template_error");
  CHECK(j["error"]["line"] == 3);
  CHECK(j["error"]["column"].get<int>() > 1);
}

TEST_CASE("workflow validation answers valid or every error with its line and column") {
  RedisServer redis;
  HeraldProcess herald(redis.url(), test_config(kExamples));
  auto valid = post_admin(herald, "/v1/workflows/validate",
                          "workflow: ok\ntrigger:\n  event: order.completed\nsteps:\n"
                          "  - send: { template: review_request, channels: [email] }\n");
  INFO(valid.body);
  CHECK(valid.status == 200);
  CHECK(Json::parse(valid.body)["valid"] == true);

  auto invalid = post_admin(herald, "/v1/workflows/validate",
                            "workflow: broken\ntrigger:\n  event: order.completed\nsteps:\n"
                            "  - send: { template: no_such_template, channels: [email] }\n"
                            "  - wiat: 1h\n");
  INFO(invalid.body);
  CHECK(invalid.status == 422);
  auto j = Json::parse(invalid.body);
  CHECK(j["valid"] == false);
  REQUIRE(j["errors"].size() >= 2);
  bool template_error = false, typo = false;
  for (const auto& e : j["errors"]) {
    if (e["line"] == 5 && e["message"].get<std::string>().find("no_such_template") != std::string::npos)
      template_error = true;
    if (e["line"] == 6 && e["column"] == 5 &&
        e["message"].get<std::string>().find("did you mean") != std::string::npos)
      typo = true;
  }
  CHECK(template_error);
  CHECK(typo);
}

TEST_CASE("a workflow or template with errors stops start-up with its file, line and column") {
  TempDir dir;
  dir.write("workflows/bad.yaml", "workflow: bad\ntrigger:\n  event: x\nsteps:\n  - wait: soon\n");
  dir.write("templates/t.yaml", "template: t\nsms:\n  body: \"{{ x | nofilter }}\"\n");
  dir.write("herald.yaml", "server: { listen: 127.0.0.1:0 }\nredis: { url: redis://127.0.0.1:1 }\n"
                           "workflows_dir: " + dir.file("workflows") + "\ntemplates_dir: " +
                           dir.file("templates") + "\n");
  auto [code, out] = run_herald({"serve", "--config", dir.file("herald.yaml")});
  CHECK(code == 1);
  CHECK_THAT(out, Catch::Contains(dir.file("templates/t.yaml") + ":3:"));
  CHECK_THAT(out, Catch::Contains("nofilter"));
}

TEST_CASE("herald lint checks the shipped examples clean and reports findings as FILE:LINE:COLUMN") {
  auto [code, out] = run_herald({"lint", HERALD_SOURCE_DIR "/workflows/examples",
                                 HERALD_SOURCE_DIR "/templates/examples", "--config",
                                 HERALD_SOURCE_DIR "/config/herald.yaml"},
                                HERALD_SOURCE_DIR);
  INFO(out);
  CHECK(code == 0);

  TempDir dir;
  dir.write("w.yaml", "workflow: w\ntrigger:\n  event: x\nsteps:\n  - wait: 1h\n    colour: red\n");
  auto [bad_code, bad_out] = run_herald({"lint", dir.file("w.yaml")});
  CHECK(bad_code == 1);
  CHECK_THAT(bad_out, Catch::Contains(dir.file("w.yaml") + ":6:5: error: "));
}

TEST_CASE("herald render prints the preview JSON or one raw field") {
  TempDir dir;
  dir.write("ctx.json", R"({"customer": {"id": "c1", "first_name": "Asha"},
      "event": {"name": "cart.updated", "properties": {"cart_url": "https://s.example/1"}}})");
  auto [code, out] = run_herald({"render", "cart_reminder", "--channel", "sms", "--context",
                                 dir.file("ctx.json"), "--config",
                                 HERALD_SOURCE_DIR "/config/herald.yaml"},
                                HERALD_SOURCE_DIR);
  INFO(out);
  REQUIRE(code == 0);
  CHECK(Json::parse(out)["encoding"] == "GSM-7");
  auto [field_code, body] = run_herald({"render", "cart_reminder", "--channel", "sms", "--context",
                                        dir.file("ctx.json"), "--field", "body", "--config",
                                        HERALD_SOURCE_DIR "/config/herald.yaml"},
                                       HERALD_SOURCE_DIR);
  CHECK(field_code == 0);
  CHECK_THAT(body, Catch::StartsWith("Asha, your cart is waiting: https://s.example/1"));
  CHECK(run_herald({"render", "cart_reminder"}).first == 2);
}

TEST_CASE("herald lint --strict reports template variables that no sample context defines") {
  TempDir dir;
  dir.write("t/hello.yaml",
            "template: hello\nsms:\n  body: \"Hi {{ customer.first_name }} {{ customer.nickname }}, "
            "{% for i in event.properties.items %}{{ i.name }}{% endfor %} {{ now }}\"\n");
  dir.write("t/samples/one.json",
            R"({"customer": {"first_name": "Ann"}, "event": {"properties": {"items": []}}})");
  auto [code, out] = run_herald({"lint", "--strict", dir.file("t")});
  INFO(out);
  CHECK(code == 1);
  CHECK_THAT(out, Catch::Contains(dir.file("t/hello.yaml") + ":3:") &&
                      Catch::Contains("warning: no sample context defines customer.nickname"));
  CHECK_THAT(out, !Catch::Contains("first_name") && !Catch::Contains("i.name") &&
                      !Catch::Contains("defines now"));
  // Without --strict the same folder passes; with the variable in a sample, so does --strict.
  CHECK(run_herald({"lint", dir.file("t")}).first == 0);
  dir.write("t/samples/two.json", R"({"customer": {"nickname": "Annie"}})");
  CHECK(run_herald({"lint", "--strict", dir.file("t")}).first == 0);
}
