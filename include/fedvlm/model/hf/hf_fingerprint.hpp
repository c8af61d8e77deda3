// A fingerprint of a Hugging Face model directory, which tells a resumed run whether model.base
// is still the directory it started from. No LibTorch. (is_hf_model_directory: hf_vlm.hpp.)
#pragma once

#include <filesystem>
#include <string>

namespace fedvlm::model::hf {

// A fingerprint of config.json and every *.safetensors file of the directory (name, size,
// header, and the first and last MiB of its data), so resuming a run against a different
// checkpoint is refused without reading a 14 GB model at every start. Two files of one size and
// header whose first and last MiB agree but differ in between go unnoticed.
std::string hf_directory_fingerprint(const std::filesystem::path& directory);

}  // namespace fedvlm::model::hf
