// libFuzzer target over the other inputs an outsider reaches: JSON of any
// depth (API bodies, config files), verb arguments, server config files,
// image references, advertise_url and route tables, the number-bearing fields (durations, sizes, CPU,
// bandwidth), ACME documents, domains and path prefixes and the nginx files rendered from them, and DNS
// queries to the responder for Caddy's upstreams, Dockerfiles (the images a build takes from the node),
// and requests as the hold server reads and rewrites them. The first byte picks the target (0xD5: DNS,
// 0xDF: a Dockerfile, 0xB0: a held request).
// Invariants: nothing crashes (no undefined behaviour in any conversion);
// every refusal names a field; accepted values are within their ranges.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "acme/documents.hpp"
#include "apps/domains.hpp"
#include "apps/app_key.hpp"
#include "apps/validation.hpp"
#include "builder/dockerfile_images.hpp"
#include "proxy/dns/dns_message.hpp"
#include "proxy/hold/hold_request.hpp"
#include "proxy/nginx/nginx_render.hpp"
#include "proxy/proxy_state.hpp"
#include "common/json.hpp"
#include "protocol/verb_args.hpp"
#include "server/advertise.hpp"
#include "server/server_config.hpp"

namespace {

void requireNamedField(const berth::Error& e) {
  if (e.message.find("field '") == std::string::npos) __builtin_trap();
}

// An ACME CA's answers: every refusal names a field; an accepted token can only name a file.
void checkAcmeDocuments(std::string_view text) {
  namespace acme = berth::acme;
  if (auto r = acme::parseDirectory(text); !r) requireNamedField(r.error());
  if (auto r = acme::parseOrder(text); !r) requireNamedField(r.error());
  if (auto r = acme::parseProblem(text); !r) requireNamedField(r.error());
  if (auto r = acme::parseChallenge(text); !r) {
    requireNamedField(r.error());
  } else if (r->token.find_first_of("./") != std::string::npos) {
    __builtin_trap();
  }
  if (auto r = acme::parseAuthorization(text); !r) requireNamedField(r.error());
}

void checkJson(std::string_view text) {
  checkAcmeDocuments(text);
  auto parsed = berth::parseJson(text);
  if (!parsed) {
    if (parsed.error().code != "too_deep" && parsed.error().code != "malformed_json") __builtin_trap();
    return;
  }
  nlohmann::json copy = *parsed;  // copies and destroys within the depth bound
  if (copy != *parsed) __builtin_trap();
  if (parsed->is_object()) {
    for (const auto& [verb, rules] : berth::protocol::verbArgRules()) {
      if (auto r = berth::protocol::checkVerbArgs(verb, *parsed); !r) requireNamedField(r.error());
    }
    if (auto config = berth::server::serverConfigFromJson(*parsed); !config) requireNamedField(config.error());
  }
}

void checkFields(const std::string& text) {
  namespace apps = berth::apps;
  if (auto r = apps::parseImageReference("image", text); !r) requireNamedField(r.error());
  if (auto r = apps::parseDuration("d", text); r && *r < 0) __builtin_trap();
  if (auto r = apps::parseBytes("b", text); r && *r < 1) __builtin_trap();
  if (auto r = apps::parseCpu("c", text); r && *r < 0) __builtin_trap();
  if (auto r = apps::parseBandwidth("n", text); r && *r < 0) __builtin_trap();
  (void)apps::validateUser("user", text);
  (void)apps::refuseControlCharacters("path", text);
  // advertise_url and listen as a user types them, and /proc/net/route text.
  if (auto r = berth::server::planAdvertising(text, text, {}, {}); !r) requireNamedField(r.error());
  (void)berth::server::parseDefaultRouteInterfaces(text);
  // Domains and path prefixes end up in proxy configuration: whatever is accepted
  // must render to a file whose blocks still balance.
  if (auto r = apps::validateDomain(text, true); r) {
    if (r->size() > apps::kMaxDomainLength || r->find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-*") != std::string::npos)
      __builtin_trap();
  } else {
    requireNamedField(r.error());
  }
  if (auto r = apps::validatePathPrefix(text); !r) requireNamedField(r.error());
  berth::proxy::ProxyState state;
  state.apps.push_back({"app", {{{"a.example.com", text}, text.size() > 1 && text.back() == '/' ? text.substr(0, text.size() - 1) : text, true}}, {{"10.0.0.1", 80}}, true});
  state.certificates[text] = {"/c.pem", "/c.key"};
  if (berth::proxy::validate(state)) {
    for (const auto& [name, file] : berth::proxy::nginx::renderSites(state, {})) {
      if (std::count(file.begin(), file.end(), '{') != std::count(file.begin(), file.end(), '}')) __builtin_trap();
      if (file.find('\0') != std::string::npos || file.find('\r') != std::string::npos) __builtin_trap();
    }
  }
}

// One first byte of its own, so the seeds kept for the other targets still reach them.
constexpr std::uint8_t kDnsSelector = 0xD5;
constexpr std::uint8_t kDockerfileSelector = 0xDF;
constexpr std::uint8_t kHeldRequestSelector = 0xB0;

// Any datagram: dropped or answered within a plain UDP message, echoing the
// query's id, answers only for a name that is held.
void checkDns(std::string_view packet) {
  namespace dns = berth::proxy::dns;
  static const dns::Records records = {{"chat.berth.internal", {"10.0.0.1", "fd00::1"}}};
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(packet.data()), packet.size());
  const auto answer = dns::answerQuery(bytes, records, "berth.internal");
  const auto query = dns::parseQuery(bytes);
  if (answer.empty() != !query.ok()) __builtin_trap();
  if (answer.empty()) return;
  if (answer.size() > dns::kMaxMessageSize || answer.size() < 12 || answer[0] != bytes[0] || answer[1] != bytes[1])
    __builtin_trap();
  const int answers = (answer[6] << 8) | answer[7];
  if (answers > 0 && query->name != "chat.berth.internal") __builtin_trap();
}

}  // namespace

