// libFuzzer harness: the input is a LLaVA conversation JSON file, read as `fedvlm-prep llava`
// reads --json and --test-json (records with a problem come back marked, malformed JSON is an
// InputError), and every answer is searched for a grounding box as the builder does. Only
// fedvlm::Error may come out.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.hpp"
#include "llava/llava_records.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fedvlm::fuzz::ScratchDir scratch("fedvlm-fuzz-llava");
  const auto file = scratch.path() / "llava.json";
  fedvlm::fuzz::write_file(file, data, size);
  fedvlm::fuzz::expect_only_fedvlm_errors("read_llava_json", [&] {
    for (const auto& record : fedvlm::prep::read_llava_json(file)) {
      (void)record.where();
      if (record.problem.empty()) (void)fedvlm::prep::parse_box_answer(record.answer);
    }
  });
  // The box parser also sees answers straight from the bytes, without JSON around them.
  fedvlm::fuzz::expect_only_fedvlm_errors("parse_box_answer", [&] {
    (void)fedvlm::prep::parse_box_answer(std::string_view(reinterpret_cast<const char*>(data), size));
  });
  return 0;
}
