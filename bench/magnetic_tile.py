"""Build the held-out magnetic-tile subset `bench.inspection --data` reads (issue 19).

    python -m bench.magnetic_tile GIT_DIR OUT [--seed 19] [--good 320] [--extra]

GIT_DIR is a git directory of `abin24/Magnetic-tile-defect-datasets.` (Huang et al., "Surface
defect saliency of magnetic tile", The Visual Computer 2020; no licence file, so the data stays
out of this repository). OUT gets `good/` (seeded `MT_Free` crops), `defect/<class>/` (seeded
crops of each defect class, in the counts below; the bench prints image AUROC per class) and
`masks/<stem>.png`, the class's mask binarised at 128. With `--extra` the `MT_Free` crops not
drawn go to `extra-good/`, for fitting on more crops than `good/` holds (`bench.inspection
--fit-extra OUT/extra-good`). The draw is a numpy `default_rng(seed)` choice over each class's
sorted file names, so the same seed and repository give the same subset.
"""

from __future__ import annotations

import argparse
import io
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

DEFECTS = {"MT_Blowhole": 14, "MT_Break": 14, "MT_Crack": 12, "MT_Fray": 8, "MT_Uneven": 12}
GOOD = "MT_Free"


def _git(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True
    ).stdout


def _jpgs(git_dir: Path, folder: str) -> list[str]:
    names = _git(git_dir, "ls-tree", "-r", "--name-only", "HEAD", f"{folder}/").decode()
    return sorted(n for n in names.splitlines() if n.endswith(".jpg"))


def _draw(paths: list[str], n: int, rng: np.random.Generator) -> list[str]:
    picked = rng.choice(len(paths), size=min(n, len(paths)), replace=False)
    return [paths[i] for i in sorted(picked)]


def build(
    git_dir: Path, out: Path, *, seed: int = 19, n_good: int = 320, extra: bool = False
) -> None:
    """Write the subset under `out` (good/, defect/, masks/, with `extra` also extra-good/)."""
    rng = np.random.default_rng(seed)
    folders = ["good", "masks", *(f"defect/{d}" for d in DEFECTS)] + ["extra-good"] * extra
    for sub in folders:
        (out / sub).mkdir(parents=True, exist_ok=True)
    free = _jpgs(git_dir, GOOD)
    good = _draw(free, n_good, rng)
    for path in good:
        (out / "good" / Path(path).name).write_bytes(_git(git_dir, "show", f"HEAD:{path}"))
    for folder, n in DEFECTS.items():
        for path in _draw(_jpgs(git_dir, folder), n, rng):
            name = Path(path).name
            (out / "defect" / folder / name).write_bytes(_git(git_dir, "show", f"HEAD:{path}"))
            raw = _git(git_dir, "show", f"HEAD:{path[: -len('.jpg')]}.png")
            with Image.open(io.BytesIO(raw)) as m:
                mask = (np.asarray(m.convert("L")) >= 128).astype(np.uint8) * 255
            Image.fromarray(mask).save(out / "masks" / f"{Path(path).stem}.png")
    if extra:
        # Written last, so the defect draw is the same with or without the extra crops.
        drawn = set(good)
        for path in (p for p in free if p not in drawn):
            data = _git(git_dir, "show", f"HEAD:{path}")
            (out / "extra-good" / Path(path).name).write_bytes(data)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("git_dir", type=Path, help="git directory of the fetched repository")
    parser.add_argument("out", type=Path, help="folder to write good/, defect/, masks/ into")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--good", type=int, default=320, help="MT_Free crops drawn as good/")
    parser.add_argument(
        "--extra", action="store_true", help="the MT_Free crops not drawn into extra-good/"
    )
    args = parser.parse_args(argv)
    build(args.git_dir, args.out, seed=args.seed, n_good=args.good, extra=args.extra)
    subs = ("good", "defect", "masks") + (("extra-good",) if args.extra else ())
    counts = {s: sum(1 for p in (args.out / s).rglob("*") if p.is_file()) for s in subs}
    print(f"{args.out}: {counts}")


if __name__ == "__main__":
    main()
