#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "tests/workflows/fake_template_catalog.hpp"
#include "workflows/dsl/parser.hpp"
#include "workflows/lint.hpp"

using namespace herald::workflows;
using herald::expr::Json;

namespace {

namespace fs = std::filesystem;

const testing::FakeTemplateCatalog kCatalog;

// Every finding of one workflow text, formatted as `herald lint` prints them.
std::vector<std::string> lint_text(const std::string& yaml, std::vector<LintInput> more = {}) {
  LintOptions options;
  options.templates = &kCatalog;
  more.insert(more.begin(), LintInput{"wf.yaml", yaml});
  std::vector<std::string> lines;
  for (const auto& f : lint_inputs(more, options)) lines.push_back(format_finding(f));
  return lines;
}

using Lines = std::vector<std::string>;

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("herald-lint-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  fs::path write(const std::string& name, const std::string& text) const {
    auto p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace

TEST_CASE("the example workflows lint clean", "[lint]") {
  LintOptions options;
  options.templates = &kCatalog;
  options.paths = {HERALD_WORKFLOW_EXAMPLES};
  std::ostringstream out;
  options.out = &out;
  options.strict = true;
  CHECK(run_lint(options) == 0);
  CHECK(out.str() == "");

  std::vector<std::string> segments = {"vip", "lapsed_sms", "new_customers"};
  std::map<std::string, std::string> expected_triggers = {
      {"abandoned-cart", "event"}, {"birthday", "date"},        {"win-back", "churn_risk"},
      {"welcome", "event"},        {"review-request", "event"}, {"vip-welcome", "segment"}};
  std::size_t count = 0;
  for (const auto& entry : fs::directory_iterator(HERALD_WORKFLOW_EXAMPLES)) {
    if (entry.path().filename() == "segments.yaml") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    auto result =
        parse_workflow(text.str(), entry.path().string(), ParseOptions{&kCatalog, &segments});
    REQUIRE(result.workflow != nullptr);
    CHECK(trigger_kind(result.workflow->trigger) == expected_triggers.at(result.workflow->id));
    CHECK_FALSE(result.workflow->steps.empty());
    ++count;
  }
  CHECK(count == expected_triggers.size());
}

TEST_CASE("unknown keys, with did-you-mean, at their line and column", "[lint]") {
  CHECK(lint_text(R"(workflow: w
trigger: { event: x }
enabeld: true
steps:
  - send:
      tempalte: cart_reminder
      chanels: [sms]
  - wiat: 1h
  - wait: 1h
    unrelated: 1
)") == Lines{
           "wf.yaml:3:1: error: unknown key 'enabeld' in a workflow (did you mean 'enabled'?)",
           "wf.yaml:5:5: error: send needs a 'template'",
           "wf.yaml:5:5: error: send needs 'channels' (or 'channel')",
           "wf.yaml:6:7: error: unknown key 'tempalte' in send (did you mean 'template'?)",
           "wf.yaml:7:7: error: unknown key 'chanels' in send (did you mean 'channels'?)",
           "wf.yaml:8:5: error: unknown key 'wiat' in a step (did you mean 'wait'?)",
           "wf.yaml:8:5: error: a step needs one of send, wait, wait_until, wait_for, if, split, "
           "update, "
           "webhook, escalate or exit",
           "wf.yaml:10:5: error: unknown key 'unrelated' in a step",
       });
}

TEST_CASE("required keys and the shape of the top level", "[lint]") {
  CHECK(lint_text("name: x\n") == Lines{"wf.yaml:1:1: error: missing 'workflow'",
                                        "wf.yaml:1:1: error: missing 'trigger'",
                                        "wf.yaml:1:1: error: missing 'steps'"});
  CHECK(lint_text("") == Lines{"wf.yaml:1:1: error: the file is empty"});
  CHECK(lint_text("- a\n") == Lines{"wf.yaml:1:1: error: a workflow file is a mapping with "
                                    "'workflow', 'trigger' and 'steps'"});
  CHECK(lint_text("workflow: Big_One\ntrigger: { event: x }\nsteps: [ { wait: 1h } ]\n") ==
        Lines{"wf.yaml:1:11: error: workflow id 'Big_One' may only hold a-z, 0-9 and '-'"});
  CHECK(lint_text("workflow: w\nworkflow: v\ntrigger: { event: x }\nsteps: [ { wait: 1h } ]\n") ==
        Lines{"wf.yaml:2:1: error: duplicate key 'workflow' (first at line 1)"});
  CHECK(lint_text("workflow: w\nenabled: yes\ntrigger: { event: x }\nsteps: [ { wait: 1h } ]\n") ==
        Lines{"wf.yaml:2:10: error: 'enabled' must be true or false, not 'yes'"});
  CHECK(lint_text("workflow: w\ntrigger: { event: x }\nsteps: []\n") ==
        Lines{"wf.yaml:3:8: warning: the workflow has no steps"});
}

TEST_CASE("YAML syntax errors", "[lint]") {
  CHECK(lint_text("workflow: w\ntrigger: { event: x\nsteps: []\n") ==
        Lines{"wf.yaml:3:6: error: YAML syntax error: end of map flow not found"});
}

TEST_CASE("triggers", "[lint]") {
  CHECK(lint_text("workflow: w\ntrigger: { event: a, date: customer.birthday }\nsteps: [ { wait: "
                  "1h } ]\n") == Lines{"wf.yaml:2:22: error: a workflow has exactly one trigger: "
                                       "found both 'event' and 'date'"});
  CHECK(lint_text("workflow: w\ntrigger: { date: customer.birthday }\nsteps: [ { wait: 1h } ]\n") ==
        Lines{"wf.yaml:2:1: error: a 'date' trigger needs 'at' (\"HH:MM\", the customer's local "
              "time)"});
  CHECK(lint_text("workflow: w\ntrigger: { evnt: a }\nsteps: [ { wait: 1h } ]\n") ==
        Lines{"wf.yaml:2:1: error: the trigger needs one of event, date, inactive, churn_risk, "
              "segment or schedule",
              "wf.yaml:2:12: error: unknown key 'evnt' in trigger (did you mean 'event'?)"});
  CHECK(lint_text("workflow: w\ntrigger: { date: birthday, at: \"9am\", offset: 1x }\nsteps: [ { "
                  "wait: 1h } ]\n") ==
        Lines{"wf.yaml:2:18: error: 'date' names a date trait as customer.TRAIT, like "
              "customer.birthday",
              "wf.yaml:2:32: error: bad time of day '9am' for 'at': expected \"HH:MM\" (24-hour)",
              "wf.yaml:2:47: error: bad duration '1x' for 'offset': expected a number and a unit "
              "s, m, h, d "
              "or w, like 30s, 15m, 1h, 2d, 1w"});
  CHECK(lint_text(
            "workflow: w\ntrigger: { churn_risk: { above: 1.5 } }\nsteps: [ { wait: 1h } ]\n") ==
        Lines{"wf.yaml:2:33: error: 'above' is a churn risk between 0 and 1 (exclusive)"});
  CHECK(
      lint_text(
          "workflow: w\ntrigger: { inactive: { event: app.opened } }\nsteps: [ { wait: 1h } ]\n") ==
      Lines{"wf.yaml:2:12: error: inactive needs 'for'"});
  CHECK(
      lint_text("workflow: w\ntrigger:\n  segment: { enters: vip }\n  where: x\nsteps: [ { wait: "
                "1h } ]\n") ==
      Lines{"wf.yaml:3:22: error: unknown segment 'vip' (no segments are defined in segments.yaml)",
            "wf.yaml:4:3: error: 'where' belongs to an 'event' trigger"});
  CHECK(lint_text("workflow: w\ntrigger:\n  event: x\n  where: run.variant == 'a'\nsteps: [ { "
                  "wait: 1h } ]\n") == Lines{"wf.yaml:4:10: error: 'run' is not available here: a "
                                             "trigger's where sees event, customer and now"});
}

TEST_CASE("segments referred to by triggers", "[lint]") {
  LintInput segments{"segments.yaml", "segments:\n  vip: customer.stats.revenue > 1000\n"};
  CHECK(lint_text("workflow: w\ntrigger: { segment: { enters: vip } }\nsteps: [ { wait: 1h } ]\n",
                  {segments})
            .empty());
  CHECK(lint_text("workflow: w\ntrigger: { segment: { enters: vpi } }\nsteps: [ { wait: 1h } ]\n",
                  {segments}) ==
        Lines{"wf.yaml:2:31: error: unknown segment 'vpi' (did you mean 'vip'?)"});
  CHECK(lint_text("workflow: w\ntrigger:\n  schedule: { cron: \"0 9 * * MON\", segment: lapsed "
                  "}\nsteps: [ { wait: 1h } ]\n",
                  {segments}) == Lines{"wf.yaml:3:45: error: unknown segment 'lapsed'"});
  CHECK(lint_text("workflow: w\ntrigger:\n  schedule: { cron: \"0 9 * * MOX\", segment: vip "
                  "}\nsteps: [ { wait: 1h } ]\n",
                  {segments}) == Lines{"wf.yaml:3:30: error: bad day of week 'MOX'"});
  CHECK(lint_text("workflow: w\ntrigger:\n  schedule: { cron: 0 9 * *, segment: vip }\nsteps: [ { "
                  "wait: 1h } ]\n",
                  {segments}) == Lines{"wf.yaml:3:21: error: a cron schedule has 5 fields (minute "
                                       "hour day-of-month month day-of-week), not 4"});
}

TEST_CASE("unknown templates and channels", "[lint]") {
  CHECK(lint_text(R"(workflow: w
trigger: { event: x }
steps:
  - send: { template: cart_remindr, channels: [email] }
  - send: { template: welcome_1, channels: [emial, whatsapp, sms, sms] }
  - send: { template: cart_reminder, channel: wechat }
  - send: { template: cart_reminder, channel: pigeon }
  - send: { template: cart_reminder, channel: sms, channels: [sms] }
)") == Lines{
           "wf.yaml:4:23: error: unknown template 'cart_remindr' (did you mean 'cart_reminder'?)",
           "wf.yaml:5:45: error: unknown channel 'emial' (did you mean 'email'?); channels are "
           "email, sms, "
           "whatsapp, wechat and social",
           "wf.yaml:5:52: error: template 'welcome_1' has no whatsapp section",
           "wf.yaml:5:67: warning: channel 'sms' is listed twice",
           "wf.yaml:7:47: error: unknown channel 'pigeon'; channels are email, sms, whatsapp, "
           "wechat and social",
           "wf.yaml:8:38: error: use either 'channels' or 'channel', not both",
       });
}

