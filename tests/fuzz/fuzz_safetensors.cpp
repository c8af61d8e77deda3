// libFuzzer harness: the input is a .safetensors file, opened and read as fedvlm reads Hugging
// Face weights (model/hf/safetensors.hpp): the header is parsed and checked, then every tensor's
// bytes are read. The same bytes are also tried as a sharded checkpoint's
// model.safetensors.index.json beside one valid shard. Only fedvlm::Error may come out.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fedvlm/model/hf/safetensors.hpp"
#include "fuzz_support.hpp"

namespace hf = fedvlm::model::hf;

namespace {

// A directory holding shard.safetensors (two small tensors); the index under test is written
// beside it for every input.
const fedvlm::fuzz::ScratchDir& sharded_dir() {
  static const fedvlm::fuzz::ScratchDir dir("fedvlm-fuzz-safetensors");
  static const bool written = [] {
    const std::vector<std::byte> a(4 * 6), b(2 * 3);
    const std::vector<hf::SafetensorsTensorView> tensors = {
        {"model.a.weight", hf::SafetensorsDtype::F32, {2, 3}, a},
        {"model.b.weight", hf::SafetensorsDtype::BF16, {3}, b}};
    hf::write_safetensors(dir.path() / "shard.safetensors", tensors);
    return true;
  }();
  (void)written;
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fedvlm::fuzz::ScratchDir scratch("fedvlm-fuzz-safetensors-file");
  const auto file = scratch.path() / "model.safetensors";
  fedvlm::fuzz::write_file(file, data, size);
  fedvlm::fuzz::expect_only_fedvlm_errors("SafetensorsFile", [&] {
    const hf::SafetensorsFile weights(file);
    for (const auto& entry : weights.entries()) (void)weights.read(entry);
  });
  const auto& dir = sharded_dir();
  fedvlm::fuzz::write_file(dir.path() / hf::SafetensorsCheckpoint::kIndexFile, data, size);
  fedvlm::fuzz::expect_only_fedvlm_errors("SafetensorsCheckpoint", [&] {
    const hf::SafetensorsCheckpoint checkpoint(dir.path());
    for (const auto& name : checkpoint.names()) (void)checkpoint.file_of(name).read(checkpoint.entry(name));
  });
  return 0;
}
