#include "auth/container_policy.hpp"

#include <algorithm>

#include "apps/validation.hpp"

namespace berth::auth {
namespace {

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// An id Linux can hold, other than 0 (root) and 4294967295 ((uid_t)-1, "unchanged" to setresuid).
bool numericNonRootId(const std::string& id) {
  if (id.empty() || id.size() > 10 || id.find_first_not_of("0123456789") != std::string::npos) return false;
  const long long value = std::stoll(id);
  return value != 0 && value < 4294967295LL;
}

// "1000" or "1000:1000": numbers, neither of them 0. Names are resolved inside
// the image, where any of them may be root (or the root group), so they do not
// count as non-root.
bool numericNonRoot(const std::string& user) {
  const auto colon = user.find(':');
  if (colon == std::string::npos) return numericNonRootId(user);
  return numericNonRootId(user.substr(0, colon)) && numericNonRootId(user.substr(colon + 1));
}

}  // namespace

const std::vector<std::string>& hostCapabilities() {
  static const std::vector<std::string> kHost = {
      "SYS_ADMIN", "SYS_MODULE",   "SYS_PTRACE",      "SYS_RAWIO",     "SYS_BOOT",   "BPF",
      "PERFMON",   "MAC_ADMIN",    "MAC_OVERRIDE",    "NET_ADMIN",     "DAC_READ_SEARCH", "SYS_TIME",
      "SYSLOG",    "AUDIT_CONTROL", "AUDIT_READ",     "LINUX_IMMUTABLE", "CHECKPOINT_RESTORE", "SYS_RESOURCE",
      "IPC_OWNER", "SYS_PACCT",    "SYS_TTY_CONFIG"};
  return kHost;
}

bool givesHostAway(const std::string& capability) { return contains(hostCapabilities(), capability); }

Result<void> checkContainer(const std::string& org, const std::vector<std::string>& capabilities,
                            const std::string& user, const ContainerPolicy& policy,
                            const std::vector<std::string>& ceiling) {
  if (auto r = apps::checkCapabilities("capabilities", capabilities, ceiling); !r) return r;
  for (const auto& cap : capabilities) {
    if (givesHostAway(cap) && !contains(policy.allowed_capabilities, cap))
      return makeError("policy_refused", "field 'capabilities': '" + cap + "' gives the host away; org " + org +
                                             " may keep it only once a platform admin allows it (berth org policy "
                                             "set " + org + " --allow-cap " + cap + ")");
  }
  if (policy.require_non_root && !numericNonRoot(user))
    return makeError("policy_refused", "field 'user': org " + org +
                                           " requires non-root containers; set user to a numeric uid (and gid) other than 0 "
                                           "(e.g. 1000:1000)" +
                                           (user.empty() ? std::string(" instead of the image's default")
                                                         : ", not '" + user + "'"));
  return Ok{};
}

Result<ContainerPolicy> mergeContainerPolicy(const ContainerPolicy& base, const nlohmann::json& body,
                                             const std::vector<std::string>& ceiling) {
  if (!body.is_object() || body.empty())
    return invalidField("body", "must be an object with allowed_capabilities and/or require_non_root");
  ContainerPolicy out = base;
  for (const auto& [key, value] : body.items()) {
    if (key == "require_non_root") {
      if (!value.is_boolean()) return invalidField(key, "must be true or false");
      out.require_non_root = value.get<bool>();
    } else if (key == "allowed_capabilities") {
      if (!value.is_array() || value.size() > 64) return invalidField(key, "must be a list of capability names");
      std::vector<std::string> caps;
      for (const auto& c : value) {
        if (!c.is_string()) return invalidField(key, "must be a list of capability names");
        const std::string cap = c.get<std::string>();
        if (auto r = apps::validateCapability(key, cap); !r) return r.error();
        if (!givesHostAway(cap))
          return invalidField(key, "'" + cap + "' needs no allowance per org (only capabilities that give the host "
                                               "away do; the server setting allowed_capabilities governs the rest)");
        if (!contains(ceiling, cap))
          return invalidField(key, "'" + cap + "' is outside the server's allowed_capabilities; list it there first");
        if (!contains(caps, cap)) caps.push_back(cap);
      }
      out.allowed_capabilities = std::move(caps);
    } else {
      return invalidField(key, "is not a policy field (allowed_capabilities, require_non_root)");
    }
  }
  return out;
}

nlohmann::json containerPolicyJson(const ContainerPolicy& policy) {
  return {{"allowed_capabilities", policy.allowed_capabilities}, {"require_non_root", policy.require_non_root}};
}

Result<ContainerPolicy> containerPolicyFromJson(const nlohmann::json& stored) {
  ContainerPolicy out;
  if (stored.is_null()) return out;
  if (!stored.is_object()) return invalidField("policy", "must be an object");
  if (stored.contains("require_non_root") && stored["require_non_root"].is_boolean())
    out.require_non_root = stored["require_non_root"].get<bool>();
  if (stored.contains("allowed_capabilities") && stored["allowed_capabilities"].is_array()) {
    for (const auto& c : stored["allowed_capabilities"])
      if (c.is_string()) out.allowed_capabilities.push_back(c.get<std::string>());
  }
  return out;
}

}  // namespace berth::auth