TEST_CASE("inline templates are checked by the catalog", "[lint]") {
  CHECK(lint_text(R"(workflow: w
trigger: { event: x }
steps:
  - send:
      template: welcome_1
      channels: [email]
      data: { code: "A-{% bad %}" }
  - escalate: { reason: r, note: '{% bad' }
)") == Lines{"wf.yaml:7:24: error: unknown tag 'bad'", "wf.yaml:8:35: error: unknown tag 'bad'"});
}

TEST_CASE("expression errors point inside the YAML scalar", "[lint]") {
  // Plain scalar: columns follow the mark.
  CHECK(lint_text("workflow: w\ntrigger: { event: x }\nsteps:\n  - if: customer.stats.orders >\n   "
                  " then: []\n") ==
        Lines{"wf.yaml:4:32: error: expected a value, found end of expression"});
  // Quoted scalar: one more for the quote; doubled single quotes count once.
  CHECK(lint_text("workflow: w\ntrigger: { event: x }\nsteps:\n  - if: 'customer.id == ''a'' and "
                  "custmer.x'\n    then: []\n") ==
        Lines{"wf.yaml:4:35: error: unknown name 'custmer' (did you mean 'customer'?)"});
  CHECK(lint_text("workflow: w\ntrigger: { event: x }\nsteps:\n  - if: \"customer.id == \\\"a\\\" "
                  "and 1 +\"\n    then: []\n") ==
        Lines{"wf.yaml:4:38: error: expected a value, found end of expression"});
  // Block scalar: the expression's second line is the file's next line.
  CHECK(lint_text("workflow: w\ntrigger: { event: x }\nsteps:\n  - if: |\n      customer.vip == "
                  "true\n        and upper(customer.stats.orders) == 'A'\n    then: []\n") ==
        Lines{"wf.yaml:6:19: error: upper() cannot take a number"});
  // Plain scalar folded over two lines.
  CHECK(lint_text("workflow: w\ntrigger: { event: x }\nsteps:\n  - if: customer.vip == true\n      "
                  "and lowr(customer.id) == 'a'\n    then: []\n") ==
        Lines{"wf.yaml:5:11: error: unknown function 'lowr' (did you mean 'lower'?)"});
}

TEST_CASE("expression types where they are known", "[lint]") {
  CHECK(
      lint_text(R"(workflow: w
trigger:
  event: x
  where: customer.stats.orders > 'many'
exit_when:
  - event: y
    where: customer.stats.orders
goal: { event: z, where: customer.stats.ordrs > 1 }
steps:
  - if: customer.consent.sms == 1
    then: [ { wait: 1h } ]
  - update: { set: { total: customer.stats.revenue + 'x' } }
)") ==
      Lines{
          "wf.yaml:4:10: error: '>' cannot compare a number with a string",
          "wf.yaml:7:12: error: the condition is a number, not true or false",
          "wf.yaml:8:26: warning: unknown field 'ordrs' of customer.stats (did you mean 'orders'?)",
          "wf.yaml:10:9: warning: '==' between a string and a number is never true",
          "wf.yaml:12:29: error: '+' cannot combine a number and a string",
      });
}

TEST_CASE("unreachable steps", "[lint]") {
  CHECK(
      lint_text(R"(workflow: w
trigger: { event: x }
steps:
  - if: customer.vip == true
    then:
      - exit: vip
      - wait: 1h
      - wait: 2h
    else:
      - exit: regular
  - wait: 1d
  - split:
      variants:
        - { name: a, steps: [ { exit: a } ] }
)") ==
      Lines{
          "wf.yaml:7:9: warning: unreachable step steps[0].then[1]: every path before it ends with "
          "'exit'",
          "wf.yaml:11:5: warning: unreachable step steps[1]: every path before it ends with 'exit'",
      });
  // An if without else, or a split with one variant that continues, falls through.
  CHECK(lint_text(R"(workflow: w
trigger: { event: x }
steps:
  - if: customer.vip == true
    then: [ { exit: vip } ]
  - split:
      variants:
        - { name: a, steps: [ { exit: a } ] }
        - { name: b, steps: [] }
  - wait_for: { event: y, timeout: 1h }
    on_event: [ { exit: y } ]
  - wait: 1d
)")
            .empty());
}

TEST_CASE("durations", "[lint]") {
  CHECK(lint_text(R"(workflow: w
trigger: { event: x }
entry: { cooldown: 1 }
goal: { event: y, within: -2d }
steps:
  - wait: 1y
  - wait_for: { event: y, timeout: soon }
  - wait:
)") == Lines{
           "wf.yaml:3:20: error: bad duration '1' for 'cooldown': expected a number and a unit s, "
           "m, h, d or "
           "w, like 30s, 15m, 1h, 2d, 1w",
           "wf.yaml:4:27: error: 'within' must not be negative",
           "wf.yaml:6:11: error: bad duration '1y' for 'wait': expected a number and a unit s, m, "
           "h, d or w, "
           "like 30s, 15m, 1h, 2d, 1w",
           "wf.yaml:7:36: error: bad duration 'soon' for 'timeout': expected a number and a unit "
           "s, m, h, d "
           "or w, like 30s, 15m, 1h, 2d, 1w",
           "wf.yaml:8:5: error: bad duration nothing for 'wait': expected a number and a unit s, "
           "m, h, d or "
           "w, like 30s, 15m, 1h, 2d, 1w",
       });
}

