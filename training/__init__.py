"""facecat training stage: `train`, a Keras 3 CNN trained on the curated catalog (see README "train").

The only package that imports TensorFlow, and only when a command needs it (training.tfenv), so
`train --help` and `train list` start at once.
"""
