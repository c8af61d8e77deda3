#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "fedvlm/core/config.hpp"
#include "fedvlm/core/error.hpp"

namespace fs = std::filesystem;
using fedvlm::Config;
using fedvlm::ConfigSources;
using fedvlm::InputError;
using fedvlm::load_config;

namespace {

class ConfigFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fedvlm-config-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path;
  }

  // The message of the InputError thrown by loading `sources`, or "" if none.
  static std::string error_of(const ConfigSources& sources) {
    try {
      load_config(sources);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

}  // namespace

TEST_F(ConfigFiles, DefaultsApplyTheTinyPreset) {
  const Config config = load_config({});
  EXPECT_EQ(config.model.preset, "tiny");
  EXPECT_EQ(config.origins.at("fl.rounds"), "default");
  EXPECT_NE(config.origins.at("model.dim").find("preset"), std::string::npos);
}

TEST_F(ConfigFiles, FileOverridesPresetAndSetOverridesFile) {
  const auto file = write("a.toml", "[model]\ndim = 64\nheads = 4\n[fl]\nrounds = 7\nalgorithm = \"fedprox\"\n");
  Config config = load_config({.files = {file}});
  EXPECT_EQ(config.model.dim, 64);
  EXPECT_EQ(config.fl.rounds, 7);
  EXPECT_EQ(config.origins.at("fl.rounds"), file.string() + ":5");

  config = load_config({.files = {file}, .overrides = {"fl.rounds=3", "fl.algorithm=scaffold", "lora.targets=q,v",
                                                       "local.lr=0.5", "model.tie_embeddings=false"}});
  EXPECT_EQ(config.fl.rounds, 3);
  EXPECT_EQ(config.fl.algorithm, "scaffold");
  EXPECT_EQ(config.lora.targets, (std::vector<std::string>{"q", "v"}));
  EXPECT_DOUBLE_EQ(config.local.lr, 0.5);
  EXPECT_FALSE(config.model.tie_embeddings);
  EXPECT_EQ(config.origins.at("fl.rounds"), "--set fl.rounds=3");
}

TEST_F(ConfigFiles, BaseInheritanceIsRelativeToTheIncludingFile) {
  write("family/common.toml", "[fl]\nrounds = 20\nclients_per_round = 5\n[local]\nlr = 0.01\n");
  const auto child = write("family/fedprox.toml", "base = \"common.toml\"\n[fl]\nalgorithm = \"fedprox\"\nrounds = 30\n");
  const Config config = load_config({.files = {child}});
  EXPECT_EQ(config.fl.rounds, 30);              // child wins
  EXPECT_EQ(config.fl.clients_per_round, 5);    // inherited
  EXPECT_DOUBLE_EQ(config.local.lr, 0.01);
  EXPECT_EQ(config.fl.algorithm, "fedprox");
}

TEST_F(ConfigFiles, InheritanceCycleIsRejected) {
  write("x.toml", "base = \"y.toml\"\n");
  const auto y = write("y.toml", "base = \"x.toml\"\n");
  EXPECT_NE(error_of({.files = {y}}).find("cycle"), std::string::npos);
}

TEST_F(ConfigFiles, MissingBaseFileIsNamed) {
  const auto file = write("c.toml", "base = \"nope.toml\"\n");
  EXPECT_NE(error_of({.files = {file}}).find("nope.toml"), std::string::npos);
}

TEST_F(ConfigFiles, TypoInKeyIsRejectedWithSuggestion) {
  const auto file = write("typo.toml", "[fl]\nrounds = 3\nclient_per_round = 4\n");
  const std::string message = error_of({.files = {file}});
  EXPECT_NE(message.find(file.string() + ":3"), std::string::npos) << message;
  EXPECT_NE(message.find("client_per_round"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'fl.clients_per_round'"), std::string::npos) << message;
}

TEST_F(ConfigFiles, KeyInWrongSectionSuggestsTheRightOne) {
  const std::string message = error_of({.overrides = {"local.rounds=3"}});
  EXPECT_NE(message.find("did you mean 'fl.rounds'"), std::string::npos) << message;
}

TEST_F(ConfigFiles, UnknownSectionIsRejected) {
  const auto file = write("s.toml", "[flx]\nrounds = 3\n");
  EXPECT_NE(error_of({.files = {file}}).find("unknown configuration key 'flx.rounds'"), std::string::npos);
}

TEST_F(ConfigFiles, WrongTypeNamesFileLineKeyAndValue) {
  const auto file = write("t.toml", "[fl]\n\nrounds = \"ten\"\n");
  const std::string message = error_of({.files = {file}});
  EXPECT_NE(message.find(file.string() + ":3"), std::string::npos) << message;
  EXPECT_NE(message.find("fl.rounds must be of type integer"), std::string::npos) << message;
  EXPECT_NE(message.find("ten"), std::string::npos) << message;
  EXPECT_NE(error_of({.overrides = {"local.lr=fast"}}).find("local.lr must be of type number, got 'fast'"), std::string::npos);
  EXPECT_NE(error_of({.overrides = {"model.tie_embeddings=maybe"}}).find("boolean"), std::string::npos);
}

TEST_F(ConfigFiles, OutOfRangeValueNamesTheRange) {
  const auto file = write("r.toml", "[fl]\nrounds = 0\n");
  const std::string message = error_of({.files = {file}});
  EXPECT_NE(message.find(file.string() + ":2"), std::string::npos) << message;
  EXPECT_NE(message.find("fl.rounds = 0 is out of range: must be >= 1"), std::string::npos) << message;
  EXPECT_NE(error_of({.overrides = {"fl.beta1=1.5"}}).find("must be in [0, 1]"), std::string::npos);
}

TEST_F(ConfigFiles, UnknownChoiceListsTheChoices) {
  const std::string message = error_of({.overrides = {"fl.algorithm=fedavgx"}});
  EXPECT_NE(message.find("fl.algorithm = \"fedavgx\" is not one of: fedavg, fedprox"), std::string::npos) << message;
  EXPECT_NE(error_of({.overrides = {"lora.targets=q,zz"}}).find("\"zz\""), std::string::npos);
}

TEST_F(ConfigFiles, SyntaxErrorNamesLineAndColumn) {
  const auto file = write("bad.toml", "[fl]\nrounds = = 3\n");
  const std::string message = error_of({.files = {file}});
  EXPECT_NE(message.find(file.string() + ":2:"), std::string::npos) << message;
  EXPECT_NE(message.find("TOML syntax error"), std::string::npos) << message;
}

TEST_F(ConfigFiles, CrossFieldRulesAreEnforced) {
  EXPECT_NE(error_of({.overrides = {"model.kind=encoder-free", "finetune.strategy=F-C"}}).find("encoder-free"),
            std::string::npos);
  EXPECT_NE(error_of({.overrides = {"model.dim=100", "model.heads=3"}}).find("not divisible"), std::string::npos);
  EXPECT_NE(error_of({.overrides = {"model.heads=4", "model.kv_heads=3"}}).find("model.kv_heads"), std::string::npos);
  EXPECT_NE(error_of({.overrides = {"finetune.strategy=F-2stage", "finetune.stage1_rounds=10", "fl.rounds=10"}})
                .find("never trains LoRA"),
            std::string::npos);
  EXPECT_NE(error_of({.overrides = {"local.epochs=0", "local.steps=0"}}).find("would not train"), std::string::npos);
  EXPECT_NO_THROW(load_config({.overrides = {"model.kind=encoder-free", "finetune.strategy=full"}}));
}

TEST_F(ConfigFiles, AdaptiveServerOptimizersGetTheirOwnServerLrDefault) {
  EXPECT_DOUBLE_EQ(load_config({}).fl.server_lr, 1.0);
  for (const char* algorithm : {"fedadagrad", "fedadam", "fedyogi"}) {
    const Config config = load_config({.overrides = {std::string("fl.algorithm=") + algorithm}});
    EXPECT_DOUBLE_EQ(config.fl.server_lr, 0.01) << algorithm;
    EXPECT_NE(config.origins.at("fl.server_lr").find(algorithm), std::string::npos) << algorithm;
  }
  for (const char* algorithm : {"fedavg", "fedprox", "fedavgm", "scaffold", "fednova"}) {
    EXPECT_DOUBLE_EQ(load_config({.overrides = {std::string("fl.algorithm=") + algorithm}}).fl.server_lr, 1.0)
        << algorithm;
  }
  // A value set anywhere wins, whatever the algorithm: in a file, or on the command line.
  const auto file = write("adam.toml", "[fl]\nalgorithm = \"fedadam\"\nserver_lr = 0.3\n");
  EXPECT_DOUBLE_EQ(load_config({.files = {file}}).fl.server_lr, 0.3);
  EXPECT_DOUBLE_EQ(load_config({.overrides = {"fl.algorithm=fedyogi", "fl.server_lr=1"}}).fl.server_lr, 1.0);
}

TEST_F(ConfigFiles, ScaffoldControlFollowsTheLocalOptimizerUnlessSet) {
  const Config adamw = load_config({.overrides = {"fl.algorithm=scaffold"}});
  EXPECT_EQ(adamw.local.optimizer, "adamw");
  EXPECT_EQ(adamw.fl.scaffold_control, "steps");
  EXPECT_NE(adamw.origins.at("fl.scaffold_control").find("local.optimizer"), std::string::npos);
  EXPECT_EQ(load_config({.overrides = {"fl.algorithm=scaffold", "local.optimizer=sgd"}}).fl.scaffold_control, "update");
  EXPECT_EQ(load_config({.overrides = {"fl.scaffold_control=update"}}).fl.scaffold_control, "update");
}

TEST_F(ConfigFiles, UnknownPresetIsRejected) {
  const std::string message = error_of({.overrides = {"model.preset=huge"}});
  EXPECT_NE(message.find("model.preset = \"huge\" is not a preset ("), std::string::npos) << message;
  EXPECT_NE(message.find("tiny"), std::string::npos) << message;
}

TEST_F(ConfigFiles, DumpedConfigLoadsBackToTheSameValues) {
  const Config original = load_config({.overrides = {"fl.rounds=13", "local.lr=0.00025", "run.name=with \"quotes\"",
                                                     "lora.targets=gate,up", "model.tie_embeddings=false"}});
  const auto dumped = write("dump.toml", fedvlm::dump_config(original));
  const Config reloaded = load_config({.files = {dumped}});
  // Same values for every key: compare the dumps with the origin comments stripped.
  auto values_only = [](const std::string& dump) { return std::regex_replace(dump, std::regex("  #.*"), ""); };
  EXPECT_EQ(values_only(fedvlm::dump_config(original)), values_only(fedvlm::dump_config(reloaded)));
  EXPECT_EQ(reloaded.run.name, "with \"quotes\"");
  EXPECT_DOUBLE_EQ(reloaded.local.lr, 0.00025);
}

TEST_F(ConfigFiles, ReferenceDocumentationIsUpToDate) {
  std::ifstream in(fs::path(FEDVLM_SOURCE_DIR) / "docs" / "configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md is missing";
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(doc.find(fedvlm::config_reference_markdown()), std::string::npos)
      << "docs/configuration.md is out of date: regenerate its reference with `fedvlm config --reference`";
}
