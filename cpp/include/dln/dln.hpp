// Umbrella header of the dln core.
#pragma once

#include "dln/batch.hpp"
#include "dln/blas.hpp"
#include "dln/build_info.hpp"
#include "dln/compress.hpp"
#include "dln/init.hpp"
#include "dln/network.hpp"
#include "dln/optimizer.hpp"
#include "dln/problem.hpp"
#include "dln/tracker.hpp"
#include "dln/trainer.hpp"
#include "dln/types.hpp"
