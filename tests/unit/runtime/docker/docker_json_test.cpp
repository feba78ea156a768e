#include "runtime/docker/docker_json.hpp"

#include <gtest/gtest.h>

#include "runtime/docker/docker_runtime.hpp"

namespace berth::runtime::docker {
namespace {

TEST(DockerJson, CreateBodyIsHardenedByDefault) {
  ContainerSpec spec;
  spec.image = "busybox";
  spec.command = {"/bin/busybox", "sleep", "60"};
  spec.env = {{"A", "1"}};
  spec.labels = {{"berth.app", "web"}};
  spec.add_capabilities = {"NET_BIND_SERVICE"};
  spec.memory_bytes = 64 << 20;
  spec.cpu_millicores = 500;
  auto body = createBody(spec);
  EXPECT_EQ(body["HostConfig"]["SecurityOpt"][0], "no-new-privileges");
  EXPECT_EQ(body["HostConfig"]["CapDrop"][0], "ALL");
  EXPECT_EQ(body["HostConfig"]["CapAdd"][0], "NET_BIND_SERVICE");
  EXPECT_EQ(body["HostConfig"]["PidsLimit"], 512);
  EXPECT_EQ(body["HostConfig"]["NanoCpus"], 500'000'000);
  EXPECT_EQ(body["HostConfig"]["Memory"], 64 << 20);
  EXPECT_FALSE(body["HostConfig"].contains("SeccompProfile"));  // the default profile stays
  EXPECT_EQ(body["Env"][0], "A=1");
  EXPECT_EQ(body["Cmd"][2], "60");
  EXPECT_EQ(body["Labels"]["berth.app"], "web");
}

TEST(DockerJson, ParsesInspect) {
  auto body = nlohmann::json::parse(R"({
    "Id": "abc", "Name": "/web-1", "Image": "sha256:1",
    "State": {"Status": "running", "StartedAt": "2026-11-26T10:00:00Z"},
    "Config": {"Labels": {"berth.app": "web"}},
    "HostConfig": {"SecurityOpt": ["no-new-privileges"], "CapDrop": ["ALL"], "PidsLimit": 64,
                   "Memory": 1048576, "NanoCpus": 250000000, "ReadonlyRootfs": true}})");
  auto info = parseInspect(body);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->name, "web-1");
  EXPECT_EQ(info->state, "running");
  EXPECT_EQ(info->labels["berth.app"], "web");
  EXPECT_TRUE(info->no_new_privileges);
  EXPECT_EQ(info->pids_limit, 64);
  EXPECT_TRUE(info->read_only_root);
  EXPECT_FALSE(parseInspect(nlohmann::json::parse(R"({"Id": "x"})")).ok());
}

TEST(DockerJson, NegotiatesTheLowerVersion) {
  EXPECT_EQ(*negotiateVersion({{"ApiVersion", "1.43"}, {"MinAPIVersion", "1.12"}}, "1.41"), "1.41");
  EXPECT_EQ(*negotiateVersion({{"ApiVersion", "1.40"}, {"MinAPIVersion", "1.12"}}, "1.41"), "1.40");
  EXPECT_EQ(*negotiateVersion({{"ApiVersion", "1.9"}, {"MinAPIVersion", "1.5"}}, "1.41"), "1.9");  // numeric order
  EXPECT_FALSE(negotiateVersion({{"ApiVersion", "1.45"}, {"MinAPIVersion", "1.44"}}, "1.41").ok());
  EXPECT_FALSE(negotiateVersion(nlohmann::json::object(), "1.41").ok());
}

TEST(DockerJson, LabelFilterAndUrlEncoding) {
  EXPECT_EQ(labelFilter({{"berth.app", "web"}}), R"({"label":["berth.app=web"]})");
  EXPECT_EQ(urlEncode(R"({"a":["b=c"]})"), "%7B%22a%22%3A%5B%22b%3Dc%22%5D%7D");
}

}  // namespace
}  // namespace berth::runtime::docker
