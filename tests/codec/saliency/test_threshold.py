import numpy as np

from napari_sincs.codec.saliency.threshold import otsu_threshold, threshold_map


def test_threshold_map_has_weight_one_above_and_floor_below(nuclei2d):
    normalised = (nuclei2d - nuclei2d.min()) / np.ptp(nuclei2d)
    level = otsu_threshold(normalised)
    assert 0 < level < 1
    weights = threshold_map(normalised, level, 0.2)
    assert set(np.unique(weights).tolist()) == {np.float32(0.2), 1.0}
    np.testing.assert_array_equal(weights == 1, normalised > level)