TEST_CASE("step ids, splits and the other steps", "[lint]") {
  CHECK(lint_text(R"(workflow: w
trigger: { event: x }
steps:
  - id: first
    wait: 1h
  - id: first
    wait: 2h
  - id: "not ok"
    wait: 1h
  - split:
      variants:
        - { name: a, weight: 0 }
        - { name: a, weight: 0 }
  - split: { variants: [ { name: x, weight: -1 } ] }
  - update: { set: { stats: 1, tier: gold } }
  - webhook: { url: "ftp://x", method: FETCH }
  - escalate: { note: hi }
  - wait_until: { at: "7:00", days: [mon, fry] }
  - if: customer.vip == true
  - wait: 1h
    then: []
  - send: { template: welcome_1, channels: [email] }
    exit: done
)") == Lines{
           "wf.yaml:6:9: error: duplicate step id 'first' (first at line 4)",
           "wf.yaml:8:9: error: step id 'not ok' may only hold letters, digits, '_' and '-'",
           "wf.yaml:12:9: error: the weights of a split must add up to more than 0",
           "wf.yaml:13:19: error: duplicate variant name 'a'",
           "wf.yaml:14:45: error: a weight must be zero or more",
           "wf.yaml:15:22: error: 'stats' cannot be set: Herald maintains it",
           "wf.yaml:15:38: error: unknown name 'gold' (for a string, write 'gold' in quotes)",
           "wf.yaml:16:21: error: a webhook url starts with http:// or https://",
           "wf.yaml:16:40: error: unknown method 'FETCH'; use GET, POST, PUT, PATCH or DELETE",
           "wf.yaml:17:5: error: escalate needs a 'reason'",
           "wf.yaml:18:23: error: bad time of day '7:00' for 'at': expected \"HH:MM\" (24-hour)",
           "wf.yaml:18:43: error: unknown day 'fry' (did you mean 'fri'?); days are mon, tue, wed, "
           "thu, fri, "
           "sat and sun",
           "wf.yaml:19:5: error: 'if' needs 'then'",
           "wf.yaml:21:5: error: 'then' belongs to an 'if' step",
           "wf.yaml:23:5: error: a step has one action: found both 'send' and 'exit'",
       });
}

