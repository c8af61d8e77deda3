#!/usr/bin/env bash
# Calls fedvlm must not make, with what to use instead. Run by ctest (lint.forbidden_calls) from
# the source root; prints every offending line and exits 1 when there is one.
#
# std::filesystem::remove_all: a PyTorch wheel's libtorch.so (seen: 2.11, CUDA 13) exports its
# own copy, and programs linked with it bound there and jumped to address 0 on a GPU machine.
# fedvlm::remove_tree (core/fs.hpp) does the same with POSIX nftw.
set -euo pipefail
cd "${1:-$(dirname "$0")/../..}"
status=0
if grep -rnE '(^|[^_[:alnum:]])remove_all[[:space:]]*\(' src include data_prep tests \
     --include='*.cpp' --include='*.hpp' --include='*.h' --include='*.cu'; then
  echo "forbidden: std::filesystem::remove_all (above); use fedvlm::remove_tree from fedvlm/core/fs.hpp" >&2
  status=1
fi
exit $status
