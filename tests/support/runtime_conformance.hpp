// The behaviour every ContainerRuntime shows, as one typed GoogleTest suite.
// It runs against the in-memory fake (tests/unit/runtime/memory_runtime_test.cpp)
// and against the Docker runtime on a private dockerd
// (tests/integration/docker_runtime_conformance_test.cpp), so the fake the
// agent's unit tests lean on cannot drift from Docker.
//
// A Backend provides, for the whole suite (it may be slow to start):
//   static std::unique_ptr<Backend> make();
//   runtime::ContainerRuntime& runtime();
//   std::string image();    // a local image whose /bin/busybox runs `sh -c`
//   std::string imageId();  // its id
// Programs are `/bin/busybox sh -c SCRIPT` with `echo`, `exit N` and `sleep N`
// only (what the fake interprets).
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "runtime/container_runtime.hpp"

namespace berth::testing {

// Polls `condition` (running `io` in between) until it holds or 30 s pass.
inline bool within30s(const std::function<bool()>& condition, boost::asio::io_context* io = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (io) {
      io->restart();
      io->run_for(std::chrono::milliseconds(20));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return true;
}

// What one followLogs call delivered.
struct FollowedLogs {
  std::vector<runtime::LogLine> lines;
  bool ended = false;
  std::string reason;
  std::unique_ptr<runtime::LogSubscription> subscription;
  std::vector<std::string> texts() const {
    std::vector<std::string> out;
    for (const auto& l : lines) out.push_back(l.text);
    return out;
  }
};

template <class Backend>
class RuntimeConformance : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { backend_ = Backend::make(); }
  static void TearDownTestSuite() { backend_.reset(); }

  void SetUp() override { ASSERT_TRUE(backend_) << "the runtime did not start"; }
  void TearDown() override {
    for (const auto& id : created_) (void)runtime().remove(id, true);
  }

  runtime::ContainerRuntime& runtime() { return backend_->runtime(); }

  // A container running `script`, named after the test; not restarted when it exits.
  runtime::ContainerSpec program(const std::string& suffix, const std::string& script) {
    runtime::ContainerSpec spec;
    spec.name = std::string("conf-") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" + suffix;
    for (auto& c : spec.name) c = std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '-';
    spec.image = backend_->image();
    spec.command = {"/bin/busybox", "sh", "-c", script};
    spec.labels = {{"conformance.test", ::testing::UnitTest::GetInstance()->current_test_info()->name()}};
    spec.restart_unless_stopped = false;
    return spec;
  }

  std::string create(const runtime::ContainerSpec& spec) {
    auto id = runtime().create(spec);
    EXPECT_TRUE(id.ok()) << id.error().message;
    if (!id) return "";
    created_.push_back(*id);
    return *id;
  }

  std::string started(const runtime::ContainerSpec& spec) {
    auto id = create(spec);
    auto r = runtime().start(id);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return id;
  }

  std::optional<runtime::ContainerInfo> info(const std::string& id) {
    auto i = runtime().inspect(id);
    EXPECT_TRUE(i.ok()) << i.error().message;
    return i ? *i : std::nullopt;
  }

  bool reaches(const std::string& id, const std::string& state) {
    return within30s([&] {
      auto i = info(id);
      return i && i->state == state;
    });
  }

  std::unique_ptr<FollowedLogs> follow(const std::string& id, std::int64_t since_ms = 0) {
    auto out = std::make_unique<FollowedLogs>();
    auto* raw = out.get();
    out->subscription = runtime().followLogs(
        io_.get_executor(), id, since_ms,
        [raw](std::vector<runtime::LogLine> lines) {
          EXPECT_FALSE(raw->ended) << "lines after the end";
          for (auto& l : lines) raw->lines.push_back(std::move(l));
        },
        [raw](const std::string& reason) {
          EXPECT_FALSE(raw->ended) << "ended twice";
          raw->ended = true;
          raw->reason = reason;
        });
    return out;
  }

  bool until(const std::function<bool()>& condition) { return within30s(condition, &io_); }

  static inline std::unique_ptr<Backend> backend_;
  std::vector<std::string> created_;
  boost::asio::io_context io_{1};
};

TYPED_TEST_SUITE_P(RuntimeConformance);

TYPED_TEST_P(RuntimeConformance, CreateStartStopRemoveAndInspect) {
  auto spec = this->program("c", "sleep 300");
  spec.labels["berth.app"] = "web";
  spec.labels["with space"] = "a value, with = and \"quotes\"";
  spec.pids_limit = 64;
  spec.memory_bytes = 64 << 20;
  spec.memory_swap_bytes = 0;
  spec.cpu_millicores = 250;
  spec.user = "1000:1000";
  const auto id = this->create(spec);
  ASSERT_FALSE(id.empty());
  auto created = this->info(id);
  ASSERT_TRUE(created);
  EXPECT_EQ(created->state, "created");
  EXPECT_EQ(created->id, id);
  EXPECT_EQ(created->name, spec.name);
  EXPECT_EQ(created->image_id, this->backend_->imageId());
  EXPECT_EQ(created->labels, spec.labels);  // every label back, exactly
  EXPECT_TRUE(created->no_new_privileges);
  EXPECT_EQ(created->dropped_capabilities, std::vector<std::string>{"ALL"});
  EXPECT_EQ(created->pids_limit, 64);
  EXPECT_EQ(created->memory_bytes, 64 << 20);
  EXPECT_EQ(created->memory_swap_bytes, 64 << 20);  // memory + no swap
  EXPECT_EQ(created->nano_cpus, 250'000'000);
  EXPECT_EQ(created->user, "1000:1000");

  ASSERT_TRUE(this->runtime().start(id).ok());
  ASSERT_TRUE(this->runtime().start(id).ok());  // already running: still fine
  auto running = this->info(id);
  ASSERT_TRUE(running);
  EXPECT_EQ(running->state, "running");
  EXPECT_FALSE(running->started_at.empty());
  auto byName = this->info(spec.name);  // a name finds it as well as the id
  ASSERT_TRUE(byName);
  EXPECT_EQ(byName->id, id);

  ASSERT_TRUE(this->runtime().stop(id, 1).ok());
  ASSERT_TRUE(this->runtime().stop(id, 1).ok());  // stopping a stopped container changes nothing
  auto stopped = this->info(id);
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->state, "exited");
  EXPECT_EQ(stopped->exit_code, 137);  // sh ignores SIGTERM as pid 1: killed at the timeout
  EXPECT_EQ(stopped->labels, spec.labels);

