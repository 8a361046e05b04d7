"""``python -m ingestion.demo_world [--seed N] [--people N] [--days N]``: write the demo world's source systems."""

import argparse
import json

from ..config import source_systems_dir
from .generator import generate
from .writers import write_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    world = generate(args.seed, args.people, args.days)
    print(json.dumps(write_world(world, source_systems_dir()), indent=2))


if __name__ == "__main__":
    main()
