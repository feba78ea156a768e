#include "common/subprocess.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

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

TEST(Subprocess, AnEnvironmentGivenReplacesOursAndAWorkingDirectoryIsHonoured) {
  ::setenv("BERTH_TEST_LEAK", "visible", 1);
  ProcessOptions options;
  options.environment = std::map<std::string, std::string>{{"ONLY", "this"}};
  options.working_directory = "/usr";
  auto r = runProcess({"/usr/bin/env"}, 10'000, options);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->output, "ONLY=this\n");
  auto pwd = runProcess({"/bin/pwd"}, 10'000, options);
  ASSERT_TRUE(pwd.ok());
  EXPECT_EQ(pwd->output, "/usr\n");
  ::unsetenv("BERTH_TEST_LEAK");
}

// A program that started helpers of its own (git starts ssh): a timeout or a
// cancel ends them too, not only the program.
TEST(Subprocess, ATimeoutOrACancelEndsTheProgramsWholeGroup) {
  const std::string marker = "/tmp/berth-group-" + std::to_string(::getpid());
  auto r = runProcess({"sh", "-c", "sleep 30 & echo $! > " + marker + "; wait"}, 500);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "timeout");
  std::ifstream in(marker);
  pid_t helper = 0;
  in >> helper;
  ASSERT_GT(helper, 0);
  // Reaped by init once killed; until then kill(0) may still see a zombie, so look at its state.
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    std::ifstream stat("/proc/" + std::to_string(helper) + "/stat");
    std::string pid, comm, state;
    gone = !(stat >> pid >> comm >> state) || state == "Z";
    if (!gone) ::usleep(20'000);
  }
  EXPECT_TRUE(gone) << "the helper outlived its program";
  std::remove(marker.c_str());

  std::atomic<bool> cancel{false};
  ProcessOptions options;
  options.cancel = &cancel;
  std::thread canceller([&] {
    ::usleep(200'000);
    cancel = true;
  });
  auto c = runProcess({"sleep", "30"}, 60'000, options);
  canceller.join();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, "cancelled");
}

}  // namespace
}  // namespace berth
