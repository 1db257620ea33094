"""What fingerprinting a large local dataset folder costs at DAG-build time (issue: edited data must be noticed).

Generates a folder of N tiny files (default 100,000, in 100 sub-folders) in a temporary directory and times
``path_fingerprint`` on it, cold-ish (first walk after creation) and warm, then after one file changed.

    python benchmarks/fingerprint_cost.py [N]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from codecbench.datasets.fingerprint import path_fingerprint


def main(n_files: int) -> None:
    with tempfile.TemporaryDirectory(prefix="fingerprint-bench-") as tmp:
        root = Path(tmp)
        for index in range(n_files):
            folder = root / f"d{index % 100:02d}"
            folder.mkdir(exist_ok=True)
            (folder / f"{index:06d}.png").write_bytes(b"x")
        timings = []
        for label in ("first walk", "second walk"):
            start = time.perf_counter()
            before = path_fingerprint(root)
            timings.append((label, time.perf_counter() - start))
        changed = root / "d07" / "000007.png"
        changed.write_bytes(b"xy")
        os.utime(changed, ns=(1, 1))
        start = time.perf_counter()
        after = path_fingerprint(root)
        timings.append(("after one edit", time.perf_counter() - start))
        for label, seconds in timings:
            print(f"{n_files} files, {label}: {seconds:.2f} s")
        print(f"fingerprint changed after editing one file: {before != after}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
