// Servers started: none. The harness's own spawn, which starts every server,
// agent and dockerd of the integration tests: a child must not inherit the test
// process's sockets, or a connection a test closes stays open in that child.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <set>
#include <sstream>

#include "harness.hpp"

namespace berth::itest {
namespace {

TEST(Harness, SpawnedProcessesInheritOnlyStdio) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);  // no CLOEXEC, as Asio opens its sockets
  const std::string log = ::testing::TempDir() + "harness_inherited_fds.log";
  std::remove(log.c_str());
  auto ls = Process::spawn({"/bin/ls", "-1", "/proc/self/fd"}, log);
  EXPECT_EQ(ls->wait(), 0);
  std::set<std::string> listed;
  std::istringstream lines(ls->log());
  for (std::string line; std::getline(lines, line);) listed.insert(line);
  // 0-2 and the directory ls itself opened to list them.
  EXPECT_EQ(listed, (std::set<std::string>{"0", "1", "2", "3"})) << ls->log();
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace berth::itest