TEST_CASE("duplicate workflow ids across files", "[lint]") {
  LintOptions options;
  auto findings = lint_inputs(
      {{"a.yaml", "workflow: same\ntrigger: { event: x }\nsteps: [ { wait: 1h } ]\n"},
       {"b.yaml", "# another\nworkflow: same\ntrigger: { event: y }\nsteps: [ { wait: 1h } ]\n"}},
      options);
  REQUIRE(findings.size() == 1);
  CHECK(format_finding(findings[0]) ==
        "b.yaml:2:11: error: duplicate workflow id 'same' (also in a.yaml:1)");
}

TEST_CASE("template files go to the templates linter", "[lint]") {
  LintOptions options;
  bool strict_seen = false;
  options.strict = true;
  options.lint_template = [&](const std::string& file, std::string_view text, bool strict) {
    strict_seen = strict;
    return std::vector<Finding>{{file, 2, 3, Severity::kWarning, "unknown variable"}};
  };
  auto findings = lint_inputs({{"t.yaml", "template: x\nsms: { body: hi }\n"}}, options);
  REQUIRE(findings.size() == 1);
  CHECK(format_finding(findings[0]) == "t.yaml:2:3: warning: unknown variable");
  CHECK(strict_seen);
  CHECK(lint_inputs({{"t.yaml", "template: x\n"}}, LintOptions{}).empty());
}

