#include <catch2/catch.hpp>

#include "tests/workflows/fake_template_catalog.hpp"
#include "workflows/dsl/parser.hpp"
#include "workflows/dsl/segments.hpp"

using namespace herald::workflows;
using herald::expr::Context;
using herald::expr::Json;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {

std::shared_ptr<const Workflow> parse_ok(const std::string& yaml) {
  testing::FakeTemplateCatalog catalog;
  std::vector<std::string> segments = {"vip", "lapsed_sms"};
  auto result = parse_workflow(yaml, "wf.yaml", ParseOptions{&catalog, &segments});
  for (const auto& f : result.findings) UNSCOPED_INFO(format_finding(f));
  REQUIRE(result.workflow != nullptr);
  CHECK(result.findings.empty());
  return result.workflow;
}

template <typename T>
const T& action(const Step& step) {
  REQUIRE(std::holds_alternative<T>(step.action));
  return std::get<T>(step.action);
}

}  // namespace

TEST_CASE("the top level of a workflow", "[dsl]") {
  auto wf = parse_ok(R"(
workflow: abandoned-cart
name: Abandoned cart recovery
enabled: false
trigger: { event: cart.updated }
entry: { cooldown: 24h }
exit_when:
  - event: order.completed
  - event: cart.emptied
    where: event.properties.total == 0
goal: { event: order.completed, where: event.properties.total > 10, within: 3d }
escalate_replies: true
steps:
  - wait: 1h
)");
  CHECK(wf->id == "abandoned-cart");
  CHECK(wf->name == "Abandoned cart recovery");
  CHECK_FALSE(wf->enabled);
  CHECK(wf->file == "wf.yaml");
  CHECK(wf->entry.cooldown == hours(24));
  CHECK_FALSE(wf->entry.once);
  REQUIRE(wf->exit_when.size() == 2);
  CHECK(wf->exit_when[0].event == "order.completed");
  CHECK_FALSE(wf->exit_when[0].where);
  CHECK(wf->exit_when[1].where->text() == "event.properties.total == 0");
  REQUIRE(wf->goal);
  CHECK(wf->goal->event == "order.completed");
  CHECK(wf->goal->within == hours(72));
  CHECK(wf->goal->where->text() == "event.properties.total > 10");
  CHECK(wf->escalate_replies);
  CHECK(wf->source_hash != 0);
}

TEST_CASE("defaults of the top level", "[dsl]") {
  auto wf = parse_ok(
      "workflow: w1\ntrigger: { event: x }\nentry: { once: true }\nsteps: [ { wait: 1m } ]\n");
  CHECK(wf->name == "w1");
  CHECK(wf->enabled);
  CHECK(wf->entry.once);
  CHECK_FALSE(wf->entry.cooldown);
  CHECK_FALSE(wf->goal);
  CHECK_FALSE(wf->escalate_replies);
  CHECK(wf->exit_when.empty());
}

TEST_CASE("the six triggers", "[dsl]") {
  SECTION("event with where") {
    auto wf = parse_ok(
        "workflow: t\ntrigger:\n  event: cart.updated\n  where: event.properties.total > 0\nsteps: "
        "[ { wait: 1m } ]\n");
    const auto& t = std::get<EventTrigger>(wf->trigger);
    CHECK(t.event == "cart.updated");
    Json event = Json::parse(R"({"properties": {"total": 5}})");
    Context context;
    context.set("event", &event);
    CHECK(t.where->test(context));
    CHECK(trigger_kind(wf->trigger) == "event");
  }
  SECTION("date") {
    auto wf = parse_ok(
        "workflow: t\ntrigger: { date: customer.birthday, at: \"09:30\", offset: -1d }\nsteps: [ { "
        "wait: 1m } ]\n");
    const auto& t = std::get<DateTrigger>(wf->trigger);
    CHECK(t.trait == "birthday");
    CHECK(t.at.hour == 9);
    CHECK(t.at.minute == 30);
    CHECK(t.offset == -hours(24));
  }
  SECTION("inactive") {
    auto wf = parse_ok(
        "workflow: t\ntrigger: { inactive: { event: app.opened, for: 2w } }\nsteps: [ { wait: 1m } "
        "]\n");
    const auto& t = std::get<InactiveTrigger>(wf->trigger);
    CHECK(t.event == "app.opened");
    CHECK(t.after == hours(14 * 24));
  }
  SECTION("churn_risk") {
    auto wf =
        parse_ok("workflow: t\ntrigger: { churn_risk: { above: 0.8 } }\nsteps: [ { wait: 1m } ]\n");
    CHECK(std::get<ChurnRiskTrigger>(wf->trigger).above == 0.8);
  }
  SECTION("segment") {
    auto wf =
        parse_ok("workflow: t\ntrigger: { segment: { enters: vip } }\nsteps: [ { wait: 1m } ]\n");
    CHECK(std::get<SegmentTrigger>(wf->trigger).segment == "vip");
  }
  SECTION("schedule") {
    auto wf = parse_ok(
        "workflow: t\ntrigger: { schedule: { cron: \"0 9 * * MON\", segment: lapsed_sms } "
        "}\nsteps: [ { wait: 1m } ]\n");
    const auto& t = std::get<ScheduleTrigger>(wf->trigger);
    CHECK(t.cron_text == "0 9 * * MON");
    CHECK(t.segment == "lapsed_sms");
    using namespace std::chrono;
    // 2024-05-20 is a Monday.
    auto monday_9 = local_days(2024y / May / 20) + hours(9);
    CHECK(t.cron.matches(local_seconds(monday_9)));
    CHECK(t.cron.next_after(local_seconds(monday_9)) == local_seconds(monday_9 + days(7)));
  }
}

