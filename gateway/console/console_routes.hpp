#pragma once
// The agents' console (api.md "GET /console"): one page of plain HTML, CSS and JavaScript
// (gateway/console/), embedded into the binary at build time (embed.cmake), and the one
// route it needs beside the agents' API:
//   GET /console                               the page (public: it holds no data and asks
//   GET /console/console.js, /console/console.css   for an agent token, kept in the
//                                              browser's sessionStorage)
//   GET /v1/conversations/{id}/templates       agent or admin: the templates with a section
//                                              for the conversation's channel, for replies
//                                              outside the care window:
//                                              {"items": [{"name", "channel"}]}
// The page is served with a Content-Security-Policy that allows only its own script,
// style and connections (the API and the stream).

#include <string_view>
#include <vector>

#include "gateway/content.hpp"

namespace herald::gateway {

class Router;

namespace console {
struct Asset {
  std::string_view name;
  std::string_view bytes;
};
/// The embedded files (generated).
const std::vector<Asset>& assets();
}  // namespace console

void add_console_routes(Router& router, ContentSourcePtr content);

}  // namespace herald::gateway