TEST_CASE("herald lint over files and folders", "[lint]") {
  TempDir dir;
  dir.write("flows/segments.yaml", "segments:\n  vip: customer.stats.revenue > 1000\n");
  dir.write("flows/good.yaml",
            "workflow: good\ntrigger: { segment: { enters: vip } }\nsteps: [ { wait: 1h } ]\n");
  dir.write("flows/nested/warn.yaml",
            "workflow: warn\ntrigger: { event: x }\nsteps: [ { exit: a }, { wait: 1h } ]\n");
  dir.write("flows/notes.txt", "not yaml: [\n");
  auto bad =
      dir.write("bad.yaml", "workflow: bad\ntrigger: { event: x }\nsteps: [ { wait: 1y } ]\n");

  auto run = [&](std::vector<std::string> paths, bool strict, std::string& output) {
    LintOptions options;
    options.paths = std::move(paths);
    options.strict = strict;
    std::ostringstream out;
    options.out = &out;
    int code = run_lint(options);
    output = out.str();
    return code;
  };
  std::string output;
  std::string flows = (dir.path() / "flows").string();
  std::string warn_line =
      (dir.path() / "flows/nested/warn.yaml").lexically_normal().generic_string() +
      ":3:23: warning: unreachable step steps[1]: every path before it ends with 'exit'\n";
  CHECK(run({flows}, false, output) == 0);
  CHECK(output == warn_line);
  CHECK(run({flows}, true, output) == 1);  // --strict: warnings fail
  CHECK(output == warn_line);
  // A workflow given alone still sees the segments.yaml beside it.
  CHECK(run({(dir.path() / "flows/good.yaml").string()}, true, output) == 0);
  CHECK(output.empty());
  CHECK(run({bad.string()}, false, output) == 1);
  CHECK(output.find("bad.yaml:3:18: error: bad duration '1y'") != std::string::npos);
  CHECK(run({(dir.path() / "missing.yaml").string()}, false, output) == 1);
  CHECK(output.find("missing.yaml:1:1: error: no such file or directory") != std::string::npos);
}

