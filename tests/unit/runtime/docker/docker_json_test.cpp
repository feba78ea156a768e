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

namespace berth::runtime::docker {
namespace {

TEST(DockerJson, CreateBodyCarriesNetworkPortsVolumesSwapAndDisk) {
  ContainerSpec spec;
  spec.image = "web";
  spec.network = "berth-test";
  spec.container_port = 8080;
  spec.host_port = 18080;
  spec.volumes = {{"berth-web-data", "/data"}};
  spec.memory_bytes = 64 << 20;
  spec.memory_swap_bytes = 0;
  spec.disk_bytes = 1 << 30;
  auto body = createBody(spec);
  EXPECT_EQ(body["HostConfig"]["NetworkMode"], "berth-test");
  EXPECT_TRUE(body["ExposedPorts"].contains("8080/tcp"));
  EXPECT_EQ(body["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostPort"], "18080");
  EXPECT_EQ(body["HostConfig"]["Mounts"][0]["Source"], "berth-web-data");
  EXPECT_EQ(body["HostConfig"]["Mounts"][0]["Type"], "volume");
  EXPECT_EQ(body["HostConfig"]["MemorySwap"], 64 << 20);  // memory + no swap
  EXPECT_EQ(body["HostConfig"]["StorageOpt"]["size"], std::to_string(1 << 30));
  EXPECT_EQ(body["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped");
}

TEST(DockerJson, UpdateBodyLiftsSwapWithoutMemory) {
  auto limited = updateBody({128 << 20, 64 << 20, 1000, 100});
  EXPECT_EQ(limited["Memory"], 128 << 20);
  EXPECT_EQ(limited["MemorySwap"], 192 << 20);
  EXPECT_EQ(limited["NanoCpus"], 1'000'000'000);
  EXPECT_EQ(limited["PidsLimit"], 100);
  EXPECT_EQ(updateBody({0, -1, 0, 0})["MemorySwap"], -1);
}

TEST(DockerJson, PullErrorsHideInsideA200Stream) {
  EXPECT_FALSE(pullStreamError("{\"status\":\"Pulling from x\"}\n{\"status\":\"Digest: sha256:ab\"}\n"));
  auto error = pullStreamError("{\"status\":\"Pulling\"}\n{\"errorDetail\":{\"message\":\"unauthorized\"},"
                               "\"error\":\"unauthorized: authentication required\"}\n");
  ASSERT_TRUE(error);
  EXPECT_EQ(*error, "unauthorized: authentication required");
}

TEST(DockerJson, ImageInspectAndStats) {
  auto info = parseImageInspect({{"Id", "sha256:aa"}, {"RepoDigests", {"reg:5000/web@sha256:bb"}}});
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->repo_digests[0], "reg:5000/web@sha256:bb");
  EXPECT_FALSE(parseImageInspect(nlohmann::json::object()).ok());
  auto stats = parseStats({{"cpu_stats", {{"cpu_usage", {{"total_usage", 300}}}, {"system_cpu_usage", 2000}, {"online_cpus", 2}}},
                           {"precpu_stats", {{"cpu_usage", {{"total_usage", 100}}}, {"system_cpu_usage", 1000}}},
                           {"memory_stats", {{"usage", 4096}}},
                           {"networks", {{"eth0", {{"rx_bytes", 10}, {"tx_bytes", 20}}}}},
                           {"blkio_stats", {{"io_service_bytes_recursive", {{{"op", "Read"}, {"value", 7}}, {{"op", "Write"}, {"value", 9}}}}}}});
  EXPECT_DOUBLE_EQ(stats.cpu_percent, 40.0);  // 200/1000 of the machine, 2 cores
  EXPECT_EQ(stats.memory_bytes, 4096);
  EXPECT_EQ(stats.net_rx_bytes, 10);
  EXPECT_EQ(stats.net_tx_bytes, 20);
  EXPECT_EQ(stats.block_read_bytes, 7);
  EXPECT_EQ(stats.block_write_bytes, 9);
}

TEST(DockerJson, ReferencesSplitIntoNameAndTagOrDigest) {
  EXPECT_EQ(splitReference("reg:5000/team/web:1.2"), (std::pair<std::string, std::string>{"reg:5000/team/web", "1.2"}));
  EXPECT_EQ(splitReference("reg:5000/web"), (std::pair<std::string, std::string>{"reg:5000/web", "latest"}));
  EXPECT_EQ(splitReference("web@sha256:ab"), (std::pair<std::string, std::string>{"web", "sha256:ab"}));
}

}  // namespace
TEST(DockerJson, LogsAreRotatedAndPublishedPortsBindLoopbackByDefault) {
  ContainerSpec spec;
  spec.name = "berth-web-d1-0";
  spec.image = "web";
  spec.container_port = 8080;
  spec.host_port = 18080;
  auto body = createBody(spec);
  EXPECT_EQ(body["HostConfig"]["LogConfig"]["Type"], "json-file");
  EXPECT_EQ(body["HostConfig"]["LogConfig"]["Config"]["max-size"], "10m");
  EXPECT_EQ(body["HostConfig"]["LogConfig"]["Config"]["max-file"], "3");
  EXPECT_EQ(body["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostIp"], "127.0.0.1");
  spec.log_max_size = "1m";
  spec.log_max_files = 5;
  spec.host_ip = "";  // publish_public
  body = createBody(spec);
  EXPECT_EQ(body["HostConfig"]["LogConfig"]["Config"]["max-size"], "1m");
  EXPECT_EQ(body["HostConfig"]["LogConfig"]["Config"]["max-file"], "5");
  EXPECT_EQ(body["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostIp"], "");
}

}  // namespace berth::runtime::docker