TEST_CASE("send steps", "[dsl]") {
  auto wf = parse_ok(R"(
workflow: s
trigger: { event: x }
steps:
  - send:
      template: cart_reminder
      channels: [whatsapp, sms, email]
      data:
        code: "SAVE-{{ customer.id }}"
        percent: 15
        ratio: 0.5
        quoted: "15"
        flag: true
        nested: { list: [1, two] }
  - send: { template: welcome_1, channel: sms }
)");
  REQUIRE(wf->steps.size() == 2);
  const auto& send = action<SendStep>(wf->steps[0]);
  CHECK(send.template_name == "cart_reminder");
  CHECK(send.channels == std::vector<std::string>{"whatsapp", "sms", "email"});
  CHECK(send.data == Json::parse(R"({"code": "SAVE-{{ customer.id }}", "percent": 15, "ratio": 0.5,
                                    "quoted": "15", "flag": true, "nested": {"list": [1, "two"]}})"));
  CHECK(action<SendStep>(wf->steps[1]).channels == std::vector<std::string>{"sms"});
  CHECK(wf->steps[0].kind() == "send");
}

TEST_CASE("wait, wait_until and wait_for", "[dsl]") {
  auto wf = parse_ok(R"(
workflow: w
trigger: { event: x }
steps:
  - wait: 1h30m
  - wait_until: { at: "10:05", days: [mon, Friday, SUN] }
  - wait_until: { at: "23:59" }
  - wait_for:
      event: order.completed
      where: event.properties.total > 0
      timeout: 2d
    on_event:
      - exit: converted
    on_timeout:
      - wait: 1m
      - exit: timed_out
)");
  REQUIRE(wf->steps.size() == 4);
  CHECK(action<WaitStep>(wf->steps[0]).duration == minutes(90));
  const auto& until = action<WaitUntilStep>(wf->steps[1]);
  CHECK(until.at.hour == 10);
  CHECK(until.at.minute == 5);
  CHECK(until.days == std::vector<std::chrono::weekday>{std::chrono::Monday, std::chrono::Friday,
                                                        std::chrono::Sunday});
  CHECK(action<WaitUntilStep>(wf->steps[2]).days.empty());
  const auto& wait_for = action<WaitForStep>(wf->steps[3]);
  CHECK(wait_for.event == "order.completed");
  CHECK(wait_for.timeout == hours(48));
  CHECK(wait_for.where->text() == "event.properties.total > 0");
  REQUIRE(wait_for.on_event.size() == 1);
  CHECK(action<ExitStep>(wait_for.on_event[0]).reason == "converted");
  REQUIRE(wait_for.on_timeout.size() == 2);
  CHECK(wait_for.on_timeout[1].path == "steps[3].on_timeout[1]");
}

