// Apps and their deployments: the control plane's side of the agent's app
// supervisor. It validates and stores deployments (secrets sealed with the
// server's key), turns lifecycle calls into app.* commands for the app's node,
// follows their outcome (RESULT frames and agent EVENTs) into deployment
// states and events, and keeps the apps' logs with retention.
// Single-threaded: runs on the server's I/O thread.
#pragma once

#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "apps/placement.hpp"
#include "apps/spec.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "protocol/agent_frames.hpp"
#include "protocol/envelope.hpp"
#include "server/admission.hpp"
#include "server/placement_ledger.hpp"
#include "server/command_service.hpp"
#include "server/metrics.hpp"
#include "server/server_config.hpp"
#include "store/store.hpp"

namespace berth::server {

struct AppCall {
  std::string verb;  // app.deploy, ...
  store::App app;
  int deployment = 0;
  std::string command_id;
};

class AppService {
 public:
  AppService(store::Store& store, CommandService& commands, Metrics& metrics, Clock clock, const ServerConfig& config,
             std::string secrets_key, boost::asio::any_io_executor executor);

  // body: {name, node? | labels?, keep?}: an app of `org` (its key carries the
  // org, apps/app_key.hpp). Errors name the field; another org's node reads as missing.
  Result<store::App> create(const std::string& org, const nlohmann::json& body);
  // A new deployment from `body` (the deployment spec); 202 material.
  Result<AppCall> deploy(const std::string& name, const nlohmann::json& body);
  // A new deployment with deployment `to`'s exact config and image (0 = the one before the current).
  Result<AppCall> rollback(const std::string& name, int to);
  Result<AppCall> scale(const std::string& name, int replicas);
  // verb: app.start, app.stop, app.restart.
  Result<AppCall> lifecycle(const std::string& name, const std::string& verb);
  // `force` forgets the app at once, even when its node is offline or gone; the
  // agent still gets the delete when it can be queued.
  Result<AppCall> remove(const std::string& name, bool volumes, bool force = false);
  Result<AppCall> setLimits(const std::string& name, const nlohmann::json& limits);

  // Custom domains (server/app_domains.cpp, docs/routes.md "Data"). The list
  // holds the app's custom domains and, when base_domain is set and the app
  // has a port, its generated one ("generated": true).
  Result<nlohmann::json> domains(const std::string& name);
  // body: {domain, path_prefix?, strip_prefix?}. Fails invalid_argument naming
  // the field, not_found for an unknown app, domain_in_use naming the holder
  // (another app's custom or generated domain).
  Result<nlohmann::json> addDomain(const std::string& name, const nlohmann::json& body);
  // Fails not_found when the app does not hold the domain.
  Result<void> removeDomain(const std::string& name, const std::string& domain);
  // An uploaded certificate for one of the app's domains ({certificate, key} PEM), checked
  // (chain, key, host, expiry), sealed at rest and sent to the node; it replaces ACME there.
  Result<nlohmann::json> setDomainCertificate(const std::string& name, const std::string& domain,
                                              const nlohmann::json& body);

  // Apps built from git (server/app_source.cpp, docs/builds.md). Credentials are sealed with
  // the secrets key at rest and never answered: GET shows kind, username, public key and the
  // pinned and offered host keys.
  Result<nlohmann::json> source(const std::string& name);
  // body: {token?, username?, host_key?, plan?, clear?}: a token makes the source https, `clear`
  // forgets the credentials, host_key pins ("" unpins), plan sets the stored override (null clears).
  Result<nlohmann::json> putSource(const std::string& name, const nlohmann::json& body);
  // body: {"generate": true} or {"private_key": "<OpenSSH text>"}: the app's ssh deploy key.
  Result<nlohmann::json> setDeployKey(const std::string& name, const nlohmann::json& body);
  // body: {"fingerprint", "force"?}: pins one of the host keys the last fetch was offered, or
  // (force, `admin` callers only) any well-formed fingerprint.
  Result<nlohmann::json> trustHostKey(const std::string& name, const nlohmann::json& body, bool admin);
  // A new webhook secret, answered once.
  Result<nlohmann::json> rotateHookSecret(const std::string& name);
  // The plan the newest built deployment used and the stored override.
  Result<nlohmann::json> plan(const std::string& name);
  // Queues app.build.cancel for the app's node.
  Result<AppCall> cancelBuild(const std::string& name);
  // A push webhook for app key `key` (docs/builds.md "Push to deploy"); headers lower-cased.
  // Unknown apps and bad signatures both fail "unauthorized" with the same words.
  // `org` is set to the app's org once the app is found (for the audit record), whatever the outcome.
  struct HookOutcome {
    std::string outcome;  // "deployed", "ignored" or "duplicate"
    std::string reason;
    std::optional<AppCall> call;
  };
  Result<HookOutcome> pushHook(const std::string& key, const std::map<std::string, std::string>& headers,
                               const std::string& body, std::string& org);

  Result<nlohmann::json> show(const std::string& name);
  // The apps of `org`.
  Result<nlohmann::json> list(const std::string& org);
  // The deployment; while (and after) its image was pulled, `pull_progress` holds the newest
  // report its node sent ({layers: [{id, state, current, total}], layers_done, bytes_current,
  // bytes_total, summary, at}), kept in memory only and one per app, never in the store.
  Result<nlohmann::json> deployment(const std::string& name, int number);
  Result<nlohmann::json> events(const std::string& name, std::size_t limit);
  // Lines after `after_seq` (the cursor) and not older than `since_ms`; with
  // `tail`, the newest `tail` such lines instead (oldest first, cursor = the last).
  Result<nlohmann::json> logs(const std::string& name, std::int64_t after_seq, std::int64_t since_ms,
                              std::size_t limit, std::optional<std::size_t> tail = std::nullopt);

