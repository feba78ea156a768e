// `berth audit ls` and `berth audit verify` (docs/audit.md): reading and
// checking the audit chain through GET /api/v1/audit.
#include <fmt/format.h>

#include <iostream>

#include "cli/audit_verify.hpp"
#include "cli/cli.hpp"
#include "cli/cli_common.hpp"
#include "common/config.hpp"
#include "common/encoding.hpp"

namespace berth::cli {
namespace {

using namespace detail;

constexpr int kVerifyPage = 1000;

std::string auditTime(std::int64_t at_ms) {
  const std::time_t seconds = static_cast<std::time_t>(at_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

struct LsFilters {
  std::string since, actor, target, org, before;
  int limit = 50;
};

std::string lsTarget(const LsFilters& f) {
  std::string target = "/api/v1/audit?limit=" + std::to_string(f.limit);
  for (auto [key, value] : {std::pair{"since", &f.since}, std::pair{"actor", &f.actor}, std::pair{"target", &f.target},
                            std::pair{"org", &f.org}, std::pair{"before", &f.before}}) {
    if (!value->empty()) target += std::string("&") + key + "=" + percentEncode(*value);
  }
  return target;
}

}  // namespace

void addAuditCommands(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<Options>();
  auto common = commonOptions(o);
  auto* audit = app.add_subcommand("audit", "Read and verify the audit chain")->require_subcommand(1);

  auto filters = std::make_shared<LsFilters>();
  auto* ls = audit->add_subcommand("ls", "List audit records, newest first");
  ls->add_option("--since", filters->since, "Only records newer than this: 90m, 2h, 7d (or ms since the epoch)");
  ls->add_option("--actor", filters->actor, "Only this actor (key:<id>, session:<user>, node:<id>, ...)");
  ls->add_option("--target", filters->target, "Only this target (an app, node, key, user ...)");
  ls->add_option("--before", filters->before, "Only records older than this id (the next page)");
  ls->add_option("--limit", filters->limit, "At most this many records (1..10000)")->check(CLI::Range(1, 10000));
  common(ls);
  // Here --org filters the records (a platform admin's key acts in its own org
  // and could not name another); the org acted in comes from BERTH_ORG or the context.
  ls->remove_option(ls->get_option("--org"));
  ls->add_option("--org", filters->org, "Only this org's records (platform admins; others see their org's only)");
  ls->callback([&run, o, filters] {
    run = [o, filters] {
      return request(*o, "GET", lsTarget(*filters), nullptr, [](const nlohmann::json& body) {
        std::cout << fmt::format("{:<7} {:<20} {:<10} {:<22} {:<8} {:<36} {:<20} {}\n", "ID", "TIME", "ORG", "ACTOR",
                                 "OUTCOME", "ACTION", "TARGET", "DETAIL");
        const auto& records = body.value("records", nlohmann::json::array());
        for (const auto& r : records) {
          std::cout << fmt::format("{:<7} {:<20} {:<10} {:<22} {:<8} {:<36} {:<20} {}\n", str(r, "id"),
                                   auditTime(r.value("at", std::int64_t{0})), str(r, "org"), str(r, "actor"),
                                   str(r, "outcome"), str(r, "action"), str(r, "target"), str(r, "detail"));
        }
        if (body.value("more", false) && body.contains("before"))
          std::cout << "more: --before " << str(body, "before") << "\n";
      });
    };
  });

  auto head = std::make_shared<std::string>();
  auto* verify =
      audit->add_subcommand("verify", "Check the audit chain (platform admins); name the first broken record");
  verify->add_option("--head", *head,
                     "A chain head hash saved earlier (the server logs it at start and hourly): "
                     "also detects removal of the newest records");
  common(verify);
  verify->callback([&run, o, head] {
    run = [o, head]() -> int {
      auto settings = resolveClientSettings(o->flags, processEnvironment());
      if (!settings) return fail(settings.error());
      auto client = ApiClient::create(*settings);
      if (!client) return fail(client.error());
      auto report = verifyAuditChain(
          [&](std::int64_t after) -> Result<nlohmann::json> {
            auto reply = client->call(
                "GET", "/api/v1/audit?after=" + std::to_string(after) + "&limit=" + std::to_string(kVerifyPage));
            if (!reply) return reply.error();
            return reply->body;
          },
          *head);
      if (!report) return fail(report.error());
      const bool good = report->ok && report->head_found;
      if (o->json) {
        nlohmann::json out = {{"ok", good},
                              {"chain_ok", report->ok},
                              {"checked", report->checked},
                              {"unchained", report->legacy},
                              {"head", {{"id", report->head_id}, {"hash", report->head_hash}}}};
        if (report->broken_id) out["broken_id"] = *report->broken_id;
        if (!report->reason.empty()) out["reason"] = report->reason;
        if (!head->empty()) out["saved_head_found"] = report->head_found;
        std::cout << out.dump(2) << "\n";
      } else if (!report->ok) {
        std::cout << "audit chain BROKEN at record " << *report->broken_id << ": " << printable(report->reason) << "\n";
      } else if (!report->head_found) {
        std::cout << "audit chain NOT VERIFIED: no record carries the saved head " << printable(*head)
                  << " (records at or after it were removed or changed); the chain's head is now record "
                  << report->head_id << " " << report->head_hash << "\n";
      } else {
        std::cout << "audit chain intact: " << report->checked << " records";
        if (report->legacy > 0) std::cout << " (and " << report->legacy << " from before the chain, not covered)";
        std::cout << "; head record " << report->head_id << " " << report->head_hash << "\n";
      }
      return good ? exit_code::kOk : exit_code::kConflict;
    };
  });
}

}  // namespace berth::cli
