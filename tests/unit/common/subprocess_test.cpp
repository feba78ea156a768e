#include "common/subprocess.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace berth {
namespace {

TEST(Subprocess, ReturnsTheOutputAndTheExitCode) {
  auto r = runProcess({"sh", "-c", "echo out; echo err >&2; exit 3"}, 10'000);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->output, "out\nerr\n");
  EXPECT_EQ(r->exit_code, 3);
}

// Sockets opened by Asio have no CLOEXEC; a child must still not see them.
TEST(Subprocess, TheChildInheritsNoDescriptorBeyondItsOutput) {
  int pipeFds[2];
  ASSERT_EQ(::pipe(pipeFds), 0);  // no O_CLOEXEC on purpose
  const int leaked = ::dup2(pipeFds[0], 500);
  ASSERT_EQ(leaked, 500);
  auto r = runProcess({"ls", "/proc/self/fd"}, 10'000);
  ::close(pipeFds[0]);
  ::close(pipeFds[1]);
  ::close(leaked);
  ASSERT_TRUE(r.ok()) << r.error().message;
  // ls itself holds 0-2 and the directory it reads (3); nothing else.
  EXPECT_EQ(r->output, "0\n1\n2\n3\n");
}

TEST(Subprocess, AMissingProgramIsAnErrorValue) {
  auto r = runProcess({"/nonexistent/berth-no-such-program"}, 10'000);
  EXPECT_TRUE(!r.ok() || r->exit_code == 127);
}

TEST(Subprocess, AProgramPastItsTimeLimitIsKilled) {
  auto r = runProcess({"sleep", "30"}, 200);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "timeout");
}

}  // namespace
}  // namespace berth
