// The helper's exact verb allowlist and the typed arguments of each, checked
// by pure code before anything runs (no I/O here; the symlink checks that
// need the filesystem are in helper_actions).
//
//   traffic.shape {pid, in_bps, out_bps}     tc on a container's veth and inside its netns
//   nginx.start | nginx.reload | nginx.quit {config}
//   caddy.start {config, pidfile, log}
//   file.write {path, content}               one of the files the helper's config names
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::helper {

// What the helper's own configuration allows, fixed at start.
struct Policy {
  std::vector<std::string> proxy_dirs;      // proxy config, pid and log files live under these
  std::vector<std::string> writable_files;  // the only targets of file.write (exact paths)
};

enum class Verb { TrafficShape, NginxStart, NginxReload, NginxQuit, CaddyStart, FileWrite };

struct Action {
  Verb verb = Verb::TrafficShape;
  int pid = 0;
  std::int64_t in_bps = 0, out_bps = 0;
  std::string config, pidfile, log;  // nginx / caddy
  std::string path, content;         // file.write
};

inline constexpr int kMaxPid = 4'194'304;                     // PID_MAX_LIMIT on 64-bit Linux
inline constexpr std::int64_t kMaxBps = 1'000'000'000'000;    // 1 Tbit/s
inline constexpr std::size_t kMaxPathChars = 1024;
inline constexpr std::size_t kMaxFileBytes = 768u << 10;

const std::vector<std::string>& verbNames();

// "unknown_verb" for anything not in the list; "invalid_argument" naming the
// field ("args.pid") and its rule for a missing, extra or ill-typed argument.
Result<Action> parseAction(const std::string& verb, const nlohmann::json& args, const Policy& policy);

// A path's text: absolute, at most 1024 characters of [A-Za-z0-9._@+-] and '/',
// no empty, "." or ".." component, no trailing '/'. So no NUL, control
// characters, spaces or shell metacharacters.
Result<void> checkPathText(const std::string& field, const std::string& path);
// checkPathText, then strictly under one of `dirs` (a directory itself is not "under" it).
Result<void> checkUnder(const std::string& field, const std::string& path, const std::vector<std::string>& dirs);

// The arguments as logged: file contents are replaced by their size and SHA-256.
nlohmann::json describeArgs(const std::string& verb, const nlohmann::json& args);

}  // namespace berth::helper
