import math

import numpy as np

from napari_sincs.codec.metrics import QualityAccumulator, psnr, ssim


def test_psnr_of_known_error():
    a = np.zeros((10, 10))
    a[0, 0] = 100.0
    b = a.copy()
    b[5, 5] = 1.0
    assert math.isclose(psnr(a, b), 10 * math.log10(100**2 / 0.01))
    assert psnr(a, a) == math.inf


def test_ssim_is_one_for_identical_and_lower_for_noise(nuclei2d):
    assert math.isclose(ssim(nuclei2d, nuclei2d), 1.0)
    noisy = nuclei2d + np.random.default_rng(0).normal(0, 10, nuclei2d.shape)
    assert ssim(nuclei2d, noisy) < 0.9


def test_3d_ssim_is_the_mean_over_slices(nuclei2d):
    stack = np.stack([nuclei2d, nuclei2d])
    other = np.stack([nuclei2d, nuclei2d[::-1]])
    assert math.isclose(ssim(stack, other), (1 + ssim(nuclei2d, nuclei2d[::-1])) / 2)


def test_accumulator_matches_whole_array_metrics(nuclei2d):
    stack = np.stack([nuclei2d, nuclei2d.T]).astype(float)
    noisy = stack + np.random.default_rng(1).normal(0, 3, stack.shape)
    data_range = float(np.ptp(stack))
    acc = QualityAccumulator(data_range)
    for plane, noisy_plane in zip(stack, noisy):
        acc.add(plane, noisy_plane)
    assert math.isclose(acc.psnr, psnr(stack, noisy), rel_tol=1e-9)
    assert math.isclose(acc.ssim, ssim(stack, noisy, data_range), rel_tol=1e-9)
