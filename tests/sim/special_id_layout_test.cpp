// A dataset whose SentencePiece model has spm_train's default special ids (unk 0, bos 1, eos 2,
// no pad: Llama's layout) validates, pretrains, loads its base checkpoint and fine-tunes, with
// the added <pad> inside the model's embedding.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "fedvlm/comm/in_process.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/data/inspect.hpp"
#include "fedvlm/model/pretrain.hpp"
#include "fedvlm/sim/federation.hpp"
#include "fedvlm/sim/run_directory.hpp"
#include "fedvlm/sim/setup.hpp"
#include "tiny_federation.hpp"

namespace fs = std::filesystem;
using namespace fedvlm;

namespace {

class SpecialIdLayout : public ::testing::Test {
 protected:
  void SetUp() override { root_ = fs::temp_directory_path() / ("fedvlm-special-ids-" + std::to_string(::getpid())); }
  void TearDown() override { fedvlm::remove_tree(root_); }
  fs::path root_;
};

TEST_F(SpecialIdLayout, SentencePieceDefaultsValidatePretrainAndFineTune) {
  test_support::write_tiny_federation(root_ / "data", 2, data::kSentencePieceDefaultIds);
  for (const auto& violation : data::validate_dataset(root_ / "data")) ADD_FAILURE() << violation.describe();

  Config config = test_support::tiny_config(root_ / "data", root_ / "runs", "fedavg");
  config.pretrain.vision_steps = 2;
  config.pretrain.lm_steps = 2;
  config.pretrain.batch_size = 4;
  {
    data::DatasetReader dataset(root_ / "data");
    model::pretrain(config, dataset, root_ / "base");
  }
  config.model.base = (root_ / "base").string();
  config.fl.rounds = 1;

  {
    sim::Workbench bench = sim::open_workbench(config);  // loads the base: same tokenizer, same embedding
    const data::Tokenizer& tokenizer = bench.tokenizer;
    EXPECT_EQ(tokenizer.unk_id(), 0);
    EXPECT_EQ(bench.special.bos, 1);
    EXPECT_EQ(bench.special.eos, 2);
    EXPECT_EQ(bench.special.pad, tokenizer.piece_count());
    EXPECT_EQ(bench.model->vocab_size(), tokenizer.piece_count() + 1);
    const auto client = bench.dataset.read_client(1);
    const auto answer = client.answer_of(0);
    const std::string text = tokenizer.decode(answer);
    EXPECT_TRUE(text == "top left" || text == "top right" || text == "bottom left" || text == "bottom right") << text;
    EXPECT_EQ(tokenizer.encode(text), std::vector<std::int32_t>(answer.begin(), answer.end()));
  }

  comm::run_in_process(
      1, [&](comm::Communicator& comm) { sim::run_federation(config, comm, {.overwrite = true, .rank_log_files = false}); },
      std::chrono::seconds(240));
  std::ifstream in(sim::run_directory(config) / "metrics.jsonl");
  int losses = 0;
  for (std::string line; std::getline(in, line);) {
    const auto record = nlohmann::json::parse(line);
    if (record["phase"] != "train" || record["metric"] != "loss") continue;
    ++losses;
    EXPECT_TRUE(std::isfinite(record["value"].get<double>())) << line;
  }
  EXPECT_EQ(losses, 1) << "one round's training loss";
}

}  // namespace
