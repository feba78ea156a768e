#include "cli/cli_common.hpp"

#include <gtest/gtest.h>

namespace berth::cli::detail {
namespace {

// A node's hostname or site is the node's to say: it must not drive the operator's terminal.
TEST(TableCells, ControlCharactersFromTheServerArePrintedAsQuestionMarks) {
  nlohmann::json node = {{"hostname", "evil\x1b[31mRED\x07\x1b]0;pwned\x07"}, {"site", "a\r\nb"},
                         {"c1", "x\xc2\x9b" "2Jy"}, {"fine", "caf\xc3\xa9 \xe4\xb8\xad"}};
  EXPECT_EQ(str(node, "hostname"), "evil?[31mRED??]0;pwned?");
  EXPECT_EQ(str(node, "site"), "a??b");
  EXPECT_EQ(str(node, "c1"), "x?2Jy");
  EXPECT_EQ(str(node, "fine"), "caf\xc3\xa9 \xe4\xb8\xad");
  EXPECT_EQ(str(node, "absent"), "-");
  EXPECT_EQ(printable("\x7f"), "?");
}

// A wait loop's poll answered 429 (several deploys followed at once with one key): it pauses and
// asks again; any other error ends it as before; past the deadline the 429 is the answer.
TEST(CallPatiently, ARateLimitedPollPausesAndAsksAgainOtherErrorsEndIt) {
  std::vector<Result<ApiReply>> answers = {makeError("rate_limited", "slow down"), makeError("rate_limited", "slow down"),
                                           ApiReply{200, {{"state", "building"}}}};
  std::size_t asked = 0;
  std::vector<std::chrono::milliseconds> pauses;
  auto pause = [&](std::chrono::milliseconds d) { pauses.push_back(d); };
  const auto later = std::chrono::steady_clock::now() + std::chrono::minutes(15);
  auto got = callPatiently([&] { return answers[asked++]; }, later, pause);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->body["state"], "building");
  EXPECT_EQ(asked, 3u);
  ASSERT_EQ(pauses.size(), 2u);
  EXPECT_GE(pauses[0], std::chrono::milliseconds(500));

  asked = 0;
  answers = {makeError("not_found", "no such app")};
  auto gone = callPatiently([&] { return answers[asked++]; }, later, pause);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, "not_found");
  EXPECT_EQ(asked, 1u);

  asked = 0;
  pauses.clear();
  answers = {makeError("rate_limited", "slow down")};
  auto late = callPatiently([&] { return answers[asked++]; }, std::chrono::steady_clock::now(), pause);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, "rate_limited");
  EXPECT_TRUE(pauses.empty());
}

}  // namespace
}  // namespace berth::cli::detail
