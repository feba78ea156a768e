#include "apps/spec.hpp"

#include <algorithm>
#include <set>

#include "common/clock.hpp"

namespace berth::apps {
namespace {

// A size/rate/cpu given as a string or (for plain numbers) an integer.
Result<std::string> scalarText(const nlohmann::json& value, const std::string& field) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_unsigned()) return std::to_string(value.get<std::uint64_t>());
  if (value.is_number_integer()) return std::to_string(value.get<std::int64_t>());
  if (value.is_number_float()) return std::to_string(value.get<double>());
  return invalidField(field, "must be a string such as \"512m\" or a number");
}

Result<std::map<std::string, std::string>> stringMap(const nlohmann::json& value, const std::string& field) {
  if (!value.is_object()) return invalidField(field, "must be an object of strings");
  std::map<std::string, std::string> out;
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (!it.value().is_string()) return invalidField(field + "." + it.key(), "must be a string");
    out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

Result<std::vector<std::string>> argv(const nlohmann::json& value, const std::string& field) {
  if (!value.is_array()) return invalidField(field, "must be an array of strings (argv, no shell string)");
  std::vector<std::string> out;
  for (const auto& item : value) {
    if (!item.is_string()) return invalidField(field, "must be an array of strings (argv, no shell string)");
    out.push_back(item.get<std::string>());
  }
  return out;
}

Result<std::int64_t> integer(const nlohmann::json& value, const std::string& field) {
  if (!value.is_number_integer() && !value.is_number_unsigned()) return invalidField(field, "must be an integer");
  // An unsigned beyond int64 would wrap to a negative number.
  if (value.is_number_unsigned() && value.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
    return invalidField(field, "is too large");
  return value.get<std::int64_t>();
}

Result<void> onlyKnown(const nlohmann::json& object, const std::string& prefix, const std::set<std::string>& known) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (!known.count(it.key())) return invalidField(prefix + it.key(), "is not a known field");
  }
  return Ok{};
}

Result<HealthCheck> parseHealth(const nlohmann::json& h, std::uint16_t app_port) {
  if (!h.is_object()) return invalidField("health_check", "must be an object");
  if (auto r = onlyKnown(h, "health_check.",
                         {"type", "path", "port", "command", "interval", "timeout", "retries", "start_period"});
      !r)
    return r.error();
  if (!h.contains("type") || !h["type"].is_string()) return invalidField("health_check.type", "must be http, tcp or command");
  std::int64_t port = app_port;
  if (h.contains("port")) {
    auto p = integer(h["port"], "health_check.port");
    if (!p) return p.error();
    port = *p;
  }
  std::vector<std::string> command;
  if (h.contains("command")) {
    auto c = argv(h["command"], "health_check.command");
    if (!c) return c.error();
    command = *c;
  }
  std::int64_t retries = 3;
  if (h.contains("retries")) {
    auto r = integer(h["retries"], "health_check.retries");
    if (!r) return r.error();
    retries = *r;
  }
  auto text = [&](const char* key, const char* fallback) -> Result<std::string> {
    if (!h.contains(key)) return std::string(fallback);
    if (!h[key].is_string()) return invalidField(std::string("health_check.") + key, "must be a string");
    return h[key].get<std::string>();
  };
  auto path = text("path", "/");
  auto interval = text("interval", "2s");
  auto timeout = text("timeout", "1s");
  auto start = text("start_period", "0");
  for (auto* r : {&path, &interval, &timeout, &start}) {
    if (!*r) return r->error();
  }
  return makeHealthCheck(h["type"].get<std::string>(), *path, port, command, *interval, *timeout, retries, *start);
}

}  // namespace