// A Dockerfile's outside images (what the agent checks before a build): never empty, never
// `scratch`, never with whitespace in them.
void checkDockerfile(std::string_view text) {
  for (const auto& image : berth::builder::externalImages(text, {{"BASE", "x"}})) {
    if (image.empty() || image == "scratch" || image.find_first_of(" \t\r\n") != std::string::npos) __builtin_trap();
  }
}

// What the hold server reads and rewrites of a request nginx sent it.
void checkHeldRequest(std::string_view text) {
  namespace hold = berth::proxy::hold;
  auto app = hold::appOfRequest(text);
  if (app && *app && !berth::apps::validateAppKey("app", **app)) __builtin_trap();
  const auto end = text.find("\r\n\r\n");
  // Sent again only when the bytes are one whole head.
  if (hold::canSendAgain(text) && end + 4 != text.size()) __builtin_trap();
  const std::string closed = hold::withConnectionClose(text);
  if (end == std::string_view::npos) {
    if (closed != text) __builtin_trap();
    return;
  }
  // The head asks to close, once, and what followed it is passed on unchanged.
  const auto closedEnd = closed.find("\r\n\r\n");
  if (closedEnd == std::string::npos || closed.substr(closedEnd + 4) != text.substr(end + 4)) __builtin_trap();
  if (!std::string_view(closed).substr(0, closedEnd + 4).ends_with("Connection: close\r\n\r\n")) __builtin_trap();
  if (hold::withConnectionClose(closed) != closed) __builtin_trap();
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] == kDockerfileSelector)
    checkDockerfile(rest);
  else if (data[0] == kHeldRequestSelector)
    checkHeldRequest(rest);
  else if (data[0] == kDnsSelector)
    checkDns(rest);
  else if (data[0] % 2 == 0)
    checkJson(rest);
  else
    checkFields(std::string(rest));
  return 0;
}
