#include "apps/spec.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace berth::apps {
namespace {

nlohmann::json full() {
  return {{"image", "registry.local:5000/team/web:1.2"},
          {"command", {"/bin/web", "--port", "8080"}},
          {"env", {{"MODE", "prod"}}},
          {"secrets", {{"DB_PASSWORD", "hunter2"}}},
          {"volumes", {{"data", "/var/lib/web"}}},
          {"port", 8080},
          {"publish", 18080},
          {"health_check", {{"type", "http"}, {"path", "/healthz"}, {"interval", "2s"}, {"timeout", "1s"}, {"retries", 5}}},
          {"limits", {{"cpu", "0.5"}, {"memory", "256m"}, {"swap", "0"}, {"pids", 64}, {"net_in", "10mbit"}}},
          {"capabilities", {"NET_BIND_SERVICE"}},
          {"read_only", true},
          {"registry_auth", {{"username", "ci"}, {"password", "pw"}}}};
}

std::string errorOf(const nlohmann::json& body) {
  auto r = parseDeploymentSpec(body);
  return r ? "" : r.error().message;
}

TEST(DeploymentSpec, ParsesEveryField) {
  auto s = parseDeploymentSpec(full());
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->reference.registry, "registry.local:5000");
  EXPECT_EQ(s->reference.repository, "team/web");
  EXPECT_EQ(s->command.size(), 3u);
  EXPECT_EQ(s->secrets.at("DB_PASSWORD"), "hunter2");
  EXPECT_EQ(s->volumes.at("data"), "/var/lib/web");
  EXPECT_EQ(s->port, 8080);
  EXPECT_EQ(s->publish, 18080);
  ASSERT_TRUE(s->health);
  EXPECT_EQ(s->health->port, 8080);  // defaults to the app's port
  EXPECT_EQ(s->health->path, "/healthz");
  EXPECT_EQ(s->health->retries, 5);
  EXPECT_EQ(s->limits.cpu_millicores, 500);
  EXPECT_EQ(s->limits.memory_bytes, 256 << 20);
  EXPECT_EQ(s->limits.swap_bytes, 0);
  EXPECT_EQ(s->limits.pids, 64);
  EXPECT_EQ(s->limits.net_in_bps, 10'000'000);
  EXPECT_TRUE(s->read_only);
  ASSERT_TRUE(s->registry_auth);
  EXPECT_EQ(s->registry_auth->username, "ci");
}

TEST(DeploymentSpec, JsonHidesSecretsUnlessAsked) {
  auto s = parseDeploymentSpec(full());
  ASSERT_TRUE(s.ok());
  const auto shown = toJson(*s, false).dump();
  EXPECT_EQ(shown.find("hunter2"), std::string::npos);
  EXPECT_EQ(shown.find("\"pw\""), std::string::npos);
  EXPECT_NE(shown.find("DB_PASSWORD"), std::string::npos);  // the name is fine
  EXPECT_NE(toJson(*s, true).dump().find("hunter2"), std::string::npos);
}

