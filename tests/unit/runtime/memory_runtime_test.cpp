// The in-memory runtime (tests/support/memory_runtime) through the runtime
// conformance suite, the same checks the Docker runtime passes in
// tests/integration/docker_runtime_conformance_test.cpp.
#include "../../support/memory_runtime.hpp"

#include <gtest/gtest.h>

#include "../../support/runtime_conformance.hpp"

namespace berth::testing {
namespace {

struct MemoryBackend {
  MemoryRuntime fake;
  static std::unique_ptr<MemoryBackend> make() {
    auto backend = std::make_unique<MemoryBackend>();
    backend->fake.images["berth-test/busybox:1"] = {std::string("sha256:") + std::string(64, 'b'), {}};
    return backend;
  }
  runtime::ContainerRuntime& runtime() { return fake; }
  std::string image() { return "berth-test/busybox:1"; }
  std::string imageId() { return std::string("sha256:") + std::string(64, 'b'); }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Memory, RuntimeConformance, ::testing::Types<MemoryBackend>);

// What only the fake has: pulls from its registry, and an unreachable daemon.
TEST(MemoryRuntime, PullsWhatItsRegistryHoldsWithTheRightCredentials) {
  MemoryRuntime fake;
  fake.registry["reg:5000/web:1"] = {{"sha256:id1", {"reg:5000/web@sha256:1"}}, "right"};
  EXPECT_EQ(fake.pull("reg:5000/web:1", std::nullopt).error().code, "pull_failed");
  EXPECT_EQ(fake.pull("reg:5000/web:2", runtime::RegistryCredentials{"ci", "right", "reg:5000"}).error().code,
            "pull_failed");
  ASSERT_TRUE(fake.pull("reg:5000/web:1", runtime::RegistryCredentials{"ci", "right", "reg:5000"}).ok());
  EXPECT_EQ((*fake.inspectImage("reg:5000/web@sha256:1"))->id, "sha256:id1");
  fake.down = true;
  EXPECT_EQ(fake.list({}).error().code, "runtime_unavailable");
}

}  // namespace
}  // namespace berth::testing
