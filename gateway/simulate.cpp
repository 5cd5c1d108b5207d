#include <utility>

#include "gateway/simulate.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <sstream>
#include <map>

#include "gateway/content.hpp"
#include "gateway/customer_state.hpp"
#include "gateway/engine/engine.hpp"
#include "gateway/engine/webhook_step.hpp"
#include "gateway/http_types.hpp"
#include "gateway/ingest/order_stats.hpp"
#include "gateway/messages.hpp"
#include "gateway/policies.hpp"
#include "gateway/timers.hpp"
#include "workflows/dsl/parser.hpp"
#include "workflows/expr/time.hpp"

namespace herald::gateway {

namespace {

using OJson = nlohmann::ordered_json;
constexpr int64_t kYearMs = 366LL * 24 * 3600 * 1000;
constexpr std::size_t kMaxEntries = 1000;

/// "+1h30m" from the start.
std::string offset(int64_t at_ms, int64_t start_ms) {
  return "+" + expr::format_duration(std::chrono::milliseconds(std::max<int64_t>(0, at_ms - start_ms)));
}

struct Simulation {
  const config::Config& config;
  const workflows::Workflow& workflow;
  int64_t start_ms;
  std::string customer_id;
  CustomerState customer;
  ManualClock clock;
  engine::Engine engine;
  std::map<std::string, Timer> timers;  // the customer's, by timer id
  std::map<std::size_t, std::deque<int64_t>> cap_sends;  // frequency cap index -> send times
  OJson timeline = OJson::array();
  std::map<std::string, std::string> request_fields;  // the last webhook request recorded
  int64_t now_ms;

  Simulation(const config::Config& c, const Content& content, const workflows::Workflow& w,
             int64_t start, std::string id, CustomerState state)
      : config(c),
        workflow(w),
        start_ms(start),
        customer_id(std::move(id)),
        customer(std::move(state)),
        clock(start),
        engine({find(content, w.id)}, content.catalog->set(), c, clock, content.segment_set),
        now_ms(start) {}

  static engine::WorkflowPtr find(const Content& content, const std::string& id) {
    for (const auto& p : content.workflows)
      if (p->id == id) return p;
    return nullptr;
  }

  void add(OJson entry, int64_t at_ms) {
    if (timeline.size() >= kMaxEntries) return;
    OJson out{{"at", offset(at_ms, start_ms)}};
    if (entry.contains("step")) out["step"] = entry["step"];
    for (auto& [k, v] : entry.items()) out[k] = std::move(v);
    timeline.push_back(std::move(out));
  }

  /// Reads what the engine would have written.
  void apply(Commands& tx) {
    for (auto& cmd : tx) {
      if (cmd.empty()) continue;
      if (auto t = timers::describe_command(cmd)) {
        if (t->timer.customer_id != customer_id) continue;  // cron and broadcast pseudo-customers
        if (t->kind == timers::TimerCommand::Kind::kCancel) {
          timers.erase(t->timer.id);
        } else if (t->kind == timers::TimerCommand::Kind::kSchedule || !timers.count(t->timer.id)) {
          timers[t->timer.id] = t->timer;
          if (t->timer.id.rfind("wf|", 0) == 0 && t->timer.due_ms > now_ms)
            add(OJson{{"step", "wait"}, {"name", run_step()}, {"until", offset(t->timer.due_ms, start_ms)}},
                now_ms);
        }
        continue;
      }
      if (cmd[0] == "EVAL" && cmd.size() > 13 && cmd[1] == messages::kRecordMessage) {
        message(cmd, 13);
        continue;
      }
      if (cmd[0] == "HSET" && cmd.size() > 2 && cmd[1].rfind("herald:msg:", 0) == 0) {
        message(cmd, 2);  // messages::record_new_commands
        continue;
      }
      if (cmd[0] == "HINCRBY" && cmd.size() == 4 && cmd[1] == engine::stats_key(workflow.id)) {
        stat(cmd[2]);
        continue;
      }
      if ((cmd[0] == "HSET" || cmd[0] == "HMSET") && cmd.size() > 2 &&
          cmd[1].rfind("herald:wh:", 0) == 0) {
        request_fields.clear();
        for (std::size_t i = 2; i + 1 < cmd.size(); i += 2) request_fields[cmd[i]] = cmd[i + 1];
        continue;
      }
      if (cmd[0] == "XADD" && cmd.size() > 1 && cmd[1] == engine::webhook::kStream) {
        webhook(cmd);
        continue;
      }
    }
    tx.clear();
  }

