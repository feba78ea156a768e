#include "apps/validation.hpp"

#include "common/clock.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace berth::apps {
namespace {

constexpr std::int64_t kMaxMillicores = 1024 * 1000;

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f'); }

// One path component: [a-z0-9]+ separated by '.', '_', '__' or '-'s.
bool validPathComponent(const std::string& c) {
  if (c.empty() || !isLowerAlnum(c.front()) || !isLowerAlnum(c.back())) return false;
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (isLowerAlnum(c[i])) continue;
    if (c[i] != '.' && c[i] != '_' && c[i] != '-') return false;
    if (c[i] == '.' && c[i + 1] == '.') return false;  // no ".."
  }
  return true;
}

bool validHost(const std::string& host) {
  std::string name = host, port;
  if (auto colon = host.rfind(':'); colon != std::string::npos) {
    name = host.substr(0, colon);
    port = host.substr(colon + 1);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), isDigit)) return false;
  }
  // Labels between the dots are not empty ("..", ".example" and "example." are no hosts).
  if (name.empty() || name.front() == '.' || name.back() == '.' || name.find("..") != std::string::npos) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-'; });
}

bool validTag(const std::string& tag) {
  if (tag.empty() || tag.size() > 128) return false;
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!word(tag.front())) return false;
  return std::all_of(tag.begin(), tag.end(), [&](char c) { return word(c) || c == '.' || c == '-'; });
}

// Splits "12.5x" into the number and the unit; false when there is no number.
bool splitNumber(const std::string& text, double& number, std::string& unit) {
  std::size_t i = 0;
  while (i < text.size() && (isDigit(text[i]) || text[i] == '.')) ++i;
  if (i == 0 || std::count(text.begin(), text.begin() + static_cast<long>(i), '.') > 1) return false;
  try {
    number = std::stod(text.substr(0, i));
  } catch (...) {
    return false;
  }
  unit = text.substr(i);
  return std::isfinite(number);
}

}  // namespace

Result<void> refuseControlCharacters(const std::string& field, const std::string& text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f)
      return invalidField(field, "must not contain control characters (CR, LF, TAB, NUL, ...)");
  }
  return Ok{};
}

Result<void> validateAppName(const std::string& field, const std::string& name) {
  if (name.empty() || name.size() > 63) return invalidField(field, "must be 1 to 63 characters");
  if (!std::all_of(name.begin(), name.end(), [](char c) { return isLowerAlnum(c) || c == '-'; })) {
    return invalidField(field, "may contain only lower-case letters, digits and '-'");
  }
  if (!isLowerAlnum(name.front()) || !isLowerAlnum(name.back())) {
    return invalidField(field, "must start and end with a letter or digit");
  }
  return Ok{};
}

std::string ImageReference::canonical() const {
  std::string out = registry + "/" + repository;
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

Result<ImageReference> parseImageReference(const std::string& field, const std::string& text) {
  if (text.empty() || text.size() > 512) return invalidField(field, "must be 1 to 512 characters");
  ImageReference ref;
  std::string rest = text;
  if (auto at = rest.find('@'); at != std::string::npos) {
    ref.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (ref.digest.rfind("sha256:", 0) != 0 || ref.digest.size() != 7 + 64 ||
        !std::all_of(ref.digest.begin() + 7, ref.digest.end(), isHex)) {
      return invalidField(field, "digest must be sha256: followed by 64 lower-case hex digits");
    }
  }
  // A ':' after the last '/' starts the tag (a ':' before it is a registry port).
  const auto lastSlash = rest.rfind('/');
  if (auto colon = rest.rfind(':');
      colon != std::string::npos && (lastSlash == std::string::npos || colon > lastSlash)) {
    ref.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (!validTag(ref.tag)) {
      return invalidField(field, "tag must be 1 to 128 of letters, digits, '_', '.', '-', not starting with '.' or '-'");
    }
  }
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= rest.size(); ++i) {
    if (i == rest.size() || rest[i] == '/') {
      parts.push_back(rest.substr(start, i - start));
      start = i + 1;
    }
  }
  const std::string& first = parts.front();
  const bool hasRegistry = parts.size() > 1 && (first.find('.') != std::string::npos ||
                                                first.find(':') != std::string::npos || first == "localhost");
  if (hasRegistry) {
    if (!validHost(first)) return invalidField(field, "registry '" + first + "' is not a valid host[:port]");
    ref.registry = first;
    parts.erase(parts.begin());
  } else {
    ref.registry = "docker.io";
  }
  for (const auto& part : parts) {
    if (!validPathComponent(part)) {
      return invalidField(
          field, "repository '" + rest + "' must be lower-case letters and digits separated by '/', '.', '_' or '-'");
    }
  }
  if (ref.registry == "docker.io" && parts.size() == 1) parts.insert(parts.begin(), "library");
  for (std::size_t i = 0; i < parts.size(); ++i) ref.repository += (i ? "/" : "") + parts[i];
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

Result<void> validateEnvName(const std::string& field, const std::string& name) {
  if (name.empty() || name.size() > 255) return invalidField(field, "must be 1 to 255 characters");
  if (isDigit(name.front())) return invalidField(field, "must not start with a digit");
  if (!std::all_of(name.begin(), name.end(),
                   [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; })) {
    return invalidField(field, "may contain only letters, digits and '_'");
  }
  return Ok{};
}

Result<void> validateVolumeName(const std::string& field, const std::string& name) {
  if (name.empty() || name.size() > 128) return invalidField(field, "must be 1 to 128 characters");
  if (!std::isalnum(static_cast<unsigned char>(name.front())))
    return invalidField(field, "must start with a letter or digit");
  if (!std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
      })) {
    return invalidField(field, "may contain only letters, digits, '_', '.' and '-'");
  }
  return Ok{};
}

