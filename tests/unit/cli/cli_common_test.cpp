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

}  // namespace
}  // namespace berth::cli::detail