TEST_CASE("if, split, update, webhook, escalate and exit", "[dsl]") {
  auto wf = parse_ok(R"(
workflow: all
trigger: { event: x }
steps:
  - if: customer.stats.orders > 1
    then:
      - exit: repeat_buyer
    else:
      - wait: 1d
  - split:
      variants:
        - { name: a, weight: 70, steps: [ { wait: 1h } ] }
        - { name: b, weight: 30, steps: [] }
        - { name: c }
  - update:
      set:
        last_winback_at: now
        score: customer.stats.orders * 2
  - webhook:
      url: https://crm.example.com/hook
      method: put
      headers: { Authorization: "Bearer {{ data.token }}", X-Id: "1" }
      body: { id: "{{ customer.id }}", n: 3 }
  - webhook: { url: "https://x.example/{{ customer.id }}", body: "raw {{ customer.id }}" }
  - escalate: { reason: vip_reply, note: "Call {{ customer.first_name }}" }
  - exit: done
)");
  REQUIRE(wf->steps.size() == 7);
  const auto& branch = action<IfStep>(wf->steps[0]);
  CHECK(branch.condition.text() == "customer.stats.orders > 1");
  CHECK(branch.then_steps.size() == 1);
  CHECK(branch.else_steps.size() == 1);
  CHECK(branch.else_steps[0].path == "steps[0].else[0]");

  const auto& split = action<SplitStep>(wf->steps[1]);
  REQUIRE(split.variants.size() == 3);
  CHECK(split.variants[0].name == "a");
  CHECK(split.variants[0].weight == 70);
  CHECK(split.variants[0].steps[0].path == "steps[1].split.variants[0].steps[0]");
  CHECK(split.variants[2].weight == 1);  // the default

  const auto& update = action<UpdateStep>(wf->steps[2]);
  REQUIRE(update.set.size() == 2);
  CHECK(update.set[0].trait == "last_winback_at");
  CHECK(update.set[1].value.text() == "customer.stats.orders * 2");

  const auto& hook = action<WebhookStep>(wf->steps[3]);
  CHECK(hook.url == "https://crm.example.com/hook");
  CHECK(hook.method == "PUT");
  CHECK(hook.headers == std::vector<std::pair<std::string, std::string>>{
                            {"Authorization", "Bearer {{ data.token }}"}, {"X-Id", "1"}});
  CHECK(hook.body == Json::parse(R"({"id": "{{ customer.id }}", "n": 3})"));
  const auto& hook2 = action<WebhookStep>(wf->steps[4]);
  CHECK(hook2.method == "POST");
  CHECK(hook2.body == "raw {{ customer.id }}");

  const auto& escalate = action<EscalateStep>(wf->steps[5]);
  CHECK(escalate.reason == "vip_reply");
  CHECK(escalate.note == "Call {{ customer.first_name }}");
  CHECK(action<ExitStep>(wf->steps[6]).reason == "done");
}

TEST_CASE("steps are named by id or by path", "[dsl]") {
  auto wf = parse_ok(R"(
workflow: names
trigger: { event: x }
steps:
  - wait: 1h
  - id: check
    if: customer.vip == true
    then:
      - wait: 2h
      - id: reward
        send: { template: vip_welcome, channels: [email] }
)");
  CHECK(wf->steps[0].name == "steps[0]");
  CHECK(wf->steps[1].name == "check");
  CHECK(wf->steps[1].path == "steps[1]");
  const auto& then = action<IfStep>(wf->steps[1]).then_steps;
  CHECK(then[0].name == "steps[1].then[0]");
  CHECK(then[1].name == "reward");
  CHECK(wf->find_step("reward") == &then[1]);
  CHECK(wf->find_step("steps[1].then[1]") == &then[1]);
  CHECK(wf->find_step("steps[1].then[0]") == &then[0]);
  CHECK(wf->find_step("nope") == nullptr);
  CHECK(wf->steps[1].position.line == 6);
  CHECK(wf->steps[1].position.column == 5);
}

TEST_CASE("a workflow with errors is not built, and every finding is collected", "[dsl]") {
  auto result = parse_workflow(
      "workflow: x\ntrigger: { event: e }\nsteps:\n  - wait: soon\n  - wait: later\n", "x.yaml");
  CHECK(result.workflow == nullptr);
  REQUIRE(result.findings.size() == 2);
  CHECK(result.findings[0].line == 4);
  CHECK(result.findings[1].line == 5);
}

TEST_CASE("warnings do not stop a workflow from loading", "[dsl]") {
  auto result = parse_workflow(
      "workflow: x\ntrigger: { event: e }\nsteps:\n  - exit: a\n  - wait: 1h\n", "x.yaml");
  CHECK(result.workflow != nullptr);
  REQUIRE(result.findings.size() == 1);
  CHECK(result.findings[0].severity == Severity::kWarning);
}

TEST_CASE("without catalogs, templates and segments are not checked", "[dsl]") {
  auto result = parse_workflow(
      "workflow: x\ntrigger: { segment: { enters: anything } }\nsteps:\n  - send: { template: "
      "nope, channels: [sms] }\n",
      "x.yaml");
  CHECK(result.findings.empty());
  CHECK(result.workflow != nullptr);
}