  /// The step the customer's run of the workflow is on.
  std::string run_step() const {
    auto it = customer.runs.find(workflow.id);
    if (it == customer.runs.end() || !it->is_object()) return "";
    return it->value("step", std::string());
  }

  void stat(const std::string& field) {
    if (field == "entered") {
      add(OJson{{"step", "entered"}, {"workflow", workflow.id},
                {"version", engine::workflow_version(workflow)}},
          now_ms);
    } else if (field == "completed" || field == "converted") {
      add(OJson{{"step", field}}, now_ms);
    } else if (field.rfind("exited:", 0) == 0) {
      add(OJson{{"step", "exited"}, {"reason", field.substr(7)}}, now_ms);
    } else if (field.rfind("skipped_", 0) == 0) {
      add(OJson{{"step", "skipped"}, {"reason", field.substr(8)}}, now_ms);
    } else if (auto colon = field.rfind(':'); colon != std::string::npos) {
      const auto what = field.substr(colon + 1);
      if (what == "escalated")
        add(OJson{{"step", "escalated"}, {"name", field.substr(0, colon)}}, now_ms);
    }
  }

  void webhook(const Commands::value_type& cmd) {
    // XADD herald:webhooks * id REQUEST customer CUSTOMER: the outcome comes back as the
    // timer "wh|REQUEST|ok", here at once (a simulation calls nobody).
    std::string request;
    for (std::size_t i = 3; i + 1 < cmd.size(); i += 2)
      if (cmd[i] == "id") request = cmd[i + 1];
    OJson entry{{"step", "webhook"}, {"name", run_step()}};
    for (const char* k : {"method", "url", "body"})
      if (auto it = request_fields.find(k); it != request_fields.end()) entry[k] = it->second;
    add(std::move(entry), now_ms);
    Timer t;
    t.customer_id = customer_id;
    t.id = std::string(engine::webhook::kTimerPrefix) + request + "|ok";
    t.payload = workflow.id;
    t.due_ms = now_ms;
    timers[t.id] = t;
  }

  /// A recorded message, its hash's field/value pairs from `first` on.
  void message(const Commands::value_type& cmd, std::size_t first) {
    std::map<std::string, std::string> f;
    for (std::size_t i = first; i + 1 < cmd.size(); i += 2) f[cmd[i]] = cmd[i + 1];
    if (auto o = f.find(messages::kOriginField); o != f.end())
      for (auto& [name, value] : messages::origin_fields(o->second)) f.emplace(name, value);
    const auto& status = f["status"];
    const auto& channel = f["channel"];
    OJson entry{{"name", f["step"]}};
    if (status != "queued") {
      entry["step"] = status;  // suppressed (consent, no address) or failed (template)
      if (!channel.empty()) entry["channel"] = channel;
      entry["reason"] = f["reason"];
      add(std::move(entry), now_ms);
      return;
    }
    // Send time: quiet hours first (deferred to the end), then the frequency caps.
    int64_t at = now_ms;
    const auto tz = policies::timezone_of(customer.traits, config.policies);
    if (auto until = policies::quiet_until(config.policies.quiet_hours, channel, tz,
                                           policies::Clock::time_point(std::chrono::milliseconds(at)))) {
      auto end = std::chrono::duration_cast<std::chrono::milliseconds>(until->time_since_epoch()).count();
      add(OJson{{"step", "deferred"}, {"name", f["step"]}, {"reason", "quiet_hours"},
                {"until", offset(end, start_ms)}},
          at);
      at = end;
    }
    const auto& caps = config.policies.frequency_caps;
    for (std::size_t i = 0; i < caps.size(); ++i) {
      const auto& cap = caps[i];
      if (std::find(cap.channels.begin(), cap.channels.end(), channel) == cap.channels.end()) continue;
      auto& sent = cap_sends[i];
      while (!sent.empty() && sent.front() <= at - cap.per.count()) sent.pop_front();
      if (sent.size() >= cap.max) {
        add(OJson{{"step", "suppressed"}, {"name", f["step"]}, {"channel", channel},
                  {"reason", "frequency_cap: " + policies::describe(cap)}},
            at);
        return;
      }
    }
    for (std::size_t i = 0; i < caps.size(); ++i)
      if (std::find(caps[i].channels.begin(), caps[i].channels.end(), channel) != caps[i].channels.end())
        cap_sends[i].push_back(at);
    entry["step"] = "send";
    entry["channel"] = channel;
    entry["template"] = f["template"];
    entry["rendered"] = OJson::parse(f["content"], nullptr, false);
    auto fallback = OJson::parse(f["fallback"], nullptr, false);
    if (fallback.is_array() && !fallback.empty()) {
      OJson channels = OJson::array();
      for (const auto& next : fallback) channels.push_back(next.value("channel", std::string()));
      entry["fallback"] = std::move(channels);
    }
    add(std::move(entry), at);
  }

