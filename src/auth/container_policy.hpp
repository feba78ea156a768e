// What an org's containers may do on the host, decided before anything is
// queued. Pure. Capabilities outside Docker's default set need the server's
// `allowed_capabilities` ceiling; those that give the host away (hostCapabilities())
// need, on top of it, a platform admin's allowance for the org. An org that
// requires non-root runs every container as a numeric uid other than 0.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::auth {

struct ContainerPolicy {
  std::vector<std::string> allowed_capabilities;  // host capabilities this org may keep
  bool require_non_root = false;
};

// SYS_ADMIN, SYS_MODULE, SYS_PTRACE, SYS_RAWIO, SYS_BOOT, BPF, PERFMON,
// MAC_ADMIN, NET_ADMIN, DAC_READ_SEARCH and the others that reach past a container.
const std::vector<std::string>& hostCapabilities();
bool givesHostAway(const std::string& capability);

// A deployment's `capabilities` and `user` under the org's policy and the
// server's ceiling. Fails invalid_argument for a capability outside the
// ceiling (as before orgs) and "policy_refused" naming the capability or the
// user rule and the org.
Result<void> checkContainer(const std::string& org, const std::vector<std::string>& capabilities,
                            const std::string& user, const ContainerPolicy& policy,
                            const std::vector<std::string>& ceiling);

// {allowed_capabilities?: [...], require_non_root?: bool} merged into `base`.
// An allowance outside `ceiling` fails naming the capability: the org cannot
// be promised what the server will not grant.
Result<ContainerPolicy> mergeContainerPolicy(const ContainerPolicy& base, const nlohmann::json& body,
                                             const std::vector<std::string>& ceiling);
nlohmann::json containerPolicyJson(const ContainerPolicy& policy);
Result<ContainerPolicy> containerPolicyFromJson(const nlohmann::json& stored);

}  // namespace berth::auth
