// The command line of config.md.
#include <catch2/catch.hpp>

#include "tests/support/herald_process.hpp"

using namespace herald::test;

TEST_CASE("herald version prints the version and its libraries") {
  auto [code, out] = run_herald({"version"});
  CHECK(code == 0);
  CHECK_THAT(out, Catch::StartsWith("herald 0."));
  CHECK_THAT(out, Catch::Contains("boost 1.74"));
  CHECK_THAT(out, Catch::Contains("hiredis"));
  CHECK_THAT(out, Catch::Contains("simdjson"));
}

TEST_CASE("--help exits 0, bad usage exits 2") {
  CHECK(run_herald({"--help"}).first == 0);
  CHECK_THAT(run_herald({"--help"}).second, Catch::Contains("serve"));
  CHECK(run_herald({"serve", "--help"}).first == 0);
  CHECK(run_herald({"no-such-command"}).first == 2);
  CHECK(run_herald({}).first == 2);
  CHECK(run_herald({"serve", "--bogus"}).first == 2);
}

TEST_CASE("config errors stop start-up with file, line and column") {
  TempDir dir;
  dir.write("bad.yaml", "server:\n  listen: 127.0.0.1:0\n  thread: 2\n");
  auto [code, out] = run_herald({"serve", "--config", dir.file("bad.yaml")});
  CHECK(code == 1);
  CHECK_THAT(out, Catch::Contains(dir.file("bad.yaml") + ":3:3: unknown key \"server.thread\""));

  dir.write("env.yaml", "auth:\n  admin_keys: [\"${HERALD_E2E_UNSET_VAR}\"]\n");
  auto [code2, out2] = run_herald({"serve", "--config", dir.file("env.yaml")});
  CHECK(code2 == 1);
  CHECK_THAT(out2, Catch::Contains(":2:16: ") && Catch::Contains("HERALD_E2E_UNSET_VAR is not set"));

  auto [code3, out3] = run_herald({"serve", "--config", dir.file("missing.yaml")});
  CHECK(code3 == 1);
  CHECK_THAT(out3, Catch::Contains("cannot read"));
}

TEST_CASE("each channel's adapter checks its section at start-up") {
  TempDir dir;
  dir.write("typo.yaml", "server: { listen: 127.0.0.1:0 }\nredis: { url: redis://127.0.0.1:1 }\n"
                         "channels:\n  sms:\n    provider: outbox\n    pth: x.jsonl\n");
  auto [code, out] = run_herald({"serve", "--config", dir.file("typo.yaml")});
  CHECK(code == 1);
  CHECK_THAT(out, Catch::Contains(dir.file("typo.yaml") + ":6:5:") && Catch::Contains("pth"));

  // A provider the config knows but this build has no adapter for yet.
  dir.write("twilio.yaml", "server: { listen: 127.0.0.1:0 }\nredis: { url: redis://127.0.0.1:1 }\n"
                           "channels:\n  sms: { provider: twilio, account_sid: AC1 }\n");
  auto [code2, out2] = run_herald({"serve", "--config", dir.file("twilio.yaml")});
  CHECK(code2 == 1);
  CHECK_THAT(out2, Catch::Contains(dir.file("twilio.yaml") + ":4:") && Catch::Contains("twilio"));
}
