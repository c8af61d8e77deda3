// A tiny synthetic federation on disk and a matching tiny config, for round-loop tests.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "fedvlm/core/config.hpp"
#include "fedvlm/data/tokenizer.hpp"

namespace fedvlm::test_support {

// Writes a dataset of `clients` clients (client c holds 6 + 3c samples: unequal sizes, so
// placement and weighting matter) with 16x16 grayscale images whose class is the bright
// quadrant, one "cls" task, and a 24-sample test split. `ids`: the tokenizer's special ids.
void write_tiny_federation(const std::filesystem::path& dir, int clients,
                           data::SpecialIds ids = data::kFedvlmSpecialIds);
// The same with the given client sizes (0 allowed).
void write_tiny_federation(const std::filesystem::path& dir, const std::vector<int>& client_sizes,
                           data::SpecialIds ids = data::kFedvlmSpecialIds);

// A config for that dataset: a very small encoder model, F-CL, 3 rounds of 2 local steps.
Config tiny_config(const std::filesystem::path& data_dir, const std::filesystem::path& runs_dir,
                   const std::string& algorithm);

}  // namespace fedvlm::test_support
