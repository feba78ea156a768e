#include "agent/command_journal.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "../temp_dir.hpp"

namespace berth::agent {
namespace {

TEST(CommandJournal, ANonceIsAdmittedOnceUntilItExpires) {
  auto journal = *CommandJournal::fromJson(nlohmann::json::object(), "/unused");
  EXPECT_TRUE(journal.admit("n1", 5000, 1000));
  EXPECT_FALSE(journal.admit("n1", 5000, 2000));
  EXPECT_TRUE(journal.admit("n1", 9000, 6000));  // forgotten once expired (the frame check refuses it anyway)
}

TEST(CommandJournal, SurvivesARestartWithNoncesAndResults) {
  berth::testing::TempDir dir;
  const std::string path = dir.path() + "/commands.json";
  {
    auto journal = CommandJournal::load(path);
    ASSERT_TRUE(journal.ok());
    ASSERT_TRUE(journal->admit("nonce-1", 10'000, 1000));
    journal->finish("corr-1", VerbOutcome{true, 0, {{"pong", true}}, "", ""});
    ASSERT_TRUE(journal->save().ok());
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = CommandJournal::load(path);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_FALSE(again->admit("nonce-1", 10'000, 2000));  // the replay after a restart
  auto stored = again->result("corr-1");
  ASSERT_TRUE(stored.has_value());
  EXPECT_TRUE(stored->ok);
  EXPECT_EQ(stored->output["pong"], true);
}

TEST(CommandJournal, ResultsAreBoundedOldestFirstAndDamageIsAnError) {
  auto journal = *CommandJournal::fromJson(nlohmann::json::object(), "/unused");
  for (std::size_t i = 0; i <= CommandJournal::kMaxResults; ++i) journal.finish("c" + std::to_string(i), {});
  EXPECT_FALSE(journal.result("c0").has_value());
  EXPECT_TRUE(journal.result("c1").has_value());
  EXPECT_FALSE(CommandJournal::fromJson({{"nonces", "x"}}, "/p").ok());
  EXPECT_FALSE(CommandJournal::fromJson({{"results", {{{"ok", true}}}}}, "/p").ok());
}

// A damaged file is read field by field, never thrown on (get<bool>() on a string throws).
TEST(CommandJournal, FieldsOfTheWrongTypeAreReadAsAbsentNotThrown) {
  nlohmann::json damaged = {{"results",
                             {{{"correlation_id", "c1"}, {"ok", "yes"}, {"exit_code", "1"}, {"error_code", 5}},
                              {{"correlation_id", "c2"}, {"ok", 1}, {"exit_code", 1e300}, {"error_message", true}},
                              {{"correlation_id", "c3"}, {"exit_code", 99999999999}}}}};
  Result<CommandJournal> journal = makeError("x", "x");
  ASSERT_NO_THROW(journal = CommandJournal::fromJson(damaged, "/p"));
  ASSERT_TRUE(journal.ok());
  EXPECT_FALSE(journal->result("c1")->ok);
  EXPECT_EQ(journal->result("c1")->exit_code, 0);
  EXPECT_EQ(journal->result("c3")->exit_code, 0);
}

}  // namespace
}  // namespace berth::agent
