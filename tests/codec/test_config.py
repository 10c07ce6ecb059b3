import pytest

from napari_sincs import CompressionConfig, InvalidConfigError
from napari_sincs.codec.families import get_family


def test_round_trips_through_a_dict_and_keeps_unknown_keys():
    config = CompressionConfig(ratio=250, block=(32, 64), time_groups=3, saliency="uniform")
    data = config.to_dict()
    assert data["block"] == [32, 64]
    assert CompressionConfig.from_dict(data) == config
    newer = CompressionConfig.from_dict({**data, "from_the_future": 1})
    assert newer == config
    assert newer.extra == {"from_the_future": 1}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("ratio", 0.5, "ratio must be a number above 1"),
        ("ratio", float("nan"), "ratio must be a number above 1"),
        ("ratio", "100", "ratio must be a number above 1"),
        ("block", (1, 64), "block must be"),
        ("block", (8, 8, 8, 8), "block must be"),
        ("saliency", "magic", "saliency must be one of"),
        ("threshold", 2.0, "threshold is a normalised intensity"),
        ("saliency_floor", 0.0, "saliency_floor"),
        ("width", 1, "width must be between"),
        ("steps", 0, "steps must be"),
        ("weight_bits", 40, "weight_bits"),
        ("device", "tpu", "device must be"),
        ("time_groups", 0, "time_groups"),
        ("preset", "quick", "preset must be one of fast, balanced, best"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(field, value, message):
    with pytest.raises(InvalidConfigError, match=message):
        CompressionConfig(**{field: value})


def test_family_defaults_are_filled_in_and_transfer_gets_a_third():
    pe_mlp = CompressionConfig(family="pe_mlp", steps=900)
    assert pe_mlp.resolved().transfer_steps == 300
    assert pe_mlp.replace(transfer_steps=50).resolved().transfer_steps == 50
    grid = CompressionConfig(family="grid").resolved()
    pe = CompressionConfig(family="pe_mlp").resolved()
    assert (grid.depth, pe.depth) == (2, 3)
    assert grid.batch_size > pe.batch_size
    assert CompressionConfig(family="grid", steps=10).resolved().steps == 10


def test_presets_scale_the_default_steps_but_not_steps_asked_for():
    steps = {
        name: CompressionConfig(family="pe_mlp", preset=name).resolved().steps
        for name in ("fast", "balanced", "best")
    }
    assert steps["fast"] < steps["balanced"] < steps["best"]
    assert CompressionConfig(family="pe_mlp", preset="fast", steps=77).resolved().steps == 77
    assert CompressionConfig(family="latent", preset="fast").resolved().steps is None


@pytest.mark.parametrize(
    ("shape", "ratio", "saliency", "family"),
    [
        ((1, 1, 1, 512, 512), 30.0, "uniform", "latent"),
        ((40, 1, 1, 256, 256), 100.0, "uniform", "latent"),
        ((1, 3, 1, 256, 256), 100.0, "threshold", "latent"),
        ((1, 1, 1, 512, 512), 100.0, "learned", "latent"),
        ((40, 1, 1, 256, 256), 500.0, "threshold", "latent"),
        ((40, 1, 1, 256, 256), 1000.0, "threshold", "pe_mlp"),
        ((1, 1, 1, 512, 512), 200.0, "threshold", "pe_mlp"),
        ((1, 1, 1, 512, 512), 300.0, "uniform", "pe_mlp"),
        ((1, 1, 1, 64, 64), 100.0, "uniform", "grid"),
        ((2000, 1, 1, 256, 256), 100.0, "uniform", "grid"),
        ((2000, 1, 1, 256, 256), 100.0, "threshold", "pe_mlp"),
        ((1, 1, 60, 256, 256), 30.0, "uniform", "latent"),
        ((4, 2, 16, 64, 64), 100.0, "uniform", "latent"),
        ((1, 1, 60, 256, 256), 300.0, "threshold", "pe_mlp"),
        ((1, 1, 60, 256, 256), 300.0, "uniform", "pe_mlp"),
        ((1, 1, 16, 32, 32), 100.0, "uniform", "pe_mlp"),
    ],
)
def test_auto_family_follows_the_data_the_ratio_and_the_sampling(shape, ratio, saliency, family):
    config = CompressionConfig(ratio=ratio, saliency=saliency)
    assert CompressionConfig().family == "auto"
    assert config.for_shape(shape).family == family
    with_map = config.for_shape(shape, saliency_map=True).family
    assert with_map == ("latent" if family == "latent" else "pe_mlp"), "a user map guides"
    assert config.replace(family="grid").for_shape(shape, saliency_map=True).family == "grid"
    on_workers = config.for_shape(shape, cluster=True).family
    assert get_family(on_workers).fits_on_clusters, "dask workers get a family that uses them"
    assert on_workers == family or family == "latent"
    with pytest.raises(InvalidConfigError, match="for_shape"):
        config.resolved()


def test_a_misspelt_setting_names_itself_and_the_close_ones():
    with pytest.raises(InvalidConfigError, match=r"'ratoi' \(did you mean ratio\?\)"):
        CompressionConfig().replace(ratoi=50)
    with pytest.raises(TypeError, match="saliency_floor"):
        CompressionConfig().replace(salency_floor=0.2)