Result<std::uint16_t> parsePort(const std::string& field, std::int64_t port) {
  if (port < 1 || port > 65535) return invalidField(field, "must be a port number from 1 to 65535");
  return static_cast<std::uint16_t>(port);
}

Result<std::int64_t> parseCpu(const std::string& field, const std::string& text) {
  double number = 0;
  std::string unit;
  if (!splitNumber(text, number, unit) || (unit != "" && unit != "m")) {
    return invalidField(field, "must be cores (\"0.5\") or millicores (\"500m\")");
  }
  // Range-checked as a double first: casting a value beyond int64 is undefined behaviour.
  const double wanted = unit == "m" ? number : number * 1000;
  if (!(wanted >= 0.5 && wanted < static_cast<double>(kMaxMillicores) + 0.5))
    return invalidField(field, "must be between 1m and 1024 cores");
  const auto millicores = static_cast<std::int64_t>(std::llround(wanted));
  return millicores;
}

Result<std::int64_t> parseBytes(const std::string& field, const std::string& text, std::int64_t minimum) {
  double number = 0;
  std::string unit;
  if (!splitNumber(text, number, unit)) return invalidField(field, "must be a size such as 512m, 1g or 1048576");
  std::transform(unit.begin(), unit.end(), unit.begin(), [](char c) { return static_cast<char>(std::tolower(c)); });
  if (unit.size() == 2 && unit[1] == 'i') unit.pop_back();  // Mi == m (binary)
  if (unit.size() == 2 && unit[1] == 'b') unit.pop_back();  // mb == m
  static const std::pair<const char*, double> kUnits[] = {{"", 1.0},
                                                          {"b", 1.0},
                                                          {"k", 1024.0},
                                                          {"m", 1024.0 * 1024},
                                                          {"g", 1024.0 * 1024 * 1024},
                                                          {"t", 1024.0 * 1024 * 1024 * 1024}};
  for (const auto& [name, scale] : kUnits) {
    if (unit != name) continue;
    const double bytes = number * scale;
    if (!(bytes <= 9.0e18)) return invalidField(field, "is too large");
    const auto value = static_cast<std::int64_t>(bytes);
    if (value < minimum) return invalidField(field, "must be at least " + std::to_string(minimum) + " bytes");
    return value;
  }
  return invalidField(field, "unit must be one of b, k, m, g, t (binary)");
}