  void event(const std::string& name, const OJson& properties) {
    ingest::Event e;
    e.type = ingest::EventType::kTrack;
    e.user_id = customer_id;
    e.event = name;
    e.properties = properties.dump();
    e.traits = "{}";
    e.timestamp = ingest::Timestamp(std::chrono::milliseconds(now_ms));
    e.received_at = e.timestamp;
    // The customer's own updates first, as the event processor makes them.
    customer.updated_at = ingest::format_rfc3339(e.timestamp);
    if (name == config.stats.order_event)
      customer.stats = ingest::apply_order(customer.stats, properties, e.timestamp);
    add(OJson{{"step", "event"}, {"event", name}}, now_ms);
    Commands tx;
    engine.decide(customer_id, customer, e, tx);
    apply(tx);
  }

  /// Fires every timer due up to `until`, in time order.
  void run_until(int64_t until) {
    while (timeline.size() < kMaxEntries) {
      auto next = std::min_element(timers.begin(), timers.end(), [](const auto& a, const auto& b) {
        return a.second.due_ms < b.second.due_ms;
      });
      if (next == timers.end() || next->second.due_ms > until) break;
      Timer t = next->second;
      timers.erase(next);
      now_ms = std::max(now_ms, t.due_ms);
      clock.set(now_ms);
      Commands tx;
      engine.fire(t, customer, tx);
      apply(tx);
    }
    now_ms = std::max(now_ms, until);
    clock.set(now_ms);
  }
};

}  // namespace

OJson simulate(const config::Config& config, const Content& content, const std::string& workflow_id,
               const OJson& request, int64_t start_ms) {
  const workflows::Workflow* workflow = nullptr;
  for (const auto& w : content.workflows)
    if (w->id == workflow_id) workflow = w.get();
  if (!workflow) throw ApiError(404, "not_found", "no workflow " + workflow_id);
  if (!request.is_object()) throw ApiError(400, "invalid_json", "the body must be a JSON object");
  if (request.contains("start")) {  // an addition: the simulated start, RFC 3339
    auto start = request["start"].is_string()
                     ? expr::parse_rfc3339(request["start"].get<std::string>())
                     : std::nullopt;
    if (!start)
      throw ApiError(400, "invalid_request", "start: expected an RFC 3339 time", "start");
    start_ms = std::chrono::duration_cast<std::chrono::milliseconds>(start->time_since_epoch()).count();
  }

  CustomerState state;
  std::string id = "simulated";
  const auto customer = request.value("customer", OJson::object());
  if (!customer.is_object())
    throw ApiError(400, "invalid_request", "customer: expected an object", "customer");
  if (customer.contains("id")) {
    if (!customer["id"].is_string() || customer["id"].get<std::string>().empty())
      throw ApiError(400, "invalid_request", "customer.id: expected a string", "customer.id");
    id = customer["id"].get<std::string>();
  }
  const auto traits = customer.value("traits", OJson::object());
  if (!traits.is_object())
    throw ApiError(400, "invalid_request", "customer.traits: expected an object", "customer.traits");
  merge_traits(state.traits, traits);
  const auto consent = customer.value("consent", OJson::object());
  if (!consent.is_object())
    throw ApiError(400, "invalid_request", "customer.consent: expected an object", "customer.consent");
  for (auto& [channel, status] : consent.items()) {
    if (!status.is_string() || (status != "opted_in" && status != "opted_out"))
      throw ApiError(400, "invalid_request",
                     "customer.consent." + channel + ": expected opted_in or opted_out",
                     "customer.consent." + channel);
    state.consent[channel] = status;
  }
  state.created_at = state.updated_at =
      ingest::format_rfc3339(ingest::Timestamp(std::chrono::milliseconds(start_ms)));

  const auto events = request.value("events", OJson::array());
  if (!events.is_array()) throw ApiError(400, "invalid_request", "events: expected an array", "events");
  struct Planned {
    int64_t at;
    std::string name;
    OJson properties;
  };
  std::vector<Planned> planned;
  int64_t at = start_ms;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    const auto path = "events[" + std::to_string(i) + "]";
    if (!e.is_object() || !e.contains("event") || !e["event"].is_string() ||
        e["event"].get<std::string>().empty())
      throw ApiError(400, "invalid_request", path + ".event: required, a string", path + ".event");
    auto properties = e.value("properties", OJson::object());
    if (!properties.is_object())
      throw ApiError(400, "invalid_request", path + ".properties: expected an object",
                     path + ".properties");
    if (e.contains("after")) {
      auto after = e["after"].is_string() ? expr::parse_duration(e["after"].get<std::string>())
                                          : std::nullopt;
      if (!after || after->count() < 0)
        throw ApiError(400, "invalid_request", path + ".after: expected a duration such as 2h",
                       path + ".after");
      at += std::chrono::duration_cast<std::chrono::milliseconds>(*after).count();
    }
    planned.push_back({at, e["event"].get<std::string>(), std::move(properties)});
  }

