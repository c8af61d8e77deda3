// Safetensors: round trips of every dtype and of metadata, the reference layout, directory
// resolution, and every malformed file built by hand as bytes.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/model/hf/safetensors.hpp"
#include "fedvlm/model/hf/safetensors_torch.hpp"
#include "support/input_error.hpp"

namespace fedvlm::model::hf {
namespace {

namespace fs = std::filesystem;
using test_support::input_error;

constexpr SafetensorsDtype kAllDtypes[] = {
    SafetensorsDtype::BOOL, SafetensorsDtype::U8,  SafetensorsDtype::I8,   SafetensorsDtype::F8_E5M2,
    SafetensorsDtype::F8_E4M3, SafetensorsDtype::I16, SafetensorsDtype::U16, SafetensorsDtype::F16,
    SafetensorsDtype::BF16, SafetensorsDtype::I32, SafetensorsDtype::U32, SafetensorsDtype::F32,
    SafetensorsDtype::F64,  SafetensorsDtype::I64, SafetensorsDtype::U64};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A file as bytes: the little-endian length of `header`, the header, the data area.
std::string file_bytes(std::string_view header, std::string_view data = "") {
  const std::uint64_t length = header.size();
  std::string bytes(8, '\0');
  std::memcpy(bytes.data(), &length, 8);
  return bytes + std::string(header) + std::string(data);
}

std::vector<std::byte> pattern(std::size_t size, int seed) {
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>((i * 37 + seed * 11 + 5) % 256);
  return bytes;
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("fedvlm-safetensors-{}-{}", ::getpid(),
                                                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { remove_tree(dir_); }

  // The InputError message of opening a file holding `bytes`; the file's path must be in it.
  std::string open_error(std::string_view bytes) {
    const fs::path path = dir_ / "bad.safetensors";
    write_file(path, bytes);
    const std::string message = input_error([&] { SafetensorsFile file(path); });
    EXPECT_TRUE(contains(message, path.string())) << message;
    return message;
  }

  fs::path write_two(const fs::path& path, const std::string& first = "a", const std::string& second = "b") {
    const auto a = pattern(24, 1), b = pattern(8, 2);
    const std::vector<SafetensorsTensorView> tensors = {{first, SafetensorsDtype::F32, {2, 3}, a},
                                                       {second, SafetensorsDtype::I64, {1}, b}};
    write_safetensors(path, tensors);
    return path;
  }

  fs::path dir_;
};

// ----- writing and reading back -----

TEST_F(SafetensorsTest, EveryDtypeRoundTripsWithItsBytes) {
  std::vector<std::vector<std::byte>> data;
  std::vector<SafetensorsTensorView> tensors;
  for (const SafetensorsDtype dtype : kAllDtypes) {
    data.push_back(pattern(6 * dtype_size(dtype), static_cast<int>(data.size())));
    if (dtype == SafetensorsDtype::BOOL)
      for (std::byte& b : data.back()) b &= std::byte{1};
    tensors.push_back({fmt::format("t.{}", dtype_name(dtype)), dtype, {2, 3}, data.back()});
    EXPECT_EQ(parse_dtype(dtype_name(dtype)), dtype);
  }
  const fs::path path = dir_ / "all.safetensors";
  write_safetensors(path, tensors);
  SafetensorsFile file(path);
  ASSERT_EQ(file.entries().size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const SafetensorsEntry& entry = file.entry(tensors[i].name);
    EXPECT_EQ(entry.dtype, tensors[i].dtype) << entry.name;
    EXPECT_EQ(entry.shape, (std::vector<std::int64_t>{2, 3}));
    EXPECT_EQ(entry.numel(), 6);
    EXPECT_EQ(file.read(entry), data[i]) << entry.name;
    // The widest-first layout keeps every tensor aligned to its element size in the file.
    EXPECT_EQ((file.data_offset() + entry.begin) % dtype_size(entry.dtype), 0u) << entry.name;
  }
}

TEST_F(SafetensorsTest, WrittenFileReadsBackByteIdentical) {
  // The reference implementation's own example: {"test": I32 [2, 2]}, its header padded to 64 bytes.
  const auto values = pattern(16, 3);
  const std::vector<SafetensorsTensorView> example = {{"test", SafetensorsDtype::I32, {2, 2}, values}};
  write_safetensors(dir_ / "example.safetensors", example);
  const std::string header = R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})";
  EXPECT_EQ(read_file(dir_ / "example.safetensors"),
            file_bytes(header + "    ", std::string_view(reinterpret_cast<const char*>(values.data()), 16)));