Result<std::int64_t> parseBandwidth(const std::string& field, const std::string& text) {
  double number = 0;
  std::string unit;
  if (!splitNumber(text, number, unit)) return invalidField(field, "must be a rate such as 10mbit or 512kbit");
  static const std::pair<const char*, double> kUnits[] = {
      {"bit", 1.0}, {"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}};
  for (const auto& [name, scale] : kUnits) {
    if (unit != name) continue;
    const double bits = number * scale;
    if (!(bits <= 1e12)) return invalidField(field, "must be at most 1000gbit");
    if (bits < 8000) return invalidField(field, "must be at least 8kbit");
    return static_cast<std::int64_t>(bits);
  }
  return invalidField(field, "unit must be bit, kbit, mbit or gbit (bits per second)");
}

Result<void> validateUser(const std::string& field, const std::string& user) {
  auto part = [](const std::string& p) {
    if (p.empty() || p.size() > 32) return false;
    if (std::all_of(p.begin(), p.end(), isDigit)) return p.size() <= 10;
    if (!(p[0] == '_' || (p[0] >= 'a' && p[0] <= 'z'))) return false;
    return std::all_of(p.begin(), p.end(), [](char c) { return isLowerAlnum(c) || c == '_' || c == '-'; });
  };
  const auto colon = user.find(':');
  const bool ok = colon == std::string::npos ? part(user) : part(user.substr(0, colon)) && part(user.substr(colon + 1));
  if (!ok) return invalidField(field, "must be uid[:gid] or name[:group], e.g. 1000:1000 or nobody");
  return Ok{};
}

Result<void> validateCapability(const std::string& field, const std::string& name) {
  static const char* kKnown[] = {
      "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE", "CHOWN",
      "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE",
      "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST",
      "NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYSLOG", "SYS_ADMIN", "SYS_BOOT",
      "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME",
      "SYS_TTY_CONFIG", "WAKE_ALARM"};
  for (const char* known : kKnown) {
    if (name == known) return Ok{};
  }
  return invalidField(field, "'" + name + "' is not a Linux capability (write it without CAP_, e.g. NET_BIND_SERVICE)");
}

const std::vector<std::string>& defaultCapabilities() {
  static const std::vector<std::string> kDefault = {"CHOWN",  "DAC_OVERRIDE", "FSETID",           "FOWNER",
                                                    "MKNOD",  "NET_RAW",      "SETGID",           "SETUID",
                                                    "SETFCAP", "SETPCAP",     "NET_BIND_SERVICE", "SYS_CHROOT",
                                                    "KILL",   "AUDIT_WRITE"};
  return kDefault;
}

Result<void> checkCapabilities(const std::string& field, const std::vector<std::string>& capabilities,
                               const std::vector<std::string>& allowed) {
  const auto& defaults = defaultCapabilities();
  for (const auto& cap : capabilities) {
    if (auto r = validateCapability(field, cap); !r) return r;
    if (std::find(defaults.begin(), defaults.end(), cap) != defaults.end()) continue;
    if (std::find(allowed.begin(), allowed.end(), cap) != allowed.end()) continue;
    return invalidField(field, "'" + cap +
                              "' is not in Docker's default set; the server setting allowed_capabilities must list it "
                              "before an app may keep it");
  }
  return Ok{};
}

Result<std::int64_t> parseDuration(const std::string& field, const std::string& text) {
  double number = 0;
  std::string unit;
  if (!splitNumber(text, number, unit)) return invalidField(field, "must be a duration such as 500ms, 10s or 5m");
  double scale = 0;
  if (unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "m")
    scale = 60'000;
  else if (unit == "h")
    scale = 3'600'000;
  else
    return invalidField(field, "unit must be ms, s, m or h");
  // Range-checked as a double before the cast ("5555...h" is 5.5e35 ms: beyond int64, undefined behaviour).
  const double ms = number * scale;
  if (!(ms >= 1 && ms <= static_cast<double>(kDayMs))) return invalidField(field, "must be between 1ms and 24h");
  return static_cast<std::int64_t>(ms);
}

Result<HealthCheck> makeHealthCheck(const std::string& kind, const std::string& path, std::int64_t port,
                                    const std::vector<std::string>& command, const std::string& interval,
                                    const std::string& timeout, std::int64_t retries, const std::string& start_period) {
  HealthCheck check;
  if (kind == "http") {
    check.kind = HealthCheckKind::Http;
    if (path.empty() || path.front() != '/') return invalidField("health_check.path", "must start with '/'");
    if (auto r = refuseControlCharacters("health_check.path", path); !r) return r.error();
    if (path.find(' ') != std::string::npos || path.size() > 2048)
      return invalidField("health_check.path", "must be at most 2048 characters without spaces (percent-encode them)");
    check.path = path;
  } else if (kind == "tcp") {
    check.kind = HealthCheckKind::Tcp;
  } else if (kind == "command") {
    check.kind = HealthCheckKind::Command;
    if (command.empty() || command.front().empty()) {
      return invalidField("health_check.command", "must be a non-empty argv list (no shell string)");
    }
    check.command = command;
  } else {
    return invalidField("health_check.type", "must be http, tcp or command");
  }
  if (check.kind != HealthCheckKind::Command) {
    auto p = parsePort("health_check.port", port);
    if (!p) return p.error();
    check.port = *p;
  }
  auto i = parseDuration("health_check.interval", interval);
  if (!i) return i.error();
  auto t = parseDuration("health_check.timeout", timeout);
  if (!t) return t.error();
  if (*t > *i) return invalidField("health_check.timeout", "must not be longer than the interval");
  if (retries < 1 || retries > 100) return invalidField("health_check.retries", "must be between 1 and 100");
  check.interval_ms = *i;
  check.timeout_ms = *t;
  check.retries = static_cast<int>(retries);
  if (!start_period.empty() && start_period != "0") {
    auto s = parseDuration("health_check.start_period", start_period);
    if (!s) return s.error();
    check.start_period_ms = *s;
  }
  return check;
}

}  // namespace berth::apps
