// `fedvlm-prep llava`: a federation from LLaVA conversation JSON and its image folder.
// --json is either one file (clients from a partitioner) or a directory with
// clients/train/client_N.json (or client_N.json directly): the natural partition, client N.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "federation.hpp"
#include "partition/partitioner.hpp"

namespace fedvlm::prep {

struct LlavaOptions {
  std::filesystem::path json;
  std::filesystem::path images;
  std::filesystem::path test_json;
  std::filesystem::path out;
  std::string task = "vqa";          // for records without a "task" field
  std::int64_t clients = 0;          // 0: the number of client files (natural) - required otherwise
  PartitionParams partition{.method = ""};  // "": natural for a directory, iid for one file
  double public_fraction = 0.05;
  int image_size = 64;
  int channels = 3;
  int vocab_size = 256;
  std::filesystem::path tokenizer;
  std::string chat_template = "auto";
  std::int64_t shards = 1;
  bool force = false;
  std::string on_error = "fail";     // "skip": drop unusable records and count them
  std::string box_frame = "padded";  // boxes normalized to the padded square (LLaVA-1.5) or "original" image
  int threads = 0;
};

struct LlavaSummary {
  FederationSummary federation;
  std::int64_t records = 0;
  std::int64_t skipped = 0;
};

LlavaSummary build_llava(const LlavaOptions& options);

}  // namespace fedvlm::prep
