// libFuzzer target over `berth helper`'s request path before anything runs:
// parseRequest, authenticate, the nonce cache and parseAction with its path
// rules. Invariants: nothing crashes; an action that parses has every path
// strictly under an allowed directory (or exactly a writable file) with no
// '..' component and no character outside the path alphabet; a request
// re-signed with the key authenticates, and altering its args breaks the mac.
#include <sodium.h>

#include <cstdint>
#include <string>

#include "helper/helper_protocol.hpp"
#include "helper/helper_verbs.hpp"

namespace {

using namespace berth::helper;

constexpr std::int64_t kNow = 1'700'000'000'000;
const std::string kKey(32, 'k');
const Policy kPolicy{{"/var/lib/berth-agent/proxy"}, {"/etc/traefik/dynamic/berth.yml"}};

void checkPath(const std::string& path) {
  if (path.rfind("/var/lib/berth-agent/proxy/", 0) != 0 && path != "/etc/traefik/dynamic/berth.yml") __builtin_trap();
  if (path.find("/../") != std::string::npos || path.find("/./") != std::string::npos ||
      path.find("//") != std::string::npos || path.size() > kMaxPathChars)
    __builtin_trap();
  for (unsigned char c : path)
    if (!std::isalnum(c) && c != '/' && c != '.' && c != '_' && c != '-' && c != '@' && c != '+') __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool ready = sodium_init() >= 0;
  if (!ready) __builtin_trap();
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto request = parseRequest(text);
  if (!request) return 0;
  NonceCache cache(4, 5000);
  // A replay of a request the clock check would still accept is never accepted.
  (void)cache.insert(request->nonce, request->expires_ms, kNow);
  if (request->expires_ms >= kNow - 5000 && cache.insert(request->nonce, request->expires_ms, kNow).ok())
    __builtin_trap();

  // Signed with the right key it authenticates (when fresh); altered, it does not.
  const std::string signedText = encodeRequest(kKey, request->verb, request->args, request->nonce, kNow + 1000);
  auto again = parseRequest(signedText);
  if (!again || !authenticate(*again, kKey, kNow, {}).ok()) __builtin_trap();
  again->args["x"] = 1;
  if (authenticate(*again, kKey, kNow, {}).ok()) __builtin_trap();

  auto action = parseAction(request->verb, request->args, kPolicy);
  if (!action) return 0;
  for (const auto* path : {&action->config, &action->pidfile, &action->log, &action->path})
    if (!path->empty()) checkPath(*path);
  if (action->verb == Verb::TrafficShape && (action->pid < 2 || action->in_bps < 0 || action->out_bps < 0)) __builtin_trap();
  (void)describeArgs(request->verb, request->args);
  return 0;
}
