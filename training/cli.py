"""`train`: fit, evaluate, use and export facial-expression models trained on the catalog.

Each subcommand lives in its own module (cli_*.py) and is registered here. Nothing here imports
TensorFlow: the subcommands do when they run, so `train --help` is instant.
"""
from __future__ import annotations

import click


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  train fit --out models/fer --split keep --source fer2013      # FER2013: Training vs PublicTest
  train fit --arch list                                         # the architectures
  train evaluate models/fer --split val --tta --plot-errors errors.png
  train predict models/fer photo.jpg --plot photo-emotions.png
  train export models/fer --tflite fer.tflite --int8
  train compare models/fer models/fer-nocw --split val
  train predict models/fer --video clip.mp4 --out annotated.mp4 --every 3
  train serve models/fer                                        # http://127.0.0.1:8000/
  train explain models/fer --source fer2013 --limit 500         # Grad-CAM maps for the labeler
  train list
  train suggest --cross-val 5 --out runs/cv5 --source fer2013   # out-of-fold predictions, label issues
  train issues runs/cv5 --top 20
""",
)
@click.version_option(package_name="facecat")
def main() -> None:
    """Train a CNN (Keras 3 on TensorFlow) on the catalog's labeled faces; evaluate, use and export it."""


from training.cli_fit import fit_command  # noqa: E402  (subcommands register after the group)
from training.cli_evaluate import evaluate_command  # noqa: E402
from training.cli_predict import predict_command  # noqa: E402
from training.cli_export import export_command  # noqa: E402
from training.cli_compare import compare_command  # noqa: E402
from training.cli_list import list_command  # noqa: E402
from training.cli_serve import serve_command  # noqa: E402
from training.cli_explain import explain_command  # noqa: E402
from training.cli_suggest import suggest_command  # noqa: E402
from training.cli_issues import issues_command  # noqa: E402

for _command in (fit_command, evaluate_command, predict_command, export_command, compare_command, list_command,
                 suggest_command, issues_command, serve_command, explain_command):
    main.add_command(_command)


if __name__ == "__main__":
    main()
