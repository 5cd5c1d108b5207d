// POST /v1/workflows/reload and SIGHUP on the binary (api.md "Workflows"): valid files
// replace their old versions, runs in flight finish on the version they started with, an
// invalid file is reported with its line and column and never replaces a valid one.
#include <chrono>
#include <csignal>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/herald_process.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/temp_dir.hpp"

using namespace herald::test;
using Json = nlohmann::json;

namespace {

const char* kTemplate = R"(template: note
email:
  subject: "Note {{ data.n | default: 1 }}"
  text: "Hello"
)";

std::string workflow(const std::string& id, const std::string& event, const std::string& wait) {
  return "workflow: " + id + "\ntrigger:\n  event: " + event + "\nsteps:\n  - wait: " + wait +
         "\n  - send: { template: note, channel: email }\n";
}

Json workflows_of(const HeraldProcess& herald) {
  auto r = herald.get("/v1/workflows", kAdminKey);
  REQUIRE(r.status == 200);
  const auto body = Json::parse(r.body);
  Json out = Json::object();
  for (const auto& item : body["items"]) out[item["id"].get<std::string>()] = item;
  return out;
}

Json reload(const HeraldProcess& herald) {
  auto r = herald.post("/v1/workflows/reload", "", kAdminKey);
  INFO(r.body);
  REQUIRE(r.status == 200);
  return Json::parse(r.body);
}

void track(const HeraldProcess& herald, const std::string& user, const std::string& event) {
  auto r = http(herald.port(), "POST", "/v1/track",
                Json{{"userId", user}, {"event", event}}.dump(),
                {{"Authorization", std::string("Bearer ") + kWriteKey}});
  REQUIRE(r.status == 200);
}

/// The version of the customer's run of `workflow`, once it exists.
std::string run_version(const HeraldProcess& herald, const std::string& customer,
                        const std::string& workflow) {
  std::string version;
  Json last;
  INFO(last.dump());
  REQUIRE(eventually([&] {
    auto r = herald.get("/v1/customers/" + customer, kAdminKey);
    if (r.status != 200) return false;
    last = Json::parse(r.body);
    for (const auto& run : last["runs"])
      if (run["workflow"] == workflow && run["version"].is_string())
        version = run["version"].get<std::string>();
    return !version.empty();
  }));
  return version;
}

}  // namespace

TEST_CASE("reload replaces valid workflow files, keeps runs on their version, and refuses invalid files") {
  RedisServer redis;
  TempDir content;
  content.write("templates/note.yaml", kTemplate);
  content.write("workflows/one.yaml", workflow("one", "a.happened", "1h"));
  HeraldProcess herald(redis.url(), test_config("workflows_dir: " + content.file("workflows") +
                                                "\ntemplates_dir: " + content.file("templates") + "\n"));
  REQUIRE(herald.wait_ready(200));
  const auto v1 = workflows_of(herald)["one"]["version"].get<std::string>();
  track(herald, "c-1", "a.happened");
  CHECK(run_version(herald, "c-1", "one") == v1);

  // An edited file, a new valid file and a new invalid one.
  content.write("workflows/one.yaml", workflow("one", "a.happened", "2h"));
  content.write("workflows/two.yaml", workflow("two", "b.happened", "1h"));
  content.write("workflows/three.yaml", "workflow: three\ntrigger:\n  event: c\nsteps:\n  - wiat: 1h\n");
  auto report = reload(herald);
  INFO(report.dump());
  CHECK(report["loaded"] == Json::array({"one", "two"}));
  REQUIRE(report["errors"].size() >= 1);
  CHECK(report["errors"][0]["file"] == "three.yaml");
  CHECK(report["errors"][0]["line"] == 5);
  CHECK(report["errors"][0]["column"] == 5);
  CHECK_THAT(report["errors"][0]["message"].get<std::string>(), Catch::Contains("wait"));

  auto listed = workflows_of(herald);
  const auto v2 = listed["one"]["version"].get<std::string>();
  CHECK(v2 != v1);
  CHECK(listed.contains("two"));
  CHECK_FALSE(listed.contains("three"));
  // The run in flight stays on v1; a new run starts on v2; the new workflow runs.
  CHECK(run_version(herald, "c-1", "one") == v1);
  track(herald, "c-2", "a.happened");
  CHECK(run_version(herald, "c-2", "one") == v2);
  track(herald, "c-3", "b.happened");
  run_version(herald, "c-3", "two");

  // A broken edit of a valid file never replaces it.
  content.write("workflows/one.yaml", "workflow: one\ntrigger: [\n");
  report = reload(herald);
  REQUIRE(report["errors"].size() >= 1);
  bool named = false;
  for (const auto& e : report["errors"]) named |= e["file"] == "one.yaml";
  CHECK(named);
  CHECK(workflows_of(herald)["one"]["version"] == v2);
  track(herald, "c-4", "a.happened");
  CHECK(run_version(herald, "c-4", "one") == v2);

  // A broken template keeps every template as it was (the send still renders).
  content.write("templates/note.yaml", "template: note\nemail:\n  subject: \"{{ unclosed\"\n");
  report = reload(herald);
  bool template_named = false;
  for (const auto& e : report["errors"]) template_named |= e["file"] == "note.yaml";
  CHECK(template_named);
  auto preview = herald.post("/v1/templates/note/preview", R"({"channel": "email"})", kAdminKey);
  CHECK(preview.status == 200);

  // SIGHUP does the same: the fixed file is taken.
  content.write("templates/note.yaml", kTemplate);
  content.write("workflows/one.yaml", workflow("one", "a.happened", "3h"));
  content.write("workflows/three.yaml", workflow("three", "c.happened", "1h"));
  herald.process().signal(SIGHUP);
  REQUIRE(eventually([&] {
    auto now = workflows_of(herald);
    return now.contains("three") && now["one"]["version"] != v2;
  }));
  CHECK(herald.running());
  CHECK(herald.post("/v1/workflows/reload", "", kWriteKey).status == 403);
}

TEST_CASE("a schedule workflow's cron timer is written at start-up, before any event") {
  RedisServer redis;
  TempDir content;
  content.write("templates/note.yaml", kTemplate);
  content.write("workflows/segments.yaml", "segments:\n  everyone: customer.id != null\n");
  content.write("workflows/weekly.yaml",
                "workflow: weekly\ntrigger:\n  schedule: { cron: \"0 9 * * MON\", segment: everyone }\n"
                "steps:\n  - send: { template: note, channel: email }\n");
  HeraldProcess herald(redis.url(), test_config("workflows_dir: " + content.file("workflows") +
                                                "\ntemplates_dir: " + content.file("templates") + "\n"));
  REQUIRE(herald.wait_ready(200));
  // No event has arrived: the timer is there all the same, once, in a timer bucket.
  auto cron_members = [&] {
    int found = 0;
    std::istringstream keys(redis.cli({"--scan", "--pattern", "herald:tm:*:*"}));
    for (std::string key; std::getline(keys, key);) {
      auto members = redis.cli({"ZRANGE", key, "0", "-1"});
      for (std::size_t at = members.find("cron|weekly"); at != std::string::npos;
           at = members.find("cron|weekly", at + 1))
        ++found;
    }
    return found;
  };
  CHECK(eventually([&] { return cron_members() == 1; }));
  // A restart does not add a second one.
  herald.stop();
  herald.start();
  REQUIRE(herald.wait_ready(200));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(cron_members() == 1);
}