  // Read everything back and write it again: the same bytes.
  const auto a = pattern(40, 1), b = pattern(6, 2), c = pattern(0, 3);
  const std::vector<SafetensorsTensorView> tensors = {{"layer.weight", SafetensorsDtype::BF16, {4, 5}, a},
                                                     {"mask", SafetensorsDtype::U8, {6}, b},
                                                     {"empty", SafetensorsDtype::F32, {0, 7}, c}};
  const std::map<std::string, std::string> metadata = {{"format", "pt"}};
  write_safetensors(dir_ / "first.safetensors", tensors, metadata);
  SafetensorsFile first(dir_ / "first.safetensors");
  std::vector<std::vector<std::byte>> bytes;
  for (const SafetensorsEntry& entry : first.entries()) bytes.push_back(first.read(entry));
  std::vector<SafetensorsTensorView> again;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const SafetensorsEntry& entry = first.entries()[i];
    again.push_back({entry.name, entry.dtype, entry.shape, bytes[i]});
  }
  write_safetensors(dir_ / "second.safetensors", again, first.metadata());
  EXPECT_EQ(read_file(dir_ / "first.safetensors"), read_file(dir_ / "second.safetensors"));
}

TEST_F(SafetensorsTest, HeaderIsPaddedWithSpacesToAMultipleOfEight) {
  const auto data = pattern(4, 1);
  for (std::size_t name_length = 1; name_length <= 9; ++name_length) {
    const std::vector<SafetensorsTensorView> tensors = {
        {std::string(name_length, 'x'), SafetensorsDtype::F32, {1}, data}};
    const std::string header = safetensors_header(tensors, {}, dir_ / "h.safetensors");
    std::uint64_t length = 0;
    std::memcpy(&length, header.data(), 8);
    ASSERT_EQ(length + 8, header.size());
    EXPECT_EQ(length % 8, 0u) << name_length;
    const std::string json = header.substr(8);
    const std::size_t end = json.find_last_not_of(' ');
    EXPECT_EQ(json[end], '}');
    EXPECT_LT(json.size() - end - 1, 8u) << "no more padding than needed";
    EXPECT_TRUE(nlohmann::json::accept(json));
  }
}

TEST_F(SafetensorsTest, TensorsAreLaidOutWidestTypeFirstThenByName) {
  const auto one = pattern(1, 1), two = pattern(2, 2), eight = pattern(8, 3), four = pattern(4, 4);
  const std::vector<SafetensorsTensorView> tensors = {{"z", SafetensorsDtype::U8, {1}, one},
                                                     {"b", SafetensorsDtype::F16, {1}, two},
                                                     {"a", SafetensorsDtype::F16, {1}, two},
                                                     {"y", SafetensorsDtype::F64, {1}, eight},
                                                     {"c", SafetensorsDtype::F32, {1}, four}};
  write_safetensors(dir_ / "order.safetensors", tensors);
  SafetensorsFile file(dir_ / "order.safetensors");
  std::vector<std::string> order;
  for (const SafetensorsEntry& entry : file.entries()) order.push_back(entry.name);
  EXPECT_EQ(order, (std::vector<std::string>{"y", "c", "a", "b", "z"}));
  EXPECT_EQ(file.entry("c").begin, 8u);
  EXPECT_EQ(file.entry("z").end, 17u);
}

