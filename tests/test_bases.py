"""Every base of catalog.BASES: it builds (random init, its minimum input), its stage ends are where its family's
own layer names say its stages end, model.freeze freezes by the family's stages, feature maps of its default
layers are drawn, and two builds name their layers alike. Nothing is downloaded."""
import re

import numpy as np
import pytest

from finetune_lab import catalog, features, model as models, original_task as ot
from finetune_lab.errors import UserError

# The test's own reading of each family's layer names: (pattern whose group 1 is the block number, or no group
# for block 0; the blocks of each stage). Independent of catalog.BASES, which lists the stage ends as data.
FAMILY_BLOCKS = {
    "vgg": (r"^block(\d+)_", None),
    "resnet": (r"^conv(\d)_block", None),
    "efficientnet": (r"^block(\d)[a-z]_", None),
    "convnext": (r"_stage_(\d)_block_", None),
    "mobilenet_v2": (r"^(?:block_(\d+)|expanded_conv)_", [[0], [1, 2], [3, 4, 5], range(6, 13), range(13, 17)]),
    "mobilenet_v3_small": (r"^expanded_conv_(?:(\d+)_)?", [[0], [1, 2], range(3, 8), range(8, 11)]),
    "mobilenet_v3_large": (r"^expanded_conv_(?:(\d+)_)?", [[0], [1, 2], [3, 4, 5], range(6, 12), range(12, 15)]),
}
SCRATCH_STAGES = {"conv1": 1, "conv2": 1, "pool1": 1, "conv3": 2, "conv4": 2, "pool2": 2}
KERAS = [name for name in catalog.BASES if name != "scratch_cnn"]
ONE_PER_FAMILY = ["vgg19", "resnet50_v2", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny"]


def stage_of(base_name: str, layer_name: str) -> int | None:
    """The 1-based stage of a layer by the family's names; None for layers in no block (stem, top, unnamed)."""
    family = catalog.BASES[base_name].family
    if family == "scratch":
        return SCRATCH_STAGES.get(layer_name)
    pattern, groups = FAMILY_BLOCKS.get(base_name, FAMILY_BLOCKS.get(family))
    found = re.search(pattern, layer_name)
    if found is None:
        return None
    block = int(found.group(1) or 0)
    if groups is not None:
        return next(k for k, blocks in enumerate(groups, start=1) if block in blocks)
    first = {"vgg": 1, "resnet": 2, "efficientnet": 1, "convnext": 0}[family]
    return block - first + 1


def build(name):
    size = catalog.BASES[name].min_input
    return models.build_base(name, (size, size, 1 if name == "scratch_cnn" else 3))


@pytest.fixture(scope="module")
def bases():
    return {}


def cached(bases, name):
    if name not in bases:
        bases[name] = build(name)
    return bases[name]


@pytest.mark.parametrize("name", list(catalog.BASES))
def test_the_stage_ends_end_the_stages_and_freezing_follows_them(bases, name):
    base = cached(bases, name)
    ops = [op.name for op in base.operations]
    stages = [stage_of(name, op) for op in ops]
    ends = catalog.BASES[name].stage_ends
    assert [ops.index(e) for e in ends] == sorted(ops.index(e) for e in ends)
    for k, end in enumerate(ends, start=1):  # the last layer the family's names put in stage k
        assert max(i for i, s in enumerate(stages) if s == k) <= ops.index(end) < min(
            [i for i, s in enumerate(stages) if s is not None and s > k] + [len(ops)])
    weighted = [layer for layer in base.layers if layer.weights]
    for k in range(1, len(ends) + 1):
        models.freeze(base, f"stages:{k}")
        for layer in weighted:
            stage = stage_of(name, layer.name)
            before_first = ops.index(layer.name) < ops.index(ends[0])
            if stage is not None and stage <= k or before_first:
                assert not layer.trainable, (k, layer.name)
            elif stage is not None:
                assert layer.trainable, (k, layer.name)
    models.freeze(base, "all")
    assert not base.trainable and not any(layer.trainable for layer in base.layers)
    models.freeze(base, "none")
    assert base.trainable and all(layer.trainable for layer in base.layers)


@pytest.mark.parametrize("name", ONE_PER_FAMILY)
def test_each_family_draws_its_default_feature_maps(bases, tmp_path, name):
    base = cached(bases, name)
    size = catalog.BASES[name].min_input
    image = np.random.default_rng(0).uniform(0, 255, (size, size, 3)).astype(np.float32)
    layers = catalog.feature_map_layers(name)
    drawn = features.save_grids(base, layers, image, str(tmp_path), "before", max_channels=4)
    assert list(drawn) == layers and all(maps.ndim == 3 for maps in drawn.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.before.png" for n in layers)


def test_upto_freezes_through_a_named_layer_and_an_unknown_one_says_what_was_meant(bases):
    base = cached(bases, "resnet50_v2")
    models.freeze(base, "upto:conv3_block1_out")
    assert not base.get_layer("conv3_block1_1_conv").trainable and base.get_layer("conv3_block2_1_conv").trainable
    with pytest.raises(UserError, match="model.freeze='upto:conv3_block1_ot'.*did you mean 'conv3_block1_out'"):
        models.freeze(base, "upto:conv3_block1_ot")


def test_two_builds_name_every_layer_alike():
    """Keras numbers unnamed layers across the process (activation_17, then activation_35); stable names count
    within the base, so names in the config, weight surgery and the ImageNet probe match across builds."""
    first, second = build("mobilenet_v3_small"), build("mobilenet_v3_small")
    assert [op.name for op in first.operations] == [op.name for op in second.operations]
    assert "activation" in [op.name for op in first.operations] and first.name == "mobilenet_v3_small"


def test_a_weights_file_of_another_base_round_trips(tmp_path):
    base = build("mobilenet_v3_small")
    path = str(tmp_path / "mobilenet.weights.h5")
    base.save_weights(path)
    other = build("mobilenet_v3_small")
    provenance = models.load_weights(other, path)
    assert provenance["source"] == "file" and len(provenance["sha256"]) == 64
    for a, b in zip(base.get_weights(), other.get_weights()):
        assert np.array_equal(a, b)


def test_imagenet_offline_says_how_to_get_it_in_one_line(monkeypatch):
    from keras.src.utils import file_utils  # what keras.applications download through

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://example.invalid/resnet50_notop.h5: Name or service not known")

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(UserError) as err:
        models.load_weights(build("mobilenet_v3_small"), "imagenet")
    message = str(err.value)
    assert message.startswith("model.weights='imagenet': Keras could not get the ImageNet weights of "
                              "mobilenet_v3_small") and "models/" in message and "model.weights=null" in message
    assert "\n" not in message


def test_the_imagenet_probe_takes_a_separately_built_base_by_name():
    """The original task of a non-VGG base with imagenet weights: its own classifier (here random, no download)
    gets the fine-tuned base's layers by name; the base's untouched weights give full agreement."""
    import keras

    classifier = models.stable_names(keras.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3)))
    photos = [np.random.default_rng(i).uniform(0, 255, (40, 30, 3)).astype(np.float32) for i in range(3)]
    task = ot.ClassifierTask(photos, classifier, preprocess=ot.base_input("mobilenet_v3_small"))
    base = build("mobilenet_v3_small")
    assert set(ot.weighted_layers(base)) <= set(task.layers)  # every layer of the base has its twin in the top
    own = {name: weights for name, weights in ot.weighted_layers(classifier).items() if name in ot.weighted_layers(base)}
    assert task.compare(task.outputs(own))["top1_agreement"] == 1.0
    moved = {name: [w * 0.5 for w in weights] for name, weights in own.items()}
    task.outputs(moved)
    for name in ("conv", "expanded_conv_10_project"):  # the stem and the last block's projection went in by name
        assert np.allclose(task.probe.get_layer(name).get_weights()[0], moved[name][0])
        assert not np.allclose(task.original.get_layer(name).get_weights()[0], moved[name][0])


@pytest.mark.parametrize("weights, reason", [(None, "randomly initialised"), ("file", "no known original task")])
def test_a_base_without_a_known_original_task_says_why(compose, tmp_path, weights, reason):
    overrides = ["model.base=mobilenet_v3_small", "data.preprocess=base"]
    if weights == "file":
        path = tmp_path / "m.weights.h5"
        build("mobilenet_v3_small").save_weights(str(path))
        overrides.append(f"model.weights={path}")
    else:
        overrides.append("model.weights=null")
    probe = ot.prepare(compose(*overrides))
    assert probe.kind is None and reason in probe.skipped and "hed_bsds500" in probe.skipped


def test_the_docs_list_every_base_with_its_stage_ends():
    from conftest import ROOT

    doc = (ROOT / "docs" / "any-base-any-data.md").read_text()
    for name, spec in catalog.BASES.items():
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{name}` |"))
        assert row.endswith(", ".join(f"`{end}`" for end in spec.stage_ends) + " |"), name