  ASSERT_TRUE(this->runtime().remove(id, false).ok());
  EXPECT_FALSE(this->info(id).has_value());
  EXPECT_TRUE(this->runtime().remove(id, false).ok());  // already gone
}

TYPED_TEST_P(RuntimeConformance, NamesAreUniqueAndImagesMustExist) {
  auto spec = this->program("dup", "sleep 300");
  ASSERT_FALSE(this->create(spec).empty());
  auto taken = this->runtime().create(spec);
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code, "conflict");

  auto absent = this->program("absent", "exit 0");
  absent.image = "berth-test/absent:9";
  auto missing = this->runtime().create(absent);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "not_found");
  EXPECT_NE(missing.error().message.find("berth-test/absent"), std::string::npos) << missing.error().message;

  auto image = this->runtime().inspectImage(this->backend_->image());
  ASSERT_TRUE(image.ok() && image->has_value());
  EXPECT_EQ((*image)->id, this->backend_->imageId());
  auto byId = this->runtime().imageId(this->backend_->imageId());
  ASSERT_TRUE(byId.ok() && byId->has_value());
  EXPECT_EQ(**byId, this->backend_->imageId());
  auto none = this->runtime().inspectImage("berth-test/absent:9");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TYPED_TEST_P(RuntimeConformance, ListSelectsContainersCarryingEveryLabel) {
  auto a = this->program("a", "sleep 300");
  a.labels["tier"] = "web";
  a.labels["replica"] = "0";
  auto b = this->program("b", "exit 0");  // stopped containers are listed too
  b.labels["tier"] = "web";
  b.labels["replica"] = "1";
  const auto idA = this->started(a);
  const auto idB = this->started(b);
  ASSERT_TRUE(this->reaches(idB, "exited"));
  const std::string test = a.labels.at("conformance.test");
  auto both = this->runtime().list({{"conformance.test", test}, {"tier", "web"}});
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(std::set<std::string>(both->begin(), both->end()), (std::set<std::string>{idA, idB}));
  auto one = this->runtime().list({{"conformance.test", test}, {"replica", "1"}});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, std::vector<std::string>{idB});
  EXPECT_TRUE(this->runtime().list({{"conformance.test", test}, {"tier", "db"}})->empty());
  EXPECT_TRUE(this->runtime().list({{"conformance.test", test}, {"nonexistent", "x"}})->empty());
  auto all = this->runtime().list({});
  ASSERT_TRUE(all.ok());
  EXPECT_GE(std::set<std::string>(all->begin(), all->end()).count(idA), 1u);
}