TEST_CASE("POST /v1/workflows/validate answers", "[lint]") {
  auto ok = validate_workflow("workflow: w\ntrigger: { event: x }\nsteps: [ { wait: 1h } ]\n");
  CHECK(ok.status == 200);
  CHECK(ok.body == Json::parse(R"({"valid": true})"));

  auto bad = validate_workflow(
      "workflow: w\ntrigger: { event: x }\nsteps:\n  - wait: 1y\n  - exit: a\n  - wait: 1h\n");
  CHECK(bad.status == 422);
  CHECK(
      bad.body.dump() ==
      R"({"valid":false,"errors":[{"line":4,"column":11,"message":"bad duration '1y' for 'wait': expected a number and a unit s, m, h, d or w, like 30s, 15m, 1h, 2d, 1w"}],"warnings":[{"line":6,"column":5,"message":"unreachable step steps[2]: every path before it ends with 'exit'"}]})");

  ValidateOptions options{&kCatalog, nullptr};
  auto unknown = validate_workflow(
      "workflow: w\ntrigger: { event: x }\nsteps: [ { send: { template: nope, channel: sms } } ]\n",
      options);
  CHECK(unknown.status == 422);
  CHECK(unknown.body["errors"][0]["message"] == "unknown template 'nope'");

  auto segments = validate_workflow("segments:\n  vip: customer.stats.revenue > 'x'\n");
  CHECK(segments.status == 422);
  CHECK(segments.body["errors"][0]["column"] == 8);
}
