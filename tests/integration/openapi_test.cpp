// Servers started: berth server (a process) and an agent in this test's
// process on the in-memory runtime (no dockerd). Walks the server's route
// table (tests/support/api_routes.hpp), drives every route once against the
// real server (plus /healthz and /metrics) and checks each answer's status,
// content type and body against src/server/openapi.json. A route without a
// plan below is still driven, with placeholder parameters and an empty
// object for a body, and its (usually error) answer checked the same way.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "../support/api_routes.hpp"
#include "../support/memory_runtime.hpp"
#include "../support/openapi_coverage.hpp"
#include "agent/agent.hpp"
#include "common/json.hpp"
#include "harness.hpp"
#include "server/command_batch.hpp"
#include "net/http_client.hpp"
#include "net/tls.hpp"
#include "net/url.hpp"
#include "server/openapi.hpp"

namespace berth::itest {
namespace {

struct Answer {
  int status = 0;
  std::string content_type;
  std::string body;
};

class RawClient {
 public:
  RawClient(const std::string& url, const std::string& ca_file) : url_(net::parseUrl(url).value()) {
    std::ifstream in(ca_file);
    std::stringstream pem;
    pem << in.rdbuf();
    tls_ = std::move(net::makeClientContext({pem.str(), "", ""}).value());
  }
  Answer call(const std::string& method, const std::string& target, const std::string& body,
              const std::string& bearer) {
    net::HttpRequest request{method, target, body, {}};
    if (!bearer.empty()) request.headers["Authorization"] = "Bearer " + bearer;
    auto response = net::httpsRequest(url_, *tls_, request);
    if (!response) return {0, "", response.error().message};
    auto type = response->headers.count("content-type") ? response->headers.at("content-type") : std::string();
    return {response->status, type.substr(0, type.find(';')), response->body};
  }

