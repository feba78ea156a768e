#include "helper/helper_verbs.hpp"

#include <algorithm>
#include <cctype>
#include <initializer_list>

#include "common/ids.hpp"

namespace berth::helper {
namespace {

Error badArg(const std::string& field, const std::string& rule) { return invalidField("args." + field, rule); }

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Exactly `names` present, nothing else.
Result<void> checkKeys(const nlohmann::json& args, std::initializer_list<const char*> names) {
  for (auto it = args.begin(); it != args.end(); ++it)
    if (std::none_of(names.begin(), names.end(), [&](const char* n) { return it.key() == n; }))
      return badArg(it.key(), "is not an argument of this verb");
  for (const char* n : names)
    if (!args.contains(n)) return badArg(n, "is required");
  return Ok{};
}

Result<std::int64_t> integer(const nlohmann::json& args, const char* name, std::int64_t min, std::int64_t max) {
  const auto& v = args[name];
  if (!v.is_number_integer()) return badArg(name, "must be an integer");
  // Unsigned first: a value above INT64_MAX must not wrap into range.
  const bool inRange = v.is_number_unsigned()
                           ? v.get<std::uint64_t>() <= static_cast<std::uint64_t>(max) &&
                                 static_cast<std::int64_t>(v.get<std::uint64_t>()) >= min
                           : v.get<std::int64_t>() >= min && v.get<std::int64_t>() <= max;
  if (!inRange)
    return badArg(name, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  return v.get<std::int64_t>();
}

Result<std::string> proxyPath(const nlohmann::json& args, const char* name, const std::string& suffix,
                              const Policy& policy) {
  const auto& v = args[name];
  if (!v.is_string()) return badArg(name, "must be a string");
  const std::string path = v;
  if (auto r = checkUnder("args." + std::string(name), path, policy.proxy_dirs); !r) return r.error();
  if (!endsWith(path, suffix)) return badArg(name, "must name a " + suffix + " file");
  return path;
}

}  // namespace

const std::vector<std::string>& verbNames() {
  static const std::vector<std::string> names = {"traffic.shape", "nginx.start", "nginx.reload",
                                                 "nginx.quit",    "caddy.start", "file.write"};
  return names;
}

Result<void> checkPathText(const std::string& field, const std::string& path) {
  if (path.empty() || path.front() != '/') return invalidField(field, "must be an absolute path");
  if (path.size() > kMaxPathChars) return invalidField(field, "must be at most 1024 characters");
  for (unsigned char c : path)
    if (!std::isalnum(c) && c != '/' && c != '.' && c != '_' && c != '-' && c != '@' && c != '+')
      return invalidField(field, "may hold only letters, digits and . _ - @ + /");
  std::size_t start = 1;
  while (start <= path.size()) {
    const auto end = std::min(path.find('/', start), path.size());
    const std::string part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..")
      return invalidField(field, "must not hold an empty, '.' or '..' component");
    start = end + 1;
  }
  return Ok{};
}

Result<void> checkUnder(const std::string& field, const std::string& path, const std::vector<std::string>& dirs) {
  if (auto r = checkPathText(field, path); !r) return r;
  for (const auto& dir : dirs)
    if (!dir.empty() && path.size() > dir.size() + 1 && path.compare(0, dir.size(), dir) == 0 &&
        path[dir.size()] == '/')
      return Ok{};
  return invalidField(field, "must be under a directory the helper's config allows");
}

Result<Action> parseAction(const std::string& verb, const nlohmann::json& args, const Policy& policy) {
  if (!args.is_object()) return invalidField("args", "must be an object");
  Action a;
  if (verb == "traffic.shape") {
    a.verb = Verb::TrafficShape;
    if (auto k = checkKeys(args, {"pid", "in_bps", "out_bps"}); !k) return k.error();
    // pid 1 is the host's init, never a container's.
    auto pid = integer(args, "pid", 2, kMaxPid);
    if (!pid) return pid.error();
    auto in = integer(args, "in_bps", 0, kMaxBps);
    if (!in) return in.error();
    auto out = integer(args, "out_bps", 0, kMaxBps);
    if (!out) return out.error();
    a.pid = static_cast<int>(*pid);
    a.in_bps = *in;
    a.out_bps = *out;
    return a;
  }
  if (verb == "nginx.start" || verb == "nginx.reload" || verb == "nginx.quit") {
    a.verb = verb == "nginx.start" ? Verb::NginxStart : verb == "nginx.reload" ? Verb::NginxReload : Verb::NginxQuit;
    if (auto k = checkKeys(args, {"config"}); !k) return k.error();
    auto config = proxyPath(args, "config", ".conf", policy);
    if (!config) return config.error();
    a.config = *config;
    return a;
  }
  if (verb == "caddy.start") {
    a.verb = Verb::CaddyStart;
    if (auto k = checkKeys(args, {"config", "pidfile", "log"}); !k) return k.error();
    auto config = proxyPath(args, "config", ".json", policy);
    if (!config) return config.error();
    auto pidfile = proxyPath(args, "pidfile", ".pid", policy);
    if (!pidfile) return pidfile.error();
    auto log = proxyPath(args, "log", ".log", policy);
    if (!log) return log.error();
    a.config = *config;
    a.pidfile = *pidfile;
    a.log = *log;
    return a;
  }
  if (verb == "file.write") {
    a.verb = Verb::FileWrite;
    if (auto k = checkKeys(args, {"path", "content"}); !k) return k.error();
    if (!args["path"].is_string()) return badArg("path", "must be a string");
    if (!args["content"].is_string()) return badArg("content", "must be a string");
    a.path = args["path"];
    a.content = args["content"];
    if (auto r = checkPathText("args.path", a.path); !r) return r.error();
    if (std::find(policy.writable_files.begin(), policy.writable_files.end(), a.path) == policy.writable_files.end())
      return badArg("path", "must be one of the files the helper's config lists (writable_files)");
    if (a.content.size() > kMaxFileBytes) return badArg("content", "must be at most 768 KiB");
    if (a.content.find('\0') != std::string::npos) return badArg("content", "must not hold NUL bytes");
    return a;
  }
  return makeError("unknown_verb", "verb '" + verb.substr(0, 32) + "' is not one the helper runs");
}

nlohmann::json describeArgs(const std::string& verb, const nlohmann::json& args) {
  if (!args.is_object()) return nullptr;
  nlohmann::json shown = args;
  if (verb == "file.write" && args.contains("content") && args["content"].is_string()) {
    const std::string content = args["content"];
    shown["content"] = {{"bytes", content.size()}, {"sha256", sha256Hex(content)}};
  }
  return shown;
}

}  // namespace berth::helper
