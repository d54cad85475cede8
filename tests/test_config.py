import pytest
from hydra.errors import HydraException
from omegaconf.errors import ValidationError

from finetune_lab.config import validate
from finetune_lab.errors import ConfigError


def test_default_config_is_valid_and_offline(compose):
    cfg = compose()
    validate(cfg)
    assert cfg.data.source == "mnist_embedded" and cfg.model.weights == "hed_bsds500"
    assert cfg.model.head.name == "small"


def test_debug_smoke_is_the_default_run_tiny_and_offline(compose):
    default, smoke = compose(), compose("debug=smoke")
    validate(smoke)
    assert (smoke.model.weights, smoke.data.source, smoke.model.base) == (default.model.weights, "mnist_embedded",
                                                                          default.model.base)
    assert smoke.training.epochs == 1 and smoke.data.input_size == 32 and smoke.data.cutoff_rate <= 0.02
    analyses = smoke.analysis
    assert not (analyses.feature_maps.enabled or analyses.original_task.enabled or analyses.layer_change.enabled)
    assert not smoke.output.save_model
    assert compose("debug=smoke", "variant=offline_cpu").training.samples_per_epoch is None  # stays tiny on top


def test_head_is_chosen_as_a_config_group(compose):
    cfg = compose("head=fc4096x2")
    assert list(cfg.model.head.units) == [4096, 4096] and cfg.model.head.dropout == 0.5
    assert list(compose("head=bottleneck10", "model.head.dropout=0.9").model.head.units)[-1] == 10


def test_the_study_sgd_settings_are_expressible(compose):
    cfg = compose("training.optimizer.name=sgd", "training.optimizer.lr=1e-5", "training.optimizer.decay=1e-6",
                  "training.optimizer.momentum=0.5", "training.optimizer.nesterov=true")
    validate(cfg)


@pytest.mark.parametrize("override, key", [
    ("data.cutoff_rate=1.5", "data.cutoff_rate"),
    ("data.cutoff_rate=0", "data.cutoff_rate"),
    ("model.freeze=block9", "model.freeze"),
    ("data.input_size=20", "data.input_size"),
    ("model.weights=/no/such.h5", "model.weights"),
    ("model.weights=resnet", "model.weights"),
    ("data.source=cifar", "data.source"),
    ("data.placement=corner", "data.placement"),
    ("data.channels=gray", "data.channels"),
    ("model.base=resnet51", "model.base"),
    ("model.freeze=stages:9", "model.freeze"),
    ("model.freeze=upto:block3_conv9", "model.freeze"),
    ("model.output_units=5", "model.output_units"),
    ("model.head.dropout=1.0", "model.head.dropout"),
    ("model.head.dropout=[0.5,0.5]", "model.head.dropout"),  # head small has one hidden layer
    ("model.head.dropout=[0.5,1.5]", "model.head.dropout"),
    ("training.optimizer.name=rmsprop", "training.optimizer.name"),
    ("training.optimizer.lr=0", "training.optimizer.lr"),
    ("training.optimizer.momentum=0.9", "training.optimizer.momentum"),  # adam has no momentum
    ("training.epochs=0", "training.epochs"),
    ("analysis.feature_maps.layers=[block9_conv1]", "analysis.feature_maps.layers[0]"),
    ("device.gpus=first", "device.gpus"),
    ("data.augment.rotation=0.7", "data.augment.rotation"),
    ("data.augment.shift=-0.1", "data.augment.shift"),
    ("data.augment.zoom=1", "data.augment.zoom"),
    ("data.augment.noise=-1", "data.augment.noise"),
])
def test_bad_values_name_key_value_and_what_is_allowed(compose, override, key):
    with pytest.raises(ConfigError) as err:
        validate(compose(override))
    message = str(err.value)
    assert err.value.key == key and message.startswith(key + "=") and "allowed" in message


def test_scratch_cnn_takes_28x28_gray_and_no_pretrained_weights(compose):
    validate(compose("model.base=scratch_cnn", "model.weights=null", "data.input_size=28", "data.channels=gray",
                     "data.preprocess=unit", "analysis.feature_maps.layers=[conv1]"))
    with pytest.raises(ConfigError, match="model.weights"):
        validate(compose("model.base=scratch_cnn", "data.input_size=28", "data.channels=gray",
                         "data.preprocess=unit", "analysis.feature_maps.layers=[conv1]"))


def test_wrong_types_fail_at_compose_time_with_the_key(compose):
    with pytest.raises(HydraException) as err:
        compose("data.input_size=abc")
    assert isinstance(err.value.__cause__, ValidationError) and "data.input_size" in str(err.value.__cause__)


def test_unknown_head_lists_the_options(compose):
    with pytest.raises(HydraException, match="fc4096x2"):
        compose("head=nope")


def test_augmentation_is_off_by_default_and_on_only_with_something_to_do(compose):
    assert compose().data.augment.enabled is False
    validate(compose("data.augment.enabled=true"))
    validate(compose("data.augment.enabled=false", "data.augment.rotation=0", "data.augment.shift=0",
                     "data.augment.zoom=0"))
    with pytest.raises(ConfigError) as err:
        validate(compose("data.augment.enabled=true", "data.augment.rotation=0", "data.augment.shift=0",
                         "data.augment.zoom=0"))
    assert err.value.key == "data.augment.enabled" and "all 0" in str(err.value)