TEST_F(SafetensorsTest, MetadataRoundTripsAndIsOmittedWhenEmpty) {
  const auto data = pattern(2, 1);
  const std::vector<SafetensorsTensorView> tensors = {{"w", SafetensorsDtype::BF16, {1}, data}};
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "caf\u00e9 \"quoted\"\n"}};
  write_safetensors(dir_ / "meta.safetensors", tensors, metadata);
  EXPECT_EQ(SafetensorsFile(dir_ / "meta.safetensors").metadata(), metadata);
  const std::string header = safetensors_header(tensors, metadata, "m");
  EXPECT_TRUE(contains(header, R"({"__metadata__":{"format":"pt","note":"café \"quoted\"\n"},"w":)")) << header;
  EXPECT_FALSE(contains(safetensors_header(tensors, {}, "m"), "__metadata__"));
  write_safetensors(dir_ / "plain.safetensors", tensors);
  EXPECT_TRUE(SafetensorsFile(dir_ / "plain.safetensors").metadata().empty());
}

TEST_F(SafetensorsTest, ScalarsEmptyTensorsAndEmptyFilesAreValid) {
  const auto four = pattern(4, 1);
  const std::vector<SafetensorsTensorView> tensors = {{"scalar", SafetensorsDtype::F32, {}, four},
                                                     {"none", SafetensorsDtype::F32, {0, 3}, {}},
                                                     {"also_none", SafetensorsDtype::F32, {5, 0}, {}}};
  write_safetensors(dir_ / "edge.safetensors", tensors);
  SafetensorsFile file(dir_ / "edge.safetensors");
  EXPECT_TRUE(file.entry("scalar").shape.empty());
  EXPECT_EQ(file.entry("scalar").numel(), 1);
  EXPECT_EQ(file.entry("none").byte_size(), 0u);
  EXPECT_TRUE(file.read(file.entry("also_none")).empty());
  EXPECT_EQ(to_tensor(file, file.entry("none")).sizes().vec(), (std::vector<std::int64_t>{0, 3}));
  EXPECT_EQ(to_tensor(file, file.entry("scalar")).dim(), 0);

  write_safetensors(dir_ / "nothing.safetensors", std::span<const SafetensorsTensorView>{});
  EXPECT_TRUE(SafetensorsFile(dir_ / "nothing.safetensors").entries().empty());
  EXPECT_EQ(read_file(dir_ / "nothing.safetensors"), file_bytes("{}      "));
}

TEST_F(SafetensorsTest, TorchTensorsRoundTripWithTheirDtypeAndValues) {
  torch::manual_seed(3);
  const auto base = torch::randn({3, 4});
  const std::vector<std::pair<std::string, torch::Tensor>> tensors = {
      {"f32", base},
      {"f16", base.to(torch::kFloat16)},
      {"bf16", base.to(torch::kBFloat16)},
      {"f64", base.to(torch::kFloat64)},
      {"i64", torch::arange(-6, 6, torch::kInt64).reshape({3, 4})},
      {"i32", torch::arange(-6, 6, torch::kInt32)},
      {"i16", torch::arange(-6, 6, torch::kInt16)},
      {"i8", torch::arange(-6, 6, torch::kInt8)},
      {"u8", torch::arange(0, 12, torch::kUInt8)},
      {"bool", base > 0},
      {"transposed", base.t()},  // not contiguous: written in row-major order of its shape
  };
  write_safetensors(dir_ / "torch.safetensors", tensors, {{"format", "pt"}});
  SafetensorsCheckpoint checkpoint(dir_ / "torch.safetensors");
  for (const auto& [name, tensor] : tensors) {
    const torch::Tensor back = to_tensor(checkpoint, name);
    EXPECT_EQ(back.scalar_type(), tensor.scalar_type()) << name;
    EXPECT_EQ(back.sizes().vec(), tensor.sizes().vec()) << name;
    EXPECT_TRUE(torch::equal(back, tensor)) << name;
  }
}

