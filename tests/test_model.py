import h5py
import numpy as np
import pytest
from omegaconf import OmegaConf

from finetune_lab import files, model as models, sources
from finetune_lab.config import Config


def cfg_with(**dotlist):
    cfg = OmegaConf.structured(Config)
    for key, value in dotlist.items():
        OmegaConf.update(cfg, key.replace("__", "."), value)
    return cfg


def test_parameter_counts_match_the_study_48_frozen_fc4096x2():
    cfg = cfg_with(model__weights=None, model__freeze="all", model__head__units=[4096, 4096])
    model, _ = models.build(cfg)
    counts = models.parameter_counts(model)
    assert counts["total"] == 33_638_218
    assert counts["non_trainable"] == 14_714_688  # the whole VGG16 conv base is frozen


def test_parameter_counts_match_the_study_224_fc4096x2_1000():
    cfg = cfg_with(model__weights=None, data__input_size=224, model__head__units=[4096, 4096],
                   model__output_units=1000)
    model, _ = models.build(cfg)
    assert models.parameter_counts(model)["total"] == 138_357_544


def test_freeze_block3_freezes_blocks_1_to_3_only():
    base = models.build_base("vgg16", (48, 48, 3))
    models.freeze(base, "block3")
    trainable = {layer.name: layer.trainable for layer in base.layers if "conv" in layer.name}
    assert not any(v for k, v in trainable.items() if k[:6] in ("block1", "block2", "block3"))
    assert all(v for k, v in trainable.items() if k[:6] in ("block4", "block5"))
    models.freeze(base, "none")
    assert all(layer.trainable for layer in base.layers)


def test_hed_weights_really_load():
    base = models.build_base("vgg16", (48, 48, 3))
    random_kernel = base.get_layer("block1_conv1").get_weights()[0].copy()
    provenance = models.load_weights(base, "hed_bsds500")
    loaded = base.get_layer("block1_conv1").get_weights()[0]
    with h5py.File(sources.hed_weights_file()) as f:
        in_file = f["block1/layers/conv2d/vars/0"][()]
    assert np.array_equal(loaded, in_file)
    assert not np.allclose(loaded, random_kernel)
    assert provenance["source"] == "hed_bsds500" and len(provenance["sha256"]) == 64


def test_a_weights_file_roundtrips_and_a_bad_one_is_a_user_error(tmp_path):
    from finetune_lab.errors import UserError

    base = models.build_base("vgg16", (32, 32, 3))
    path = str(tmp_path / "base.weights.h5")
    base.save_weights(path)
    other = models.build_base("vgg16", (32, 32, 3))
    assert models.load_weights(other, path)["sha256"] == files.sha256(path)
    assert np.array_equal(other.get_layer("block3_conv2").get_weights()[0],
                          base.get_layer("block3_conv2").get_weights()[0])
    truncated = tmp_path / "truncated.weights.h5"
    truncated.write_bytes(open(path, "rb").read()[:1000])
    with pytest.raises(UserError, match="could not load"):
        models.load_weights(other, str(truncated))


def test_imagenet_offline_is_a_user_error_that_names_the_offline_choice(monkeypatch):
    import keras

    from finetune_lab.errors import UserError

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://example.invalid: Name or service not known")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(UserError, match="hed_bsds500"):
        models.load_weights(models.build_base("vgg16", (32, 32, 3)), "imagenet")


def test_bf16_precision_computes_in_bfloat16_but_outputs_float32():
    model, _ = models.build(cfg_with(model__weights=None, training__precision="bf16", data__input_size=32))
    assert model.get_layer("vgg16").get_layer("block1_conv1").compute_dtype == "bfloat16"
    assert model.get_layer("predictions").compute_dtype == "float32"
    import keras

    assert keras.mixed_precision.global_policy().name == "float32"  # nothing else is built in bf16


def test_a_dropout_list_sets_each_hidden_layer_and_zero_adds_none():
    """E10 without dropout on its 10-unit layer: model.head.dropout=[0.5, 0.5, 0]."""
    cfg = cfg_with(model__weights=None, model__head__units=[32, 16, 10], model__head__dropout=[0.5, 0.25, 0.0])
    model, _ = models.build(cfg)
    names = [layer.name for layer in model.layers]
    assert names[names.index("head_dense1"):] == ["head_dense1", "head_dropout1", "head_dense2", "head_dropout2",
                                                  "head_dense3", "predictions"]
    assert model.get_layer("head_dropout2").rate == 0.25
    one_rate = models.build(cfg_with(model__weights=None, model__head__units=[32, 10], model__head__dropout=0.5))[0]
    assert [layer.name for layer in one_rate.layers if "dropout" in layer.name] == ["head_dropout1", "head_dropout2"]