  Simulation sim(config, content, *workflow, start_ms, id, std::move(state));
  // The customer's first sight by the engine: date, inactive and segment triggers are set
  // up on an identify of the traits given.
  {
    ingest::Event identify;
    identify.type = ingest::EventType::kIdentify;
    identify.user_id = id;
    identify.traits = traits.dump();
    identify.properties = "{}";
    identify.timestamp = ingest::Timestamp(std::chrono::milliseconds(start_ms));
    identify.received_at = identify.timestamp;
    Commands tx;
    sim.engine.decide(id, sim.customer, identify, tx);
    sim.apply(tx);
  }
  for (const auto& p : planned) {
    sim.run_until(p.at);
    sim.event(p.name, p.properties);
  }
  sim.run_until(at + kYearMs);

  OJson out = OJson::object();
  out["workflow"] = workflow->id;
  out["version"] = engine::workflow_version(*workflow);
  out["started_at"] = ingest::format_rfc3339(ingest::Timestamp(std::chrono::milliseconds(start_ms)));
  out["timeline"] = std::move(sim.timeline);
  out["truncated"] = out["timeline"].size() >= kMaxEntries;
  return out;
}

namespace {

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

int run_simulate(const config::Config& config, const std::string& workflow,
                 const std::string& customer_file, const std::string& events_file) {
  auto customer_text = read_text(customer_file);
  auto events_text = read_text(events_file);
  if (!customer_text || !events_text) {
    std::fprintf(stderr, "cannot read %s\n", (!customer_text ? customer_file : events_file).c_str());
    return 2;
  }
  auto customer = OJson::parse(*customer_text, nullptr, false);
  auto events = OJson::parse(*events_text, nullptr, false);
  if (customer.is_discarded() || events.is_discarded()) {
    std::fprintf(stderr, "%s: not valid JSON\n",
                 (customer.is_discarded() ? customer_file : events_file).c_str());
    return 1;
  }
  OJson request = OJson::object();
  request["customer"] = customer.is_object() && customer.contains("customer") ? customer["customer"] : customer;
  request["events"] = events.is_object() && events.contains("events") ? events["events"] : events;

  std::shared_ptr<Content> content;
  try {
    content = std::make_shared<Content>(load_content(config));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "templates or workflows have errors:\n%s", e.what());
    return 1;
  }
  std::string id = workflow;
  if (workflow.size() > 5 && workflow.substr(workflow.size() - 5) == ".yaml") {
    auto text = read_text(workflow);
    if (!text) {
      std::fprintf(stderr, "cannot read %s\n", workflow.c_str());
      return 2;
    }
    workflows::ParseOptions options;
    options.templates = content->catalog.get();
    options.segments = &content->segments;
    auto parsed = workflows::parse_workflow(*text, workflow, options);
    bool errors = false;
    for (const auto& f : parsed.findings)
      if (f.severity == workflows::Severity::kError) {
        std::fprintf(stderr, "%s\n", workflows::format_finding(f).c_str());
        errors = true;
      }
    if (errors || !parsed.workflow) return 1;
    id = parsed.workflow->id;
    std::erase_if(content->workflows, [&](const auto& w) { return w->id == id; });
    content->workflows.push_back(parsed.workflow);
  }
  try {
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    auto out = simulate(config, *content, id, request, now);
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  } catch (const ApiError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}

}  // namespace herald::gateway
