// Servers started: one private dockerd (DockerDaemon in harness.hpp) for the
// whole suite. The Docker runtime through the runtime conformance suite, the
// same checks the in-memory fake passes in tests/unit/runtime/memory_runtime_test.cpp.
#include <gtest/gtest.h>

#include "../support/runtime_conformance.hpp"
#include "harness.hpp"

namespace berth::itest {
namespace {

struct DockerBackend {
  std::unique_ptr<DockerDaemon> daemon;
  std::string image_id;
  static std::unique_ptr<DockerBackend> make() {
    auto backend = std::make_unique<DockerBackend>();
    backend->daemon = std::make_unique<DockerDaemon>();
    if (!backend->daemon->ready()) return nullptr;
    backend->image_id = backend->daemon->importBusybox("berth-test/busybox", "1");
    if (backend->image_id.empty()) return nullptr;
    return backend;
  }
  runtime::ContainerRuntime& runtime() { return *daemon->docker; }
  std::string image() { return "berth-test/busybox:1"; }
  std::string imageId() { return image_id; }
};

}  // namespace
}  // namespace berth::itest

namespace berth::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(Docker, RuntimeConformance, ::testing::Types<berth::itest::DockerBackend>);
}  // namespace berth::testing
