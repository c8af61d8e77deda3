#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>

#include "fedvlm/core/config.hpp"
#include "fedvlm/core/config_registry.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"

namespace fs = std::filesystem;
using fedvlm::Config;
using fedvlm::ConfigSources;
using fedvlm::Error;
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
  void TearDown() override { fedvlm::remove_tree(dir_); }

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
  EXPECT_NE(error_of({.overrides = {"local.momentum=1.5"}}).find("must be in [0, 1]"), std::string::npos);
  // An exclusive lower bound: fl.server_lr = 0 would freeze the model.
  EXPECT_NE(error_of({.overrides = {"fl.server_lr=0"}}).find("fl.server_lr = 0.0 is out of range: must be > 0"),
            std::string::npos);
  EXPECT_NE(error_of({.overrides = {"local.lr=nan"}}).find("local.lr must be of type number"), std::string::npos);
}

TEST_F(ConfigFiles, UnknownChoiceListsTheChoices) {
  const std::string message = error_of({.overrides = {"model.connector=mlp3x_gelu"}});
  EXPECT_NE(message.find("model.connector = \"mlp3x_gelu\" is not one of: linear, mlp2x_gelu, mlp6x_gelu"),
            std::string::npos)
      << message;
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
  EXPECT_NE(error_of({.overrides = {"model.vision_stem=conv", "model.patch_size=6"}}).find("power of 2"), std::string::npos);
  EXPECT_NE(error_of({.overrides = {"model.vision_stem=conv", "model.patch_size=1"}}).find("model.vision_stem"),
            std::string::npos);
  EXPECT_NO_THROW(load_config({.overrides = {"model.vision_stem=conv", "model.patch_size=8"}}));
  EXPECT_NO_THROW(load_config({.overrides = {"model.kind=encoder-free", "finetune.strategy=full"}}));
  // A Hugging Face tower pairs with a Hugging Face language model (model.base), in an encoder model;
  // its depth, not the preset's, bounds vision_select_layer (checked as it loads).
  EXPECT_NE(error_of({.overrides = {"model.vision_tower=/m/clip"}}).find("set model.base"), std::string::npos);
  EXPECT_NE(error_of({.overrides = {"model.vision_tower=/m/clip", "model.base=/m/llama", "model.kind=encoder-free",
                                    "finetune.strategy=full"}})
                .find("model.kind = \"encoder-free\""),
            std::string::npos);
  EXPECT_NE(error_of({.overrides = {"model.projector=/m/p.safetensors"}}).find("model.vision_tower is not set"),
            std::string::npos);
  EXPECT_NE(error_of({.overrides = {"model.vision_select_layer=-12"}}).find("model.vision_select_layer"), std::string::npos);
  EXPECT_NO_THROW(load_config({.overrides = {"model.vision_tower=/m/clip", "model.base=/m/llama",
                                             "model.vision_select_layer=-12", "model.projector=/m/p.safetensors"}}));
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

// The extension point the modules above core use (fl's algorithms, sim's baselines), exercised
// with keys of this test's own: "ext.mode" in a new section, "fl.ext_gain" among core's [fl] keys.
namespace {

void declare_test_keys() {
  static std::once_flag once;
  std::call_once(once, [] {
    fedvlm::declare_config_parameter(
        {.key = "fl.ext_gain",
         .default_value = 2.0,
         .doc = "Test gain.",
         .limits = {.min = 0, .max = 8, .min_exclusive = true},
         .derived_default = [](const Config& c) -> std::optional<fedvlm::DerivedDefault> {
           if (c.fl.rounds <= 100) return std::nullopt;
           return fedvlm::DerivedDefault{4.0, "default for fl.rounds > 100"};
         }},
        "ext-a");
    fedvlm::declare_config_parameter({.key = "ext.mode", .default_value = std::string("a"), .doc = "Test mode."},
                                     "ext-a");
    fedvlm::declare_config_choice("ext.mode", "a", "The first mode.", /*is_default=*/true);
    fedvlm::declare_config_choice("ext.mode", "b", "The second mode.");
    fedvlm::declare_config_default(
        "eval.every",
        [](const Config& c) -> std::optional<fedvlm::DerivedDefault> {
          if (c.run.seed != 99) return std::nullopt;
          return fedvlm::DerivedDefault{std::int64_t{7}, "default for run.seed = 99"};
        },
        [] { return std::string("7 with run.seed = 99"); });
  });
}

}  // namespace

TEST_F(ConfigFiles, DeclaredKeysLoadValidateAndDumpLikeCoreKeys) {
  declare_test_keys();
  const Config defaults = load_config({});
  EXPECT_DOUBLE_EQ(defaults.get<double>("fl.ext_gain"), 2.0);
  EXPECT_EQ(defaults.get<std::string>("ext.mode"), "a");
  EXPECT_EQ(defaults.origins.at("fl.ext_gain"), "default");

  const auto file = write("ext.toml", "[fl]\next_gain = 3\n[ext]\nmode = \"b\"\n");
  const Config config = load_config({.files = {file}});
  EXPECT_DOUBLE_EQ(config.get<double>("fl.ext_gain"), 3.0);  // an integer is a number
  EXPECT_EQ(config.get<std::string>("ext.mode"), "b");
  EXPECT_EQ(config.origins.at("fl.ext_gain"), file.string() + ":2");
  EXPECT_EQ(config.get<std::int64_t>("fl.rounds"), config.fl.rounds);  // core keys read the same way

  EXPECT_NE(error_of({.overrides = {"fl.ext_gian=1"}}).find("did you mean 'fl.ext_gain'"), std::string::npos);
  EXPECT_NE(error_of({.overrides = {"ext.mod=a"}}).find("did you mean 'ext.mode'"), std::string::npos);
  EXPECT_NE(error_of({.overrides = {"fl.ext_gain=0"}}).find("fl.ext_gain = 0.0 is out of range: must be in (0, 8]"),
            std::string::npos);
  EXPECT_NE(error_of({.overrides = {"ext.mode=c"}}).find("ext.mode = \"c\" is not one of: a, b"), std::string::npos);

  // Dumped in its section, after core's keys of that section; loads back.
  const std::string dump = fedvlm::dump_config(config);
  EXPECT_LT(dump.find("server_lr = "), dump.find("ext_gain = 3.0  # " + file.string() + ":2"));
  EXPECT_LT(dump.find("ext_gain = "), dump.find("[local]"));
  EXPECT_NE(dump.find("[ext]\nmode = 'b'"), std::string::npos) << dump;
  const Config reloaded = load_config({.files = {write("dump.toml", dump)}});
  EXPECT_DOUBLE_EQ(reloaded.get<double>("fl.ext_gain"), 3.0);

  // Config{} reads declared defaults; set checks the key and type.
  Config plain;
  EXPECT_DOUBLE_EQ(plain.get<double>("fl.ext_gain"), 2.0);
  plain.set("fl.ext_gain", 5.0);
  EXPECT_DOUBLE_EQ(plain.get<double>("fl.ext_gain"), 5.0);
  EXPECT_THROW(plain.get<std::string>("fl.ext_gain"), Error);
  EXPECT_THROW(plain.set("fl.ext_gain", std::string("x")), Error);
  EXPECT_THROW(plain.set("fl.no_such_key", 1.0), Error);
  EXPECT_THROW(plain.get<double>("fl.no_such_key"), Error);
  plain.set("fl.ext_gain", 9.0);  // out of range: validate_keys says so, naming the key
  EXPECT_THROW(fedvlm::validate_keys(plain, {"fl.ext_gain"}), InputError);
}

TEST_F(ConfigFiles, DerivedDefaultsApplyOnlyToKeysSetNowhereAndNameTheirOrigin) {
  declare_test_keys();
  const Config derived = load_config({.overrides = {"fl.rounds=200", "run.seed=99"}});
  EXPECT_DOUBLE_EQ(derived.get<double>("fl.ext_gain"), 4.0);
  EXPECT_EQ(derived.origins.at("fl.ext_gain"), "default for fl.rounds > 100");
  EXPECT_EQ(derived.eval.every, 7);  // a rule on a core key
  EXPECT_EQ(derived.origins.at("eval.every"), "default for run.seed = 99");
  const Config set = load_config({.overrides = {"fl.rounds=200", "fl.ext_gain=1", "run.seed=99", "eval.every=2"}});
  EXPECT_DOUBLE_EQ(set.get<double>("fl.ext_gain"), 1.0);
  EXPECT_EQ(set.eval.every, 2);
  EXPECT_EQ(load_config({}).eval.every, 5);
}

TEST_F(ConfigFiles, RedeclarationsMustAgree) {
  declare_test_keys();
  // The same declaration by a second module: shared, both named in the reference.
  fedvlm::declare_config_parameter({.key = "ext.mode", .default_value = std::string("a"), .doc = "Test mode."},
                                   "ext-b");
  EXPECT_THROW(fedvlm::declare_config_parameter({.key = "ext.mode", .default_value = std::string("a"), .doc = "Other."},
                                                "ext-c"),
               Error);
  EXPECT_THROW(fedvlm::declare_config_parameter({.key = "fl.rounds", .default_value = std::int64_t{1}, .doc = "x"},
                                                "ext-c"),
               Error);
  EXPECT_THROW(fedvlm::declare_config_parameter({.key = "nosection", .default_value = 1.0, .doc = "x"}, "ext-c"),
               Error);
  const std::string reference = fedvlm::config_reference_markdown();
  EXPECT_NE(reference.find("| `ext.mode` | string | `'a'` | a, b | *ext-a, ext-b*: Test mode."),
            std::string::npos)
      << reference;
  EXPECT_NE(reference.find("| `b` | The second mode. |"), std::string::npos);
  EXPECT_NE(reference.find("| `fl.ext_gain` | number | `2.0` | (0, 8] |"), std::string::npos);
  EXPECT_NE(reference.find("| `fl.server_lr` | number | `1.0` | > 0 |"), std::string::npos);
  EXPECT_NE(reference.find("Unset: 7 with run.seed = 99; 5 otherwise."), std::string::npos);
}

TEST_F(ConfigFiles, Bf16PrecisionOnTheCpuIsRefusedNamingTheKeyAndValue) {
  EXPECT_EQ(load_config({}).run.precision, "fp32");
  const std::string message = error_of({.overrides = {"run.device=cpu", "run.precision=bf16"}});
  EXPECT_NE(message.find("run.precision = \"bf16\""), std::string::npos) << message;
  EXPECT_NE(message.find("run.device = \"cpu\""), std::string::npos) << message;
  // On CUDA (or auto, resolved when the model is placed) the config is accepted.
  EXPECT_EQ(load_config({.overrides = {"run.device=cuda", "run.precision=bf16"}}).run.precision, "bf16");
  EXPECT_EQ(load_config({.overrides = {"run.device=auto", "run.precision=bf16"}}).run.precision, "bf16");
  EXPECT_NE(error_of({.overrides = {"run.precision=fp16"}}).find("not one of: fp32, bf16"), std::string::npos);
}
