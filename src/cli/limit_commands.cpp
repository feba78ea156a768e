// `berth org quota set|show ORG` and `berth org policy set ORG`: an org's
// quotas and container policy (docs/access.md, "Quotas and container policy").
// Setting them takes a platform admin; reading, a member of the org.
#include <fmt/format.h>

#include <iostream>
#include <optional>

#include "cli/cli.hpp"
#include "cli/cli_common.hpp"

namespace berth::cli {
namespace {

using namespace detail;

std::string quotaCell(const nlohmann::json& j, const char* key) {
  return j.contains(key) && !j[key].is_null() ? j[key].dump() : "unlimited";
}

void printLimits(const nlohmann::json& r) {
  const auto& q = r.contains("quotas") ? r["quotas"] : nlohmann::json::object();
  const auto& u = r.contains("usage") ? r["usage"] : nlohmann::json::object();
  std::cout << fmt::format("{:<22} {:>22} {:>22}\n", "QUOTA", "LIMIT", "IN USE");
  for (const char* key : {"apps", "deployments_per_hour", "cpu_millicores", "memory_bytes", "disk_bytes", "domains",
                          "builds_running"}) {
    const char* useKey = std::string(key) == "deployments_per_hour" ? "deployments_last_hour" : key;
    std::cout << fmt::format("{:<22} {:>22} {:>22}\n", key, quotaCell(q, key), str(u, useKey));
  }
  if (r.contains("policy")) {
    const auto& p = r["policy"];
    std::string caps;
    for (const auto& c : p.value("allowed_capabilities", nlohmann::json::array()))
      caps += (caps.empty() ? "" : ",") + printable(c.is_string() ? c.get<std::string>() : "");
    std::cout << "allowed capabilities: " << (caps.empty() ? "none" : caps) << "\n"
              << "require non-root:     " << (p.value("require_non_root", false) ? "yes" : "no") << "\n";
  }
}

}  // namespace

void addLimitCommands(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<Options>();
  auto common = commonOptions(o);
  CLI::App* org = app.get_subcommand("org");
  auto orgName = std::make_shared<std::string>();

  auto* quota = org->add_subcommand("quota", "Show or set an organisation's quotas")->require_subcommand(1);
  // Text as given; the server parses and names the field it refuses. "none" clears a quota.
  struct QuotaFlags {
    std::optional<std::string> apps, deployments_per_hour, cpu, memory, disk, domains, builds_running;
  };
  auto flags = std::make_shared<QuotaFlags>();
  auto* quotaSet = quota->add_subcommand("set", "Set quotas (platform admins); \"none\" removes one");
  quotaSet->add_option("org", *orgName, "Organisation")->required();
  quotaSet->add_option("--apps", flags->apps, "Apps at most");
  quotaSet->add_option("--deployments-per-hour", flags->deployments_per_hour, "Deployments started per hour");
  quotaSet->add_option("--cpu", flags->cpu, "CPUs all apps may claim (limits.cpu x replicas), e.g. 4 or 500m");
  quotaSet->add_option("--memory", flags->memory, "Memory all apps may claim, e.g. 8g");
  quotaSet->add_option("--disk", flags->disk, "Disk all apps may claim, e.g. 50g");
  quotaSet->add_option("--domains", flags->domains, "Custom domains at most");
  quotaSet->add_option("--builds", flags->builds_running, "Builds running at once");
  common(quotaSet);
  quotaSet->callback([&run, o, orgName, flags] {
    run = [o, orgName, flags] {
      nlohmann::json body = nlohmann::json::object();
      auto put = [&](const char* key, const std::optional<std::string>& value, bool count) {
        if (!value) return;
        if (*value == "none") {
          body[key] = nullptr;
        } else if (count && !value->empty() && value->size() <= 10 &&
                   value->find_first_not_of("0123456789") == std::string::npos) {
          body[key] = std::stoll(*value);
        } else {
          body[key] = *value;  // the server refuses what is not a number, naming the quota
        }
      };
      put("apps", flags->apps, true);
      put("deployments_per_hour", flags->deployments_per_hour, true);
      put("cpu", flags->cpu, false);
      put("memory", flags->memory, false);
      put("disk", flags->disk, false);
      put("domains", flags->domains, true);
      put("builds_running", flags->builds_running, true);
      if (body.empty()) return fail(makeError("usage", "name at least one quota, e.g. --apps 10"));
      return request(*o, "PUT", "/api/v1/orgs/" + *orgName + "/quota", body, printLimits);
    };
  });
  auto* quotaShow = quota->add_subcommand("show", "Show an organisation's quotas, use and container policy");
  quotaShow->add_option("org", *orgName, "Organisation")->required();
  common(quotaShow);
  quotaShow->callback([&run, o, orgName] {
    run = [o, orgName] { return request(*o, "GET", "/api/v1/orgs/" + *orgName + "/limits", nullptr, printLimits); };
  });

  auto* policy = org->add_subcommand("policy", "Set an organisation's container policy")->require_subcommand(1);
  struct PolicyFlags {
    std::vector<std::string> caps;
    bool no_caps = false, non_root = false, allow_root = false;
  };
  auto pf = std::make_shared<PolicyFlags>();
  auto* policySet = policy->add_subcommand("set", "Set the container policy (platform admins)");
  policySet->add_option("org", *orgName, "Organisation")->required();
  policySet->add_option("--allow-cap", pf->caps,
                        "A capability that gives the host away this org may keep (repeat; replaces the list); "
                        "must be in the server's allowed_capabilities");
  policySet->add_flag("--no-caps", pf->no_caps, "Allow none of them");
  policySet->add_flag("--non-root", pf->non_root, "Require a numeric uid other than 0 for every container");
  policySet->add_flag("--allow-root", pf->allow_root, "Let containers run as the image's user, root included");
  common(policySet);
  policySet->callback([&run, o, orgName, pf] {
    run = [o, orgName, pf] {
      nlohmann::json body = nlohmann::json::object();
      if (!pf->caps.empty() || pf->no_caps) body["allowed_capabilities"] = pf->no_caps ? std::vector<std::string>{} : pf->caps;
      if (pf->non_root && pf->allow_root) return fail(makeError("usage", "--non-root and --allow-root exclude each other"));
      if (pf->non_root || pf->allow_root) body["require_non_root"] = pf->non_root;
      if (body.empty()) return fail(makeError("usage", "name --allow-cap, --no-caps, --non-root or --allow-root"));
      return request(*o, "PUT", "/api/v1/orgs/" + *orgName + "/policy", body, printLimits);
    };
  });
}

}  // namespace berth::cli