TYPED_TEST_P(RuntimeConformance, ExitCodesAndRestartingAnExitedContainer) {
  const auto failing = this->started(this->program("three", "exit 3"));
  const auto fine = this->started(this->program("zero", "echo done"));
  ASSERT_TRUE(this->reaches(failing, "exited"));
  ASSERT_TRUE(this->reaches(fine, "exited"));
  EXPECT_EQ(this->info(failing)->exit_code, 3);
  EXPECT_EQ(this->info(fine)->exit_code, 0);
  EXPECT_EQ(this->info(failing)->pid, 0);
  ASSERT_TRUE(this->runtime().start(failing).ok());  // an exited container starts again, same id
  ASSERT_TRUE(this->reaches(failing, "exited"));
  EXPECT_EQ(this->info(failing)->exit_code, 3);
}

TYPED_TEST_P(RuntimeConformance, MissingIdsAreNotFoundOrNothing) {
  const std::string ghost = "conf-no-such-container";
  auto inspected = this->runtime().inspect(ghost);
  ASSERT_TRUE(inspected.ok());
  EXPECT_FALSE(inspected->has_value());
  EXPECT_TRUE(this->runtime().remove(ghost, true).ok());
  EXPECT_EQ(this->runtime().start(ghost).error().code, "not_found");
  EXPECT_EQ(this->runtime().stop(ghost, 1).error().code, "not_found");
  EXPECT_EQ(this->runtime().update(ghost, {64 << 20, -1, 100, 10}).error().code, "not_found");
  EXPECT_EQ(this->runtime().stats(ghost).error().code, "not_found");
  EXPECT_EQ(this->runtime().exec(ghost, {"/bin/busybox", "true"}, 5000).error().code, "not_found");
  EXPECT_TRUE(this->runtime().removeImage("berth-test/absent:9").ok());
  EXPECT_TRUE(this->runtime().removeVolume("conf-no-such-volume").ok());
}

TYPED_TEST_P(RuntimeConformance, RemovingARunningContainerNeedsForce) {
  const auto id = this->started(this->program("r", "sleep 300"));
  auto refused = this->runtime().remove(id, false);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "conflict");
  EXPECT_EQ(this->info(id)->state, "running");
  ASSERT_TRUE(this->runtime().remove(id, true).ok());
  EXPECT_FALSE(this->info(id).has_value());
}

TYPED_TEST_P(RuntimeConformance, ExecReturnsTheExitCodeOnlyInARunningContainer) {
  const auto id = this->started(this->program("x", "sleep 300"));
  auto seven = this->runtime().exec(id, {"/bin/busybox", "sh", "-c", "exit 7"}, 10000);
  ASSERT_TRUE(seven.ok()) << seven.error().message;
  EXPECT_EQ(*seven, 7);
  auto zero = this->runtime().exec(id, {"/bin/busybox", "sh", "-c", "echo hi"}, 10000);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(*zero, 0);
  ASSERT_TRUE(this->runtime().stop(id, 1).ok());
  auto stopped = this->runtime().exec(id, {"/bin/busybox", "sh", "-c", "exit 0"}, 10000);
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error().code, "conflict");
}

TYPED_TEST_P(RuntimeConformance, UpdateChangesResourcesInPlaceAndStatsSampleThem) {
  auto spec = this->program("u", "sleep 300");
  spec.memory_bytes = 64 << 20;
  spec.cpu_millicores = 250;
  spec.pids_limit = 64;
  const auto id = this->started(spec);
  const auto before = this->info(id);
  ASSERT_TRUE(before);
  auto updated = this->runtime().update(id, {128 << 20, 0, 500, 100});
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  const auto after = this->info(id);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->memory_bytes, 128 << 20);
  EXPECT_EQ(after->memory_swap_bytes, 128 << 20);
  EXPECT_EQ(after->nano_cpus, 500'000'000);
  EXPECT_EQ(after->pids_limit, 100);
  EXPECT_EQ(after->state, "running");                // not restarted
  EXPECT_EQ(after->started_at, before->started_at);  // the same run
  auto stats = this->runtime().stats(id);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_GE(stats->memory_bytes, 0);
  EXPECT_GE(stats->online_cpus, 1);
  ASSERT_TRUE(this->runtime().stop(id, 1).ok());
  EXPECT_TRUE(this->runtime().stats(id).ok());  // a stopped container has a (zero) sample too
}

