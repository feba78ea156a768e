#include "apps/validation.hpp"

#include <gtest/gtest.h>

namespace berth::apps {
namespace {

// The error names the field and is an invalid_argument.
void expectRefused(const Result<void>& r, const std::string& field) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_argument");
  EXPECT_NE(r.error().message.find("'" + field + "'"), std::string::npos) << r.error().message;
}

template <typename T>
void expectRefused(const Result<T>& r, const std::string& field) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_argument");
  EXPECT_NE(r.error().message.find("'" + field + "'"), std::string::npos) << r.error().message;
}

TEST(AppName, FollowsDnsLabelRules) {
  for (const char* ok : {"web", "a", "my-app-2", "0day"}) EXPECT_TRUE(validateAppName("name", ok).ok()) << ok;
  for (const char* bad : {"", "-web", "web-", "Web", "my_app", "a.b", "x y"})
    expectRefused(validateAppName("name", bad), "name");
  expectRefused(validateAppName("name", std::string(64, 'a')), "name");
  EXPECT_TRUE(validateAppName("name", std::string(63, 'a')).ok());
}

TEST(ImageReference, NormalisesShortNames) {
  auto r = parseImageReference("image", "busybox");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->canonical(), "docker.io/library/busybox:latest");
  r = parseImageReference("image", "org/app:1.2");
  EXPECT_EQ(r->canonical(), "docker.io/org/app:1.2");
}

TEST(ImageReference, KeepsRegistryPortTagAndDigest) {
  const std::string digest = "sha256:" + std::string(64, 'a');
  auto r = parseImageReference("image", "127.0.0.1:5000/team/web:v2@" + digest);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->registry, "127.0.0.1:5000");
  EXPECT_EQ(r->repository, "team/web");
  EXPECT_EQ(r->tag, "v2");
  EXPECT_EQ(r->digest, digest);
  auto byDigest = parseImageReference("image", "localhost/web@" + digest);
  ASSERT_TRUE(byDigest.ok());
  EXPECT_EQ(byDigest->tag, "");  // a digest alone pins the bytes
  EXPECT_EQ(byDigest->registry, "localhost");
}

TEST(ImageReference, RefusesMalformedReferences) {
  for (const char* bad : {"", "UPPER/case", "web:", "web:-x", "web@sha256:abc", "web@md5:", "a//b", "-web",
                          "reg.io:port/web", "web:tag with space", "web..x", "../web:1", "reg..io/web", ".reg.io/web"}) {
    expectRefused(parseImageReference("image", bad), "image");
  }
}

TEST(EnvAndVolumeNames, FollowTheirRules) {
  EXPECT_TRUE(validateEnvName("env", "DATABASE_URL").ok());
  EXPECT_TRUE(validateEnvName("env", "_x1").ok());
  for (const char* bad : {"", "1ABC", "A-B", "A B", "A=B"}) expectRefused(validateEnvName("env", bad), "env");
  EXPECT_TRUE(validateVolumeName("volumes[0].name", "data.v1_x-y").ok());
  for (const char* bad : {"", "_data", "a/b", "a b"})
    expectRefused(validateVolumeName("volumes[0].name", bad), "volumes[0].name");
}

TEST(Ports, AreOneTo65535) {
  EXPECT_EQ(*parsePort("port", 8080), 8080);
  expectRefused(parsePort("port", 0), "port");
  expectRefused(parsePort("port", 65536), "port");
  expectRefused(parsePort("port", -1), "port");
}

TEST(Limits, ParseCpuBytesAndDurations) {
  EXPECT_EQ(*parseCpu("limits.cpu", "0.5"), 500);
  EXPECT_EQ(*parseCpu("limits.cpu", "250m"), 250);
  EXPECT_EQ(*parseCpu("limits.cpu", "2"), 2000);
  for (const char* bad : {"", "0", "-1", "1.2.3", "2 cores", "0.0001"})
    expectRefused(parseCpu("limits.cpu", bad), "limits.cpu");
  EXPECT_EQ(*parseBytes("limits.memory", "512m"), 512LL * 1024 * 1024);
  EXPECT_EQ(*parseBytes("limits.memory", "1Gi"), 1024LL * 1024 * 1024);
  EXPECT_EQ(*parseBytes("limits.memory", "1048576"), 1048576);
  EXPECT_EQ(*parseBytes("limits.memory", "1.5k"), 1536);
  for (const char* bad : {"", "m", "12q", "-5m", "99999999t"})
    expectRefused(parseBytes("limits.memory", bad), "limits.memory");
  expectRefused(parseBytes("limits.memory", "1k", 4 * 1024 * 1024), "limits.memory");
  EXPECT_EQ(*parseDuration("health_check.interval", "500ms"), 500);
  EXPECT_EQ(*parseDuration("health_check.interval", "1.5s"), 1500);
  EXPECT_EQ(*parseDuration("health_check.interval", "2m"), 120000);
  for (const char* bad : {"", "10", "5d", "0s", "25h"})
    expectRefused(parseDuration("health_check.interval", bad), "health_check.interval");
}