TEST_F(SafetensorsTest, BoolBytesOtherThanZeroOrOneAreAnInputError) {
  const auto bytes = std::vector<std::byte>{std::byte{0}, std::byte{1}, std::byte{2}};
  const std::vector<SafetensorsTensorView> tensors = {{"flags", SafetensorsDtype::BOOL, {3}, bytes}};
  write_safetensors(dir_ / "bool.safetensors", tensors);
  SafetensorsFile file(dir_ / "bool.safetensors");
  const std::string message = input_error([&] { to_tensor(file, file.entry("flags")); });
  EXPECT_TRUE(contains(message, "'flags'") && contains(message, "byte 2")) << message;
}

TEST_F(SafetensorsTest, TypesLibTorchLacksReadAsBytesButAreAnInputErrorAsTensors) {
  const auto bytes = pattern(4, 1);
  const std::vector<SafetensorsTensorView> tensors = {{"u16", SafetensorsDtype::U16, {2}, bytes}};
  write_safetensors(dir_ / "u16.safetensors", tensors);
  SafetensorsFile file(dir_ / "u16.safetensors");
  EXPECT_EQ(file.read(file.entry("u16")), bytes);
  const std::string message = input_error([&] { to_tensor(file, file.entry("u16")); });
  EXPECT_TRUE(contains(message, "'u16'") && contains(message, "U16")) << message;
}

TEST_F(SafetensorsTest, WriterRefusesBadTensorsNamingThemAndLeavesTheOldFileIntact) {
  const fs::path path = write_two(dir_ / "w.safetensors");
  const std::string before = read_file(path);
  const auto four = pattern(4, 1), three = pattern(3, 1);
  const std::vector<std::pair<std::vector<SafetensorsTensorView>, std::string>> cases = {
      {{{"x", SafetensorsDtype::F32, {1}, four}, {"x", SafetensorsDtype::F32, {1}, four}}, "'x' given twice"},
      {{{"short", SafetensorsDtype::F32, {1}, three}}, "'short'"},
      {{{"neg", SafetensorsDtype::F32, {-1}, {}}}, "negative dimension"},
      {{{"__metadata__", SafetensorsDtype::F32, {1}, four}}, "reserved"},
      {{{"bad\xff", SafetensorsDtype::F32, {1}, four}}, "UTF-8"},
  };
  for (const auto& [tensors, expected] : cases) {
    const std::string message = input_error([&] { write_safetensors(path, tensors); });
    EXPECT_TRUE(contains(message, expected) && contains(message, path.string())) << message;
  }
  EXPECT_EQ(read_file(path), before);
}

// ----- malformed files -----

TEST_F(SafetensorsTest, FileShorterThanEightBytesIsAnInputErrorNamingTheFile) {
  EXPECT_TRUE(contains(open_error(std::string(5, '\0')), "5 bytes, too short")) << open_error(std::string(5, '\0'));
  EXPECT_TRUE(contains(open_error(""), "0 bytes"));
}

TEST_F(SafetensorsTest, HeaderLengthBeyondFileIsAnInputErrorNamingTheFile) {
  std::string bytes = file_bytes("{}");
  bytes[0] = 100;  // claims 100 header bytes, the file has 2
  const std::string message = open_error(bytes);
  EXPECT_TRUE(contains(message, "header length 100 runs past the end")) << message;
}

TEST_F(SafetensorsTest, AbsurdHeaderLengthIsAnInputError) {
  std::string bytes = file_bytes("{}");
  const std::uint64_t huge = 200'000'000;
  std::memcpy(bytes.data(), &huge, 8);
  const std::string message = open_error(bytes);
  EXPECT_TRUE(contains(message, "header length 200000000 is over")) << message;
}

