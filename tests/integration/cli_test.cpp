// Servers started: `berth server` and one `berth agent`; the CLI runs as a
// separate `berth` process against the REST API.
#include <gtest/gtest.h>

#include "common/version.hpp"
#include "harness.hpp"

namespace berth::itest {
namespace {

// The binary, the server's /version and the agent's HELLO say the same version, CMake's.
TEST(Cli, VersionIsOneValueEverywhere) {
  Cluster c;
  for (const char* flag : {"--version", "version"}) {
    auto [code, out] = c.cli({flag});
    EXPECT_EQ(code, 0) << out;
    EXPECT_EQ(out, std::string("berth ") + kVersion + "\n");
  }
  c.startServer();
  EXPECT_EQ(c.api("GET", "/api/v1/status").body["version"], kVersion);
  const std::string id = c.startOnlineAgent("v1");
  EXPECT_EQ(c.node(id)["version"], kVersion);
}

TEST(Cli, VerbsAndExitCodes) {
  Cluster c;
  c.startServer();
  const std::string id = c.startOnlineAgent("a1");

  auto [lsCode, lsOut] = c.cli({"node", "ls"});
  EXPECT_EQ(lsCode, 0);
  EXPECT_NE(lsOut.find(id), std::string::npos) << lsOut;
  EXPECT_NE(lsOut.find("online"), std::string::npos);

  auto [jsonCode, jsonOut] = c.cli({"node", "show", id, "--json"});
  EXPECT_EQ(jsonCode, 0);
  EXPECT_EQ(nlohmann::json::parse(jsonOut)["id"], id);

  auto [sendCode, sendOut] = c.cli({"cmd", "send", id, "host.info", "--wait"});
  EXPECT_EQ(sendCode, 0) << sendOut;
  EXPECT_NE(sendOut.find("succeeded"), std::string::npos) << sendOut;

  auto [listCode, listOut] = c.cli({"cmd", "ls", "--node", id, "--json"});
  ASSERT_EQ(listCode, 0) << listOut;
  const std::string finishedId = nlohmann::json::parse(listOut)["commands"][0]["id"];
  auto [cancelCode, cancelOut] = c.cli({"cmd", "cancel", finishedId});
  EXPECT_EQ(cancelCode, 5) << cancelOut;  // already finished: a conflict
  EXPECT_NE(cancelOut.find("already succeeded"), std::string::npos) << cancelOut;

  auto [failCode, failOut] = c.cli({"cmd", "send", id, "ping", "--args", R"({"delay_ms": -5})", "--wait"});
  EXPECT_EQ(failCode, 7) << failOut;  // ran and failed

  auto [badVerb, badVerbOut] = c.cli({"cmd", "send", id, "rm"});
  EXPECT_EQ(badVerb, 2) << badVerbOut;
  EXPECT_NE(badVerbOut.find("field 'verb'"), std::string::npos) << badVerbOut;

  auto [missing, missingOut] = c.cli({"node", "show", "n_missing"});
  EXPECT_EQ(missing, 3) << missingOut;

  auto [badKey, badKeyOut] = c.cli({"status", "--api-key", "bk_wrong"});
  EXPECT_EQ(badKey, 4) << badKeyOut;

  auto [down, downOut] = c.cli({"status", "--server", "https://127.0.0.1:1"});
  EXPECT_EQ(down, 6) << downOut;

  auto [usage, usageOut] = c.cli({"node", "frobnicate"});
  EXPECT_EQ(usage, 2) << usageOut;

  auto [tokenCode, tokenOut] = c.cli({"token", "create", "--ttl", "120"});
  EXPECT_EQ(tokenCode, 0);
  EXPECT_NE(tokenOut.find("bjt_"), std::string::npos);
  EXPECT_NE(tokenOut.find("--ca-pin " + c.caPin()), std::string::npos) << tokenOut;

  auto [revokeCode, revokeOut] = c.cli({"node", "revoke", id});
  EXPECT_EQ(revokeCode, 0) << revokeOut;
  EXPECT_EQ(c.node(id)["status"], "revoked");
}

TEST(Cli, ARefusedFirstDeployLeavesNoApp) {
  Cluster c;
  c.startServer();
  const std::string id = c.startOnlineAgent("a1");
  auto [code, out] = c.cli({"app", "deploy", "fresh", "--image", "busybox:1", "--memory", "12q", "--detach"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("memory"), std::string::npos) << out;
  auto shown = c.apiResult("GET", "/api/v1/apps/fresh");
  ASSERT_FALSE(shown.ok());
  EXPECT_EQ(shown.error().code, "not_found");
  EXPECT_TRUE(c.api("GET", "/api/v1/apps").body.empty());
  // A refused request is still audited, as refused.
  auto audit = c.api("GET", "/api/v1/audit").body;
  EXPECT_NE(audit.dump().find("400 invalid_argument"), std::string::npos) << audit.dump();
  // The same call with a good spec creates the app (queued on the online node).
  auto [okCode, okOut] = c.cli({"app", "deploy", "fresh", "--image", "busybox:1", "--memory", "64m", "--detach"});
  EXPECT_EQ(okCode, 0) << okOut;
  EXPECT_EQ(c.api("GET", "/api/v1/apps/fresh").body["name"], "fresh");
}

}  // namespace
}  // namespace berth::itest