TEST(HealthCheck, ValidatesEachKind) {
  auto http = makeHealthCheck("http", "/healthz", 8080, {}, "10s", "2s", 3, "5s");
  ASSERT_TRUE(http.ok()) << http.error().message;
  EXPECT_EQ(http->start_period_ms, 5000);
  EXPECT_TRUE(makeHealthCheck("tcp", "", 5432, {}, "5s", "1s", 1, "").ok());
  auto cmd = makeHealthCheck("command", "", 0, {"/bin/check", "--quick"}, "5s", "1s", 2, "0");
  ASSERT_TRUE(cmd.ok());
  EXPECT_EQ(cmd->command.size(), 2u);
  expectRefused(makeHealthCheck("grpc", "/", 1, {}, "5s", "1s", 1, ""), "health_check.type");
  expectRefused(makeHealthCheck("http", "healthz", 80, {}, "5s", "1s", 1, ""), "health_check.path");
  expectRefused(makeHealthCheck("http", "/", 0, {}, "5s", "1s", 1, ""), "health_check.port");
  expectRefused(makeHealthCheck("command", "", 0, {}, "5s", "1s", 1, ""), "health_check.command");
  expectRefused(makeHealthCheck("tcp", "", 80, {}, "5s", "10s", 1, ""), "health_check.timeout");
  expectRefused(makeHealthCheck("tcp", "", 80, {}, "5s", "1s", 0, ""), "health_check.retries");
  expectRefused(makeHealthCheck("tcp", "", 80, {}, "soon", "1s", 1, ""), "health_check.interval");
}

TEST(Validation, HugeNumbersAreRefusedNotCastBeyondInt64) {
  // Found by fuzzing: "5555...h" is 5.5e35 ms, and casting that to int64 is undefined behaviour.
  const std::string huge(40, '5');
  for (const char* unit : {"h", "m", "s", "ms"}) {
    auto d = parseDuration("health_check.interval", huge + unit);
    ASSERT_FALSE(d.ok()) << unit;
    EXPECT_NE(d.error().message.find("health_check.interval"), std::string::npos);
  }
  EXPECT_FALSE(parseDuration("f", std::string(400, '9') + "h").ok());  // beyond double: stod fails, refused
  EXPECT_FALSE(parseDuration("f", "0.0000001ms").ok());
  EXPECT_EQ(*parseDuration("f", "24h"), 86'400'000);
  EXPECT_FALSE(parseDuration("f", "24.0001h").ok());
  EXPECT_FALSE(parseCpu("limits.cpu", huge).ok());
  EXPECT_FALSE(parseCpu("limits.cpu", huge + "m").ok());
  EXPECT_FALSE(parseCpu("limits.cpu", "0.0001").ok());
  EXPECT_EQ(*parseCpu("limits.cpu", "1024"), 1'024'000);
  EXPECT_FALSE(parseCpu("limits.cpu", "1024.5").ok());
  EXPECT_FALSE(parseBytes("limits.memory", huge + "t").ok());
  EXPECT_FALSE(parseBytes("limits.memory", huge).ok());
  EXPECT_FALSE(parseBandwidth("limits.net_in", huge + "gbit").ok());
}

TEST(Validation, HealthPathsRefuseControlCharacters) {
  // `--health $'http:/a\r\nX: y'` would otherwise split the probe's request.
  auto crlf = makeHealthCheck("http", "/a\r\nX: y", 8080, {}, "2s", "1s", 3, "0");
  ASSERT_FALSE(crlf.ok());
  EXPECT_NE(crlf.error().message.find("health_check.path"), std::string::npos);
  EXPECT_NE(crlf.error().message.find("control characters"), std::string::npos);
  EXPECT_FALSE(makeHealthCheck("http", std::string("/a\0b", 4), 8080, {}, "2s", "1s", 3, "0").ok());
  EXPECT_FALSE(makeHealthCheck("http", "/a\tb", 8080, {}, "2s", "1s", 3, "0").ok());
  EXPECT_FALSE(makeHealthCheck("http", "/a b", 8080, {}, "2s", "1s", 3, "0").ok());
  EXPECT_TRUE(makeHealthCheck("http", "/healthz?full=1", 8080, {}, "2s", "1s", 3, "0").ok());
  EXPECT_FALSE(refuseControlCharacters("x", "a\x7f").ok());
  EXPECT_TRUE(refuseControlCharacters("x", "caf\xc3\xa9").ok());
}

TEST(Validation, CapabilitiesBeyondDockersDefaultSetNeedTheServersAllowlist) {
  EXPECT_TRUE(checkCapabilities("capabilities", {"NET_BIND_SERVICE", "CHOWN", "KILL", "AUDIT_WRITE"}, {}).ok());
  EXPECT_EQ(defaultCapabilities().size(), 14u);
  for (const char* cap : {"SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "NET_ADMIN", "BPF"}) {
    auto refused = checkCapabilities("capabilities", {"CHOWN", cap}, {});
    ASSERT_FALSE(refused.ok()) << cap;
    EXPECT_NE(refused.error().message.find("field 'capabilities'"), std::string::npos);
    EXPECT_NE(refused.error().message.find(cap), std::string::npos);
    EXPECT_NE(refused.error().message.find("allowed_capabilities"), std::string::npos);
  }
  EXPECT_TRUE(checkCapabilities("capabilities", {"NET_ADMIN"}, {"NET_ADMIN"}).ok());
  EXPECT_FALSE(checkCapabilities("capabilities", {"SYS_ADMIN"}, {"NET_ADMIN"}).ok());
  EXPECT_FALSE(checkCapabilities("capabilities", {"CAP_CHOWN"}, {}).ok());  // not a name
}

}  // namespace
}  // namespace berth::apps
