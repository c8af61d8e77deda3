// Each test corrupts one invariant of a valid dataset with the raw HDF5 API and checks that
// validate_dataset names the file, the dataset path and the offending entry.
#include <hdf5.h>

#include <functional>
#include <limits>

#include "data_test_support.hpp"
#include "fedvlm/data/inspect.hpp"

namespace fedvlm::data {
namespace {
using namespace testing;
namespace fs = std::filesystem;

template <class T>
std::vector<T> read_raw(const fs::path& file, const std::string& path, hid_t memory_type,
                        std::vector<hsize_t>* shape = nullptr) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, path.c_str(), H5P_DEFAULT);
  hid_t space = H5Dget_space(d);
  if (shape != nullptr) {
    shape->resize(static_cast<std::size_t>(H5Sget_simple_extent_ndims(space)));
    H5Sget_simple_extent_dims(space, shape->data(), nullptr);
  }
  std::vector<T> values(static_cast<std::size_t>(H5Sget_simple_extent_npoints(space)));
  if (!values.empty()) H5Dread(d, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  H5Sclose(space);
  H5Dclose(d);
  H5Fclose(f);
  return values;
}

// Replaces `path` with a new contiguous dataset (any shape and stored type).
template <class T>
void rewrite_raw(const fs::path& file, const std::string& path, const std::vector<T>& values, hid_t memory_type,
                 hid_t file_type, std::vector<hsize_t> shape = {}) {
  if (shape.empty()) shape = {values.size()};
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(H5Ldelete(f, path.c_str(), H5P_DEFAULT), 0) << path;
  hid_t space = H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr);
  hid_t d = H5Dcreate2(f, path.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(d, 0);
  if (!values.empty()) {
    ASSERT_GE(H5Dwrite(d, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  }
  H5Dclose(d);
  H5Sclose(space);
  H5Fclose(f);
}

template <class T>
void edit(const fs::path& file, const std::string& path, hid_t memory_type, hid_t file_type,
          const std::function<void(std::vector<T>&)>& change) {
  std::vector<hsize_t> shape;
  auto values = read_raw<T>(file, path, memory_type, &shape);
  change(values);
  if (values.size() != read_raw<T>(file, path, memory_type).size()) shape = {values.size()};  // resized 1-D edits
  rewrite_raw<T>(file, path, values, memory_type, file_type, shape);
}

class Validate : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<Samples> clients{make_samples(3, 10), make_samples(4, 11), make_samples(5, 12), make_samples(6, 13)};
    write_dataset(dir(), clients, 2, make_samples(5, 1), make_samples(4, 2));
  }
  fs::path dir() const { return tmp_ / "ds"; }
  fs::path file(const std::string& name) const { return dir() / name; }

  void expect_violation(const std::string& file_name, const std::string& path, const std::string& fragment) {
    auto violations = validate_dataset(dir());
    std::string all;
    for (const auto& v : violations) all += "\n  " + v.describe();
    bool found = std::any_of(violations.begin(), violations.end(), [&](const Violation& v) {
      return v.file == file_name && v.path == path && v.message.find(fragment) != std::string::npos;
    });
    EXPECT_TRUE(found) << "no violation " << file_name << ":" << path << " containing '" << fragment << "' among:" << all;
  }

  TempDir tmp_;
};

TEST_F(Validate, ValidDatasetHasNoViolations) { EXPECT_TRUE(validate_dataset(dir()).empty()); }

TEST_F(Validate, DecreasingPromptPointer) {
  edit<std::int64_t>(file("shard-00000.h5"), "/train/prompt_ptr", H5T_NATIVE_INT64, H5T_STD_I64LE,
                     [](auto& p) { p[2] = p[3] + 1; });
  expect_violation("shard-00000.h5", "/train/prompt_ptr", "prompt_ptr[3] = ");
  expect_violation("shard-00000.h5", "/train/prompt_ptr", "must not decrease");
}

TEST_F(Validate, PointerEndDisagreesWithTokenCount) {
  edit<std::int64_t>(file("meta.h5"), "/public/answer_ptr", H5T_NATIVE_INT64, H5T_STD_I64LE, [](auto& p) { p.back() += 1; });
  expect_violation("meta.h5", "/public/answer_ptr", "but answer has");
}

TEST_F(Validate, TokenIdOutsideVocabulary) {
  edit<std::int32_t>(file("meta.h5"), "/test/prompt", H5T_NATIVE_INT32, H5T_STD_I32LE, [](auto& t) { t[0] = 99999; });
  expect_violation("meta.h5", "/test/prompt", "prompt[0] = 99999 is outside the vocabulary");
}

TEST_F(Validate, NegativeAndSpecialTokenIds) {
  edit<std::int32_t>(file("shard-00001.h5"), "/train/answer", H5T_NATIVE_INT32, H5T_STD_I32LE, [](auto& t) {
    t[0] = -1;
    t[1] = small_tokenizer().eos_id();
    t[2] = small_tokenizer().pad_id();
  });
  expect_violation("shard-00001.h5", "/train/answer", "answer[0] = -1 is outside the vocabulary [0, ");
  expect_violation("shard-00001.h5", "/train/answer", "answer[1] = 2 is the tokenizer's <eos> id");
  expect_violation("shard-00001.h5", "/train/answer", "answer[2] = 0 is the tokenizer's <pad> id");
}

TEST_F(Validate, ReaderRefusesTheTokenIdsTheValidatorReports) {
  edit<std::int32_t>(file("meta.h5"), "/test/prompt", H5T_NATIVE_INT32, H5T_STD_I32LE, [](auto& t) { t[1] = 99999; });
  DatasetReader reader(dir());
  EXPECT_EQ(reader.read_split("public").size(), 5);  // the other splits stay readable
  try {
    reader.read_split("test");
    ADD_FAILURE() << "read a split holding token id 99999";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/test/prompt: prompt[1] = 99999 is outside the vocabulary"), std::string::npos)
        << e.what();
  }
}

TEST_F(Validate, TaskIdBeyondTasks) {
  edit<std::uint8_t>(file("shard-00001.h5"), "/train/task", H5T_NATIVE_UINT8, H5T_STD_U8LE, [](auto& t) { t[4] = 5; });
  expect_violation("shard-00001.h5", "/train/task", "task[4] = 5 but meta.h5 lists 2 tasks");
}

TEST_F(Validate, LabelOutOfRange) {
  edit<std::int32_t>(file("meta.h5"), "/test/label", H5T_NATIVE_INT32, H5T_STD_I32LE, [](auto& l) { l[3] = 3; });
  expect_violation("meta.h5", "/test/label", "label[3] = 3 outside [-1, 3)");
}

TEST_F(Validate, BoxOutOfOrderOrPartlyNaN) {
  edit<float>(file("shard-00000.h5"), "/train/box", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, [](auto& b) {
    b[4 * 1 + 0] = 0.8f;  // x0 > x1 = 0.11
    b[4 * 0 + 2] = 0.5f;  // sample 0 had all NaN
  });
  expect_violation("shard-00000.h5", "/train/box", "box[1] = (0.8,");
  expect_violation("shard-00000.h5", "/train/box", "box[0] = (nan, nan, 0.5, nan)");
}

TEST_F(Validate, ImageShapeDiffersFromMeta) {
  auto images = read_raw<std::uint8_t>(file("meta.h5"), "/public/images", H5T_NATIVE_UINT8);
  images.resize(5 * 24);
  rewrite_raw<std::uint8_t>(file("meta.h5"), "/public/images", images, H5T_NATIVE_UINT8, H5T_STD_U8LE, {5, 1, 6, 4});
  expect_violation("meta.h5", "/public/images", "shape [5, 1, 6, 4], expected [5, 1, 6, 5]");
}

TEST_F(Validate, ArraySizeDiffersFromSampleCount) {
  edit<std::int32_t>(file("shard-00001.h5"), "/train/label", H5T_NATIVE_INT32, H5T_STD_I32LE, [](auto& l) { l.pop_back(); });
  expect_violation("shard-00001.h5", "/train/label", "shape [10], expected [11]");
}

TEST_F(Validate, WrongStoredType) {
  auto labels = read_raw<std::int64_t>(file("meta.h5"), "/test/label", H5T_NATIVE_INT64);
  rewrite_raw<std::int64_t>(file("meta.h5"), "/test/label", labels, H5T_NATIVE_INT64, H5T_STD_I64LE);
  expect_violation("meta.h5", "/test/label", "stored as int64, expected int32");
}

TEST_F(Validate, MissingDataset) {
  hid_t f = H5Fopen(file("meta.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  H5Ldelete(f, "/test/box", H5P_DEFAULT);
  H5Fclose(f);
  expect_violation("meta.h5", "/test/box", "missing dataset");
}

TEST_F(Validate, ClientInTwoShardsAndInNone) {
  edit<std::int64_t>(file("shard-00001.h5"), "/train/client_id", H5T_NATIVE_INT64, H5T_STD_I64LE, [](auto& ids) { ids[0] = 1; });
  expect_violation("shard-00001.h5", "/train/client_id", "client_id[0] = 1 but meta.h5:/clients/shard[1] = 0");
  expect_violation("meta.h5", "/clients", "client 1 appears in 2 shards");
  expect_violation("meta.h5", "/clients", "client 2 appears in 0 shards");
}

TEST_F(Validate, SampleCountDisagreesWithMeta) {
  edit<std::int64_t>(file("meta.h5"), "/clients/num_samples", H5T_NATIVE_INT64, H5T_STD_I64LE, [](auto& n) { n[1] += 1; });
  expect_violation("shard-00000.h5", "/train/client_ptr", "client 1 has 4 samples here, meta.h5:/clients/num_samples[1] = 5");
}

TEST_F(Validate, ClientPointerEndDisagreesWithSamples) {
  edit<std::int64_t>(file("shard-00000.h5"), "/train/client_ptr", H5T_NATIVE_INT64, H5T_STD_I64LE, [](auto& p) { p.back() -= 1; });
  expect_violation("shard-00000.h5", "/train/client_ptr", "client_ptr[2] = 6, the split has 7 samples");
}

TEST_F(Validate, ShardMapNotContiguous) {
  edit<std::int32_t>(file("meta.h5"), "/clients/shard", H5T_NATIVE_INT32, H5T_STD_I32LE, [](auto& s) { s[3] = 0; });
  expect_violation("meta.h5", "/clients/shard", "shard[3] = 0 < shard[2] = 1");
}

TEST_F(Validate, MissingShardFile) {
  fs::remove(file("shard-00001.h5"));
  expect_violation("shard-00001.h5", "/", "missing shard file");
}

TEST_F(Validate, WrongFormatAttributeStopsAtMeta) {
  hid_t f = H5Fopen(file("meta.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  H5Adelete(f, "format");
  H5Fclose(f);
  expect_violation("meta.h5", "/", "not a fedvlm dataset");
  EXPECT_EQ(validate_dataset(dir()).size(), 1u);
}

// Found by tests/fuzz/fuzz_dataset_fields: the validator subtracted client pointers near int64's
// limits (signed overflow) before it knew they were out of order.
TEST_F(Validate, ClientPointersAtTheLimitsOfInt64AreReported) {
  edit<std::int64_t>(file("shard-00000.h5"), "/train/client_ptr", H5T_NATIVE_INT64, H5T_STD_I64LE,
                     [](auto& p) { p[1] = std::numeric_limits<std::int64_t>::min(); });
  expect_violation("shard-00000.h5", "/train/client_ptr", "client_ptr[1] = -9223372036854775808 < client_ptr[0] = 0");
}

// Found by tests/fuzz/fuzz_dataset_fields: the number of shards (largest index + 1) overflowed
// int32, and the validator then looked for every shard file up to it.
TEST_F(Validate, AShardIndexOfInt32MaxIsOneMissingShard) {
  edit<std::int32_t>(file("meta.h5"), "/clients/shard", H5T_NATIVE_INT32, H5T_STD_I32LE,
                     [](auto& s) { s.back() = std::numeric_limits<std::int32_t>::max(); });
  EXPECT_EQ(DatasetReader(dir()).info().num_shards, std::int64_t{1} << 31);
  expect_violation("shard-2147483647.h5", "/", "missing shard file");
  expect_violation("shard-00001.h5", "/train/client_id", "client_id[1] = 3 but meta.h5:/clients/shard[3] = 2147483647");
}

// Found by tests/fuzz/fuzz_dataset_fields: the statistics indexed the labels through client
// pointers they did not check (a read past the end of the label array).
TEST_F(Validate, StatisticsRefuseClientPointersBeyondTheSamples) {
  edit<std::int64_t>(file("shard-00000.h5"), "/train/client_ptr", H5T_NATIVE_INT64, H5T_STD_I64LE,
                     [](auto& p) { p[1] = 1000; });
  DatasetReader reader(dir());
  EXPECT_THROW(dataset_statistics(reader), InputError);
}

}  // namespace
}  // namespace fedvlm::data