TEST_CASE("segments.yaml", "[dsl]") {
  auto result = parse_segments(R"(segments:
  vip: customer.stats.revenue > 1000
  lapsed_sms: customer.consent.sms == 'opted_in' and days_since(customer.stats.last_order_at) > 90
)",
                               "segments.yaml");
  REQUIRE(result.segments != nullptr);
  CHECK(result.findings.empty());
  CHECK(result.segments->names() == std::vector<std::string>{"vip", "lapsed_sms"});
  const auto* vip = result.segments->find("vip");
  REQUIRE(vip != nullptr);
  CHECK(vip->position.line == 2);
  Json customer = Json::parse(R"({"stats": {"revenue": 1500}})");
  Context context;
  context.set("customer", &customer);
  CHECK(vip->condition.test(context));

  auto bad = parse_segments(
      "segments:\n  vip: event.name == 'x'\n  big: customer.stats.revenue + 1\n  'a b': true\n",
      "segments.yaml");
  CHECK(bad.segments == nullptr);
  REQUIRE(bad.findings.size() == 3);
  CHECK(format_finding(bad.findings[0]) ==
        "segments.yaml:2:8: error: 'event' is not available here: segments see customer and now");
  CHECK(format_finding(bad.findings[1]) ==
        "segments.yaml:3:8: error: the condition is a number, not true or false");
  CHECK(format_finding(bad.findings[2]) ==
        "segments.yaml:4:3: error: segment name 'a b' may only hold letters, digits, '_' and '-'");
  CHECK(bad.names == std::vector<std::string>{"vip", "big"});
  CHECK(parse_segments("segments:\n", "s.yaml").segments->segments.empty());
  CHECK(format_finding(parse_segments("segment: {}\n", "s.yaml").findings.at(0)) ==
        "s.yaml:1:1: error: unknown key 'segment' in segments.yaml (did you mean 'segments'?)");
}

TEST_CASE("cron schedules", "[dsl]") {
  using namespace std::chrono;
  auto at = [](year_month_day d, int h, int m) {
    return local_seconds(local_days(d) + hours(h) + minutes(m));
  };
  auto every_15 = CronSchedule::parse("*/15 * * * *");
  REQUIRE(every_15);
  CHECK(every_15->next_after(at(2024y / May / 20, 10, 7)) == at(2024y / May / 20, 10, 15));
  CHECK(every_15->next_after(at(2024y / May / 20, 23, 50)) == at(2024y / May / 21, 0, 0));

  auto weekdays = CronSchedule::parse("30 8 * * mon-fri");
  REQUIRE(weekdays);
  // Saturday 2024-05-25 → Monday 2024-05-27.
  CHECK(weekdays->next_after(at(2024y / May / 25, 7, 0)) == at(2024y / May / 27, 8, 30));
  CHECK_FALSE(weekdays->matches(at(2024y / May / 26, 8, 30)));

  auto months = CronSchedule::parse("0 0 1 JAN,jul *");
  REQUIRE(months);
  CHECK(months->next_after(at(2024y / February / 1, 0, 0)) == at(2024y / July / 1, 0, 0));

  // Both day fields restricted: either matches (the 13th, or any Friday).
  auto either = CronSchedule::parse("0 12 13 * 5");
  REQUIRE(either);
  CHECK(either->matches(at(2024y / May / 13, 12, 0)));  // a Monday, the 13th
  CHECK(either->matches(at(2024y / May / 17, 12, 0)));  // a Friday
  CHECK_FALSE(either->matches(at(2024y / May / 14, 12, 0)));

  CHECK(CronSchedule::parse("0 0 * * 7")->matches(at(2024y / May / 19, 0, 0)));  // 7 is Sunday
  CHECK(CronSchedule::parse("5-10/5 1,2 * * *")->matches(at(2024y / May / 19, 2, 10)));
  CHECK_FALSE(CronSchedule::parse("0 0 30 2 *")->next_after(at(2024y / May / 19, 0, 0)));

  CronSchedule::Error error;
  CHECK_FALSE(CronSchedule::parse("0 9 * *", &error));
  CHECK(error.message ==
        "a cron schedule has 5 fields (minute hour day-of-month month day-of-week), not 4");
  CHECK_FALSE(CronSchedule::parse("0 24 * * *", &error));
  CHECK(error.message == "bad hour '24': expected 0-23");
  CHECK(error.offset == 2);
  CHECK_FALSE(CronSchedule::parse("*/0 * * * *", &error));
  CHECK(error.message == "bad step '0'");
  CHECK_FALSE(CronSchedule::parse("0 0 * FOO *", &error));
  CHECK(error.message == "bad month 'FOO'");
  CHECK(error.offset == 6);
  CHECK_FALSE(CronSchedule::parse("0 0 10-2 * *", &error));
  CHECK(error.message == "bad range '10-2': the end is before the start");
}
