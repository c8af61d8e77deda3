// What every command that touches a model needs: the dataset, its tokenizer, the model built
// for the dataset's image shape (and loaded from model.base), the device and thread count.
#pragma once

#include <memory>

#include <torch/torch.h>

#include "fedvlm/core/config.hpp"
#include "fedvlm/data/dataset.hpp"
#include "fedvlm/data/tokenizer.hpp"
#include "fedvlm/model/batch.hpp"
#include "fedvlm/model/vlm.hpp"

namespace fedvlm::sim {

struct Workbench {
  data::DatasetReader dataset;
  data::Tokenizer tokenizer;
  model::SpecialTokens special;
  torch::Device device = torch::kCPU;
  std::shared_ptr<model::VisionLanguageModel> model;
};

// Opens data.path, builds the model from its seed (run.seed), loads model.base when set
// (its tokenizer must be the dataset's), sets torch threads and moves the model to its device.
Workbench open_workbench(const Config& config);

// cpu, or cuda:<local rank % devices> for run.device = cuda/auto on a GPU machine.
torch::Device choose_device(const std::string& device);
// run.threads, or the node's cores divided by the ranks on this node.
int choose_threads(std::int64_t requested);
// Sets torch's intra-op threads to choose_threads(requested) and keeps an OpenBLAS from running a
// thread pool of its own (unless OPENBLAS_NUM_THREADS is set); returns the thread count.
int configure_threads(std::int64_t requested);

}  // namespace fedvlm::sim