TYPED_TEST_P(RuntimeConformance, FollowsBothStreamsInOrderUntilTheContainerStops) {
  const auto id = this->started(this->program("l", "echo one; echo two >&2; echo 'three  spaced'; sleep 300"));
  auto logs = this->follow(id);
  ASSERT_TRUE(this->until([&] { return logs->lines.size() >= 3; })) << logs->reason;
  EXPECT_FALSE(logs->ended);  // still running: the stream stays open
  // In order within a stream; Docker copies stdout and stderr separately, so not across them.
  std::vector<std::string> out, err;
  for (const auto& l : logs->lines) (l.stream == "stderr" ? err : out).push_back(l.text);
  EXPECT_EQ(out, (std::vector<std::string>{"one", "three  spaced"}));
  EXPECT_EQ(err, std::vector<std::string>{"two"});
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& l : logs->lines) {
    EXPECT_GT(l.at_ms, now - 600'000);  // stamped by the runtime, in unix ms
    EXPECT_LE(l.at_ms, now + 1000);
  }
  ASSERT_TRUE(this->runtime().stop(id, 1).ok());
  ASSERT_TRUE(this->until([&] { return logs->ended; }));
  EXPECT_EQ(logs->lines.size(), 3u);
}

TYPED_TEST_P(RuntimeConformance, FollowingAnExitedContainerGivesItsLinesSinceACutThenEnds) {
  const auto id = this->started(this->program("s", "echo run"));
  ASSERT_TRUE(this->reaches(id, "exited"));
  auto first = this->follow(id);
  ASSERT_TRUE(this->until([&] { return first->ended; }));
  ASSERT_EQ(first->texts(), std::vector<std::string>{"run"});
  const auto cut = first->lines[0].at_ms + 1;
  ASSERT_TRUE(this->runtime().start(id).ok());  // a second run appends to the same log
  ASSERT_TRUE(this->reaches(id, "exited"));
  auto all = this->follow(id);
  auto later = this->follow(id, cut);
  ASSERT_TRUE(this->until([&] { return all->ended && later->ended; }));
  EXPECT_EQ(all->texts(), (std::vector<std::string>{"run", "run"}));
  ASSERT_EQ(later->texts(), std::vector<std::string>{"run"});  // only the second run's line
  EXPECT_GE(later->lines[0].at_ms, cut);
}

TYPED_TEST_P(RuntimeConformance, FollowingAMissingContainerEndsAndAStoppedSubscriptionIsQuiet) {
  auto ghost = this->follow("conf-no-such-container");
  ASSERT_TRUE(this->until([&] { return ghost->ended; }));
  EXPECT_TRUE(ghost->lines.empty());
  EXPECT_FALSE(ghost->reason.empty());

  const auto id = this->started(this->program("q", "echo hello; sleep 300"));
  auto quiet = this->follow(id);
  quiet->subscription->stop();
  auto watcher = this->follow(id);
  ASSERT_TRUE(this->until([&] { return !watcher->lines.empty(); }));
  ASSERT_TRUE(this->runtime().stop(id, 1).ok());
  ASSERT_TRUE(this->until([&] { return watcher->ended; }));
  EXPECT_TRUE(quiet->lines.empty());
  EXPECT_FALSE(quiet->ended);
}

TYPED_TEST_P(RuntimeConformance, ANetworkIsEnsuredOnceAndContainersJoinItByName) {
  const std::string network = "conf-net-" + std::to_string(::getpid());
  ASSERT_TRUE(this->runtime().ensureNetwork(network).ok());
  ASSERT_TRUE(this->runtime().ensureNetwork(network).ok()) << "a second call must accept the existing network";
  auto spec = this->program("joined", "sleep 30");
  spec.network = network;
  const auto id = this->started(spec);
  EXPECT_TRUE(this->reaches(id, "running"));
  auto missing = this->program("nowhere", "sleep 30");
  missing.network = "conf-no-such-network";
  auto created = this->runtime().create(missing);
  if (created) {
    this->created_.push_back(*created);
    EXPECT_FALSE(this->runtime().start(*created).ok()) << "a container on a network nobody created must not run";
  }
}

REGISTER_TYPED_TEST_SUITE_P(RuntimeConformance, CreateStartStopRemoveAndInspect, NamesAreUniqueAndImagesMustExist,
                            ListSelectsContainersCarryingEveryLabel, ExitCodesAndRestartingAnExitedContainer,
                            MissingIdsAreNotFoundOrNothing, RemovingARunningContainerNeedsForce,
                            ExecReturnsTheExitCodeOnlyInARunningContainer,
                            UpdateChangesResourcesInPlaceAndStatsSampleThem,
                            FollowsBothStreamsInOrderUntilTheContainerStops,
                            FollowingAnExitedContainerGivesItsLinesSinceACutThenEnds,
                            FollowingAMissingContainerEndsAndAStoppedSubscriptionIsQuiet,
                            ANetworkIsEnsuredOnceAndContainersJoinItByName);

}  // namespace berth::testing
