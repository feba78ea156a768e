// What the helper does for each allowed verb (helper_verbs parses them): fixed
// argv vectors by absolute path, never a shell. Paths a request names are
// opened component by component with O_NOFOLLOW, so a symlink planted in a
// directory the agent owns cannot point the helper elsewhere.
#pragma once

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "agent/traffic_control.hpp"
#include "common/result.hpp"
#include "helper/helper_verbs.hpp"

namespace berth::helper {

struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
};

struct Tools {
  agent::HostTools host;  // tc, nsenter, ip
  std::string nginx, caddy, setpriv;
};
// From the fixed system directories (root-owned executables only).
Tools findTools();

// `argv` run as `run_as` with CAP_NET_BIND_SERVICE only (through setpriv), or as is without one.
std::vector<std::string> asProxyUser(const std::string& setpriv, const std::optional<RunAs>& run_as,
                                     std::vector<std::string> argv);

struct ActionContext {
  Tools tools;
  std::optional<RunAs> proxy_user;  // nullopt: proxies run as root
};

// Runs `action`; its output (a command's, for the log) or the reason it failed.
Result<std::string> perform(const Action& action, const ActionContext& context);

// Opens `path` (absolute) walking each directory with O_NOFOLLOW: fails
// "unsafe_path" when any component is a symlink. Returns the parent's fd
// (O_DIRECTORY) and the last component; the caller closes the fd.
Result<std::pair<int, std::string>> openParentNoFollow(const std::string& path);
// The same check for a path that others will open: no component is a symlink.
Result<void> checkNoSymlinks(const std::string& field, const std::string& path);

}  // namespace berth::helper
