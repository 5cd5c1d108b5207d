// herald: the command line of config.md.

#include <utility>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>
#include <boost/version.hpp>
#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <simdjson.h>
#include <spdlog/version.h>

#include "config/config.hpp"
#include "gateway/app.hpp"
#include "gateway/content.hpp"
#include "gateway/log.hpp"
#include "gateway/simulate.hpp"
#include "templates/render_command.hpp"
#include "workflows/lint.hpp"
#include "workflows/template_catalog_set.hpp"

namespace {

constexpr const char* kDefaultConfig = "config/herald.yaml";

void print_version() {
  std::printf("herald %s\n", HERALD_VERSION);
  std::printf("build: %s %s, g++ %d.%d.%d, C++ %ld\n", __DATE__, __TIME__, __GNUC__,
              __GNUC_MINOR__, __GNUC_PATCHLEVEL__, static_cast<long>(__cplusplus));
  std::printf("boost %d.%d.%d\n", BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000,
              BOOST_VERSION % 100);
  std::printf("hiredis %d.%d.%d\n", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
  std::printf("libcurl %s\n", curl_version_info(CURLVERSION_NOW)->version);
  std::printf("openssl %s\n", OpenSSL_version(OPENSSL_VERSION));
  std::printf("simdjson %d.%d.%d\n", simdjson::SIMDJSON_VERSION_MAJOR, simdjson::SIMDJSON_VERSION_MINOR,
              simdjson::SIMDJSON_VERSION_REVISION);
  std::printf("spdlog %d.%d.%d\n", SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH);
  std::printf("nlohmann_json %d.%d.%d\n", NLOHMANN_JSON_VERSION_MAJOR,
              NLOHMANN_JSON_VERSION_MINOR, NLOHMANN_JSON_VERSION_PATCH);
}

/// The config of --config, or of config/herald.yaml when present, else the defaults.
herald::config::Config load_config(const std::string& path, bool given) {
  return herald::config::load(path, given);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Herald: omnichannel messaging and marketing-automation gateway"};
  app.require_subcommand(1);
  std::string config_path = kDefaultConfig;
  auto* config_option =
      app.add_option("--config", config_path, "configuration file (default config/herald.yaml)");
  app.set_version_flag("--version", std::string("herald ") + HERALD_VERSION);

  auto* serve = app.add_subcommand("serve", "run the gateway");
  serve->add_option("--config", config_path, "configuration file");
  auto* version = app.add_subcommand("version", "version, build and library versions");

  auto* lint = app.add_subcommand(
      "lint", "check workflows, segments and templates (default: the configured folders)");
  bool strict = false;
  std::vector<std::string> lint_paths;
  lint->add_flag("--strict", strict, "warnings fail too; report undefined template variables");
  lint->add_option("PATHS", lint_paths, "files, or folders searched for *.yaml");
  lint->add_option("--config", config_path, "configuration file");

  auto* simulate = app.add_subcommand(
      "simulate", "print the timeline a workflow would give a customer, sending nothing");
  std::string simulate_workflow, simulate_customer, simulate_events;
  simulate->add_option("WORKFLOW", simulate_workflow, "a workflow id or a .yaml path")->required();
  simulate->add_option("--customer", simulate_customer, "customer JSON file: {\"traits\", \"consent\"?}")
      ->required();
  simulate->add_option("--events", simulate_events, "events JSON file: [{\"event\", \"properties\", \"after\"}]")
      ->required();
  simulate->add_option("--config", config_path, "configuration file");

  auto* render = app.add_subcommand("render", "render one channel of a template");
  herald::templates::RenderOptions render_options;
  render->add_option("TEMPLATE", render_options.template_name, "a template name or a .yaml path")
      ->required();
  render->add_option("--channel", render_options.channel, "email, sms, whatsapp, wechat or social")
      ->required();
  render->add_option("--context", render_options.context_file, "context JSON file")->required();
  render->add_option("--locale", render_options.locale, "locale, e.g. fr-CA");
  render->add_option("--field", render_options.field, "print one field raw, e.g. body");
  render->add_option("--config", config_path, "configuration file");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  if (version->parsed()) {
    print_version();
    return 0;
  }

  bool given = config_option->count() > 0;
  for (auto* sub : {serve, lint, render, simulate})
    given = given || sub->get_option("--config")->count() > 0;
  herald::config::Config config;
  try {
    config = load_config(config_path, given);
  } catch (const herald::config::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  herald::log::setup(config.log.level, config.log.format);

  if (lint->parsed()) {
    herald::workflows::LintOptions options;
    options.paths = lint_paths.empty()
                        ? std::vector<std::string>{config.workflows_dir, config.templates_dir}
                        : lint_paths;
    options.strict = strict;
    options.lint_template = herald::workflows::template_linter();
    // Template names and sections are checked against the configured templates when they load.
    std::unique_ptr<herald::workflows::TemplateSetCatalog> catalog;
    try {
      catalog = std::make_unique<herald::workflows::TemplateSetCatalog>(
          herald::templates::TemplateSet::load(config.templates_dir,
                                               herald::gateway::template_limits(config)));
      options.templates = catalog.get();
    } catch (const std::exception&) {
      // Their errors are reported as findings of the template files themselves.
    }
    return herald::workflows::run_lint(options);
  }

  if (render->parsed()) {
    render_options.templates_dir = config.templates_dir;
    try {
      render_options.limits = herald::gateway::template_limits(config);
    } catch (const herald::config::ConfigError& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 1;
    }
    return herald::templates::run_render(render_options);
  }

  if (simulate->parsed())
    return herald::gateway::run_simulate(config, simulate_workflow, simulate_customer,
                                         simulate_events);

  if (serve->parsed()) {
    try {
      herald::gateway::App gateway(std::move(config));
      return gateway.run();
    } catch (const std::exception& e) {
      herald::log::get("herald")->error("fatal: {}", e.what());
      return 1;
    }
  }
  return 2;
}