TEST(DeploymentSpec, RefusalsNameTheField) {
  auto with = [](const char* key, nlohmann::json value) {
    auto b = nlohmann::json{{"image", "web:1"}, {"port", 8080}};
    b[key] = std::move(value);
    return b;
  };
  EXPECT_NE(errorOf(nlohmann::json::object()).find("'image'"), std::string::npos);
  EXPECT_NE(errorOf(with("image", "Web:1")).find("'image'"), std::string::npos);
  EXPECT_NE(errorOf(with("command", "web --port 1")).find("no shell string"), std::string::npos);
  EXPECT_NE(errorOf(with("env", {{"A-B", "x"}})).find("'env.A-B'"), std::string::npos);
  EXPECT_NE(errorOf(with("secrets", {{"MODE", 1}})).find("'secrets.MODE'"), std::string::npos);
  EXPECT_NE(errorOf(with("volumes", {{"data", "relative"}})).find("'volumes.data'"), std::string::npos);
  EXPECT_NE(errorOf(with("volumes", {{"a", "/x"}, {"b", "/x"}})).find("used twice"), std::string::npos);
  EXPECT_NE(errorOf(with("port", 0)).find("'port'"), std::string::npos);
  EXPECT_NE(errorOf(with("publish", 70000)).find("'publish'"), std::string::npos);
  EXPECT_NE(errorOf(with("limits", {{"cpu", "lots"}})).find("'limits.cpu'"), std::string::npos);
  EXPECT_NE(errorOf(with("limits", {{"memory", "1m"}})).find("'limits.memory'"), std::string::npos);  // below 6 MiB
  EXPECT_NE(errorOf(with("limits", {{"swap", "1g"}})).find("needs limits.memory"), std::string::npos);
  EXPECT_NE(errorOf(with("limits", {{"pids", 2}})).find("'limits.pids'"), std::string::npos);
  EXPECT_NE(errorOf(with("limits", {{"net_out", "10mb"}})).find("'limits.net_out'"), std::string::npos);
  EXPECT_NE(errorOf(with("limits", {{"ram", "1g"}})).find("'limits.ram'"), std::string::npos);
  EXPECT_NE(errorOf(with("health_check", {{"type", "udp"}})).find("'health_check.type'"), std::string::npos);
  EXPECT_NE(errorOf(with("health_check", {{"type", "http"}, {"path", "x"}})).find("'health_check.path'"),
            std::string::npos);
  EXPECT_NE(errorOf(with("health_check", {{"type", "http"}, {"interval", "1s"}, {"timeout", "5s"}}))
                .find("'health_check.timeout'"),
            std::string::npos);
  EXPECT_NE(errorOf(with("health_check", {{"type", "command"}})).find("'health_check.command'"), std::string::npos);
  EXPECT_NE(errorOf(with("replicas", 101)).find("'replicas'"), std::string::npos);
  EXPECT_NE(errorOf(with("capabilities", {"CAP_NET_ADMIN"})).find("'capabilities'"), std::string::npos);
  EXPECT_NE(errorOf(with("read_only", "yes")).find("'read_only'"), std::string::npos);
  EXPECT_NE(errorOf(with("registry_auth", {{"username", "x"}})).find("'registry_auth'"), std::string::npos);
  EXPECT_NE(errorOf(with("imagee", "x")).find("'imagee': is not a known field"), std::string::npos);
  EXPECT_NE(errorOf(with("pull", "sometimes")).find("'pull'"), std::string::npos);
  EXPECT_NE(errorOf(with("user", "root; rm -rf /")).find("'user'"), std::string::npos);
  EXPECT_NE(errorOf(with("user", "1000:")).find("'user'"), std::string::npos);
  EXPECT_EQ(errorOf(with("user", "1000:1000")), "");
  EXPECT_EQ(errorOf(with("user", "nobody")), "");
  auto dup = with("env", {{"A", "1"}});
  dup["secrets"] = {{"A", "2"}};
  EXPECT_NE(errorOf(dup).find("'secrets.A'"), std::string::npos);
}

TEST(DeploymentSpec, PullPolicyDefaultsByRegistry) {
  EXPECT_TRUE(parseDeploymentSpec({{"image", "reg.example:5000/web:1"}})->pullAlways());
  EXPECT_FALSE(parseDeploymentSpec({{"image", "web:1"}})->pullAlways());
  EXPECT_TRUE(parseDeploymentSpec({{"image", "web:1"}, {"pull", "always"}})->pullAlways());
  EXPECT_FALSE(parseDeploymentSpec({{"image", "reg.example/web:1"}, {"pull", "missing"}})->pullAlways());
  EXPECT_FALSE(parseDeploymentSpec({{"image", "reg.example/web@sha256:" + std::string(64, 'a')}})->pullAlways());
}

TEST(Limits, MergeOntoABaseAndClear) {
  Limits base;
  base.memory_bytes = 64 << 20;
  base.cpu_millicores = 250;
  auto next = parseLimits({{"cpu", "1"}, {"memory", "0"}}, base);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->cpu_millicores, 1000);
  EXPECT_EQ(next->memory_bytes, 0);
  EXPECT_EQ(next->pids, base.pids);
}