  // Wiring: command outcomes, agent frames, dispatch of sealed args.
  void onCommandFinished(const store::Command& command);
  void onAgentFrame(const std::string& node_id, const protocol::AppFrame& frame);
  // app.deploy's args with its sealed secrets opened; fails when they cannot be.
  Result<nlohmann::json> dispatchArgs(const store::Command& command);
  // Age and size retention of logs; call now and then.
  void pruneLogs();

  // Server-sent events of an app's log lines from `after_seq` on; each call
  // returns the next chunk of the stream, nullopt when the app is gone.
  class LogStream {
   public:
    LogStream(AppService& service, std::string app, std::int64_t after_seq);
    boost::asio::awaitable<std::optional<std::string>> next();
    void wake();

   private:
    AppService& service_;
    std::string app_;
    std::int64_t cursor_;
    boost::asio::steady_timer timer_;
  };
  std::shared_ptr<LogStream> openLogStream(const std::string& name, std::int64_t after_seq);

  // Quotas and container policy (server/admission.hpp), checked on every path above.
  Admission& admission() { return admission_; }

 private:
  Result<store::App> findApp(const std::string& name);
  // The port of the app's current deployment (else its newest); 0 when none.
  Result<int> appPort(const store::App& app);
  // {domains, base_domain} as deploy and app.routes commands carry them.
  Result<nlohmann::json> routingArgs(const store::App& app);
  // Tells the app's node its routes changed; the command id, or "" when it runs nowhere yet.
  Result<std::string> pushRoutes(const store::App& app);
  // The app and the domain it holds ("not_found" when it holds no such domain).
  Result<std::pair<store::App, store::AppDomain>> heldDomain(const std::string& name, const std::string& domain);
  // The uploaded certificates of the app's domains, sealed for a command's args ("" none).
  Result<std::string> sealedCertificates(const store::App& app);
  // The nodes as placement sees them (state, labels, capacity, other apps' claims).
  // Only nodes that serve the app's org: platform nodes and the org's own.
  Result<std::vector<apps::NodeCandidate>> placementCandidates(const store::App& app);
  // The app's node: where it lives already, or where apps::place puts it.
  // `overlapping`: a claim that runs beside this one on the app's current node (the old version).
  Result<std::string> placeApp(const store::App& app, const apps::DeploymentSpec& spec,
                               const std::optional<apps::Claim>& overlapping);
  // Stores deployment number app.next_deployment and queues app.deploy for it.
  // `commit`: for a deployment from git, the commit to build ("" = what the ref resolves to).
  Result<AppCall> startDeployment(store::App app, nlohmann::json spec_body, const std::string& sealed,
                                  const std::string& pinned_image, const std::string& source,
                                  const std::string& commit = "");
  // Deployments from git: the stored plan override filled into a spec that gives none, and the
  // app's credentials sealed for the command's args ("" when it has none).
  Result<void> fillSourceDefaults(const std::string& app, nlohmann::json& spec_body);
  Result<std::string> sealedSourceCredentials(const std::string& app);
  // The agent's app.deploy result: the build it made, or the host keys a fetch was offered.
  Result<void> recordBuildResult(const store::App& app, int number, const nlohmann::json& result);
  Result<store::AppSource> appSource(const std::string& app);
  // The org's deployments from git still on their way (not settled): the builds that run now.
  Result<std::int64_t> runningBuilds(const std::string& org);
  Result<std::string> submit(const store::App& app, const std::string& verb, nlohmann::json args);
  void event(const std::string& app, int deployment, const std::string& state, const std::string& reason);
  // An audit record for a change an agent's report made (server/audit_log), in the caller's transaction.
  Result<void> auditAgentEvent(const store::App& app, const std::string& actor, const std::string& action,
                               const std::string& outcome, const std::string& detail);
  void setDeploymentState(const std::string& app, int number, DeploymentState state, const std::string& reason,
                          const std::string& image = "");

  store::Store& store_;
  CommandService& commands_;
  Metrics& metrics_;
  Clock clock_;
  const ServerConfig& config_;
  std::string secrets_key_;
  Admission admission_{store_, config_, clock_};
  PlacementLedger ledger_{store_, clock_};
  boost::asio::any_io_executor executor_;
  std::multimap<std::string, std::weak_ptr<LogStream>> streams_;  // app -> open SSE streams
  // app -> the newest pull_progress report of its newest pulling deployment. Reports come up to
  // four a second while a pull runs, each with every layer's state: the newest is all a display
  // needs, so they replace each other here instead of filling the events table.
  struct PullReport {
    int deployment = 0;
    std::int64_t at = 0;
    nlohmann::json progress;
  };
  std::map<std::string, PullReport> pull_reports_;
};

nlohmann::json deploymentJson(const store::Deployment& deployment);
// Whether `node` may run apps of `org`: a platform node, or the org's own.
bool nodeServes(const store::Node& node, const std::string& org);
// What a node's telemetry says it serves for `app`: hosts, upstreams and the hosts' certificate status.
nlohmann::json servedRoutes(const nlohmann::json& telemetry, const std::string& app);

}  // namespace berth::server
