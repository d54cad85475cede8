"""finetune-lab: reproducible fine-tuning studies on Keras 3 and Hydra.

Importing the package imports no TensorFlow, so the command line can choose devices first.
"""

__version__ = "0.1.0"
