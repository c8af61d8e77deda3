// docs/configuration.md holds the reference `fedvlm config --reference` prints: core's keys,
// every registered algorithm's keys and the values of fl.algorithm (the app registers them all,
// as sim::register_algorithms does here).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fedvlm/core/config.hpp"
#include "fedvlm/fl/algorithm.hpp"
#include "fedvlm/sim/algorithms.hpp"

namespace fs = std::filesystem;

TEST(ConfigReference, DocumentationIsUpToDate) {
  fedvlm::sim::register_algorithms();
  if (fedvlm::fl::is_server_algorithm("toy-avg"))  // tests/sim/toy_algorithm_test.cpp ran in this process
    GTEST_SKIP() << "this process registered extra algorithms; run the test alone";
  std::ifstream in(fs::path(FEDVLM_SOURCE_DIR) / "docs" / "configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md is missing";
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(doc.find(fedvlm::config_reference_markdown()), std::string::npos)
      << "docs/configuration.md is out of date: regenerate its reference with `fedvlm config --reference`";
}

TEST(ConfigReference, BaselinesAreChoicesOfTheAlgorithmButNotServerAlgorithms) {
  fedvlm::sim::register_algorithms();
  for (const char* name : {"centralized", "local"}) {
    EXPECT_TRUE(fedvlm::sim::is_baseline(name));
    EXPECT_FALSE(fedvlm::fl::is_server_algorithm(name));
    EXPECT_EQ(fedvlm::load_config({.overrides = {std::string("fl.algorithm=") + name}}).fl.algorithm, name);
  }
  EXPECT_FALSE(fedvlm::sim::is_baseline("fedavg"));
}