Result<Limits> parseLimits(const nlohmann::json& l, const Limits& base) {
  if (!l.is_object()) return invalidField("limits", "must be an object");
  if (auto r = onlyKnown(l, "limits.", {"cpu", "memory", "swap", "pids", "disk", "net_in", "net_out"}); !r)
    return r.error();
  Limits out = base;
  // "0" or "" clears a limit (unlimited) for every field but pids.
  auto cleared = [&](const char* key) {
    return l[key].is_null() || (l[key].is_string() && (l[key] == "" || l[key] == "0")) ||
           (l[key].is_number() && l[key].get<double>() == 0);
  };
  if (l.contains("cpu")) {
    if (cleared("cpu")) {
      out.cpu_millicores = 0;
    } else {
      auto t = scalarText(l["cpu"], "limits.cpu");
      if (!t) return t.error();
      auto v = parseCpu("limits.cpu", *t);
      if (!v) return v.error();
      out.cpu_millicores = *v;
    }
  }
  struct SizeField {
    const char* key;
    std::int64_t* target;
    std::int64_t minimum;
  };
  for (auto [key, target, minimum] : {SizeField{"memory", &out.memory_bytes, 6 * 1024 * 1024},
                                      SizeField{"swap", &out.swap_bytes, 0}, SizeField{"disk", &out.disk_bytes, 1 << 20}}) {
    if (!l.contains(key)) continue;
    const std::string field = std::string("limits.") + key;
    if (cleared(key)) {
      *target = 0;
      continue;
    }
    auto t = scalarText(l[key], field);
    if (!t) return t.error();
    auto v = parseBytes(field, *t, minimum);
    if (!v) return v.error();
    *target = *v;
  }
  for (auto [key, target] : {std::pair{"net_in", &out.net_in_bps}, std::pair{"net_out", &out.net_out_bps}}) {
    if (!l.contains(key)) continue;
    const std::string field = std::string("limits.") + key;
    if (cleared(key)) {
      *target = 0;
      continue;
    }
    if (!l[key].is_string()) return invalidField(field, "must be a string such as \"10mbit\"");
    auto v = parseBandwidth(field, l[key].get<std::string>());
    if (!v) return v.error();
    *target = *v;
  }
  if (l.contains("pids")) {
    auto v = integer(l["pids"], "limits.pids");
    if (!v) return v.error();
    if (*v < 8 || *v > 1'000'000) return invalidField("limits.pids", "must be between 8 and 1000000");
    out.pids = *v;
  }
  if (out.swap_bytes > 0 && out.memory_bytes == 0) return invalidField("limits.swap", "needs limits.memory as well");
  return out;
}

