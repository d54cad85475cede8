"""`finetune-lab-predict IMAGE... [--weights imagenet [--base NAME] | --run RUN_DIR] [--top K]`: the study's E1
without training. The top-k classes of each image under Keras' `--base` (default vgg16, any Keras Applications
base of catalog.BASES) with its ImageNet top, or under a trained run's model.keras, which takes the run's own images
and carries its input path (inspection.run_images)."""
from __future__ import annotations

import argparse

import numpy as np

from . import catalog, files
from .errors import UserError, fail
from .inspection import (DEFAULT_BASE, positive_int, add_base_option, base_inputs, check_without_run, load_run_model,
                         open_run, read_images, run_images, start_backend)

BATCH = 8
PREDICT_OFFLINE = "offline, --run RUN_DIR predicts with a trained run's model"


def top_classes(probs: np.ndarray, k: int, names: list[str] | None = None) -> list[list[dict]]:
    """Per row of `probs`: the k most probable classes, most probable first, as {class, [name], probability}."""
    from .forgetting import top_k

    return [[{"class": int(c), **({"name": names[c]} if names else {}), "probability": float(p[c])} for c in top]
            for p, top in zip(probs, top_k(probs, k))]


def format_row(path: str, top: list[dict]) -> str:
    shown = [f"{t['name']} ({t['class']}) {t['probability']:.4f}" if "name" in t
             else f"class {t['class']} {t['probability']:.4f}" for t in top]
    return f"{path}: " + "  ".join(f"{i}. {s}" for i, s in enumerate(shown, start=1))


def imagenet_top(base: str):
    """(Keras' `base` with its ImageNet top, where its weights came from in words): from the Keras cache or a
    download, else a UserError that says how to get them."""
    from . import original_task, sources

    model = original_task.imagenet_classifier(base, key="--weights imagenet", hint=PREDICT_OFFLINE)
    if base == "vgg16":
        path = sources.imagenet_vgg16_file(include_top=True)  # in the Keras cache by now
        return model, f"{path}, sha256 {files.sha256(path)[:12]}"
    return model, (f"keras.applications.{catalog.BASES[base].constructor}(weights='imagenet'), weight arrays "
                   f"sha256 {files.arrays_sha256(model.get_weights())[:12]}")


def predict(args: argparse.Namespace) -> tuple[list[str], list[list[dict]]]:
    """(notes on what was used, the top-k classes of each image) for finetune-lab-predict's arguments."""
    photos = read_images(args.images)
    if args.run:
        check_without_run(args)
        run = open_run(args.run)
        model = load_run_model(run)
        x = run_images(run, model, photos)
        names, lines = None, [f"model: {run.model_file} (sha256 {files.sha256(run.model_file)[:12]}); classes "
                                  "are the run's labels (0-9: digits)"]
    else:
        from . import original_task

        base = args.base or DEFAULT_BASE
        start_backend()
        model, source = imagenet_top(base)
        x = base_inputs(photos, base, int(model.input_shape[1]))
        table, origin = original_task.class_index_table()
        names = [name for _, name in table]
        lines = [f"weights: imagenet of {base} ({source}); class names: {origin}"]
    units = int(model.output_shape[-1])
    if args.top > units:
        raise UserError(f"--top {args.top}: not allowed: the model has {units} outputs; allowed: 1..{units}")
    probs = np.asarray(model.predict(x, batch_size=BATCH, verbose=0))
    return lines, top_classes(probs, args.top, names)


def predict_main(argv: list[str] | None = None) -> None:
    """`finetune-lab-predict IMAGE... [--weights imagenet [--base NAME] | --run RUN_DIR] [--top K]`: top-k
    classes per image."""
    parser = argparse.ArgumentParser(prog="finetune-lab-predict", description=predict_main.__doc__)
    parser.add_argument("images", nargs="+", help="image files (gray, RGB or RGBA)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--weights", choices=["imagenet"], default="imagenet",
                       help="Keras' --base with its ImageNet top at its default input, 224x224 (default; Keras "
                            "cache or internet)")
    which.add_argument("--run", metavar="RUN_DIR", help="a finished run's model.keras, on the run's own input")
    add_base_option(parser)
    parser.add_argument("--top", type=positive_int, default=3, help="classes shown per image (default 3)")
    args = parser.parse_args(argv)
    try:
        notes, rows = predict(args)
    except UserError as exc:
        fail(parser.prog, str(exc))
    print("\n".join(notes + [format_row(p, top) for p, top in zip(args.images, rows)]))