TEST(Capacity, RefusesNamingTheResourceAndIgnoresTheAppsOwnOldClaim) {
  Allocatable node{2000, 1LL << 30};
  std::vector<Claim> others = {{"db", 1500, 512LL << 20}, {"web", 400, 256LL << 20}};
  EXPECT_TRUE(checkCapacity(node, others, {"web", 500, 256LL << 20}).ok());
  auto cpu = checkCapacity(node, others, {"web", 600, 0});
  ASSERT_FALSE(cpu.ok());
  EXPECT_EQ(cpu.error().code, "over_capacity");
  EXPECT_NE(cpu.error().message.find("limits.cpu"), std::string::npos);
  auto mem = checkCapacity(node, others, {"api", 0, 600LL << 20});
  ASSERT_FALSE(mem.ok());
  EXPECT_NE(mem.error().message.find("limits.memory"), std::string::npos);
  EXPECT_TRUE(checkCapacity(node, others, {"api", 0, 0}).ok());  // unlimited apps claim nothing
}

TEST(Validation, BandwidthAndCapabilities) {
  EXPECT_EQ(*parseBandwidth("x", "10mbit"), 10'000'000);
  EXPECT_EQ(*parseBandwidth("x", "512kbit"), 512'000);
  EXPECT_EQ(*parseBandwidth("x", "1.5gbit"), 1'500'000'000);
  EXPECT_FALSE(parseBandwidth("x", "100bit").ok());
  EXPECT_FALSE(parseBandwidth("x", "10MB").ok());
  EXPECT_TRUE(validateCapability("x", "NET_BIND_SERVICE").ok());
  EXPECT_FALSE(validateCapability("x", "net_bind_service").ok());
}

TEST(DeploymentSpec, PublishBindsLoopbackUnlessAskedAndHugeIntegersAreRefused) {
  auto local = parseDeploymentSpec({{"image", "web:1"}, {"port", 8080}, {"publish", 18080}});
  ASSERT_TRUE(local.ok());
  EXPECT_FALSE(local->publish_public);
  auto pub = parseDeploymentSpec({{"image", "web:1"}, {"port", 8080}, {"publish", 18080}, {"publish_public", true}});
  ASSERT_TRUE(pub.ok()) << pub.error().message;
  EXPECT_TRUE(pub->publish_public);
  EXPECT_EQ(toJson(*pub, false)["publish_public"], true);
  auto without = parseDeploymentSpec({{"image", "web:1"}, {"port", 8080}, {"publish_public", true}});
  ASSERT_FALSE(without.ok());
  EXPECT_NE(without.error().message.find("publish_public"), std::string::npos);
  // An unsigned beyond int64 must not wrap into a small (or negative) number.
  auto huge = parseDeploymentSpec({{"image", "web:1"}, {"replicas", std::numeric_limits<std::uint64_t>::max()}});
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.error().message.find("replicas"), std::string::npos);
  auto hugeMemory = parseDeploymentSpec({{"image", "web:1"}, {"limits", {{"memory", std::numeric_limits<std::uint64_t>::max()}}}});
  EXPECT_FALSE(hugeMemory.ok());
  auto hugeInterval = parseDeploymentSpec(
      {{"image", "web:1"}, {"port", 80}, {"health_check", {{"type", "tcp"}, {"interval", std::string(40, '5') + "h"}}}});
  EXPECT_FALSE(hugeInterval.ok());
}

}  // namespace
}  // namespace berth::apps

namespace berth::apps {
namespace {

TEST(DeploymentSpec, HoldIsADurationOfAtMostFiveMinutesDefaultingToTenSeconds) {
  auto body = full();
  auto plain = parseDeploymentSpec(body);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->hold_ms, 10'000);
  body["hold"] = "2500ms";
  EXPECT_EQ(parseDeploymentSpec(body)->hold_ms, 2'500);
  body["hold"] = "0";
  EXPECT_EQ(parseDeploymentSpec(body)->hold_ms, 0);
  body["hold"] = "6m";
  EXPECT_NE(errorOf(body).find("'hold': must be at most 5m"), std::string::npos) << errorOf(body);
  body["hold"] = 10;
  EXPECT_NE(errorOf(body).find("'hold'"), std::string::npos);
}

}  // namespace
}  // namespace berth::apps
