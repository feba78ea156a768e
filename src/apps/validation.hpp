// Validation of the values an app deployment is made of (issue: apps from
// container images). Pure functions; each failure names the field and the rule
// so the API can refuse the whole request before anything is stored or run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::apps {

// DNS label: 1-63 of [a-z0-9-], starting and ending with a letter or digit.
Result<void> validateAppName(const std::string& field, const std::string& name);

struct ImageReference {
  std::string registry;    // "docker.io" when not given
  std::string repository;  // "library/busybox" for "busybox"
  std::string tag;         // "latest" when neither tag nor digest is given
  std::string digest;      // "sha256:<64 hex>" or empty
  // Canonical text: registry/repository[:tag][@digest].
  std::string canonical() const;
};

// The Docker reference grammar: [host[:port]/]path[:tag][@sha256:<hex>].
Result<ImageReference> parseImageReference(const std::string& field, const std::string& text);

// [A-Za-z_][A-Za-z0-9_]*, at most 255 characters.
Result<void> validateEnvName(const std::string& field, const std::string& name);
// Docker's volume name rule: [A-Za-z0-9][A-Za-z0-9_.-]*, at most 128 characters.
Result<void> validateVolumeName(const std::string& field, const std::string& name);
// 1-65535.
Result<std::uint16_t> parsePort(const std::string& field, std::int64_t port);

// "0.5" cores or "500m" millicores -> millicores (1 .. 1,024,000).
Result<std::int64_t> parseCpu(const std::string& field, const std::string& text);
// "1048576", "512k", "256m", "1g", "2t" (also "Ki", "Mi", "Gi", "Ti"), binary
// units -> bytes; at least `minimum`.
Result<std::int64_t> parseBytes(const std::string& field, const std::string& text, std::int64_t minimum = 1);
// "10mbit", "512kbit", "1gbit", "800bit" -> bits per second (at least 8000).
Result<std::int64_t> parseBandwidth(const std::string& field, const std::string& text);
// "uid", "uid:gid" (numbers) or "name[:group]" ([a-z_][a-z0-9_-]*, at most 32 characters each).
Result<void> validateUser(const std::string& field, const std::string& user);
// A Linux capability name without the CAP_ prefix, e.g. NET_BIND_SERVICE.
Result<void> validateCapability(const std::string& field, const std::string& name);
// Docker's default capability set (what a container keeps unless told
// otherwise): an app may keep any of these without the server allowing it.
const std::vector<std::string>& defaultCapabilities();
// Every capability must be in Docker's default set or in `allowed` (the
// server's allowed_capabilities setting); the refusal names the field and the
// setting that would allow it.
Result<void> checkCapabilities(const std::string& field, const std::vector<std::string>& capabilities,
                               const std::vector<std::string>& allowed);
// Text that ends up in a request line, a header or a host name: no control
// characters (CR and LF would split a request; NUL truncates).
Result<void> refuseControlCharacters(const std::string& field, const std::string& text);
// "500ms", "10s", "5m", "1h" -> milliseconds (> 0, at most a day).
Result<std::int64_t> parseDuration(const std::string& field, const std::string& text);

enum class HealthCheckKind { Http, Tcp, Command };

struct HealthCheck {
  HealthCheckKind kind = HealthCheckKind::Http;
  std::string path = "/";            // http
  std::uint16_t port = 0;            // http, tcp
  std::vector<std::string> command;  // command: argv, never a shell string
  std::int64_t interval_ms = 10'000;
  std::int64_t timeout_ms = 5'000;
  int retries = 3;
  std::int64_t start_period_ms = 0;
};

// Validates a health check given as fields already split out of JSON.
Result<HealthCheck> makeHealthCheck(const std::string& kind, const std::string& path, std::int64_t port,
                                    const std::vector<std::string>& command, const std::string& interval,
                                    const std::string& timeout, std::int64_t retries, const std::string& start_period);

}  // namespace berth::apps
