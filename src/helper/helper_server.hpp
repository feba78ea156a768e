// `berth helper`: listens on a unix socket (0660 root:<socket_group>), reads
// one bounded frame per connection, authenticates it (helper_protocol), parses
// the verb (helper_verbs), performs it (helper_actions), answers and logs one
// line per request: verb, arguments (file contents as size and hash), outcome,
// and the caller's uid and pid. A bad request gets an error answer; nothing a
// client sends ends the helper. Connections are served on threads, at most
// kMaxConnections at once.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "helper/helper_actions.hpp"
#include "helper/helper_config.hpp"
#include "helper/helper_protocol.hpp"

namespace berth::helper {

inline constexpr int kMaxConnections = 16;
inline constexpr int kIoTimeoutS = 10;  // per read or write on a connection

// Loads the key at `path`, or creates it (32 random bytes as hex, 0640, owner
// root, group `gid` when >= 0). An existing file must be a regular file, not a
// symlink, without world access or group/world write, owned by root when the
// helper runs as root: else "unsafe_key".
Result<std::string> loadOrCreateKey(const std::string& path, int gid);

struct Peer {
  int pid = 0, uid = -1;
};

class HelperServer {
 public:
  // Resolves the group, the proxy user and the tools, loads or creates the
  // key and binds the socket (a stale socket file is replaced; anything else
  // at that path is refused).
  static Result<std::unique_ptr<HelperServer>> create(HelperConfig config, Clock clock = systemNowMs);
  ~HelperServer();
  // Serves until stop(). Thread-safe stop.
  void run();
  void stop() { stopping_ = true; }
  // One request's body in, the answer's body out (the whole path after framing).
  std::string handle(const std::string& body, const Peer& peer);

 private:
  HelperServer() = default;
  void serve(int fd);

  HelperConfig config_;
  Clock clock_;
  std::string key_;
  Policy policy_;
  ActionContext context_;
  Freshness freshness_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<int> active_{0};
  std::mutex nonces_mutex_;
  std::unique_ptr<NonceCache> nonces_;
};

}  // namespace berth::helper