 private:
  net::Url url_;
  std::unique_ptr<net::ssl::context> tls_;
};

// One request for a route: the target with its parameters filled in, a body,
// the credential, the status the setup makes it answer (0: any the document
// allows) and whether it must run after the others (it removes what they use).
struct Plan {
  std::string target;
  nlohmann::json body;
  std::string bearer;
  int expect = 0;
  int phase = 0;  // 1: after the others (removes what they use); 2: last of all (revokes the node)
};

std::string fill(std::string pattern, const std::map<std::string, std::string>& values) {
  for (std::size_t open = pattern.find('{'); open != std::string::npos; open = pattern.find('{')) {
    const auto close = pattern.find('}', open);
    const auto name = pattern.substr(open + 1, close - open - 1);
    pattern.replace(open, close - open + 1, values.count(name) ? values.at(name) : "missing-" + name);
  }
  return pattern;
}

TEST(OpenApi, EveryRouteAnswersAShapeTheDocumentAllows) {
  auto parsed = parseJson(std::string(server::openApiDocument()));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const auto document = *parsed;

  Cluster cluster;
  cluster.startServer();
  RawClient raw(cluster.url(), cluster.caFile());
  const std::string admin = cluster.apiKey();

  // A node: an agent on the in-memory runtime, with the image the deploys use.
  agent::AgentParts parts;
  parts.connect_runtime = []() -> Result<std::unique_ptr<runtime::ContainerRuntime>> {
    auto runtime = std::make_unique<testing::MemoryRuntime>();
    runtime->images["berth-test/busybox:1"] = {"sha256:" + std::string(64, 'b'), {}};
    return std::unique_ptr<runtime::ContainerRuntime>(std::move(runtime));
  };
  parts.host_reader = agent::realHostReader();
  agent::AgentConfig config;
  config.state_dir = cluster.root() + "/memory-agent";
  auto journal = agent::CommandJournal::load(config.state_dir + "/commands.json");
  ASSERT_TRUE(journal.ok());
  parts.journal = std::move(*journal);
  config.server_url = cluster.url();
  config.join_token = cluster.createToken();
  config.ca_pin = cluster.caPin();
  config.handle_signals = false;
  config.docker_socket = cluster.root() + "/no-dockerd-here.sock";
  auto created = agent::Agent::create(config, std::move(parts));
  ASSERT_TRUE(created.ok()) << created.error().message;
  auto& agent = **created;
  std::thread running([&] { agent.run(); });
  struct Joiner {
    agent::Agent& agent;
    std::thread& thread;
    ~Joiner() {
      agent.stop();
      thread.join();
    }
  } joiner{agent, running};
  const std::string node = agent.nodeId();
  ASSERT_TRUE(eventually([&] { return cluster.node(node).value("status", "") == "online"; }));

  // What the plans refer to: an app with a healthy deployment and a domain, a
  // second app to remove, keys to revoke and rotate, a user with a password
  // and a session, an invitation to accept.
  const nlohmann::json spec = {{"image", "berth-test/busybox:1"},
                               {"command", {"/bin/busybox", "sh", "-c", "echo hello; sleep 300"}}};
  ASSERT_EQ(cluster.api("POST", "/api/v1/apps", {{"name", "web"}, {"node", node}}).status, 201);
  ASSERT_EQ(cluster.api("POST", "/api/v1/apps/web/deployments", spec).status, 202);
  ASSERT_TRUE(eventually(
      [&] {
        const auto current = cluster.api("GET", "/api/v1/apps/web").body["current"];
        return current.is_object() && current.value("state", "") == "healthy";
      },
      std::chrono::seconds(30)));
  ASSERT_EQ(cluster.api("POST", "/api/v1/apps", {{"name", "second"}, {"node", node}}).status, 201);
  const auto deployCommand = cluster.api("GET", "/api/v1/apps/web/deployments/1").body.value("command_id", "");
  const auto revokeKey = cluster.api("POST", "/api/v1/keys", {{"scope", "read"}}).body.value("id", "");
  const auto rotateKey = cluster.api("POST", "/api/v1/keys", {{"scope", "read"}}).body.value("id", "");
  const std::string password = "correct horse battery staple";
  auto invite = cluster.api("POST", "/api/v1/users/invite", {{"name", "erin"}, {"role", "member"}});
  ASSERT_EQ(invite.status, 201);
  ASSERT_EQ(
      cluster.api("POST", "/api/v1/invites/accept", {{"token", invite.body["token"]}, {"password", password}}).status,
      201);
  const auto galeInvite =
      cluster.api("POST", "/api/v1/users/invite", {{"name", "gale"}}).body.value("token", "");  // the walk accepts it
  auto login = raw.call("POST", "/api/v1/login", nlohmann::json{{"name", "erin"}, {"password", password}}.dump(), "");
  ASSERT_EQ(login.status, 200) << login.body;
  const std::string session = nlohmann::json::parse(login.body).value("token", "");

  const std::map<std::string, std::string> params = {{"name", "web"}, {"number", "1"}, {"domain", "web.example.com"}};
  std::map<std::string, Plan> plans = {
      {"POST /enroll", {"", {{"token", "bjt_0000"}, {"csr", "not a csr"}}, "", 400}},
      {"POST /agent/renew", {"", {{"csr", "x"}}, "", 401}},
      {"GET /openapi.json", {"", nullptr, "", 200}},
      {"POST /tokens", {"", {{"ttl_s", 60}, {"description", "openapi"}}, admin, 201}},
      {"GET /audit", {"/audit?limit=5", nullptr, admin, 200}},
      {"POST /nodes/{id}/revoke", {"/nodes/" + node + "/revoke", nullptr, admin, 200, 2}},
      {"POST /nodes/{id}/commands", {"/nodes/" + node + "/commands", {{"verb", "host.info"}}, admin, 202}},
      {"GET /commands/{id}", {"/commands/" + deployCommand, nullptr, admin, 200}},
      {"POST /commands/{id}/cancel", {"/commands/" + deployCommand + "/cancel", nullptr, admin}},
      // The batch route comes first in the table; its id follows from the (platform) org and the key.
      {"POST /commands/batch", {"", {{"all", true}, {"verb", "host.info"}, {"idempotency_key", "openapi-walk"}}, admin, 202}},
      {"GET /commands/batch/{id}", {"/commands/batch/" + server::batchId("", "openapi-walk", ""), nullptr, admin, 200}},
      {"POST /login", {"", {{"name", "erin"}, {"password", password}}, "", 200}},
      {"POST /invites/accept", {"", {{"token", galeInvite}, {"password", password}}, "", 201}},
      {"POST /logout", {"", nullptr, session, 204, 1}},
      {"PUT /users/me/password", {"", {{"password", password}}, admin, 204}},
      {"POST /keys", {"", {{"scope", "read"}, {"name", "openapi"}, {"expires_in", "1d"}}, admin, 201}},
      {"POST /keys/{id}/revoke", {"/keys/" + revokeKey + "/revoke", nullptr, admin, 200}},
      {"POST /keys/{id}/rotate", {"/keys/" + rotateKey + "/rotate", {{"overlap", "1h"}}, admin, 201}},
      {"POST /orgs", {"", {{"name", "acme"}}, admin, 201}},
      {"POST /users/invite", {"", {{"name", "frank"}, {"role", "viewer"}}, admin, 201}},
      {"DELETE /users/{user}", {"/users/erin", nullptr, admin, 200, 1}},
      {"POST /apps", {"", {{"name", "third"}, {"node", node}}, admin, 201}},
      {"DELETE /apps/{name}", {"/apps/second", nullptr, admin, 202, 1}},
      {"POST /apps/{name}/deployments", {"", spec, admin, 202}},
      {"POST /apps/{name}/rollback", {"", {{"to", 1}}, admin}},
      {"POST /apps/{name}/scale", {"", {{"replicas", 1}}, admin}},
      {"POST /apps/{name}/limits", {"", {{"memory", "128m"}}, admin}},
      {"PUT /apps/{name}/limits", {"", {{"memory", "128m"}}, admin}},
      {"GET /apps/{name}/logs", {"/apps/web/logs?tail=10", nullptr, admin, 200}},
      {"POST /apps/{name}/domains", {"", {{"domain", "web.example.com"}}, admin}},
      {"PUT /apps/{name}/domains/{domain}/certificate", {"", {{"certificate", "x"}, {"key", "y"}}, admin, 400}},
      {"DELETE /apps/{name}/domains/{domain}", {"", nullptr, admin, 0, 1}},
      {"POST /apps/{name}/source/deploy-key", {"", {{"generate", true}}, admin, 201}},
      {"POST /apps/{name}/hooks/secret", {"", nullptr, admin, 201}},
      {"POST /hooks/git/{name}", {"", {{"ref", "refs/heads/main"}}, "", 401}},
      {"PUT /orgs/{org}/quota", {"/orgs/default/quota", {{"apps", 100}, {"domains", nullptr}}, admin, 200}},
      {"PUT /orgs/{org}/policy", {"/orgs/default/policy", {{"require_non_root", false}}, admin, 200}},
  };

  struct Step {
    std::string method, pattern, scope;
    Plan plan;
  };
  std::vector<Step> steps;
  for (const auto& route : testing::apiRoutes()) {
    const std::string key = route.method + " " + route.pattern;
    Plan plan = plans.count(key) ? plans.at(key) : Plan{};
    if (plan.target.empty())
      plan.target =
          fill(route.pattern,
               {{"id", node}, {"user", "nobody"}, {"name", "web"}, {"number", "1"}, {"domain", params.at("domain")},
                {"org", "default"}});
    plan.target = "/api/v1" + plan.target;
    if (!plans.count(key)) {
      // Read routes succeed for the admin; others get an empty object and answer what they answer.
      plan.bearer = route.scope == server::Scope::Public || route.scope == server::Scope::Agent ? "" : admin;
      if (route.method != "GET") plan.body = nlohmann::json::object();
      if (route.method == "GET" && route.scope != server::Scope::Agent) plan.expect = 200;
    }
    steps.push_back({route.method, route.pattern, server::scopeName(route.scope), std::move(plan)});
  }
  std::stable_sort(steps.begin(), steps.end(),
                   [](const Step& a, const Step& b) { return a.plan.phase < b.plan.phase; });
  steps.push_back({"GET", "", "public", {"/healthz", nullptr, "", 200}});
  steps.push_back({"GET", "", "public", {"/metrics", nullptr, admin, 200}});  // a platform read key (docs/access.md)

  std::vector<std::string> problems;
  for (const auto& step : steps) {
    const std::string path = step.pattern.empty() ? step.plan.target : "/api/v1" + step.pattern;
    const auto answer = raw.call(step.method, step.plan.target, step.plan.body.is_null() ? "" : step.plan.body.dump(),
                                 step.plan.bearer);
    if (step.plan.expect != 0 && answer.status != step.plan.expect)
      problems.push_back(step.method + " " + path + ": answered " + std::to_string(answer.status) +
                         ", the setup expects " + std::to_string(step.plan.expect) + ": " + answer.body.substr(0, 300));
    for (auto& p :
         testing::answerProblems(document, step.method, path, answer.status, answer.content_type, answer.body))
      problems.push_back(std::move(p));
    if (step.pattern == "/openapi.json" && parseJsonOrDiscarded(answer.body) != document)
      problems.push_back("GET /api/v1/openapi.json: serves a document other than src/server/openapi.json");
  }
  std::string report;
  for (const auto& p : problems) report += "\n  " + p;
  EXPECT_TRUE(problems.empty()) << problems.size() << " answer(s) outside src/server/openapi.json:" << report;
  EXPECT_GT(steps.size(), 40u);
}

}  // namespace
}  // namespace berth::itest
