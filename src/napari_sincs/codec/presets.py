"""Every tuning constant of the encoder, by name, with why it has its value.

These steer how the encoder searches; none of them is part of the file format (a decoder never
reads this module), so changing one changes the files written from now on, never how an
existing file decodes. Constants that define the format (exact arithmetic, grid cells along
time, header limits) live beside the code they define. Figures quoted are from
docs/benchmarks.md and docs/performance.md.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class FamilyTuning:
    """A family's training defaults, where the user does not set them: hidden layers, steps
    (None: the family sizes them from the data), batch (voxels per step) and learning rate."""

    depth: int
    steps: int | None
    batch_size: int
    learning_rate: float


@dataclass(frozen=True)
class Preset:
    """How long to train, in the user's words: `steps_factor` scales the default steps of the
    families with one network per group, `latent_epochs` is how many times the latent family's
    training covers every voxel, in at least `latent_min_steps` steps, its synthesis trained on
    every `latent_stride`-th voxel along y and x of each patch (below)."""

    summary: str
    steps_factor: float
    latent_epochs: int
    latent_min_steps: int
    latent_stride: int


# The latent synthesis trained on every 2nd voxel along y and x of a patch, from a random phase
# (the rate still prices every latent of the patch), makes steps 1.5-2x faster (one thread,
# idle: nuclei2d 42.0 -> 27.4 ms, cell_migration_2dt 96.8 -> 49.3, cells3d_nuclei 84.0 -> 54.8,
# hela_3ch 62.0 -> 41.9) for the same PSNR after balanced's steps (100x, against every voxel:
# nuclei2d 32.91 / 32.93 dB, cell_migration_2dt 34.67 / 34.69, cells3d_nuclei 35.72 / 35.71,
# beads3d 49.07 / 49.00, fmri_4d 31.82 / 32.01, hela_3ch 43.42 / 42.28, cell_phase 42.72 /
# 43.47 and at 300x 35.48 / 34.80: a mean of +0.12 dB, within the seed's spread), but not after
# fast's (hela_3ch 37.18 against 40.54, cell_migration_2dt 32.71 against 33.71): with half the
# steps, what each step sees still counts. Every 4th voxel is hardly faster than every 2nd (the
# rate and the latents' updates are then most of a step) and cost cell_migration_2dt 0.15 dB.
# At 30x the finest detail counts and the stride lost it (150 visits, every other voxel against
# every voxel: hela_3ch 45.12 against 49.37 dB, cell_phase 47.59 against 48.29): below
# LATENT_STRIDE_MIN_RATIO every voxel is trained on.
PRESETS = {
    "fast": Preset("a third to half of the training, for less quality", 0.35, 50, 500, 1),
    "balanced": Preset("the measured defaults", 1.0, 150, 1200, 2),
    "best": Preset(
        "two to three times the training, for a few tenths of a dB to a few dB more",
        3.0,
        300,
        3600,
        2,
    ),
}


@dataclass(frozen=True)
class ChainSizing:
    """What rate control assumes about a family that gives every group its own network.

    `key_bits` / `residual_bits`: expected coded bits per parameter of a chain's first group and
    of a group coded as a residual against its predecessor (networks are sized from them; the
    encoder re-measures them when it has to refit). `max_parameters_per_group`: blocks are split
    until a group's network is at most this big. `auto_time_groups`: interlaced time groups when
    not given.
    """

    key_bits: float
    residual_bits: float
    max_parameters_per_group: int
    auto_time_groups: int


# PE-MLP: coded bits measured at 8-bit weights on cell_migration_2dt; every voxel costs all of a
# network's weights, so networks stay small (8000 parameters; 16 000 was measured: mixed gains
# for twice the decode cost). Interlaced time groups pay for it (weight transfer between
# phases). It needs depth; small batches suit it on two cores.
PE_MLP = FamilyTuning(depth=3, steps=6000, batch_size=1024, learning_rate=5e-3)
PE_MLP_SIZING = ChainSizing(
    key_bits=6.8, residual_bits=4.2, max_parameters_per_group=8000, auto_time_groups=4
)
# Feature grids: grid values lose almost nothing at 6 bits, so they are sized to be quantised more
# coarsely; a voxel costs a few hundred multiply-adds whatever the grid size, so fewer, larger
# groups are fine. Grids model time directly (cells of two frames): interlacing would put 4
# frames between their nodes. Features are already local, so a small MLP suffices, and grids
# learn faster from larger batches.
GRID = FamilyTuning(depth=2, steps=2000, batch_size=4096, learning_rate=1e-2)
GRID_SIZING = ChainSizing(
    key_bits=5.0, residual_bits=3.0, max_parameters_per_group=32768, auto_time_groups=1
)

# family "auto": on images without z (2D, 2D+T, channels) feature grids beat the PE-MLP's global
# PSNR on most images at 30x and 100x (up to +4.4 dB) and lose on most at 300x and above; on z
# stacks the PE-MLP wins at nearly every ratio. With a saliency map the PE-MLP stays: grid cells
# hold a fixed share of the capacity whatever the sampling, so saliency cannot move it onto the
# structures (PSNR inside the objects 0.7 to 6.5 dB lower).
GRID_UP_TO_RATIO = 170.0
# ... and before both, the latent family where the benchmark rows show it ahead of the PE-MLP
# (docs/benchmarks.md, "Latent family"): time series up to 550x (ahead at every ratio measured
# on both 2D+T images, by 2.2 to 5.7 dB), single planes and channel stacks up to 170x (ahead on
# all three at 30x and 100x; at 300x ahead on nuclei2d and hela_3ch by 2.2 and 3.6 dB but 0.67
# dB behind on cell_phase), and z stacks (3D and 3D+T) up to 170x too: at 30x and 100x ahead on
# cells3d_nuclei by 0.95 and 1.66 dB, fmri_4d by 2.01 and 1.92, t1_head_mini3d at 30x by 1.98
# and nuclei3d by 0.87 and 0.07, level on beads3d (-0.05, -0.15) and behind on brain_cells_3d
# (-0.64, -0.54; stop 42's rows); at 300x mixed (cells3d_nuclei +1.70, brain_cells_3d +0.24,
# fmri_4d -0.04, beads3d -1.30) and at 1000x behind on two of the three it can reach. It holds
# every volume in memory while it trains (18-26 bytes a voxel,
# below; the benchmark harness's peaks, which also hold decodes and metrics, 70-95), so
# above LATENT_AUTO_MAX_VOXELS the PE-MLP, which loads one group at a time, stays too.
# Below LATENT_AUTO_MIN_BYTES of budget, its header and narrowed networks (700-900 bytes) would
# be most of the file, or more than all of it: the PE-MLP stays there too.
LATENT_AUTO_SERIES_RATIO = 550.0
LATENT_AUTO_PLANE_RATIO = 170.0
LATENT_AUTO_STACK_RATIO = 170.0
LATENT_AUTO_MAX_VOXELS = 32_000_000
LATENT_AUTO_MIN_BYTES = 2048

# What a latent compression holds at once, to refuse one that cannot fit before it trains:
# measured as the growth of peak memory (one process, 30 steps) with the image, 17.6 bytes a
# voxel from 8.4 to 16.8 Mvoxel of a noise stack and about 26 on brain_cells_3d (10.2 Mvoxel,
# 434 MB over its loaded array, with about 190 MB that does not grow), rounded up for margin.
LATENT_BYTES_PER_VOXEL = 32
LATENT_FIXED_BYTES = 256 << 20
# Above LATENT_WHOLE_MAX_VOXELS, where the whole image would not fit in memory, or on dask
# workers (on images larger than LATENT_SAMPLE_VOXELS) a latent file trains tile by tile
# (families/latent/tiled.py): its networks on tiles making up about LATENT_SAMPLE_VOXELS, then
# each tile's latents for the preset's epochs (at least LATENT_TILE_MIN_STEPS steps) on its
# voxels and, where its neighbours are finished, the voxels within LATENT_TILE_HALO (d, y, x) of
# its border; where scaling the quantisation steps cannot land the file, the tiles train again
# at another lambda, at most LATENT_TILED_REFITS times.
LATENT_WHOLE_MAX_VOXELS = LATENT_AUTO_MAX_VOXELS
LATENT_SAMPLE_VOXELS = 8_000_000
LATENT_TILE_MIN_STEPS = 300
LATENT_TILE_EPOCHS = 1.0
# Weight transfer: the sampled tiles' latents start where the networks' training left them
# (False: from zeros, like the other tiles); a tile trained again at another lambda starts from
# its latents at the previous one.
LATENT_TILE_FROM_SAMPLE = True
# Tiles of every colour but the last then train again, with every neighbour finished and a halo
# on every side, for LATENT_TILE_REFINE of those visits at LATENT_TILE_REFINE_LR of the learning
# rate: a tile trained before its neighbours fitted its border to their zeros, and a single pass
# left bright lines along the borders where four tiles meet (nuclei2d). Both passes train with
# noise first, as a whole fit does: a pass rounded straight-through from its first step (with
# Adam's moments started afresh) left a third of the latents within 0.01 of a rounding
# boundary, and the coded size then jumped with every small change of the quantisation steps.
LATENT_TILE_REFINE = 0.33
LATENT_TILE_REFINE_LR = 0.5
LATENT_TILE_HALO = (2, 16, 16)
LATENT_TILED_REFITS = 2

# PE-MLP widths: below 8 a network learns little more than a mean; above 256 a group's network
# costs more to evaluate than a finer block split would.
PE_MIN_WIDTH = 8
PE_MAX_WIDTH = 256
# Grid family: the MLP's width when not given; the finest cell 2**k stays at most 2**7 (exact
# decoding and useful detail); at most 4 features per grid point (finer grids beat more features
# at the same size); grid values learn at twice the MLP's rate (they see fewer samples each).
GRID_WIDTH = 16
GRID_MAX_EXPONENT = 7
GRID_MAX_FEATURES = 4
GRID_LR_FACTOR = 2.0

# Block splitting: blocks are never split below 64 pixels in y and x or 16 planes in z (smaller
# ones pay a network's fixed cost for too few voxels).
MIN_BLOCK_YX = 64
MIN_BLOCK_Z = 16

# Rate control. MIN_BITS: coarser weights than 2 bits destroy any network. GOOD_BITS: a first fit
# that needs coarser weights than 6 bits to fit the budget is refitted smaller instead (quality
# falls fast below 6 bits). MAX_ATTEMPTS: fits in all (each refit is a full training).
# UNDERUSED: a fit at the finest precision that leaves more than 15% of the budget unused is
# refitted wider. The per-parameter cost measured on one fit is a little optimistic for
# another size, so a refit after an overshoot aims at SHRINK_MARGIN of the budget and one after
# an undershoot at GROW_MARGIN (a larger network's residuals grow, a second overshoot would cost a
# third fit). BITS_RESOLUTION: the precision search stops at 0.05 bits (about 0.3% of the size).
MIN_BITS = 2.0
# Under max_error the networks' ratio is halved until a network fits, but not below this: a base
# larger than a quarter of the raw data leaves the residual almost nothing to save.
MIN_BASE_RATIO = 4.0
GOOD_BITS = 6.0
MAX_ATTEMPTS = 3
UNDERUSED = 0.85
SHRINK_MARGIN = 0.97
GROW_MARGIN = 0.95
BITS_RESOLUTION = 0.05
# PSNR targets: at most 5 fits (ratio doubled after a pass, halved after a miss, then
# bisected) until the passing and failing ratios are within 25%; the free precision search
# inside a passing fit stops at 0.25 bits.
PSNR_TRIES = 5
PSNR_RATIO_RESOLUTION = 1.25
PSNR_BITS_RESOLUTION = 0.25

# zstd levels: 19 for what is written (the blobs are small, so the slow levels cost little);
# 9 while searching the precision, whose sizes track level 19's closely at a fraction of the time.
ZSTD_LEVEL = 19
SEARCH_ZSTD_LEVEL = 9

# Weight quantisation: a tensor's step spans 8 standard deviations with `bits` of resolution
# (values beyond stay exact integers, they just cost more); tensors of fewer than 64 values (the
# output bias) cost nothing and shift every voxel, so they get 3 more bits; steps keep 4
# significant bits so that every weight is a small integer times a power of two (exact decoding).
SPAN_IN_STDS = 8.0
SMALL_TENSOR = 64
SMALL_TENSOR_EXTRA_BITS = 3.0
STEP_MANTISSA_BITS = 4

# Training: report progress and check for cancel every 10 steps (cheap, and a cancel lands
# within a fraction of a second); cosine learning rate down to 5% of its start; a warm-started
# group (weight transfer) trains for a third of a keyframe's steps at half the rate (it starts
# close); batches of at least 256 voxels (smaller ones make Adam's steps too noisy).
CHECK_EVERY = 10
FINAL_LR_FRACTION = 0.05
TRANSFER_LR_FACTOR = 0.5
TRANSFER_STEPS_FRACTION = 3
MIN_BATCH = 256

# Output-layer refit: at most 65 536 seeded voxels per group in the least squares (the solution
# stops moving beyond), 16 384 per forward pass; a ridge of 1e-6 of the summed sample weights
# towards the trained weights keeps the system solvable when hidden units never fire.
REFIT_SAMPLES = 65536
REFIT_CHUNK = 16384
REFIT_RIDGE = 1e-6

# Threshold saliency: Otsu's threshold on an even subsample of about 2**20 voxels (a strided
# read, never the whole array; the threshold moves by less than a grey level beyond).
OTSU_SAMPLE = 1 << 20

# Learned saliency (Grad-CAM of a small CNN trained on the image itself): 24 windows of 256² to
# learn from (seconds on two cores), patches of 48² in batches of 32 for 150 Adam steps at 3e-3;
# edges and texture are the strongest tenth of their responses; each class map is scaled by its
# 99th percentile; 64 planes per Grad-CAM pass bound its memory.
LEARNED_WINDOW = 256
LEARNED_WINDOWS = 24
LEARNED_PATCH = 48
LEARNED_BATCH = 32
LEARNED_STEPS = 150
LEARNED_LEARNING_RATE = 3e-3
LEARNED_STRONGEST = 90.0
LEARNED_SCALE_PERCENTILE = 99.0
LEARNED_PLANES_PER_PASS = 64

# Latent-grid family (families/latent/). Training: Adam on patches of about 135 000 voxels (a
# step's fixed costs then matter little: about 0.3 microseconds per voxel on one core), as many
# steps as make every voxel seen the preset's latent_epochs times, and at least its
# latent_min_steps. PSNR at 100x after 30 / 60 / 100 / 300 visits (one thread, another job on
# the other core): cells3d_nuclei 33.51 / 35.16 / 35.50 / -, cell_migration_2dt 31.39 / 32.96 /
# 33.88 / 34.22, hela_3ch 37.55 / 40.51 / 43.30 / 44.63, nuclei2d 30.92 / 31.4 / 32.10 / 32.71,
# cell_phase 33.81 / 34.52 / 35.61 / 38.55, beads3d 44.51 / 46.32 / 47.80 / 48.76, fmri_4d
# 28.81 / - / 31.52 / -; cells3d_nuclei took 44 s for 30 visits and 129 s for 100. Balanced was
# 100 visits, the large images' time (where 300 visits took cells3d_nuclei 1675 s, 35.51 dB
# against 35.50 then); with the synthesis trained on every other voxel (below) 150 visits take
# about the time 100 took and gain at the target pairs: cells3d_nuclei 300x 34.62 -> 34.78 dB,
# 100x 35.77 -> 35.91, drosophila_histone_2dt 300x 32.14 -> 32.50. Small images, whose epoch
# is a few steps, gain most from more steps (cell_phase +2.9 dB from 400 to 1200 steps), hence
# the floor of 1200 steps (about a minute).
# Fast, 50 visits, is at or above the previous default (pe_mlp) on the large 3D and 2D+T images
# (cells3d_nuclei 34.24 dB, cell_migration_2dt 30.94, hela_3ch 39.45); 1e-2 for the
# networks and 0.05 (in the synthesis's input units, where a quantisation step is at most one)
# for the latents, cosine to zero. 0.1 gained 0.3 to 1.7 dB after 40-60 visits while lambda was
# steered every 4th step at a fixed gain, but with lambda steered per epoch it is no better at
# 100x (hela_3ch 43.92 dB against 43.81, cell_migration_2dt 34.42 against 34.63) and far worse
# on tiny budgets (cell_phase at 300x: 27.57 dB against 33.95); additive uniform
# noise stands in for rounding for the first 80% of the steps, straight-through rounding after.
# Each level's quantisation step is learned (log step, Adam at 0.05; 1e-2 moved too slowly): with
# steps of one unit, cell_phase's latents stayed within a few units (its finest level all zeros,
# lambda at its floor, 150x for 100x asked, 35.97 dB); with learned steps the coarse levels take
# steps of 0.1-0.6. A step never grows past one unit: steps free to grow turned fmri_4d's finest
# level coarse, +0.6 dB for SSIM 0.893 -> 0.852.
# Pyramid: 6 levels, the finest sampling y and x every 2 voxels and z or t every voxel (keeping
# the first axis finer was worth +1.4 dB on cell_migration_2dt in the prototype); synthesis and
# entropy model MLPs of two hidden layers of 16. Tiles of 256 x 256 in y, x (and 32 planes in z)
# bound what a region decodes. The synthesis is coded at 8-bit weights (the entropy model at
# 8 or coarser, below). Rate: lambda starts at 1e-2 and follows the rounded rate of the
# trained patches (below); a file that misses its budget by more than 5% lands by scaling its
# quantisation steps, or else is refined for 15% of the steps with lambda rescaled, at most 4
# times.
LATENT = FamilyTuning(depth=2, steps=None, batch_size=135_000, learning_rate=1e-2)
LATENT_STRIDE_MIN_RATIO = 100.0
LATENT_LEVELS = 6
LATENT_FIRST = 1
LATENT_D_LAG = 1
# A z stack whose planes lie at least LATENT_ANISOTROPY times further apart than its pixels (by
# the image's voxel size, both axes in one unit) keeps z one level finer still (d_lag
# LATENT_D_LAG + 1): its neighbouring planes differ more than neighbouring pixels, so
# cells that average as many planes as pixels blur z. Balanced 100x, d_lag 1 / 2 / 3:
# brain_cells_3d (5 x 2 x 2 um) 47.38 / 47.77 / 47.64 dB, beads3d (0.125 x 0.022 um) 49.07 /
# 49.25 / 48.88 (300x: 47.63 / 48.02); on stacks that are not anisotropic d_lag 2 loses:
# cells3d_nuclei (0.29 x 0.26 um) 35.90 / 35.78, fmri_4d (2.2 x 2 mm) 32.05 / 31.53, nuclei3d
# (no voxel size) 25.43 / 25.05. Not further than one level: optics blur z more than x and y,
# so the content is less anisotropic than the sampling (d_lag 3 lost on both stacks above).
# Time series keep LATENT_D_LAG: frames carry no unit to compare with pixels, and d_lag 2 went
# both ways there (drosophila_histone_2dt 100x 36.07 -> 36.94 dB, cell_migration_2dt 34.82 ->
# 34.44).
LATENT_ANISOTROPY = 2**0.5
# Up to this ratio: at 1000x the second level's twice as many planes cost more than they give
# (the benchmark harness, with the voxel size: brain_cells_3d 30x / 100x / 300x +0.40 / +0.14 /
# +0.17 dB, 1000x 45.75 against 46.10; beads3d -0.09 / +0.23 / +0.32, 1000x level).
LATENT_ANISOTROPIC_MAX_RATIO = 550.0
LATENT_SYNTHESIS = (16, 16)
LATENT_ARM = (16, 16)
# What the entropy model sees of a latent's neighbours (families/latent/context.py): the 3x3
# of the coarser level around its parent and, in the checkerboard's second pass, its face
# neighbours. The other shapes are there for the context ablation (`ablations latent`).
LATENT_CONTEXT = "faces"
# Where those networks would take more than 40% of the budget (about 1.1 kB: small images at
# high ratios, such as cell_phase at 300x or t1_head_mini3d at 100x, which they made
# unreachable), both networks take the widest of these hidden layers that fits.
LATENT_NETWORK_SHARE = 0.4
LATENT_SMALL_NETWORKS = ((12, 12), (8, 8), (8,))
LATENT_TILE = (32, 256, 256)
# Every tile's blob pays about 29 bytes of its own (ranges, the coder's last word) and its
# latents at the borders are coded without their neighbours across. Where that would take
# more than LATENT_TILE_SHARE of the budget on an image without z trained whole, its tiles
# double in y and x until it does not, up to LATENT_MAX_TILE_YX (a region then decodes the
# latents of at most four such tiles). One tile instead of 256x256 ones (balanced, one seed):
# cell_phase (9 tiles, 7% of the budget at 100x, 22% at 300x) 100x 43.28 -> 43.89 dB, 300x
# 35.48 -> 36.66; hela_3ch (18 tiles, 8% at 300x, 25% at 1000x) 300x 38.82 -> 39.07, 1000x
# 30.90 -> 33.18; nuclei2d (4 tiles) at 300x (7%) 31.08 -> 31.20 but at 100x (2%) 32.99 ->
# 32.90, so below 3% they stay.
LATENT_TILE_SHARE = 0.03
LATENT_MAX_TILE_YX = 1024
LATENT_MAX_FRAMES = 64
# A tile's finest level is coded in slabs of 4 planes (z) or frames (t), so that showing a plane
# entropy-decodes the tile's coarse levels and one slab, not all its 32 or 64 planes.
LATENT_SLAB = 4
# Each slab's stream costs about 6 bytes (its length and the coder's last word); where those
# would take more than 5% of the budget (beads3d at 1000x: 100 of 922 bytes, which made the
# ratio unreachable), the file's tiles are coded whole: its latents are then so few that a
# plane decodes them all quickly anyway.
LATENT_SLAB_SHARE = 0.05
# Below LATENT_WARM_MAX_RATIO (z stacks) or LATENT_WARM_MAX_RATIO_PLANES (images without z)
# a whole-image fit starts from the image's own pyramid read by a linear synthesis
# (families/latent/warm.py), one latent unit 1/gain of the range, instead of zeros: with
# balanced's visits the latents then reach the fine detail that low ratios keep. The gain is
# LATENT_WARM_GAIN up to LATENT_WARM_GAIN_RATIO and falls as 1/ratio above it (9 at 100x), so
# that the rate does not first have to undo fine levels the budget cannot pay for.
# 30x, gain 30, one seed each, against zeros (both with the synthesis's precision search):
# cell_phase 50.56 against 49.94 dB, hela_3ch 50.02 / 49.37, cell_migration_2dt 37.41 / 35.63,
# cells3d_nuclei 36.33 / 36.12, nuclei2d 33.84 / 33.83. At 100x a gain of 30 lost
# (cell_migration_2dt 31.97 against 34.63, cell_phase 42.21 / 42.72); a gain of 9 won on every
# image without z (hela_3ch 45.66 against 44.26, drosophila_histone_2dt 36.06 / 35.57,
# cell_phase 43.30 / 42.72, cell_migration_2dt 34.83 / 34.63, nuclei2d 32.98 / 32.95; with
# another seed hela_3ch 44.89 / 43.48, cell_phase 43.23 / 39.08, cell_migration_2dt 34.79 /
# 34.29) but not on z stacks (beads3d 48.92 against 49.07, fmri_4d's SSIM 0.704 against
# 0.904; gain 10: beads3d 48.26, cells3d_nuclei 35.91 / 35.90). With the distortion measured
# on clipped predictions (fit._as_decoded) the z stacks are level with zeros, so they keep
# 100x: fmri_4d 31.97 / 0.908 against 32.03 / 0.911, beads3d 49.20 / 49.05, cells3d_nuclei
# 35.92 / 35.90, brain_cells_3d 47.46 / 47.52. At 200x, gain 4.5, without z: hela_3ch 41.15
# against 40.89, drosophila_histone_2dt 33.52 / 33.27, cell_migration_2dt 32.32 / 32.41; at
# 300x, gain 3, cell_migration_2dt 30.29 against 31.36, hela_3ch 38.67 / 38.82. Zeroing the
# pyramid's finest one or two levels instead (gain 30, 100x) did not pay (cell_phase 41.28 /
# 42.30 against 42.72 from zeros, cell_migration_2dt 34.57 / 34.56 against 34.63), nor did
# the pyramid's latents with the synthesis left to its random start (gain 10, 100x:
# cell_phase 42.30, fmri_4d's SSIM 0.880). The finest level at full resolution (first 0, 7 levels)
# started this way: cell_phase 30x 43.99 dB, worse still than from zeros.
# With fewer visits of every voxel than LATENT_WARM_MIN_EPOCHS, the rate had no time to prune
# the pyramid and files landed far under their budget: test crops at 10x after 17-25 visits
# landed at 16-22x in three fits (cell_migration_crop 18.8x, hela_crop 21.5x, nuclei3d_crop
# 16.0x), nuclei2d_crop after 50 at 11.6x; after 100 (nuclei2d_crop, cell_migration_crop,
# hela_crop at 10x and 20x) all six in one fit at 0.7-4% under budget. Balanced has 150.
# That happens at low ratios only: on images without z the fast preset's 50 visits started
# warm landed in their band from LATENT_WARM_FEW_EPOCHS_RATIO up (30x: hela_3ch 30.1x,
# cell_migration_2dt 30.7x; 100x: 101-105x on five images) but not below it (10x: hela_3ch
# 16.2x, cell_migration_2dt 13.8x; 20x: hela_3ch 21.7x), and gained there (warm against zeros,
# one seed: 100x hela_3ch 43.00 / 38.12 dB, cell_migration_2dt 34.36 / 33.70,
# drosophila_histone_2dt 35.21 / 34.84; 30x hela_3ch 46.91 / 42.07, cell_migration_2dt 36.81 /
# 34.63). On z stacks beads3d landed at 33.6x for 30x (49.38 dB, against 48.81 at 30.3x from
# zeros), so they keep the floor of visits (fast at 30x, warm against zeros, left: fmri_4d
# 32.80 / 31.78, cells3d_nuclei 35.74 / 35.53).
LATENT_WARM_MAX_RATIO = 100.0
LATENT_WARM_MAX_RATIO_PLANES = 200.0
LATENT_WARM_MIN_EPOCHS = 100
LATENT_WARM_FEW_EPOCHS_RATIO = 30.0
LATENT_WARM_GAIN = 30.0
LATENT_WARM_GAIN_RATIO = 30.0
LATENT_LEARNING_RATE = 0.05
LATENT_STEP_LEARNING_RATE = 0.05
LATENT_NOISE_FRACTION = 0.8
LATENT_NETWORK_BITS = 8.0
# The entropy model's weights only move the probabilities a little: where the networks take
# at least LATENT_ARM_SHARE of the budget (at 8 bits), halfway through training the file is
# also coded with them at each of these precisions and the smallest kept (the decoded image
# is the same), so that lambda steers the latents to the budget it leaves them (chosen after
# training instead, the bytes saved went to step scales away from those trained: cell_phase
# 300x 36.72 -> 36.50 dB at 4 bits, fmri_4d 1000x 25.64 -> 25.50, and a file already in its
# band kept them unused). One precision for every file, balanced, one seed, 8 / 6 / 5 / 4
# bits: t1_head_mini3d 100x 18.42 / 19.86 / 20.00 / 20.81 dB, nuclei3d 300x 20.92 / 21.48 /
# 21.76 / 21.80, beads3d 1000x 42.66 / 43.01 / 43.31 / 43.87, hela_3ch 1000x 32.77 / 33.05 /
# 33.05 / -; where the networks are a small share of the budget coarser lost
# (cell_migration_2dt 100x 34.85 / 34.83 / 34.52, cells3d_nuclei 100x 35.90 / 35.82 / 35.76).
# With every file choosing the smallest (rd harness, balanced, against the rows at 8 bits),
# where the networks took 30% or more of the budget: t1_head_mini3d 100x (58%) 18.42 -> 20.81
# dB, nuclei3d 300x (53%) 20.17 -> 21.80, beads3d 1000x (41%) 41.80 -> 43.87, fmri_4d 1000x
# (32%) 25.39 -> 25.60, cell_phase 100x (32%) 43.64 -> 43.59, fmri_4d 300x (31%) 29.31 ->
# 29.34; below it mixed: cell_phase 300x (29%) 36.72 -> 36.83, nuclei2d 300x (30%, just
# under) 31.32 -> 31.42, beads3d 300x (28%) 48.12 -> 47.91 and 100x (13%) 49.05 -> 48.87,
# cell_migration_2dt 1000x (23%) 26.95 -> 26.67 and 300x (23%) 31.36 -> 31.22, hela_3ch 1000x
# (25%) 32.77 -> 32.55 (both 1000x files landed at 1054x, outside their band), hela_3ch 300x
# (17%) 39.21 -> 39.15.
LATENT_ARM_BITS = (6.0, 5.0, 4.0)
LATENT_ARM_SHARE = 0.3
# The synthesis's weights, whose precision bounds the decoded error (the entropy
# model's only move the rate a little), finer where that measures better at the same budget:
# a trained fit lands at 8 bits, then at each of these in turn (the latents' steps scaled to
# pay for the finer weights) while the coded error falls. cell_phase at 30x, one seed: the
# synthesis at 8 / 10 / 12 bits 48.29 / 49.95 / 49.89 dB; at 100x and 300x 12 bits lost 0.7
# and 1.0 dB (their budgets are 3.6 and 1.2 kB; the synthesis has about 400 weights).
LATENT_SYNTHESIS_BITS = (10.0, 12.0)
# Each try codes the file again (and again while its step scale lands it), so it is made only
# where the synthesis's weights as trained would lower the coded error by at least this share
# (0.2 dB): cell_phase at 30x 31%, at 100x 3%.
LATENT_SYNTHESIS_GAIN = 0.05
LATENT_LAMBDA = 1e-2
# Lambda follows the rate of every step's patch, averaged over about an epoch (patches differ
# tenfold in what they cost: background against cells), at a gain of 0.25 on the log per epoch
# and at most 0.05 per step. A gain of 0.05 per step whatever the epoch (0.9 an epoch on
# hela_3ch, 3 on brain_cells_3d) swung lambda from 5e-4 to 0.09 and back to 1e-4 on hela_3ch at
# 300x, whose latents, crushed on the way, ended at 77% of the budget: 34.44 dB.
LATENT_LAMBDA_GAIN = 0.05
LATENT_LAMBDA_EPOCH_GAIN = 0.25
LATENT_RATE_NEWEST = 0.2
LATENT_RATE_TOLERANCE = 0.05
LATENT_REFINE_FRACTION = 0.15
LATENT_REFINES = 4
LATENT_ELASTICITY = 0.5
# A file over its budget whose size did not answer the last change of lambda: lambda was too
# small to weigh on the latents (cell_phase, best preset: 4378 then 4345 bytes at lambda 1.1e-6
# and 1.6e-6 for a budget of 3630, and four such tries ended in an error; tenfold twice landed
# it at 109.6x, 39.02 dB), so it grows tenfold.
LATENT_ESCALATION = 10.0
# A file under its band at the finest step scale whose lambda * rate is below 1e-3 of the
# distortion at the end of training is kept as it is: lambda no longer weighs on the latents.
LATENT_WEIGHTLESS = 1e-3
# A file over its budget whose lambda was weightless refines first at the lambda where
# lambda * rate is 0.3 of the distortion (files that landed sat at 0.4-1.5: nuclei2d 100x
# lambda 2.5e-3 at 0.086 bits per voxel and 5.6e-4, cell_migration_2dt 5.8e-3 at 0.14 and 5.2e-4).
LATENT_WEIGHING = 0.3
# A trained file lands in its band by scaling its quantisation steps by s in [1/1.5, 1.5] (log
# size against log s falls with a slope of about 1.4: cell_migration_2dt at 100x), in at most 6
# codings; only where that is not enough is it refined at another lambda.
LATENT_SCALE_RANGE = 1.5
LATENT_SCALE_ELASTICITY = 1.4
LATENT_SCALE_TRIES = 6
# Where scaling the steps jumps over the band, a dead zone in the rounding lands the file
# (families/latent/landing.py): its width found by bisection on a log scale in this range, in at
# most this many codings.
LATENT_DEAD_ZONE_RANGE = (1e-6, 0.25)
LATENT_DEAD_ZONE_TRIES = 8


@contextlib.contextmanager
def overridden(**values: object) -> Iterator[None]:
    """These constants set to other values for one block (ablations and format fixtures: the
    files record what they used), restored after it; a name this module lacks is refused."""
    module = sys.modules[__name__]
    unknown = sorted(name for name in values if not hasattr(module, name))
    if unknown:
        raise AttributeError(f"presets has no tuning constant {', '.join(unknown)}")
    saved = {name: getattr(module, name) for name in values}
    for name, value in values.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)