Result<DeploymentSpec> parseDeploymentSpec(const nlohmann::json& b) {
  if (!b.is_object()) return invalidField("body", "must be a JSON object");
  if (auto r = onlyKnown(b, "",
                         {"image", "command", "env", "secrets", "volumes", "port", "publish", "health_check", "limits",
                          "replicas", "capabilities", "read_only", "registry_auth", "pull", "user", "publish_public", "drain", "watch",
                          "hold", "allow_downtime", "hsts", "source"});
      !r)
    return r.error();
  DeploymentSpec spec;
  if (b.contains("source") && !b["source"].is_null()) {
    // Built from git: the agent names the image, so none may be given (or slipped in beside it).
    if (b.contains("image") && !(b["image"].is_null() || (b["image"].is_string() && b["image"] == "")))
      return invalidField("image", "must be empty when source is given (the image is built from the repository)");
    if (b.contains("registry_auth") && !b["registry_auth"].is_null())
      return invalidField("registry_auth", "does not apply when source is given (the source's credentials are the app's)");
    auto source = parseSourceSpec(b["source"]);
    if (!source) return source.error();
    spec.source = std::move(*source);
  } else {
    if (!b.contains("image") || !b["image"].is_string())
      return invalidField("image", "is required (an image reference), or source (a git repository)");
    spec.image = b["image"].get<std::string>();
    auto ref = parseImageReference("image", spec.image);
    if (!ref) return ref.error();
    spec.reference = *ref;
  }
  if (b.contains("command")) {
    auto c = argv(b["command"], "command");
    if (!c) return c.error();
    spec.command = *c;
  }
  for (auto [key, target] : {std::pair{"env", &spec.env}, std::pair{"secrets", &spec.secrets}}) {
    if (!b.contains(key)) continue;
    auto m = stringMap(b[key], key);
    if (!m) return m.error();
    for (const auto& [name, value] : *m) {
      if (auto r = validateEnvName(std::string(key) + "." + name, name); !r) return r.error();
      if (value.size() > 65536) return invalidField(std::string(key) + "." + name, "must be at most 64 KiB");
    }
    *target = *m;
  }
  for (const auto& [name, value] : spec.secrets) {
    if (spec.env.count(name)) return invalidField("secrets." + name, "is also set in env; pick one");
  }
  if (b.contains("volumes")) {
    auto m = stringMap(b["volumes"], "volumes");
    if (!m) return m.error();
    std::set<std::string> paths;
    for (const auto& [name, path] : *m) {
      if (auto r = validateVolumeName("volumes." + name, name); !r) return r.error();
      if (path.empty() || path.front() != '/' || path.find("..") != std::string::npos || path == "/")
        return invalidField("volumes." + name, "mount path must be absolute, not /, without '..'");
      if (!paths.insert(path).second) return invalidField("volumes." + name, "mount path " + path + " is used twice");
    }
    spec.volumes = *m;
  }
  for (auto [key, target] : {std::pair{"port", &spec.port}, std::pair{"publish", &spec.publish}}) {
    if (!b.contains(key)) continue;
    auto n = integer(b[key], key);
    if (!n) return n.error();
    auto p = parsePort(key, *n);
    if (!p) return p.error();
    *target = *p;
  }
  if (spec.publish && !spec.port) return invalidField("publish", "needs port (the container port to publish)");
  if (b.contains("publish_public")) {
    if (!b["publish_public"].is_boolean()) return invalidField("publish_public", "must be true or false");
    spec.publish_public = b["publish_public"].get<bool>();
    if (spec.publish_public && !spec.publish) return invalidField("publish_public", "needs publish (a host port)");
  }
  if (b.contains("health_check") && !b["health_check"].is_null()) {
    auto h = parseHealth(b["health_check"], spec.port);
    if (!h) return h.error();
    spec.health = *h;
  }
  if (b.contains("limits")) {
    auto l = parseLimits(b["limits"], Limits{});
    if (!l) return l.error();
    spec.limits = *l;
  }
  if (b.contains("replicas")) {
    auto n = integer(b["replicas"], "replicas");
    if (!n) return n.error();
    if (*n < 0 || *n > 100) return invalidField("replicas", "must be between 0 and 100");
    spec.replicas = static_cast<int>(*n);
  }
  if (spec.publish && spec.replicas > 1) return invalidField("publish", "a host port can be published by one replica only");
  if (b.contains("capabilities")) {
    auto c = argv(b["capabilities"], "capabilities");
    if (!c) return c.error();
    for (const auto& cap : *c) {
      if (auto r = validateCapability("capabilities", cap); !r) return r.error();
    }
    spec.capabilities = *c;
  }
  if (b.contains("read_only")) {
    if (!b["read_only"].is_boolean()) return invalidField("read_only", "must be true or false");
    spec.read_only = b["read_only"].get<bool>();
  }
  if (b.contains("user")) {
    if (!b["user"].is_string()) return invalidField("user", "must be a string such as \"1000\" or \"1000:1000\"");
    spec.user = b["user"];
    if (auto r = validateUser("user", spec.user); !r) return r.error();
  }
  if (b.contains("pull")) {
    if (!b["pull"].is_string() || (b["pull"] != "always" && b["pull"] != "missing"))
      return invalidField("pull", "must be \"always\" or \"missing\"");
    spec.pull = b["pull"];
  }
  if (b.contains("registry_auth") && !b["registry_auth"].is_null()) {
    const auto& a = b["registry_auth"];
    if (!a.is_object() || !a.contains("username") || !a["username"].is_string() || !a.contains("password") ||
        !a["password"].is_string())
      return invalidField("registry_auth", "must be {\"username\": ..., \"password\": ...}");
    if (auto r = refuseControlCharacters("registry_auth.username", a["username"].get<std::string>()); !r)
      return r.error();
    spec.registry_auth = RegistryAuth{a["username"], a["password"]};
  }
  for (auto [key, target] : {std::pair{"drain", &spec.drain_ms}, std::pair{"watch", &spec.watch_ms}}) {
    if (!b.contains(key)) continue;
    if (!b[key].is_string()) return invalidField(key, "must be a duration such as 30s, or \"0\"");
    const std::string text = b[key].get<std::string>();
    if (text == "0") {
      *target = 0;
      continue;
    }
    auto ms = parseDuration(key, text);
    if (!ms) return ms.error();
    if (*ms > kHourMs) return invalidField(key, "must be at most 1h");
    *target = *ms;
  }
  if (b.contains("hold")) {
    if (!b["hold"].is_string()) return invalidField("hold", "must be a duration such as 10s, or \"0\"");
    const std::string text = b["hold"].get<std::string>();
    if (text != "0") {
      auto ms = parseDuration("hold", text);
      if (!ms) return ms.error();
      if (*ms > kMaxHoldMs) return invalidField("hold", "must be at most 5m");
      spec.hold_ms = static_cast<int>(*ms);
    } else {
      spec.hold_ms = 0;
    }
  }
  if (b.contains("hsts")) {
    if (!b["hsts"].is_boolean()) return invalidField("hsts", "must be true or false");
    spec.hsts = b["hsts"].get<bool>();
  }
  if (b.contains("allow_downtime")) {
    if (!b["allow_downtime"].is_boolean()) return invalidField("allow_downtime", "must be true or false");
    spec.allow_downtime = b["allow_downtime"].get<bool>();
  }
  return spec;
}

