// Renders per second of the example cart_reminder template (SMS and email) on
// the calling thread. Run by ops/bench/templates.sh, which pins it to one core
// and compares with liquidjs.
//   herald_templates_bench TEMPLATES_DIR CONTEXT.json [SECONDS]
//   herald_templates_bench --dump TEMPLATES_DIR   (the Liquid sources, as JSON, for bench.js)

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <fstream>
#include <iostream>

#include "templates/template_set.hpp"

using namespace herald::templates;
using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

namespace {

template <typename F>
double per_second(double seconds, F render) {
  std::size_t sink = 0;
  for (int i = 0; i < 2000; ++i) sink += render();  // warm up
  std::size_t count = 0;
  auto start = Clock::now();
  auto deadline = start + std::chrono::duration<double>(seconds);
  while (true) {
    for (int i = 0; i < 1000; ++i) sink += render();
    count += 1000;
    if (Clock::now() >= deadline) break;
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  if (sink == 42) std::cerr << "";
  return static_cast<double>(count) / elapsed;
}

int dump(const std::string& dir) {
  YAML::Node file = YAML::LoadFile(dir + "/cart_reminder.yaml");
  Json out;
  out["sms"] = file["sms"]["body"].as<std::string>();
  out["email"] = {{"subject", file["email"]["subject"].as<std::string>()},
                  {"html", file["email"]["html"].as<std::string>()},
                  {"text", file["email"]["text"].as<std::string>()}};
  std::cout << out.dump() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "--dump") return dump(argv[2]);
  if (argc < 3) {
    std::cerr << "usage: herald_templates_bench TEMPLATES_DIR CONTEXT.json [SECONDS]\n";
    return 2;
  }
  double seconds = argc >= 4 ? std::stod(argv[3]) : 3.0;
  auto set = TemplateSet::load(argv[1]);
  std::ifstream in(argv[2]);
  Json context = Json::parse(in);

  double sms = per_second(seconds, [&] {
    return set.render("cart_reminder", "sms", "", context)["body"]
        .get_ref<const std::string&>()
        .size();
  });
  double email = per_second(seconds, [&] {
    return set.render("cart_reminder", "email", "", context)["html"]
        .get_ref<const std::string&>()
        .size();
  });
  std::cout << Json{{"sms", sms}, {"email", email}}.dump() << "\n";
  return 0;
}