TEST_F(SafetensorsTest, HeaderThatIsNotAJsonObjectIsAnInputError) {
  EXPECT_TRUE(contains(open_error(file_bytes(R"({"a": )")), "not valid JSON"));
  EXPECT_TRUE(contains(open_error(file_bytes(R"({"a": 1} trailing)")), "not valid JSON"));
  EXPECT_TRUE(contains(open_error(file_bytes("[1, 2]")), "does not start with '{'"));
  EXPECT_TRUE(contains(open_error(file_bytes(" {}")), "does not start with '{'"));
  EXPECT_TRUE(contains(open_error(file_bytes("")), "does not start with '{'"));
  EXPECT_TRUE(contains(open_error(file_bytes("{\"a\xff\": 1}")), "not valid JSON"));
}

TEST_F(SafetensorsTest, EntryMissingDtypeShapeOrOffsetsIsAnInputErrorNamingTheTensor) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", "no 'dtype'"},
      {R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", "no 'shape'"},
      {R"({"w": {"dtype": "F32", "shape": [1]}})", "no 'data_offsets'"},
  };
  for (const auto& [header, expected] : cases) {
    const std::string message = open_error(file_bytes(header, "abcd"));
    EXPECT_TRUE(contains(message, "tensor 'w'") && contains(message, expected)) << message;
  }
}

TEST_F(SafetensorsTest, EntryFieldsOfTheWrongTypeAreInputErrorsNamingTheTensor) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"w": [1, 2]})", "not an object"},
      {R"({"w": {"dtype": 5, "shape": [1], "data_offsets": [0, 4]}})", "dtype is an integer"},
      {R"({"w": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}})", "shape is a string"},
      {R"({"w": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}})", "not a dimension"},
      {R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", "data_offsets is [0]"},
      {R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, "4"]}})", "data_offsets is"},
      {R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [-1, 3]}})", "data_offsets is"},
  };
  for (const auto& [header, expected] : cases) {
    const std::string message = open_error(file_bytes(header, "abcd"));
    EXPECT_TRUE(contains(message, "tensor 'w'") && contains(message, expected)) << header << " -> " << message;
  }
}

TEST_F(SafetensorsTest, UnknownDtypeIsAnInputErrorNamingIt) {
  const std::string message =
      open_error(file_bytes(R"({"w": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}})", std::string(16, 'x')));
  EXPECT_TRUE(contains(message, "tensor 'w'") && contains(message, "unknown dtype 'F128'")) << message;
}

TEST_F(SafetensorsTest, NegativeDimensionIsAnInputError) {
  const std::string message =
      open_error(file_bytes(R"({"w": {"dtype": "F32", "shape": [2, -1], "data_offsets": [0, 0]}})"));
  EXPECT_TRUE(contains(message, "tensor 'w'") && contains(message, "negative dimension -1")) << message;
}

TEST_F(SafetensorsTest, ByteLengthNotMatchingTheShapeIsAnInputError) {
  const std::string message =
      open_error(file_bytes(R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})", std::string(20, 'x')));
  EXPECT_TRUE(contains(message, "hold 20 bytes, but F32 [2, 3] needs 24")) << message;
  EXPECT_TRUE(contains(open_error(file_bytes(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})")),
                       "end before they begin"));
}

TEST_F(SafetensorsTest, ShapeWhoseByteCountOverflowsIsAnInputError) {
  const char* too_many = R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 16], "data_offsets": [0, 0]}})";
  EXPECT_TRUE(contains(open_error(file_bytes(too_many)), "more elements than 64 bits"));
  EXPECT_TRUE(contains(open_error(file_bytes(
                           R"({"w": {"dtype": "F64", "shape": [4294967296, 1073741824], "data_offsets": [0, 0]}})")),
                       "more bytes than 64 bits"));
  const char* too_large = R"({"w": {"dtype": "U8", "shape": [18446744073709551615], "data_offsets": [0, 0]}})";
  EXPECT_TRUE(contains(open_error(file_bytes(too_large)), "too large"));
}

