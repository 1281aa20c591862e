"""Ensemble benchmark: the CPU default trained with three seeds, each member and their average
(`train compare s0 s1 s2 s0+s1+s2`) on FER2013's PublicTest, in the same run.

    .venv/bin/python bench/bench_ensemble.py [--epochs 10] [--seeds 0,1,2] [--no-fit]

1. A catalog with FER2013 from ../shared/data/fer2013 (bench_train.py's, made once).
2. `train fit --split keep --source fer2013 --seed S [--epochs N]` for each seed, timed (wall, CPU,
   load before and after), unless its model exists already (or --no-fit).
3. `train compare` of the members and the ensemble on the 3,589 PublicTest files (`--folders
   ../shared/data/fer2013/test`), plain and with the mirror TTA; and `train evaluate` of the ensemble
   on the val split (PublicTest plus the Training copies of PublicTest faces).
Results: bench/results/ensemble/bench.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_train import BIN, SHARED, ensure_catalog, run, timed  # noqa: E402


def compare(models: list[str], where: list[str], tta: str) -> dict:
    out = run([str(BIN / "train"), "compare", *models, *where, "--tta", tta, "--json"], stdout=subprocess.PIPE)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ensemble")
    ap.add_argument("--catalog", type=Path, default=ROOT / "bench" / "results" / "fer-catalog")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=None, help="train fit --epochs (default: the recipe's)")
    ap.add_argument("--no-fit", action="store_true", help="score the models already in --out")
    a = ap.parse_args()
    ensure_catalog(a.catalog)
    a.out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    seeds = [int(s) for s in a.seeds.split(",")]
    members, fits = [], {}
    for seed in seeds:
        out = a.out / f"seed{seed}"
        members.append(str(out))
        cmd = [str(BIN / "train"), "fit", "--catalog", str(a.catalog), "--out", str(out), "--split", "keep",
               "--source", "fer2013", "--seed", str(seed), "--force"] + (["--epochs", str(a.epochs)] if a.epochs else [])
        if not a.no_fit and not (out / "model.keras").exists():
            fits[f"seed{seed}"] = {"command": " ".join(["train", *cmd[1:]]), **timed(cmd)}
            (a.out / "fits.json").write_text(json.dumps(fits, indent=1) + "\n")
    public_test = ["--folders", str(SHARED / "fer2013" / "test")]
    ensemble = "+".join(members)
    result = {
        "date": started, "seeds": seeds, "epochs": a.epochs, "fits": fits or None,
        "load_before_scoring": [round(x, 2) for x in os.getloadavg()],
        "public_test": compare(members + [ensemble], public_test, "none"),
        "public_test_tta_flip": compare(members + [ensemble], public_test, "flip"),
        "machine": json.loads(Path(members[0], "model.json").read_text())["machine"],
    }
    out = run([str(BIN / "train"), "evaluate", *members, "--catalog", str(a.catalog), "--split", "val", "--json"],
              stdout=subprocess.PIPE)
    result["ensemble_val"] = {k: v for k, v in json.loads(out.stdout).items() if k in ("faces", "accuracy", "macro_f1")}
    result["load_end"] = [round(x, 2) for x in os.getloadavg()]
    (a.out / "bench.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