bool DeploymentSpec::pullAlways() const {
  if (!reference.digest.empty()) return false;
  if (!pull.empty()) return pull == "always";
  return reference.registry != "docker.io";
}

nlohmann::json toJson(const Limits& l) {
  return {{"cpu_millicores", l.cpu_millicores}, {"memory_bytes", l.memory_bytes}, {"swap_bytes", l.swap_bytes},
          {"pids", l.pids},
          {"disk_bytes", l.disk_bytes},
          {"net_in_bps", l.net_in_bps},
          {"net_out_bps", l.net_out_bps}};
}

nlohmann::json toJson(const HealthCheck& h) {
  static const char* kKinds[] = {"http", "tcp", "command"};
  nlohmann::json out = {{"type", kKinds[static_cast<int>(h.kind)]},
                        {"interval_ms", h.interval_ms},
                        {"timeout_ms", h.timeout_ms},
                        {"retries", h.retries},
                        {"start_period_ms", h.start_period_ms}};
  if (h.kind == HealthCheckKind::Http) out["path"] = h.path;
  if (h.kind != HealthCheckKind::Command) out["port"] = h.port;
  if (h.kind == HealthCheckKind::Command) out["command"] = h.command;
  return out;
}

nlohmann::json toJson(const DeploymentSpec& s, bool with_secrets) {
  nlohmann::json out = {{"image", s.image},
                        {"image_canonical", s.reference.canonical()},
                        {"command", s.command},
                        {"env", s.env},
                        {"volumes", s.volumes},
                        {"port", s.port},
                        {"publish", s.publish},
                        {"publish_public", s.publish_public},
                        {"limits", toJson(s.limits)},
                        {"replicas", s.replicas},
                        {"capabilities", s.capabilities},
                        {"read_only", s.read_only},
                        {"user", s.user},
                        {"pull", s.pullAlways() ? "always" : "missing"},
                        {"drain_ms", s.drain_ms},
                        {"watch_ms", s.watch_ms},
                        {"hold_ms", s.hold_ms},
                        {"allow_downtime", s.allow_downtime},
                        {"hsts", s.hsts}};
  out["health_check"] = s.health ? toJson(*s.health) : nlohmann::json();
  if (s.source) {
    out["source"] = toJson(*s.source);
    out.erase("image_canonical");  // nothing to canonicalise: the agent names the built image
  }
  nlohmann::json names = nlohmann::json::array();
  for (const auto& [name, value] : s.secrets) names.push_back(name);
  out["secret_names"] = names;
  out["registry_auth_set"] = s.registry_auth.has_value();
  if (with_secrets) {
    out["secrets"] = s.secrets;
    if (s.registry_auth)
      out["registry_auth"] = {{"username", s.registry_auth->username}, {"password", s.registry_auth->password}};
  }
  return out;
}

Claim claimOf(const std::string& app, const DeploymentSpec& spec) {
  return Claim{app, spec.limits.cpu_millicores * spec.replicas, spec.limits.memory_bytes * spec.replicas};
}

Result<void> checkCapacity(const Allocatable& node, const std::vector<Claim>& others, const Claim& wanted) {
  std::int64_t cpu = wanted.cpu_millicores, memory = wanted.memory_bytes;
  for (const auto& c : others) {
    if (c.app == wanted.app) continue;  // the app's own previous deployment is replaced
    cpu += c.cpu_millicores;
    memory += c.memory_bytes;
  }
  if (wanted.cpu_millicores > 0 && cpu > node.cpu_millicores) {
    return makeError("over_capacity", "limits.cpu: the node can allocate " + std::to_string(node.cpu_millicores) +
                                          "m CPU and apps would claim " + std::to_string(cpu) + "m");
  }
  if (wanted.memory_bytes > 0 && memory > node.memory_bytes) {
    return makeError("over_capacity", "limits.memory: the node can allocate " + std::to_string(node.memory_bytes) +
                                          " bytes and apps would claim " + std::to_string(memory));
  }
  return Ok{};
}

}  // namespace berth::apps