TEST_F(SafetensorsTest, OverlappingTensorsAreAnInputErrorNamingBoth) {
  const std::string message = open_error(file_bytes(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                                                        "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}})",
                                                    "abcdef"));
  EXPECT_TRUE(contains(message, "'b'") && contains(message, "overlap tensor 'a'")) << message;
}

TEST_F(SafetensorsTest, GapBetweenTensorsIsAnInputError) {
  const std::string message = open_error(file_bytes(R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
                                                        "b": {"dtype": "U8", "shape": [2], "data_offsets": [4, 6]}})",
                                                    "abcdef"));
  EXPECT_TRUE(contains(message, "'b'") && contains(message, "2 bytes before it at [2, 4) belong to no tensor"))
      << message;
  EXPECT_TRUE(contains(open_error(file_bytes(R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}})", "abc")),
                       "belong to no tensor"));
}

TEST_F(SafetensorsTest, BytesAfterTheLastTensorAreAnInputError) {
  const std::string message =
      open_error(file_bytes(R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}})", "abcde"));
  EXPECT_TRUE(contains(message, "last 3 bytes of the data area belong to no tensor")) << message;
}

TEST_F(SafetensorsTest, TensorPastTheEndOfTheFileIsAnInputError) {
  const std::string message =
      open_error(file_bytes(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", "truncated"));
  EXPECT_TRUE(contains(message, "tensor 'a'") && contains(message, "run past the data area, which holds 9 bytes"))
      << message;
}

TEST_F(SafetensorsTest, DuplicateNamesAndKeysAreInputErrors) {
  EXPECT_TRUE(contains(open_error(file_bytes(R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
                                                 "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}})",
                                             "xy")),
                       "duplicate tensor name 'a'"));
  const char* twice = R"({"a": {"dtype": "U8", "dtype": "I8", "shape": [1], "data_offsets": [0, 1]}})";
  EXPECT_TRUE(contains(open_error(file_bytes(twice, "x")), "'a': duplicate key 'dtype'"));
}

TEST_F(SafetensorsTest, MetadataMustMapStringsToStrings) {
  EXPECT_TRUE(contains(open_error(file_bytes(R"({"__metadata__": {"format": "pt", "step": 5}})")),
                       "__metadata__ 'step' is an integer"));
  EXPECT_TRUE(contains(open_error(file_bytes(R"({"__metadata__": "pt"})")), "__metadata__ is a string"));
}

TEST_F(SafetensorsTest, MissingFileAndFileTruncatedAfterOpeningAreInputErrors) {
  EXPECT_TRUE(contains(input_error([&] { SafetensorsFile file(dir_ / "absent.safetensors"); }), "cannot open"));
  EXPECT_TRUE(contains(input_error([&] { SafetensorsFile file(dir_); }), "not a regular file"));
  const fs::path path = write_two(dir_ / "shrinks.safetensors");
  SafetensorsFile file(path);
  fs::resize_file(path, file.data_offset() + 4);
  const std::string message = input_error([&] { (void)file.read(file.entry("b")); });
  EXPECT_TRUE(contains(message, path.string()) && contains(message, "truncated")) << message;
}

// ----- Hugging Face directories -----

void write_index(const fs::path& path, const nlohmann::json& weight_map) {
  write_file(path, nlohmann::json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}.dump(2));
}

TEST_F(SafetensorsTest, SingleFileDirectoryAndFilePathResolveEveryTensor) {
  write_two(dir_ / "model.safetensors");
  for (const fs::path& path : {dir_, dir_ / "model.safetensors"}) {
    SafetensorsCheckpoint checkpoint(path);
    EXPECT_EQ(checkpoint.names(), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(checkpoint.entry("a").shape, (std::vector<std::int64_t>{2, 3}));
    EXPECT_EQ(checkpoint.file_of("b").path(), dir_ / "model.safetensors");
    EXPECT_EQ(checkpoint.total_bytes(), 32u);
  }
}

TEST_F(SafetensorsTest, ShardedIndexResolvesEachTensorToItsShard) {
  write_two(dir_ / "model-00001-of-00002.safetensors", "a", "b");
  write_two(dir_ / "model-00002-of-00002.safetensors", "c", "d");
  write_index(dir_ / SafetensorsCheckpoint::kIndexFile, {{"a", "model-00001-of-00002.safetensors"},
                                                         {"b", "model-00001-of-00002.safetensors"},
                                                         {"c", "model-00002-of-00002.safetensors"},
                                                         {"d", "model-00002-of-00002.safetensors"}});
  SafetensorsCheckpoint checkpoint(dir_);
  EXPECT_EQ(checkpoint.files().size(), 2u);
  EXPECT_EQ(checkpoint.names(), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(checkpoint.file_of("c").path(), dir_ / "model-00002-of-00002.safetensors");
  EXPECT_EQ(checkpoint.file_of("b").path(), dir_ / "model-00001-of-00002.safetensors");
  EXPECT_EQ(checkpoint.file_of("d").read(checkpoint.entry("d")), pattern(8, 2));
  const std::string message = input_error([&] { (void)checkpoint.entry("e"); });
  EXPECT_TRUE(contains(message, dir_.string()) && contains(message, "no tensor 'e'")) << message;

  write_two(dir_ / "model.safetensors", "single", "file");  // transformers takes the single file first
  EXPECT_EQ(SafetensorsCheckpoint(dir_).names(), (std::vector<std::string>{"file", "single"}));
}

TEST_F(SafetensorsTest, IndexAndShardsThatDisagreeAreInputErrors) {
  const fs::path index = dir_ / SafetensorsCheckpoint::kIndexFile;
  write_two(dir_ / "s1.safetensors", "a", "b");
  write_two(dir_ / "s2.safetensors", "c", "d");
  const std::pair<nlohmann::json, std::string> cases[] = {
      {{{"a", "s1.safetensors"}}, "shard s1.safetensors holds tensor 'b', which the weight_map does not list"},
      {{{"a", "s1.safetensors"}, {"b", "s1.safetensors"}, {"x", "s1.safetensors"}},
       "weight_map puts tensor 'x' in s1.safetensors, which does not hold it"},
      {{{"a", "s1.safetensors"}, {"b", "s2.safetensors"}, {"c", "s2.safetensors"}, {"d", "s2.safetensors"}},
       "holds tensor 'b', which the weight_map puts in s2.safetensors"},
      {{{"a", "s3.safetensors"}}, "s3.safetensors (of tensor 'a' and maybe others) is missing"},
      {{{"a", "../s1.safetensors"}}, "not the name of a file in the directory"},
      {{{"a", 7}}, "not the name of a file in the directory"},
  };
  for (const auto& [weight_map, expected] : cases) {
    write_index(index, weight_map);
    const std::string message = input_error([&] { SafetensorsCheckpoint checkpoint(dir_); });
    EXPECT_TRUE(contains(message, index.string()) && contains(message, expected)) << message;
  }
  write_file(index, R"({"metadata": {}})");
  EXPECT_TRUE(contains(input_error([&] { SafetensorsCheckpoint checkpoint(dir_); }), "no 'weight_map'"));
  write_file(index, "{");
  EXPECT_TRUE(contains(input_error([&] { SafetensorsCheckpoint checkpoint(dir_); }), "not valid JSON"));
}

TEST_F(SafetensorsTest, DirectoryWithoutSafetensorsWeightsIsAnInputError) {
  const std::string message = input_error([&] { SafetensorsCheckpoint checkpoint(dir_); });
  EXPECT_TRUE(contains(message, "neither model.safetensors nor model.safetensors.index.json")) << message;
  EXPECT_TRUE(contains(input_error([&] { SafetensorsCheckpoint checkpoint(dir_ / "absent"); }), "no such"));
}

// ----- files written by tools/hf_checkpoint.py (Debian's python3 with numpy) -----

class PythonCheckpointTest : public SafetensorsTest {
 protected:
  void SetUp() override {
    SafetensorsTest::SetUp();
    if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0)
      GTEST_SKIP() << "/usr/bin/python3 with numpy is not installed";
  }
  void run_tool(const std::string& arguments) {
    const std::string command =
        fmt::format("/usr/bin/python3 '{}/tools/hf_checkpoint.py' {}", FEDVLM_SOURCE_DIR, arguments);
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
};

TEST_F(PythonCheckpointTest, PythonWrittenShardsReadAndRewriteByteIdentical) {
  const fs::path out = dir_ / "llava";
  run_tool(fmt::format("llava --out '{}' --dtype bf16 --shards 2 --text-arch qwen2 --list > '{}'", out.string(),
                       (dir_ / "list.json").string()));
  const auto listing = nlohmann::json::parse(read_file(dir_ / "list.json"));
  SafetensorsCheckpoint checkpoint(out);
  ASSERT_EQ(checkpoint.size(), listing.size());
  EXPECT_EQ(checkpoint.files().size(), 2u);
  for (const auto& item : listing) {
    const SafetensorsEntry& entry = checkpoint.entry(item["name"].get<std::string>());
    EXPECT_EQ(entry.shape, item["shape"].get<std::vector<std::int64_t>>()) << entry.name;
    EXPECT_EQ(entry.dtype, SafetensorsDtype::BF16);
  }
  EXPECT_TRUE(checkpoint.contains("vision_tower.vision_model.pre_layrnorm.weight"));
  EXPECT_TRUE(checkpoint.contains("language_model.model.layers.1.self_attn.k_proj.bias"));
  for (const SafetensorsFile& file : checkpoint.files()) {
    EXPECT_EQ(file.metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
    std::vector<std::vector<std::byte>> bytes;
    std::vector<SafetensorsTensorView> tensors;
    for (const SafetensorsEntry& entry : file.entries()) bytes.push_back(file.read(entry));
    for (std::size_t i = 0; i < bytes.size(); ++i)
      tensors.push_back({file.entries()[i].name, file.entries()[i].dtype, file.entries()[i].shape, bytes[i]});
    const fs::path copy = dir_ / file.path().filename();
    write_safetensors(copy, tensors, file.metadata());
    EXPECT_EQ(read_file(copy), read_file(file.path())) << file.path();
  }
}

TEST_F(PythonCheckpointTest, PythonHalfAndBfloat16RoundingMatchesLibTorch) {
  for (const char* dtype : {"fp32", "fp16", "bf16"})
    run_tool(fmt::format("llama --out '{}' --dtype {} --seed 5", (dir_ / dtype).string(), dtype));
  SafetensorsCheckpoint fp32(dir_ / "fp32"), fp16(dir_ / "fp16"), bf16(dir_ / "bf16");
  ASSERT_EQ(fp32.names(), bf16.names());
  for (const std::string& name : fp32.names()) {
    const torch::Tensor reference = to_tensor(fp32, name);
    ASSERT_EQ(reference.scalar_type(), torch::kFloat32);
    const torch::Tensor half = to_tensor(fp16, name), brain = to_tensor(bf16, name);
    ASSERT_EQ(brain.scalar_type(), torch::kBFloat16);
    EXPECT_TRUE(torch::equal(half, reference.to(torch::kFloat16))) << name;
    EXPECT_TRUE(torch::equal(brain, reference.to(torch::kBFloat16))) << name;
  }
}

}  // namespace
}  // namespace fedvlm::model::hf
